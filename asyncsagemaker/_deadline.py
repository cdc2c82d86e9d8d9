"""One clock per call: the total deadline, and the idle timer a body is read under.

``Config`` has three timeouts, and each call gets one :class:`Deadline` holding them:

* ``total_timeout`` covers the whole call: waiting for credentials, for a pooled
  connection, connecting, every attempt and backoff, every read of the body.
  :meth:`Deadline.scope` enforces it up to the response headers (one cancel scope
  per call); a body's :class:`Watchdog` enforces it while the body is read.
* ``read_timeout`` is the idle limit: seconds of waiting without a byte.  The
  transport applies it while waiting for the response headers and, through the
  watchdog, between chunks of the body, where it counts only while the reader is
  actually waiting (a slow consumer is not an idle server).
* ``connect_timeout`` is the transport's, per connection attempt.

The watchdog keeps no timer per read: the reader stamps when it starts waiting, and
one timer per body wakes up at the earliest moment a limit could be reached, checks,
and either fails the body or sleeps again.  A read costs two attribute writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator

import anyio

from .errors import DeadlineExceededError, ReadTimeoutError, SageMakerError

__all__ = ["Deadline", "Watchdog"]


class Deadline:
    """The time limits of one call; ``at`` is a ``time.monotonic()`` instant or ``None``."""

    __slots__ = ("at", "connect_timeout", "read_timeout")

    def __init__(
        self,
        total_timeout: float | None = None,
        read_timeout: float | None = None,
        connect_timeout: float | None = None,
        *,
        started: float | None = None,
    ) -> None:
        start = time.monotonic() if started is None else started
        self.at = None if total_timeout is None else start + total_timeout
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout

    def remaining(self) -> float | None:
        """Seconds left (never negative), or ``None`` without a total timeout."""
        return None if self.at is None else max(self.at - time.monotonic(), 0.0)

    def allows(self, seconds: float) -> bool:
        """Whether waiting ``seconds`` now would still end before the deadline."""
        return self.at is None or time.monotonic() + seconds < self.at

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Cancel what runs inside at the deadline, raising :class:`DeadlineExceededError`."""
        if self.at is None:
            yield
            return
        cancel_scope = None
        try:
            with anyio.fail_after(self.remaining()) as cancel_scope:
                yield
        except TimeoutError as exc:
            if isinstance(exc, SageMakerError) or not (cancel_scope and cancel_scope.cancel_called):
                raise
            raise DeadlineExceededError("the call did not finish within total_timeout") from None

    def watchdog(self, fail: Callable[[SageMakerError], None]) -> Watchdog | None:
        """A watchdog for one body read under these limits; ``None`` when there are none."""
        if self.at is None and self.read_timeout is None:
            return None
        return Watchdog(asyncio.get_running_loop(), self.read_timeout, self.at, fail)


class Watchdog:
    """Fails a body (through ``fail``) when its reader waited ``idle`` s, or at ``deadline``.

    The reader sets :attr:`waiting_since` to ``loop.time()`` before it waits for data
    and back to ``None`` when data came.  Call :meth:`stop` when the body is done.
    """

    __slots__ = ("_end", "_fail", "_handle", "_idle", "_loop", "waiting_since")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        idle: float | None,
        deadline: float | None,
        fail: Callable[[SageMakerError], None],
    ) -> None:
        self._loop = loop
        self._idle = idle
        # the deadline on the loop's clock (asyncio and uvloop both count monotonic time)
        self._end = None if deadline is None else loop.time() + (deadline - time.monotonic())
        self._fail = fail
        self.waiting_since: float | None = None
        now = loop.time()
        self._handle: asyncio.TimerHandle | None = loop.call_at(self._next_check(now), self._check)

    def _next_check(self, now: float) -> float:
        since = self.waiting_since
        idle_end = None if self._idle is None else (now if since is None else since) + self._idle
        if self._end is None:
            assert idle_end is not None
            return idle_end
        return self._end if idle_end is None else min(idle_end, self._end)

    def _check(self) -> None:
        now = self._loop.time()
        if self._end is not None and now >= self._end:
            self._handle = None
            self._fail(DeadlineExceededError("the call did not finish within total_timeout"))
            return
        since = self.waiting_since
        if self._idle is not None and since is not None and now - since >= self._idle:
            self._handle = None
            self._fail(ReadTimeoutError(f"no data for read_timeout ({self._idle:g} s)"))
            return
        self._handle = self._loop.call_at(self._next_check(now), self._check)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
