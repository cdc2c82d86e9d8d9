"""Batch inference from a JSON lines file: bounded, retried per row, resumable.

``await batch.run(client, "my-endpoint", "prompts.jsonl", "answers.jsonl")`` sends
every line of the input as a request, at most ``concurrency`` at a time, and appends
one JSON line per finished row to the output as soon as it is done (in completion
order: ``"line"`` is the 1-based input line).  A row that fails is a row too, with
its ``"error"``; the run goes on.  Run it again with the same output and the rows
already there are skipped, so an interrupted run loses nothing and repeats nothing
that finished.  ``asyncsagemaker batch`` is the same on the command line; see
docs/batch.md for the line formats, the output fields and the progress display.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import anyio

from ..errors import ParamValidationError
from ._call import RowCaller, check_concurrency
from ._input import BatchRequest, parse_line
from ._output import DoneRows, RowWriter, read_done, row_record
from ._progress import BadLine, BatchSummary, Progress, Reporter, Tally, make_reporter

if TYPE_CHECKING:
    from .._client import SageMakerRuntime
    from ..formats import TokenFormat

__all__ = ["BadLine", "BatchSummary", "Progress", "run"]


async def run(
    client: SageMakerRuntime,
    endpoint: str,
    input: str | os.PathLike[str] | Iterable[str],
    output: str | os.PathLike[str],
    *,
    concurrency: int = 16,
    stream: bool = False,
    format: TokenFormat | None = None,
    retries: int = 3,
    backoff: float = 1.0,
    max_backoff: float = 30.0,
    resume: bool = True,
    progress: Progress = "off",
    progress_interval: float = 10.0,
    progress_file: TextIO | None = None,
    stop: anyio.Event | None = None,
) -> BatchSummary:
    """Send every request line of ``input`` to ``endpoint``; write each row to ``output``.

    ``input`` is a path (``"-"`` for standard input) or an iterable of lines.  At most
    ``concurrency`` requests are in flight (give the client as many pooled
    connections).  ``stream`` reads each answer as a stream of generation events
    (in ``format``, default ``"auto"``; ``"openai"`` for chat lines), giving each row
    its text, finish reason, usage and time to first token.  A row whose error the
    client's retry policy calls retryable is sent again up to ``retries`` times, after
    a full-jitter backoff (``backoff * 2**(n-1)`` seconds at most, capped at
    ``max_backoff``).  With ``resume`` (the default) rows already in ``output`` are
    skipped; ``resume=False`` starts the output afresh.  ``progress`` shows progress
    on ``progress_file`` (standard error): ``"auto"``, ``"bar"``, ``"lines"`` (every
    ``progress_interval`` seconds) or ``"off"``.  Setting ``stop`` ends the run early:
    rows in flight are dropped (a later run sends them) and the summary says
    ``interrupted``.  Bad input lines are skipped and listed in the summary.
    """
    check_concurrency(concurrency)
    if not progress_interval > 0:
        raise ParamValidationError(f"progress_interval must be > 0, not {progress_interval!r}")
    if progress not in ("auto", "bar", "lines", "off"):
        raise ParamValidationError(f"progress must be auto, bar, lines or off, not {progress!r}")
    caller = RowCaller(
        client,
        endpoint,
        stream=stream,
        format=format,
        retries=retries,
        backoff=backoff,
        max_backoff=max_backoff,
    )
    out_path = Path(output)
    done = await anyio.to_thread.run_sync(read_done, out_path) if resume else DoneRows()
    tally = Tally()
    if isinstance(input, (str, os.PathLike)) and str(input) != "-":
        in_path = Path(input)
        tally.total = await anyio.to_thread.run_sync(_rows_to_do, in_path, done)
        lines: Iterable[str | bytes] = _file_lines(in_path)
    elif isinstance(input, (str, os.PathLike)):
        lines = sys.stdin.buffer
    else:
        lines = input
    try:
        writer = RowWriter(out_path, done.size if resume else None)
    except OSError as exc:
        raise ParamValidationError(f"cannot write the output {out_path}: {exc.strerror}") from None
    reporter = make_reporter(progress, progress_file or sys.stderr, progress_interval)
    batch = _Batch(caller, writer, tally, reporter, concurrency, stream)
    try:
        interrupted = await batch.run(lines, done, stop)
    finally:
        writer.close()
        reporter.close(tally)
    return tally.summary(interrupted=interrupted)


class _Batch:
    """One run: ``concurrency`` workers take the next row in turn, send it, write it.

    A fixed pool of workers rather than a task per row: the bound needs no semaphore,
    and a million rows make no more tasks than a hundred.
    """

    def __init__(
        self,
        caller: RowCaller,
        writer: RowWriter,
        tally: Tally,
        reporter: Reporter,
        concurrency: int,
        stream: bool,
    ) -> None:
        self.caller = caller
        self.writer = writer
        self.tally = tally
        self.reporter = reporter
        self.concurrency = concurrency
        self.stream = stream
        self.interrupted = False
        self.failure: Exception | None = None
        self._scope = anyio.CancelScope()

    async def run(
        self, lines: Iterable[str | bytes], done: DoneRows, stop: anyio.Event | None
    ) -> bool:
        """Every row of ``lines`` not in ``done``; True when ``stop`` ended it early.

        A failure of the run itself (the input cannot be read, the output cannot be
        written) stops every row and is raised as it is, not in an exception group.
        """
        requests = self._requests(lines, done)
        async with anyio.create_task_group() as helpers:
            self._scope = helpers.cancel_scope
            if self.reporter.interval is not None:
                helpers.start_soon(self._tick, self.reporter.interval)
            if stop is not None:
                helpers.start_soon(self._watch, stop)
            async with anyio.create_task_group() as workers:
                for _ in range(self.concurrency):
                    workers.start_soon(self._work, requests)
            helpers.cancel_scope.cancel()
        if self.failure is not None:
            raise self.failure
        return self.interrupted

    def _requests(
        self, lines: Iterable[str | bytes], done: DoneRows
    ) -> Iterator[tuple[int, BatchRequest]]:
        """The rows to send, in input order: shared by the workers, read as they ask."""
        tally = self.tally
        for number, raw in enumerate(lines, 1):
            if number in done.lines:
                tally.rows += 1
                tally.skipped += 1
                continue
            request = self._parse(number, raw)
            if request is None:
                continue
            tally.rows += 1
            yield number, request

    def _parse(self, number: int, raw: str | bytes) -> BatchRequest | None:
        try:
            return parse_line(raw, stream=self.stream)
        except ParamValidationError as exc:
            bad = BadLine(number, str(exc))
            self.tally.bad.append(bad)
            self.reporter.bad(bad)
            return None

    async def _work(self, requests: Iterator[tuple[int, BatchRequest]]) -> None:
        caller, write, tally, reporter = self.caller, self.writer.write, self.tally, self.reporter
        try:
            for number, request in requests:  # no await inside next(): workers never clash
                result = await caller(request)
                write(row_record(number, request.id, result))
                tally.add(result)
                reporter.row(tally)
        except Exception as exc:  # the input cannot be read or the output written: stop
            if self.failure is None:
                self.failure = exc
            self._scope.cancel()

    async def _tick(self, interval: float) -> None:
        while True:
            await anyio.sleep(interval)
            self.reporter.tick(self.tally)

    async def _watch(self, stop: anyio.Event) -> None:
        await stop.wait()
        self.interrupted = True
        self._scope.cancel()


def _file_lines(path: Path) -> Iterator[bytes]:
    try:
        file = path.open("rb")
    except OSError as exc:
        raise ParamValidationError(f"cannot read the input {path}: {exc.strerror}") from None
    with file:
        yield from file


def _rows_to_do(path: Path, done: DoneRows) -> int:
    """Non-blank lines of the input not done yet; refuses an output of another input."""
    count = total = 0
    for number, raw in enumerate(_file_lines(path), 1):
        total = number
        if raw.strip() and number not in done.lines:
            count += 1
    if done.highest > total:
        raise ParamValidationError(
            f"the output already has a row for line {done.highest} but the input has "
            f"{total} lines: is it the output of another input? Use another output, or "
            "start it afresh (resume=False, --overwrite)"
        )
    return count
