"""Batch inference from a JSON lines file: bounded, retried per row, resumable.

``await batch.run(client, "my-endpoint", "prompts.jsonl", "answers.jsonl")`` sends
every line of the input as a request, at most ``concurrency`` at a time, and appends
one JSON line per finished row to the output as soon as it is done (in completion
order: ``"line"`` is the 1-based input line).  A row that fails is a row too, with
its ``"error"``; the run goes on, unless its first rows all fail alike (a mistyped
endpoint): then it stops early and says why.  Run it again with the same output and
the rows that succeeded are skipped while the error rows are sent again, so an
interrupted run loses nothing and repeats nothing that succeeded.  ``asyncsagemaker
batch`` is the same on the command line; see docs/batch.md for the line formats, the
output fields and the progress display.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import anyio

from ..errors import ParamValidationError, SageMakerError
from ._call import RowCaller, check_concurrency
from ._input import BatchRequest, parse_line
from ._output import DoneRows, RowWriter, drop_error_rows, read_done, row_record
from ._progress import BadLine, BatchSummary, Progress, Reporter, Tally, make_reporter

if TYPE_CHECKING:
    from .._client import SageMakerRuntime
    from ..formats import TokenFormat

__all__ = ["STOP_AFTER_FAILURES", "BadLine", "BatchSummary", "Progress", "run"]

#: A run stops early when its first this-many rows all fail with the same error that
#: is not worth retrying and none succeeds (a mistyped endpoint, a wrong region...).
STOP_AFTER_FAILURES = 20


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
    keep_errors: bool = False,
    stop_after_failures: int = STOP_AFTER_FAILURES,
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

    Resuming, the error rows of ``output`` are taken out of it and sent again, unless
    ``keep_errors``.  When the first ``stop_after_failures`` rows to finish all fail
    with the same error that is not worth retrying, and none succeeds, the run stops
    there (``summary.stopped_by`` is that error): thousands of identical errors say
    no more than twenty.  Rows sent again because they failed before do not count
    (they are expected to fail alike).  ``stop_after_failures=0`` never stops.
    """
    check_concurrency(concurrency)
    if (
        isinstance(stop_after_failures, bool)
        or not isinstance(stop_after_failures, int)
        or stop_after_failures < 0
    ):
        raise ParamValidationError(
            f"stop_after_failures must be an int >= 0, not {stop_after_failures!r}"
        )
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
    done = DoneRows()
    if resume:
        done = await anyio.to_thread.run_sync(
            functools.partial(read_done, out_path, keep_errors=keep_errors)
        )
    tally = Tally()
    tally.kept_errors = done.kept_errors
    if isinstance(input, (str, os.PathLike)) and str(input) != "-":
        in_path = Path(input)
        tally.total = await anyio.to_thread.run_sync(_rows_to_do, in_path, done)
        lines: Iterable[str | bytes] = _file_lines(in_path)
    elif isinstance(input, (str, os.PathLike)):
        lines = sys.stdin.buffer
    else:
        lines = input
    if done.error_spans:  # after the check that the output is this input's
        await anyio.to_thread.run_sync(drop_error_rows, out_path, done)
    try:
        writer = RowWriter(out_path, done.size if resume else None)
    except OSError as exc:
        raise ParamValidationError(f"cannot write the output {out_path}: {exc.strerror}") from None
    reporter = make_reporter(progress, progress_file or sys.stderr, progress_interval)
    batch = _Batch(caller, writer, tally, reporter, concurrency, stream, stop_after_failures)
    try:
        interrupted = await batch.run(lines, done, stop)
    finally:
        writer.close()
        reporter.close(tally)
    return tally.summary(interrupted=interrupted, stopped_by=batch.stopped_by)


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
        stop_after_failures: int = STOP_AFTER_FAILURES,
    ) -> None:
        self.caller = caller
        self.writer = writer
        self.tally = tally
        self.reporter = reporter
        self.concurrency = concurrency
        self.stream = stream
        self.interrupted = False
        self.failure: Exception | None = None
        self.stopped_by: SageMakerError | None = None
        self.again: set[int] = set()
        self._scope = anyio.CancelScope()
        # The first rows' failures, while they are all alike; None once one is not.
        self._alike: list[SageMakerError] | None = [] if stop_after_failures else None
        self._stop_after = stop_after_failures

    async def run(
        self, lines: Iterable[str | bytes], done: DoneRows, stop: anyio.Event | None
    ) -> bool:
        """Every row of ``lines`` not in ``done``; True when ``stop`` ended it early.

        A failure of the run itself (the input cannot be read, the output cannot be
        written) stops every row and is raised as it is, not in an exception group.
        """
        requests = self._requests(lines, done)
        self.again = done.error_lines - done.lines
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
        tally.read_all = True

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
        again = self.again  # rows that failed in an earlier run: their failing proves nothing
        try:
            for number, request in requests:  # no await inside next(): workers never clash
                result = await caller(request)
                if self._scope.cancel_called:  # stopped while this row was in flight: dropped
                    return
                write(row_record(number, request.id, result))
                tally.add(result)
                reporter.row(tally)
                if self._alike is not None and (result.error is None or number not in again):
                    self._watch_failures(result.error)
        except Exception as exc:  # the input cannot be read or the output written: stop
            if self.failure is None:
                self.failure = exc
            self._scope.cancel()

    def _watch_failures(self, error: SageMakerError | None) -> None:
        """Stop the run once its first rows have all failed alike, none succeeding.

        Alike: the same error class and code, not worth retrying (a mistyped endpoint
        or region, a model that refuses everything).  A success, a retryable error or
        another error ends the watch for the rest of the run.
        """
        alike = self._alike
        assert alike is not None
        if error is None or self.caller.retryable(error) or (alike and not _same(alike[0], error)):
            self._alike = None
            return
        alike.append(error)
        if len(alike) >= self._stop_after:
            self.stopped_by = alike[0]
            self._alike = None
            self._scope.cancel()

    async def _tick(self, interval: float) -> None:
        while True:
            await anyio.sleep(interval)
            self.reporter.tick(self.tally)

    async def _watch(self, stop: anyio.Event) -> None:
        await stop.wait()
        self.interrupted = True
        self._scope.cancel()


def _same(first: SageMakerError, error: SageMakerError) -> bool:
    """The same failure: the same class and the same service or stream error code."""
    return type(first) is type(error) and getattr(first, "code", None) == getattr(
        error, "code", None
    )


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
