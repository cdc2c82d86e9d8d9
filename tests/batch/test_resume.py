"""The batch command interrupted and run again: every row once, no success repeated.

The command runs as a user runs it (a child process) against an emulator whose model
counts the prompts it is sent, so the test sees both sides: the output file, and
what reached the endpoint.  A rerun sends the error rows again (``--keep-errors``
keeps them), so the output ends with one row per line, each the latest try.
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
    assert output.read_bytes().endswith(b"\n")
    before = read_rows(output)
    assert 30 <= len(before) < ROWS
    assert len({row["line"] for row in before}) == len(before)
    # The rows left: every row not written, not only those that were in flight.
    assert f"interrupted with {ROWS - len(before)} rows left" in first.stderr

    second = BatchChild(batch_args(emulator, source, output), tmp_path)
    try:
        assert second.wait(60) == 1, second.stderr  # some rows failed: exit status 1
    finally:
        second.kill()
    succeeded = [row for row in before if row["error"] is None]
    failed = [row for row in before if row["error"] is not None]
    assert f"{len(succeeded)} already done, skipped" in second.stderr
    rows = read_rows(output)
    check_every_row_once(rows)
    assert rows[: len(succeeded)] == succeeded  # the first run's successes, kept as written
    # No success was sent again; the error rows were; what was in flight may have been.
    assert all(model.seen[prompt_of(row)] == 1 for row in succeeded)
    assert all(model.seen[prompt_of(row)] == 2 for row in failed)
    assert set(model.seen) == {f"{kind(i)} prompt {i}" for i in range(ROWS)}
    assert sum(model.seen.values()) <= ROWS + len(failed) + CONCURRENCY
    error_rows = sum(kind(i) == "fail" for i in range(ROWS))
    assert f"the output has {error_rows} error rows" in second.stderr
    return before, first.stderr


def prompt_of(row: dict[str, Any]) -> str:
    return f"{kind(row['id'])} prompt {row['id']}"


def test_resume_after_sigint(
    emulator: Emulator, model: CountingModel, files: tuple[Path, Path], tmp_path: Path
) -> None:
    before, stderr = interrupt_then_finish(emulator, model, files, tmp_path, signal.SIGINT)
    assert any(row["error"] for row in before)  # errors are rows too, and are sent again
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
    succeeded = [row for row in before if row["error"] is None]
    assert rows[: len(succeeded)] == succeeded  # kept as written; the error rows sent again
    assert model.seen[f"{kind(ROWS - 1)} prompt {ROWS - 1}"] == 1


def run_to_the_end(args: list[str], tmp_path: Path, expected: int) -> str:
    """The command's standard error, once it exited with ``expected``."""
    child = BatchChild(args, tmp_path)
    try:
        assert child.wait(60) == expected, child.stderr
    finally:
        child.kill()
    return child.stderr


def test_a_rerun_sends_the_error_rows_again_unless_told_to_keep_them(
    emulator: Emulator, model: CountingModel, files: tuple[Path, Path], tmp_path: Path
) -> None:
    source, output = files
    failing = sum(kind(i) == "fail" for i in range(ROWS))
    first = run_to_the_end(batch_args(emulator, source, output), tmp_path, 1)
    assert f"the output has {failing} error rows" in first
    # Run again: the successes are done; the error rows are taken out and sent again.
    second = run_to_the_end(batch_args(emulator, source, output), tmp_path, 1)
    assert f"{failing} rows in " in second and f"{ROWS - failing} already done" in second
    assert f"the output has {failing} error rows" in second
    check_every_row_once(read_rows(output))
    assert Counter(model.seen.values()) == {1: ROWS - failing, 2: failing}
    # --keep-errors: nothing is sent, and the exit status still says the output has errors.
    kept = run_to_the_end(batch_args(emulator, source, output, "--keep-errors"), tmp_path, 1)
    assert f"{ROWS} already done, skipped" in kept
    assert f"the output has {failing} error rows" in kept
    check_every_row_once(read_rows(output))
    assert Counter(model.seen.values()) == {1: ROWS - failing, 2: failing}


def test_a_rerun_of_an_output_without_errors_sends_nothing_and_succeeds(
    emulator: Emulator, model: CountingModel, tmp_path: Path
) -> None:
    source, output = tmp_path / "ok.jsonl", tmp_path / "answers.jsonl"
    source.write_text(
        "".join(json.dumps({"body": {"inputs": f"ok prompt {i}"}}) + "\n" for i in range(50))
    )
    for _ in range(2):
        stderr = run_to_the_end(batch_args(emulator, source, output), tmp_path, 0)
    assert "50 already done, skipped" in stderr and "error rows" not in stderr
    assert Counter(model.seen.values()) == {1: 50}


def test_a_mistyped_endpoint_stops_early_says_why_and_fails(
    emulator: Emulator, model: CountingModel, tmp_path: Path
) -> None:
    """2,000 rows to an endpoint that does not exist: 20 identical errors, then a stop."""
    source, output = tmp_path / "many.jsonl", tmp_path / "answers.jsonl"
    source.write_text(prompts(2000), encoding="utf-8")
    args = batch_args(emulator, source, output)
    args[args.index("llm")] = "llm-typo"
    stderr = run_to_the_end(args, tmp_path, 4)  # ValidationError: invoke's status for it
    assert "stopped early: the first 20 rows all failed alike (ValidationError: " in stderr
    assert "Endpoint llm-typo of account" in stderr and "1980 rows not sent" in stderr
    assert "--stop-after-failures 0" in stderr
    rows = read_rows(output)
    assert len(rows) == 20 and all(row["error"]["type"] == "ValidationError" for row in rows)
    assert len(emulator.records) <= 20 + CONCURRENCY  # not 2,000 requests
    assert not model.seen
    # --stop-after-failures 0: every row is sent, every one fails (exit status 1).
    args += ["--stop-after-failures", "0", "--overwrite"]
    source.write_text(prompts(100), encoding="utf-8")
    stderr = run_to_the_end(args, tmp_path, 1)
    assert "stopped early" not in stderr and "100 failed" in stderr
    assert len(read_rows(output)) == 100


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
