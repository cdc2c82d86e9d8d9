#!/usr/bin/env python3
"""One entry point for a fresh machine: ``python3 dev.py demo`` or ``python3 dev.py test``.

Creates a venv with the standard library's venv on first use, installs what the job
needs (again whenever ``pyproject.toml`` changes), then runs the job inside it.
Needs nothing but Python 3.10+.

* ``demo``: stream a chat answer from the embedded emulator through the real client,
  from ``.venv-demo``: the package alone, so the first demo takes seconds.
* ``test``: the whole suite, with branch coverage (child processes included), from
  ``.venv``: the project with its test and dev extras (``lint`` uses it too).
* ``lint``: ruff check, ruff format --check, mypy --strict (package and tests).
* ``versions``: the whole suite again on the oldest and the newest supported CPython
  found on this machine (on ``PATH`` or under pyenv), each in a venv of its own.
* ``lowest``: the whole suite on the oldest supported CPython with every runtime
  dependency, and the package of each extra in ``LOWEST_EXTRAS``, at the lower bound
  ``pyproject.toml`` declares (``.venv-lowest``); the test tools at whatever versions
  resolve with those.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
DEMO_VENV = ROOT / ".venv-demo"  # the package alone: nothing of the test toolchain
SUPPORTED = ((3, 10), (3, 11), (3, 12), (3, 13))  # keep in step with pyproject's classifiers
LINTED = ("asyncsagemaker", "tests", "benchmarks", "examples", "dev.py")


def _python_in(env: Path) -> Path:
    return (
        env
        / ("Scripts" if os.name == "nt" else "bin")
        / ("python.exe" if os.name == "nt" else "python")
    )


def ensure_venv(env: Path = VENV, base: str = sys.executable, extras: str = "dev") -> Path:
    """A venv at ``env`` made by ``base``, with the project installed (editable).

    ``extras`` empty installs the package alone (its runtime dependencies).
    """
    python = _python_in(env)
    if not python.exists():
        print(f"dev.py: creating {env.name}", file=sys.stderr)
        if base == sys.executable:
            venv.EnvBuilder(with_pip=True).create(env)
        else:
            subprocess.run([base, "-m", "venv", str(env)], check=True)
    stamp = env / ".dev-stamp"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return python
    target = f"{ROOT}[{extras}]" if extras else str(ROOT)
    print(f"dev.py: installing asyncsagemaker{target[len(str(ROOT)) :]} into {env.name}",
          file=sys.stderr)  # fmt: skip
    if extras:
        install(python, ["-e", target])
    else:  # the demo: the package alone, by the venv's own pip (fetching uv would cost more)
        pip = [str(python), "-m", "pip", "--disable-pip-version-check", "-q", "install"]
        if not _pip_installs_editable(python):
            subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-e", target], check=True)
    stamp.write_text(wanted)
    return python


def install(python: Path, packages: list[str]) -> None:
    """Install ``packages`` into the venv of ``python``: with uv when it can be had.

    uv resolves and installs the test toolchain (Ray, Playwright, pyarrow...) in
    seconds where pip takes minutes, and resolves pinned lower bounds without pip's
    long backtracking; it is pip-installed into the venv. Without it, pip does it.
    """
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "-q", "install"]
    if subprocess.call([*pip, "uv"]) == 0:
        uv = [str(python), "-m", "uv", "pip", "install", "-q", "--python", str(python)]
        subprocess.run([*uv, *packages], check=True)
        return
    print("dev.py: uv could not be installed; pip installs (slower)", file=sys.stderr)
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *packages], check=True)


def _pip_installs_editable(python: Path) -> bool:
    """Whether the venv's pip installs a pyproject project editable (pip 21.3+, PEP 660).

    Upgrading pip costs a download and seconds, a good share of a first demo; the
    pip that ensurepip brings with most Python 3.10 releases on is new enough.
    """
    try:
        out = subprocess.run(
            [str(python), "-m", "pip", "--version"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
        major, minor = (int(part) for part in out.split()[1].split(".")[:2])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return False
    return (major, minor) >= (21, 3)


def run(*cmd: str, env: dict[str, str] | None = None) -> int:
    return subprocess.call(list(cmd), cwd=ROOT, env=env)


PEERS = ROOT / ".venv-peers"
PEER_VARIABLE = "ASYNCSAGEMAKER_PEER_PYTHON312"


def peer_environment() -> dict[str, str]:
    """The environment for the tests, with the official HTTP/2 SDK's interpreter if possible.

    That SDK (a real third-party client of the emulator) needs Python 3.12 or newer;
    its tests skip, saying why, when no such Python is found or it cannot be installed.
    """
    env = dict(os.environ)
    if env.get(PEER_VARIABLE):
        return env
    found = find_interpreters()
    base = found.get((3, 12)) or found.get((3, 13))
    if base is None:
        print("dev.py: no Python 3.12+ found: the official-SDK tests will skip", file=sys.stderr)
        return env
    requirements = ROOT / "tests" / "bidi" / "peer-requirements.txt"
    stamp = PEERS / ".dev-stamp"
    wanted = hashlib.sha256(requirements.read_bytes()).hexdigest()
    python = _python_in(PEERS)
    try:
        if not (stamp.exists() and stamp.read_text() == wanted):
            print(f"dev.py: installing the official HTTP/2 SDK into {PEERS.name}", file=sys.stderr)
            subprocess.run([base, "-m", "venv", str(PEERS)], check=True)
            install(python, ["-r", str(requirements)])
            stamp.write_text(wanted)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"dev.py: the official SDK could not be installed ({exc}); its tests will skip")
        return env
    env[PEER_VARIABLE] = str(python)
    return env


def test(python: Path, args: list[str], *, coverage: bool) -> int:
    """The suite; with ``coverage``, branch coverage of the package, subprocesses too."""
    env = peer_environment()
    if not coverage:
        return run(str(python), "-m", "pytest", *args, env=env)
    data = ROOT / ".coverage-data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir()
    env["COVERAGE_FILE"] = str(data / "coverage")
    status = run(str(python), "-m", "coverage", "run", "-m", "pytest", *args, env=env)
    run(str(python), "-m", "coverage", "combine", "-q", env=env)
    run(str(python), "-m", "coverage", "report", env=env)
    return status


def lint(python: Path) -> int:
    status = run(str(python), "-m", "ruff", "check", *LINTED)
    status |= run(str(python), "-m", "ruff", "format", "--check", *LINTED)
    status |= run(str(python), "-m", "mypy", "--strict", "asyncsagemaker", "tests")
    return status


def _version_of(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    major, minor = map(int, out.split())
    return major, minor


def _candidates() -> list[str]:
    """Interpreters on PATH (python3.X) and under pyenv's versions directory."""
    found = [p for v in SUPPORTED if (p := shutil.which(f"python{v[0]}.{v[1]}"))]
    roots = [os.environ.get("PYENV_ROOT"), shutil.which("pyenv") and _pyenv_root()]
    roots.append(str(Path.home() / ".pyenv"))
    for root in filter(None, roots):
        found += sorted(str(p) for p in Path(root).glob("versions/3.*/bin/python3"))
    return found


def _pyenv_root() -> str | None:
    try:
        return subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


#: The extras whose packages ``lowest`` installs at their lower bounds too, beside the
#: runtime dependencies. An extra added to pyproject.toml gets its lowest version
#: tested by adding its name here (one line).
LOWEST_EXTRAS = (
    "otel",
    "ray",
    "progress",
    "langchain",
    "strands",
    "litellm",
)
#: Test tools ``lowest`` leaves out, and why (their tests skip there, saying so).
LOWEST_WITHOUT = {
    "aiobotocore": "each release pins botocore to a narrow window above its lower bound",
}
LOWEST = ROOT / ".venv-lowest"
_REQUIREMENT = re.compile(r"^([A-Za-z0-9._-]+)(\[[^\]]*\])?\s*(.*?)\s*(;.*)?$")


def declared_requirements() -> dict[str, list[str]]:
    """pyproject.toml's ``dependencies`` and each extra's list, as requirement strings.

    A small reader of the two tables this file has (tomllib is not in Python 3.10).
    """
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    found: dict[str, list[str]] = {}
    tables = re.split(r"^\[([^\]\n]+)\]\s*$", text, flags=re.MULTILINE)
    for name, body in zip(tables[1::2], tables[2::2], strict=True):
        if name not in ("project", "project.optional-dependencies"):
            continue
        for key, items in re.findall(r"^([\w-]+) = \[(.*?)\]\s*$", body, re.M | re.S):
            if name == "project" and key != "dependencies":
                continue
            found[key] = re.findall(r'"([^"]+)"', items)
    return found


def _name(requirement: str) -> str:
    match = _REQUIREMENT.match(requirement)
    assert match is not None, requirement
    return match.group(1).lower()


def lowest_pins(declared: dict[str, list[str]]) -> list[str]:
    """``name==lower-bound`` for every runtime dependency and each extra of LOWEST_EXTRAS."""
    pins = []
    for requirement in declared["dependencies"] + [
        item for extra in LOWEST_EXTRAS for item in declared[extra]
    ]:
        match = _REQUIREMENT.match(requirement)
        bound = match and re.fullmatch(r">=\s*([\w.]+)", match.group(3))
        if not match or not bound:
            raise SystemExit(f"dev.py lowest: {requirement!r} declares no lower bound (>=)")
        name, extras, marker = match.group(1), match.group(2) or "", match.group(4) or ""
        pins.append(f"{name}{extras}=={bound.group(1)}{marker}")
    return pins


def ensure_lowest(base: str) -> Path:
    """``.venv-lowest`` made by ``base``: the lower bounds, and the test tools that fit."""
    python = _python_in(LOWEST)
    declared = declared_requirements()
    pins = lowest_pins(declared)
    pinned = {_name(pin) for pin in pins}
    tools = [
        item
        for item in declared["test"]
        if _name(item) not in pinned | set(LOWEST_WITHOUT) and not item.startswith("asyncsagemaker")
    ]
    stamp = LOWEST / ".dev-stamp"
    wanted = hashlib.sha256("\n".join([*pins, *tools, base]).encode()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    shutil.rmtree(LOWEST, ignore_errors=True)
    print(f"dev.py: creating {LOWEST.name}: {' '.join(pins)}", file=sys.stderr)
    for name, why in LOWEST_WITHOUT.items():
        print(f"dev.py: {LOWEST.name} without {name}: {why}", file=sys.stderr)
    subprocess.run([base, "-m", "venv", str(LOWEST)], check=True)
    install(python, ["-e", str(ROOT), *pins, *tools])
    stamp.write_text(wanted)
    return python


def lowest(args: list[str]) -> int:
    """The suite on the oldest supported CPython found, dependencies at their lower bounds."""
    found = find_interpreters()
    base = found.get(SUPPORTED[0])
    if base is None:
        base = sys.executable
        print(f"dev.py: Python {SUPPORTED[0][0]}.{SUPPORTED[0][1]} not found; using {base}")
    python = ensure_lowest(base)
    print(f"dev.py: the suite with the lowest versions ({python})", flush=True)
    return test(python, ["-q", "-p", "no:cacheprovider", *args], coverage=False)


def find_interpreters() -> dict[tuple[int, int], str]:
    """One interpreter per supported minor version found on this machine."""
    chosen: dict[tuple[int, int], str] = {}
    for python in _candidates():
        version = _version_of(python)
        if version in SUPPORTED and version not in chosen:
            chosen[version] = python
    return chosen


def versions(args: list[str]) -> int:
    """The suite on the oldest and the newest supported CPython; say which are missing."""
    found = find_interpreters()
    status = 0
    for wanted in (SUPPORTED[0], SUPPORTED[-1]):
        label = f"{wanted[0]}.{wanted[1]}"
        python = found.get(wanted)
        if python is None:
            print(f"dev.py: Python {label}: not found on PATH or under pyenv; not tested")
            continue
        env_python = ensure_venv(ROOT / f".venv-{label}", python, extras="test")
        print(f"dev.py: the suite on Python {label} ({python})", flush=True)
        status |= test(env_python, ["-q", "-p", "no:cacheprovider", *args], coverage=False)
    return status


def main(argv: list[str]) -> int:
    jobs = {
        "demo": "stream a chat answer from the embedded emulator through the real client",
        "test": "run the whole test suite with coverage (extra arguments go to pytest)",
        "lint": "ruff check, ruff format --check, mypy --strict",
        "versions": "the suite on the oldest and newest supported Python found here",
        "lowest": "the suite with every dependency at its declared lower bound",
    }
    if not argv or argv[0] not in jobs:
        print("usage: python3 dev.py {demo|test|lint|versions|lowest} [args...]", file=sys.stderr)
        for name, text in jobs.items():
            print(f"  {name:8} {text}", file=sys.stderr)
        return 2
    job, rest = argv[0], argv[1:]
    if job == "versions":
        return versions(rest)
    if job == "lowest":
        return lowest(rest)
    if job == "demo":
        python = ensure_venv(DEMO_VENV, extras="")
        return run(str(python), "-m", "asyncsagemaker", "demo", *rest)
    python = ensure_venv()
    if job == "test":
        return test(python, rest, coverage=True)
    return lint(python)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
