"""What the batch command shows while it runs: lines in a log, a bar on a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from asyncsagemaker.emulator import Emulator
from tests.batch._support import (
    AKID,
    SECRET,
    BatchChild,
    CountingModel,
    command,
    prompts,
    read_rows,
)

ROWS = 120
LINE = re.compile(
    r"^batch: (\d+)/12[01] rows \((\d+) ok, (\d+) failed\), [\d.]+ rows/s(, ETA \d+ s)?$"
)


def run_args(emulator: Emulator, tmp_path: Path, *more: str) -> list[str]:
    source = tmp_path / "in.jsonl"
    source.write_text(prompts(ROWS) + "{broken\n")
    return command(emulator, source, tmp_path / "out.jsonl", "--concurrency", "4", *more)


@pytest.fixture
def emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    model = CountingModel(delay=0.02)  # about 200 rows/s: the run takes over half a second
    return start_emulator(models={"llm": model}, credentials={AKID: SECRET}, max_records=200)


def test_plain_lines_when_not_a_terminal(emulator: Emulator, tmp_path: Path) -> None:
    child = BatchChild(run_args(emulator, tmp_path, "--progress-interval", "0.1"), tmp_path)
    try:
        assert child.wait(60) == 1, child.stderr  # some rows failed, one line was bad
    finally:
        child.kill()
    err = child.stderr
    assert "\r" not in err and "\x1b" not in err  # nothing but lines: fit for a log
    progress = [line for line in err.splitlines() if LINE.match(line)]
    assert len(progress) >= 3, err
    done = [int(LINE.match(line).group(1)) for line in progress]  # type: ignore[union-attr]
    assert done == sorted(done) and done[-1] == ROWS
    assert "ETA" in progress[0] and "ETA" not in progress[-1]
    assert progress[-1].startswith("batch: 120/120 rows (108 ok, 12 failed)")  # the bad line out
    assert f"batch: line {ROWS + 1} skipped: not a JSON value" in err
    summary = err[err.index("batch: 120 rows in ") :]
    assert "108 ok, 12 failed" in summary
    assert "errors: ModelError 12" in summary
    assert f"bad input lines: 1 (lines {ROWS + 1})" in summary
    assert re.search(r"latency p50 [\d.]+ s, p95 [\d.]+ s", summary)
    assert len(read_rows(tmp_path / "out.jsonl")) == ROWS


def test_progress_off_still_sums_up(emulator: Emulator, tmp_path: Path) -> None:
    child = BatchChild(run_args(emulator, tmp_path, "--progress", "off"), tmp_path)
    try:
        assert child.wait(60) == 1
    finally:
        child.kill()
    assert not [line for line in child.stderr.splitlines() if LINE.match(line)]
    assert "batch: 120 rows in " in child.stderr


def test_a_bar_on_a_terminal(emulator: Emulator, tmp_path: Path) -> None:
    pytest.importorskip("tqdm", reason="the bar needs the [progress] extra (tqdm)")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # 120 columns
    try:
        child = BatchChild(run_args(emulator, tmp_path), tmp_path, stderr=follower)
        os.close(follower)
        screen = bytearray()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                screen += data
            elif child.process.poll() is not None:
                break
        assert child.wait(30) == 1
    finally:
        os.close(leader)
        child.kill()
    text = screen.decode("utf-8", "replace")
    assert "\r" in text  # a bar redrawn in place
    assert "120/120" in text and "row/s" in text and "ok=108, failed=12" in text
    assert "batch: 120 rows in " in text  # and the summary below it
