"""Which client an integration's call uses: one per event loop, closed with that loop.

A :class:`SageMakerRuntime` belongs to the event loop it first ran on (its connection
pool does).  A framework's model object, though, is called from whatever loop is
running: ``ainvoke`` in an application's loop, ``invoke`` on the private loop of
``_runner``, an ``asyncio.run`` per call (Strands' synchronous ``Agent.__call__``),
a test's loop per test.  So :class:`LoopClients` keeps one client per loop, made on
first use there, and closes it when that loop finalises its async generators, which
``asyncio.run``, ``asyncio.Runner`` (pytest-asyncio, anyio) and the private runner do
before closing a loop: each client is watched by a small async generator started on
its loop (:func:`_watch`), whose ``finally`` closes it.  Nothing is left unclosed (no
``ResourceWarning``), and nothing is kept for a loop once it is gone.

``await aclose()`` closes the running loop's client at once; ``close()`` (or the
owner's garbage collection) closes every client on its own loop.  A client passed in
by the caller is the caller's: used as it is, never closed here.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from .._client import SageMakerRuntime
from ..errors import UsageError

__all__ = ["LoopClients"]


@dataclass
class _Entry:
    client: SageMakerRuntime
    watcher: AsyncGenerator[None, None]


class LoopClients:
    """One :class:`SageMakerRuntime` per event loop, made by ``make``; or the ``given`` one."""

    def __init__(
        self,
        make: Callable[[], SageMakerRuntime],
        given: SageMakerRuntime | None = None,
    ) -> None:
        self._make = make
        self._given = given
        self._lock = threading.Lock()
        self._entries: dict[asyncio.AbstractEventLoop, _Entry] = {}
        weakref.finalize(self, _close_all, self._entries, self._lock)

    @property
    def given(self) -> SageMakerRuntime | None:
        return self._given

    def current(self) -> SageMakerRuntime:
        """The running loop's client (made now on its first use there)."""
        if self._given is not None:
            return self._given
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._entries.get(loop)
            if entry is not None:
                return entry.client
            for gone in [other for other in self._entries if other.is_closed()]:
                del self._entries[gone]  # closed without finalising its generators: let go
            client = self._make()
            watcher = _watch(client, self._entries, self._lock, loop)
            _start(watcher)  # registered with this loop: finalised before it closes
            self._entries[loop] = _Entry(client, watcher)
            return client

    def check_sync(self) -> None:
        """Refuse a synchronous call when the client is the caller's (bound to its loop)."""
        if self._given is not None:
            raise UsageError(
                "a SageMakerRuntime passed as client= belongs to the event loop it runs on; "
                "synchronous calls run on a private loop: use the async methods, or pass "
                "the client's settings (region_name, endpoint_url, ...) instead of client="
            )

    async def aclose(self) -> None:
        """Close the running loop's client now, and every other one on its own loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._entries.pop(loop, None)
        if entry is not None:
            await entry.watcher.aclose()
        self.close()

    def close(self) -> None:
        """Close every client on its own loop (scheduled: a loop in another thread)."""
        _close_all(self._entries, self._lock)

    def __deepcopy__(self, memo: dict[int, object]) -> LoopClients:
        """A copied model gets clients of its own (they are not shared, nor copyable)."""
        return LoopClients(self._make, self._given)


async def _watch(
    client: SageMakerRuntime,
    entries: dict[asyncio.AbstractEventLoop, _Entry],
    lock: threading.Lock,
    loop: asyncio.AbstractEventLoop,
) -> AsyncGenerator[None, None]:
    """Waits at its ``yield`` for its loop's end (or ``aclose()``), then closes ``client``."""
    try:
        yield
    finally:
        with lock:
            entry = entries.get(loop)
            if entry is not None and entry.client is client:
                del entries[loop]
        await client.close()


def _start(watcher: AsyncGenerator[None, None]) -> None:
    """Run ``watcher`` to its ``yield`` now, synchronously.

    Its first step calls the running loop's ``firstiter`` hook, which puts it among the
    generators the loop finalises (``shutdown_asyncgens``) before it closes.
    """
    step = watcher.__anext__()
    try:
        step.send(None)
    except StopIteration:
        return
    raise RuntimeError("the client's watcher did not stop at its yield")  # pragma: no cover


def _close_all(entries: dict[asyncio.AbstractEventLoop, _Entry], lock: threading.Lock) -> None:
    """Close every entry's client on its loop, without waiting (any thread may call this)."""
    with lock:
        taken = list(entries.items())
        entries.clear()
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for loop, entry in taken:
        if loop.is_closed():
            continue
        if loop is running:
            _close_soon(loop, entry.watcher)
        else:
            try:
                loop.call_soon_threadsafe(_close_soon, loop, entry.watcher)
            except RuntimeError:  # closed meanwhile
                continue


#: The closing tasks under way (the loop keeps only weak references to tasks).
_CLOSING: set[asyncio.Task[None]] = set()


def _close_soon(loop: asyncio.AbstractEventLoop, watcher: AsyncGenerator[None, None]) -> None:
    task = loop.create_task(_finish(watcher))
    _CLOSING.add(task)
    task.add_done_callback(_CLOSING.discard)


async def _finish(watcher: AsyncGenerator[None, None]) -> None:
    await watcher.aclose()
