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

No timer is armed per read, nor per call: the reader stamps when it starts waiting,
and one :class:`Sweeper` per event loop checks every watchdog now and then (a
quarter of the shortest idle limit among them, 5 ms to 1 s), failing those whose
limit has passed.  A read costs two attribute writes; a call, one set insertion and
one removal.  A limit is noticed at most a quarter of itself late.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from .errors import DeadlineExceededError, ReadTimeoutError, SageMakerError

__all__ = ["Deadline", "Sweeper", "Watchdog"]


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
        import anyio  # only a call with a total_timeout needs it

        cancel_scope = None
        try:
            with anyio.fail_after(self.remaining()) as cancel_scope:
                yield
        except TimeoutError as exc:
            if isinstance(exc, SageMakerError) or not (cancel_scope and cancel_scope.cancel_called):
                raise
            raise DeadlineExceededError("the call did not finish within total_timeout") from None

    def watchdog(
        self,
        fail: Callable[[SageMakerError], None] | None = None,
        *,
        task: asyncio.Task[Any] | None = None,
        sweeper: Sweeper | None = None,
    ) -> Watchdog | None:
        """A watchdog for one call under these limits; ``None`` when there are none.

        Until ``fail`` is set, a watchdog that fires cancels ``task`` (the call waiting
        for its response headers).
        """
        if self.at is None and self.read_timeout is None:
            return None
        if sweeper is None:
            sweeper = Sweeper.of(asyncio.get_running_loop())
        return Watchdog(sweeper, self.read_timeout, self.at, fail, task)


class Watchdog:
    """Fails a call (through ``fail``) when its reader waited ``idle`` s, or at ``deadline``.

    The reader sets :attr:`waiting_since` to ``loop.time()`` before it waits and back
    to ``None`` when something came; ``fail`` may be replaced as the call moves on
    (waiting for the headers, then reading the body).  Call :meth:`stop` when done.
    """

    __slots__ = ("_end", "_idle", "_sweeper", "_task", "fail", "fired", "started", "waiting_since")

    def __init__(
        self,
        sweeper: Sweeper,
        idle: float | None,
        deadline: float | None,
        fail: Callable[[SageMakerError], None] | None = None,
        task: asyncio.Task[Any] | None = None,
    ) -> None:
        loop = sweeper.loop
        self._idle = idle
        self.started = loop.time()
        # the deadline on the loop's clock (asyncio and uvloop both count monotonic time)
        self._end = None if deadline is None else self.started + (deadline - time.monotonic())
        self.fail = fail
        self._task = task
        self.fired: SageMakerError | None = None
        self.waiting_since: float | None = None
        self._sweeper = sweeper
        sweeper.add(self, idle)

    def check(self, now: float) -> bool:
        """Fail the call if a limit has passed; True once it did (then it is no longer watched)."""
        error: SageMakerError
        if self._end is not None and now >= self._end:
            error = DeadlineExceededError("the call did not finish within total_timeout")
        else:
            since = self.waiting_since
            if self._idle is None or since is None or now - since < self._idle:
                return False
            error = ReadTimeoutError(f"no data for read_timeout ({self._idle:g} s)")
        self.fired = error
        if self.fail is not None:
            self.fail(error)
        elif self._task is not None:
            self._task.cancel()
        return True

    def stop(self) -> None:
        self._sweeper.discard(self)
        # ``fail`` is mostly a bound method of the watchdog's owner, which holds the
        # watchdog: dropped here, a finished call is freed at once, not by the GC.
        self.fail = None
        self._task = None


class Sweeper:
    """The one timer of an event loop that checks its watchdogs (see the module docstring)."""

    __slots__ = ("__weakref__", "_every", "_handle", "_watched", "loop")

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> Sweeper:
        sweeper = _SWEEPERS.get(loop)
        if sweeper is None:
            sweeper = _SWEEPERS[loop] = cls(loop)
        return sweeper

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._watched: set[Watchdog] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._every = _LONGEST_SWEEP

    def add(self, watchdog: Watchdog, idle: float | None) -> None:
        self._watched.add(watchdog)
        every = (
            _LONGEST_SWEEP if idle is None else min(max(idle / 4, _SHORTEST_SWEEP), _LONGEST_SWEEP)
        )
        if self._handle is None:
            self._every = every
            self._handle = self.loop.call_later(every, self._sweep)
        elif every < self._every:  # a shorter limit than any so far: sweep sooner
            self._every = every
            self._handle.cancel()
            self._handle = self.loop.call_later(every, self._sweep)

    def discard(self, watchdog: Watchdog) -> None:
        self._watched.discard(watchdog)

    def _sweep(self) -> None:
        now = self.loop.time()
        for watchdog in [w for w in self._watched if w.check(now)]:
            self._watched.discard(watchdog)
        if self._watched:
            self._handle = self.loop.call_later(self._every, self._sweep)
        else:
            self._handle = None
            self._every = _LONGEST_SWEEP


_SWEEPERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Sweeper] = (
    weakref.WeakKeyDictionary()
)
_SHORTEST_SWEEP = 0.005
_LONGEST_SWEEP = 1.0
