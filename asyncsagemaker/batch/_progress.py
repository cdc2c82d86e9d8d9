"""Batch progress: counts as rows finish, a bar or periodic lines, and the final summary.

On a terminal with ``tqdm`` installed (``pip install asyncsagemaker[progress]``) a bar
shows rows done, failed, rows/s, tokens/s and the ETA; otherwise (a log file, a pipe,
no tqdm) a plain line every few seconds says the same, so CI logs stay readable.
"""

from __future__ import annotations

import array
import collections
import dataclasses
import math
import time
from typing import Any, Literal, Protocol, TextIO

from ..errors import SageMakerError
from ._call import RowResult

__all__ = [
    "BadLine",
    "BatchSummary",
    "Progress",
    "Tally",
    "make_reporter",
]

#: How progress is shown: a bar on a terminal with tqdm installed, else lines ("auto").
Progress = Literal["auto", "bar", "lines", "off"]


@dataclasses.dataclass(frozen=True)
class BadLine:
    """An input line that could not be sent: its 1-based number and what is wrong."""

    line: int
    message: str


@dataclasses.dataclass(frozen=True)
class BatchSummary:
    """What a batch run did.

    ``rows`` counts the input lines that are requests (blank and bad lines aside);
    ``skipped`` those already in the output from an earlier run; ``succeeded`` and
    ``failed`` those finished by this run, ``errors`` the failures per error type.
    Latency and time to first token are medians and 95th percentiles over this run's
    rows (``None`` when there is none), in seconds; ``tokens`` what this run generated.
    ``interrupted`` says the run was stopped before every row was done: run it again
    with the same output to finish.  ``stopped_by`` is the error the first
    ``stop_after_failures`` rows all failed with, when the run stopped early for it.
    ``left`` is how many lines of the input were not done when the run ended (``None``
    when the input is not a file and was not read to its end), and ``error_rows`` how
    many rows of the output are errors now (this run's and those kept from earlier).
    """

    rows: int
    succeeded: int
    failed: int
    skipped: int
    bad_lines: tuple[BadLine, ...]
    errors: dict[str, int]
    retried: int
    tokens: int
    seconds: float
    latency_p50: float | None
    latency_p95: float | None
    ttft_p50: float | None
    ttft_p95: float | None
    interrupted: bool = False
    stopped_by: SageMakerError | None = None
    left: int | None = 0
    error_rows: int = 0

    @property
    def complete(self) -> bool:
        """Every request row is in the output now (from this run or an earlier one)."""
        return (
            not self.interrupted
            and self.stopped_by is None
            and self.succeeded + self.failed + self.skipped == self.rows
        )

    def __str__(self) -> str:
        return "\n".join(summary_lines(self))


def percentile(values: array.array[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class Tally:
    """Counts of one run, updated as rows finish (on the event loop: no locks)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.total: int | None = None  # rows of the input to do in this run, once counted
        self.rows = 0
        self.skipped = 0
        self.succeeded = 0
        self.failed = 0
        self.retried = 0
        self.tokens = 0
        self.kept_errors = 0  # error rows of earlier runs kept in the output
        self.read_all = False  # the input was read to its end
        self.bad: list[BadLine] = []
        self.errors: collections.Counter[str] = collections.Counter()
        self.latencies = array.array("d")
        self.ttfts = array.array("d")

    def add(self, result: RowResult) -> None:
        if result.error is None:
            self.succeeded += 1
        else:
            self.failed += 1
            self.errors[type(result.error).__name__] += 1
        if result.attempts > 1:
            self.retried += 1
        self.tokens += result.tokens
        self.latencies.append(result.latency)
        if result.time_to_first_token is not None:
            self.ttfts.append(result.time_to_first_token)

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    def eta(self) -> float | None:
        """Seconds until every row is done at the rate so far; None while unknown."""
        if self.total is None or not self.finished:
            return None
        return max(self.to_do - self.finished, 0) * self.elapsed / self.finished

    @property
    def to_do(self) -> int:
        """Rows this run sends: the non-blank lines not done before, less the bad ones."""
        return (self.total or 0) - len(self.bad)

    def line(self) -> str:
        """One progress line: ``batch: 1200/10000 rows (1150 ok, 50 failed), ...``."""
        seconds = self.elapsed
        total = "?" if self.total is None else str(self.to_do)
        text = (
            f"batch: {self.finished}/{total} rows ({self.succeeded} ok, {self.failed} failed), "
            f"{self.finished / seconds:.1f} rows/s"
        )
        if self.tokens:
            text += f", {self.tokens / seconds:.0f} tokens/s"
        eta = self.eta()
        if eta is not None and self.finished < self.to_do:
            text += f", ETA {_duration(eta)}"
        return text

    def left(self) -> int | None:
        """Lines of the input not done yet: of the count made at the start, else unknown."""
        if self.total is not None:
            return max(self.to_do - self.finished, 0)
        return 0 if self.read_all and self.finished == self.rows - self.skipped else None

    def summary(
        self, *, interrupted: bool, stopped_by: SageMakerError | None = None
    ) -> BatchSummary:
        return BatchSummary(
            rows=self.rows,
            succeeded=self.succeeded,
            failed=self.failed,
            skipped=self.skipped,
            bad_lines=tuple(self.bad),
            errors=dict(self.errors.most_common()),
            retried=self.retried,
            tokens=self.tokens,
            seconds=time.monotonic() - self.started,
            latency_p50=percentile(self.latencies, 0.5),
            latency_p95=percentile(self.latencies, 0.95),
            ttft_p50=percentile(self.ttfts, 0.5),
            ttft_p95=percentile(self.ttfts, 0.95),
            interrupted=interrupted,
            stopped_by=stopped_by,
            left=self.left(),
            error_rows=self.kept_errors + self.failed,
        )


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _one_line(error: BaseException, limit: int = 300) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def summary_lines(summary: BatchSummary) -> list[str]:
    """The final summary, a few lines for a person."""
    finished = summary.succeeded + summary.failed
    rate = finished / summary.seconds if summary.seconds > 0 else 0.0
    head = (
        f"batch: {finished} rows in {summary.seconds:.1f} s ({rate:.1f} rows/s): "
        f"{summary.succeeded} ok, {summary.failed} failed"
    )
    if summary.skipped:
        head += f"; {summary.skipped} already done, skipped"
    left = "the rest of the input" if summary.left is None else f"{summary.left} rows"
    if summary.interrupted:
        head += f"; interrupted with {left} left (run again with the same output)"
    lines = [head]
    error = summary.stopped_by
    if error is not None:
        lines.append(
            f"  stopped early: the first {summary.failed} rows all failed alike "
            f"({type(error).__name__}: {_one_line(error)}) and none succeeded; {left} not sent"
        )
    if summary.errors:
        counts = ", ".join(f"{name} {count}" for name, count in summary.errors.items())
        lines.append(f"  errors: {counts}")
    if summary.error_rows:
        lines.append(
            f"  the output has {summary.error_rows} error rows; a run with the same output "
            "sends them again unless it keeps errors"
        )
    if summary.retried:
        lines.append(f"  retried: {summary.retried} rows needed more than one attempt")
    if summary.bad_lines:
        numbers = ", ".join(str(bad.line) for bad in summary.bad_lines[:10])
        more = ", ..." if len(summary.bad_lines) > 10 else ""
        lines.append(f"  bad input lines: {len(summary.bad_lines)} (lines {numbers}{more})")
    if finished:
        timing = (
            f"  latency p50 {_seconds(summary.latency_p50)}, p95 {_seconds(summary.latency_p95)}"
        )
        if summary.ttft_p50 is not None:
            timing += (
                f"; time to first token p50 {_seconds(summary.ttft_p50)}, "
                f"p95 {_seconds(summary.ttft_p95)}"
            )
        lines.append(timing)
    if summary.tokens:
        rate = summary.tokens / summary.seconds if summary.seconds > 0 else 0.0
        lines.append(f"  tokens: {summary.tokens} ({rate:.0f} tokens/s)")
    return lines


class Reporter(Protocol):
    """Shows progress: ``row()`` after each finished row, ``tick()`` every interval."""

    interval: float | None  # seconds between ticks; None: no ticks

    def row(self, tally: Tally) -> None: ...

    def bad(self, line: BadLine) -> None: ...

    def tick(self, tally: Tally) -> None: ...

    def close(self, tally: Tally) -> None: ...


class _Silent:
    interval: float | None = None

    def row(self, tally: Tally) -> None:
        pass

    def bad(self, line: BadLine) -> None:
        pass

    def tick(self, tally: Tally) -> None:
        pass

    def close(self, tally: Tally) -> None:
        pass


class _Lines(_Silent):
    """A plain line every ``interval`` seconds, and one at the end."""

    def __init__(self, file: TextIO, interval: float) -> None:
        self.file = file
        self.interval = interval

    def bad(self, line: BadLine) -> None:
        print(f"batch: line {line.line} skipped: {line.message}", file=self.file, flush=True)

    def tick(self, tally: Tally) -> None:
        print(tally.line(), file=self.file, flush=True)

    def close(self, tally: Tally) -> None:
        self.tick(tally)


class _Bar(_Silent):
    """A tqdm bar: rows done, failed, rows/s, tokens/s, ETA."""

    def __init__(self, file: TextIO, tqdm: Any) -> None:
        self.interval = 0.5  # the bar's counts beside it
        self._file = file
        self._bar = tqdm(total=None, unit="row", file=file, dynamic_ncols=True, smoothing=0.1)
        self._total: int | None = None

    def row(self, tally: Tally) -> None:
        if tally.total is not None and self._total != tally.to_do:
            self._total = self._bar.total = tally.to_do
        self._bar.update(1)

    def bad(self, line: BadLine) -> None:
        self._bar.write(f"batch: line {line.line} skipped: {line.message}", file=self._file)

    def tick(self, tally: Tally) -> None:
        postfix = f"ok={tally.succeeded}, failed={tally.failed}"
        if tally.tokens:
            postfix += f", {tally.tokens / tally.elapsed:.0f} tok/s"
        self._bar.set_postfix_str(postfix, refresh=False)

    def close(self, tally: Tally) -> None:
        self.tick(tally)
        self._bar.close()


def make_reporter(mode: Progress, file: TextIO, interval: float) -> Reporter:
    """The reporter for ``mode``: ``"auto"`` is a bar on a terminal with tqdm, else lines."""
    if mode == "off":
        return _Silent()
    if mode in ("auto", "bar"):
        isatty = getattr(file, "isatty", None)
        if mode == "bar" or (isatty is not None and isatty()):
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                return _Bar(file, tqdm)
    return _Lines(file, interval)
