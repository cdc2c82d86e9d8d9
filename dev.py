#!/usr/bin/env python3
"""One entry point for a fresh machine: ``python3 dev.py demo`` or ``python3 dev.py test``.

Creates ``.venv`` with the standard library's venv on first use, installs the
project with its test and dev extras (again whenever ``pyproject.toml`` changes),
then runs the job inside it.  Needs nothing but Python 3.10+.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".dev-stamp"


def ensure_venv() -> None:
    if not PYTHON.exists():
        print("dev.py: creating .venv", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print("dev.py: installing asyncsagemaker[dev] into .venv", file=sys.stderr)
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(wanted)


def run(*cmd: str) -> int:
    return subprocess.call(list(cmd), cwd=ROOT)


def main(argv: list[str]) -> int:
    jobs = {
        "demo": "stream a chat answer from the embedded emulator through the real client",
        "test": "run the whole test suite (extra arguments go to pytest)",
        "lint": "ruff check, ruff format --check, mypy --strict",
    }
    if not argv or argv[0] not in jobs:
        print("usage: python3 dev.py {demo|test|lint} [args...]", file=sys.stderr)
        for name, text in jobs.items():
            print(f"  {name:5} {text}", file=sys.stderr)
        return 2
    ensure_venv()
    job, rest = argv[0], argv[1:]
    if job == "demo":
        return run(str(PYTHON), "-m", "asyncsagemaker", "demo", *rest)
    if job == "test":
        return run(str(PYTHON), "-m", "pytest", *rest)
    status = run(
        str(PYTHON),
        "-m",
        "ruff",
        "check",
        "asyncsagemaker",
        "tests",
        "benchmarks",
        "examples",
        "dev.py",
    )
    status |= run(
        str(PYTHON),
        "-m",
        "ruff",
        "format",
        "--check",
        "asyncsagemaker",
        "tests",
        "benchmarks",
        "examples",
        "dev.py",
    )
    status |= run(str(PYTHON), "-m", "mypy", "--strict", "asyncsagemaker")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
