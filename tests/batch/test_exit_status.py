"""The batch command's exit status is what docs/batch.md's table says, case by case.

The other rows of the table (0, 1, 4 after an early stop, 130 and 143) are checked
where those runs are made: tests/batch/test_resume.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from asyncsagemaker.emulator import Emulator
from tests._support import ROOT
from tests.batch._support import AKID, SECRET, prompts


def documented() -> dict[str, str]:
    """docs/batch.md's exit status table: the status cell and what it says."""
    text = (ROOT / "docs" / "batch.md").read_text(encoding="utf-8")
    table = text[text.index("Exit status:") :].split("\n\n")[1]
    rows = re.findall(r"^\| ([^|]+?) \| (.+) \|$", table, re.MULTILINE)
    return {status: when for status, when in rows if status != "status" and "---" not in status}


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The command with a clean AWS environment: only what ``env`` gives."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    clean.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        HOME=str(tmp_path),
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "asyncsagemaker", "batch", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_table_has_a_row_for_every_status() -> None:
    assert set(documented()) == {"0", "1", "2", "3", "3-7", "130, 143"}


@pytest.mark.parametrize(
    ("case", "status", "words"),
    [
        ("no region", 2, "no region"),
        ("no credentials", 3, "no credentials"),
        ("an input that cannot be read", 2, "an input that cannot be read"),
    ],
)
def test_the_status_of_a_run_that_cannot_start_is_the_documented_one(
    start_emulator: Callable[..., Emulator], tmp_path: Path, case: str, status: int, words: str
) -> None:
    emulator = start_emulator(credentials={AKID: SECRET})
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(prompts(3))
    args = [str(source), "-o", str(output), "--endpoint", "echo", "--endpoint-url", emulator.url]
    keys = {"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET}
    if case == "no region":
        result = run(args, tmp_path, **keys)
    elif case == "no credentials":
        result = run([*args, "--region", "us-east-1"], tmp_path)
    else:
        args[0] = str(tmp_path / "missing.jsonl")
        result = run([*args, "--region", "us-east-1"], tmp_path, **keys)
    assert result.returncode == status, result.stderr
    assert words in documented()[str(status)]
    assert result.stderr.strip() and "Traceback" not in result.stderr
    assert not emulator.records  # nothing was sent
