"""The private event loop that runs the frameworks' synchronous calls on our async client.

LangChain's ``invoke``/``stream``/``batch``, LiteLLM's ``completion`` are synchronous;
our client is asyncio.  Nesting ``asyncio.run`` inside a caller's running loop fails,
and a loop per call would make (and leak) a connection pool per call.  So every
synchronous call of every integration runs on one daemon thread's event loop, shared
by the process and started on first use: the caller's thread waits for the result
(``call``) or for each item (``iterate``), never running a loop itself.  Its clients
live on that loop (``LoopClients``) and are closed when the process exits: ``atexit``
finalises the loop's async generators (which closes them), then stops the loop.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from ..errors import ClientClosedError

__all__ = ["Runner", "runner"]

T = TypeVar("T")

#: How often a waiting caller checks that the loop's thread is still alive (seconds).
_POLL = 0.5
#: How long the process's exit waits for the loop to close its clients (seconds).
_EXIT_WAIT = 5.0


class Runner:
    """An event loop in a daemon thread; synchronous callers hand it coroutines."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, started on first use (again after a ``stop``)."""
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                ready = threading.Event()
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=self._serve, args=(loop, ready), name="asyncsagemaker-sync", daemon=True
                )
                thread.start()
                if not ready.wait(_EXIT_WAIT):  # pragma: no cover - a thread that never starts
                    raise ClientClosedError("the synchronous calls' event loop did not start")
                self._loop, self._thread = loop, thread
            return self._loop

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def call(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """``await make()`` on the loop; the calling thread waits (and cancels it on leaving)."""
        if self.in_loop_thread():
            raise RuntimeError("a synchronous call from inside the synchronous calls' loop")
        future = asyncio.run_coroutine_threadsafe(make(), self.loop)
        return self._wait(future)

    def iterate(self, make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
        """The items of ``make()``, pulled one at a time on the loop (backpressure kept).

        One task on the loop drives the async iterator from start to end (a call's
        deadline and cancel scope belong to the task that started it), handing each
        item over when the caller asks for it.  Leaving early (``break``, an
        exception, ``close()``) cancels that task, which closes the iterator (and its
        stream) before this returns.
        """
        if self.in_loop_thread():
            raise RuntimeError("a synchronous call from inside the synchronous calls' loop")
        loop = self.loop
        pump = _Pump(make)
        task = asyncio.run_coroutine_threadsafe(pump.run(), loop)
        finished = False
        try:
            while True:
                reply: concurrent.futures.Future[Any] = concurrent.futures.Future()
                loop.call_soon_threadsafe(pump.ask, reply)
                item = self._wait(reply)
                if item is _END:
                    finished = True
                    return
                yield item
        finally:
            if not finished:
                task.cancel()
            concurrent.futures.wait([pump.closed], _EXIT_WAIT)  # the iterator (its stream) closed

    def _wait(self, future: concurrent.futures.Future[T]) -> T:
        """The result; bounded by the call's own deadline and the loop thread's life."""
        try:
            # waited for with wait(), not result(timeout): a call's own timeout error is a
            # TimeoutError too, and must not be taken for the end of a poll
            while not concurrent.futures.wait([future], _POLL).done:
                thread = self._thread
                if thread is None or not thread.is_alive():
                    raise ClientClosedError(
                        "the synchronous calls' event loop stopped (the process is exiting)"
                    )
            return future.result()
        finally:
            if not future.done():  # KeyboardInterrupt, or the loop stopped: cancel the call
                future.cancel()

    def stop(self) -> None:
        """Close the loop's async generators (its clients with them), then stop it."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or not thread.is_alive():
            return
        closing = asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop)
        if not concurrent.futures.wait([closing], _EXIT_WAIT).done:  # pragma: no cover
            closing.cancel()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_EXIT_WAIT)
        if not thread.is_alive():
            loop.close()


_END = object()


class _Pump:
    """The task that drives one async iterator on the loop, an item per ``ask``."""

    def __init__(self, make: Callable[[], AsyncIterator[Any]]) -> None:
        self._make = make
        self._asks: asyncio.Queue[concurrent.futures.Future[Any]] = asyncio.Queue()
        self.closed: concurrent.futures.Future[None] = concurrent.futures.Future()

    def ask(self, reply: concurrent.futures.Future[Any]) -> None:
        self._asks.put_nowait(reply)

    async def run(self) -> None:
        iterator = self._make()
        try:
            while True:
                reply = await self._asks.get()
                try:
                    item = await iterator.__anext__()
                except StopAsyncIteration:
                    reply.set_result(_END)
                    return
                except BaseException as exc:
                    reply.set_exception(exc)
                    raise
                reply.set_result(item)
        finally:
            try:
                closer = getattr(iterator, "aclose", None)
                if closer is not None:
                    await closer()
            finally:
                self.closed.set_result(None)


#: The process's one runner of synchronous calls.
runner = Runner()
atexit.register(runner.stop)
