"""An admission gate: the start of many calls spread over turns of the event loop.

A call's first steps (checking the arguments, signing, and aiohttp building and
writing the request) run without a pause until the request waits for the network.
``asyncio.gather`` of 1,000 calls would run all 1,000 of those prefixes in one turn
of the loop, and nothing else (a ticker, a health check, another user's tokens)
would run for that long.  The gate lets a few calls start per turn, the others
wait in line (first come, first served), so the loop gets a turn in between.

Outside a burst it costs two comparisons and an addition per call, and one turn of
the loop once every :data:`PER_TURN` calls (the moment a new turn is noticed).
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["PER_TURN", "AdmissionGate"]

#: Calls let start per turn of the loop.  Each start costs about 0.1 to 0.3 ms of
#: CPU, so a turn stays within a few milliseconds.
PER_TURN = 16


class AdmissionGate:
    """Counts the calls started in this turn of the loop and makes the others queue.

    Use as ``if gate.full(): await gate.wait()``: the check is inline, the wait only
    happens in a burst.
    """

    __slots__ = ("_count", "_new_turn_due", "_per_turn", "_waiters")

    def __init__(self, per_turn: int = PER_TURN) -> None:
        self._per_turn = per_turn
        self._count = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._new_turn_due = False

    def full(self) -> bool:
        """True when the caller must wait its turn; otherwise the caller is let in."""
        if self._waiters or self._count >= self._per_turn:
            return True
        self._count += 1
        return False

    async def wait(self) -> None:
        """Wait until a later turn of the loop lets this caller in."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        if not self._new_turn_due:
            self._new_turn_due = True
            loop.call_soon(self._new_turn, loop)
        try:
            await waiter
        except BaseException:  # cancelled (or the coroutine closed) at any point
            if not waiter.done():
                waiter.cancel()  # still in line: the next turn skips it
            elif not waiter.cancelled():
                # let in, then cancelled before it started: its place goes to the next
                self._count = max(self._count - 1, 0)
            # A cancelled waiter is never removed here: the turn that runs next may
            # already have taken it off the line (and skipped it), so removing it
            # would fail; it is dropped when its turn comes.
            raise

    def _new_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        """A new turn of the loop: let the next callers in, and come back if more wait."""
        self._count = 0
        waiters = self._waiters
        while waiters and self._count < self._per_turn:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._count += 1
        if waiters:
            loop.call_soon(self._new_turn, loop)  # after those let in have started
        else:
            self._new_turn_due = False
