"""The batch command interrupted and run again: every row once, nothing finished repeated.

The command runs as a user runs it (a child process) against an emulator whose model
counts the prompts it is sent, so the test sees both sides: the output file, and
what reached the endpoint.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asyncsagemaker.emulator import Emulator
from tests.batch._support import (
    AKID,
    SECRET,
    BatchChild,
    CountingModel,
    command,
    kind,
    line_count,
    prompts,
    read_rows,
    wait_until,
)

ROWS = 200
CONCURRENCY = 4


@pytest.fixture
def model() -> CountingModel:
    return CountingModel(delay=0.04)  # 100 rows/s at 4 in flight: a run takes 2 s


@pytest.fixture
def emulator(start_emulator: Callable[..., Emulator], model: CountingModel) -> Emulator:
    return start_emulator(models={"llm": model}, credentials={AKID: SECRET}, max_records=4 * ROWS)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "prompts.jsonl"
    source.write_text(prompts(ROWS), encoding="utf-8")
    return source, tmp_path / "answers.jsonl"


def batch_args(emulator: Emulator, source: Path, output: Path, *more: str) -> list[str]:
    return command(
        emulator, source, output, "--concurrency", str(CONCURRENCY), "--progress", "off", *more
    )


def check_every_row_once(rows: list[dict[str, Any]]) -> None:
    assert sorted(row["line"] for row in rows) == list(range(1, ROWS + 1))
    for row in rows:
        index = row["id"]
        assert row["line"] == index + 1
        if kind(index) == "fail":
            assert row["error"]["type"] == "ModelError"
            assert row["error"]["request_id"]
            assert "cannot answer" in row["error"]["message"]
        else:
            assert row["error"] is None
            assert row["output"] == {"generated_text": f"answer to ok prompt {index}"}


def interrupt_then_finish(
    emulator: Emulator,
    model: CountingModel,
    files: tuple[Path, Path],
    tmp_path: Path,
    signal_number: int,
) -> tuple[list[dict[str, Any]], str]:
    """Run, signal once rows are being written, run again; the rows of the first run."""
    source, output = files
    first = BatchChild(batch_args(emulator, source, output), tmp_path)
    try:
        wait_until(lambda: line_count(output) >= 30, 30, "30 rows written")
        first.process.send_signal(signal_number)
        code = first.wait(30)
    finally:
        first.kill()
    expected = 130 if signal_number == signal.SIGINT else 143
    assert code == expected, first.stderr
    assert "interrupted with" in first.stderr
    assert output.read_bytes().endswith(b"\n")
    before = read_rows(output)
    assert 30 <= len(before) < ROWS
    assert len({row["line"] for row in before}) == len(before)

    second = BatchChild(batch_args(emulator, source, output), tmp_path)
    try:
        assert second.wait(60) == 1, second.stderr  # some rows failed: exit status 1
    finally:
        second.kill()
    assert f"{len(before)} already done, skipped" in second.stderr
    rows = read_rows(output)
    check_every_row_once(rows)
    assert rows[: len(before)] == before  # what the first run wrote is kept as it was
    # Nothing that finished was sent again; what was in flight at the signal may have been.
    finished = {f"{kind(row['id'])} prompt {row['id']}" for row in before}
    assert all(model.seen[prompt] == 1 for prompt in finished)
    assert set(model.seen) == {f"{kind(i)} prompt {i}" for i in range(ROWS)}
    assert sum(model.seen.values()) <= ROWS + CONCURRENCY
    return before, first.stderr


def test_resume_after_sigint(
    emulator: Emulator, model: CountingModel, files: tuple[Path, Path], tmp_path: Path
) -> None:
    before, stderr = interrupt_then_finish(emulator, model, files, tmp_path, signal.SIGINT)
    assert any(row["error"] for row in before)  # errors are rows too, and are not redone
    assert f"batch: {len(before)} rows in " in stderr


def test_resume_after_sigterm(
    emulator: Emulator, model: CountingModel, files: tuple[Path, Path], tmp_path: Path
) -> None:
    interrupt_then_finish(emulator, model, files, tmp_path, signal.SIGTERM)


def test_resume_after_a_crash_with_a_torn_last_line(
    emulator: Emulator, model: CountingModel, files: tuple[Path, Path], tmp_path: Path
) -> None:
    source, output = files
    first = BatchChild(batch_args(emulator, source, output), tmp_path)
    try:
        wait_until(lambda: line_count(output) >= 20, 30, "20 rows written")
    finally:
        first.kill()  # SIGKILL: no clean-up at all
    before = read_rows(output)
    torn = json.dumps({"line": ROWS, "id": ROWS - 1, "error": None})[:17]
    with output.open("ab") as file:
        file.write(torn.encode())  # what a write cut short by a power loss leaves
    second = BatchChild(batch_args(emulator, source, output), tmp_path)
    try:
        assert second.wait(60) == 1, second.stderr
    finally:
        second.kill()
    rows = read_rows(output)
    check_every_row_once(rows)
    assert rows[: len(before)] == before
    assert model.seen[f"{kind(ROWS - 1)} prompt {ROWS - 1}"] == 1


def test_a_complete_output_sends_nothing(
    emulator: Emulator, model: CountingModel, files: tuple[Path, Path], tmp_path: Path
) -> None:
    source, output = files
    for expected in (1, 0):  # 1: some rows failed in this run; 0: none did (none was sent)
        child = BatchChild(batch_args(emulator, source, output), tmp_path)
        try:
            assert child.wait(60) == expected, child.stderr
        finally:
            child.kill()
    assert f"{ROWS} already done, skipped" in child.stderr
    check_every_row_once(read_rows(output))
    assert Counter(model.seen.values()) == {1: ROWS}


def test_overwrite_starts_afresh(
    emulator: Emulator, model: CountingModel, files: tuple[Path, Path], tmp_path: Path
) -> None:
    source, output = files
    output.write_text('{"line": 1, "error": null}\n')
    child = BatchChild(batch_args(emulator, source, output, "--overwrite"), tmp_path)
    try:
        assert child.wait(60) == 1, child.stderr
    finally:
        child.kill()
    check_every_row_once(read_rows(output))


def test_the_output_of_another_input_is_refused(
    emulator: Emulator, files: tuple[Path, Path], tmp_path: Path
) -> None:
    source, output = files
    output.write_text(json.dumps({"line": ROWS + 5, "error": None}) + "\n")
    child = BatchChild(batch_args(emulator, source, output), tmp_path)
    try:
        assert child.wait(60) == 2, child.stderr
    finally:
        child.kill()
    assert f"row for line {ROWS + 5} but the input has {ROWS} lines" in child.stderr
    assert line_count(output) == 1
