"""``StreamCall``: what ``invoke_endpoint_with_response_stream`` returns before it is awaited."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from types import TracebackType
from typing import Any

from ._stream import ResponseStream
from .errors import UsageError

__all__ = ["StreamCall"]


class StreamCall(Coroutine[Any, Any, ResponseStream]):
    """What ``invoke_endpoint_with_response_stream`` returns: await it or ``async with`` it.

    ``stream = await client.invoke_endpoint_with_response_stream(...)`` leaves
    closing to you; ``async with ... as stream:`` closes it on the way out.  It is a
    real coroutine, as aiohttp's request context manager is, so
    ``asyncio.create_task(client.invoke_endpoint_with_response_stream(...))`` works.
    Used any other way (``async for`` over it, a stream attribute on it, dropped
    without being awaited) it says what to write instead.
    """

    __slots__ = ("_coroutine", "_started", "_stream")

    def __init__(self, opener: Coroutine[Any, Any, ResponseStream]) -> None:
        self._coroutine = opener
        self._stream: ResponseStream | None = None
        self._started = False

    def send(self, value: Any) -> Any:
        self._started = True
        return self._coroutine.send(value)

    def throw(self, *args: Any) -> Any:
        self._started = True
        return self._coroutine.throw(*args)

    def close(self) -> None:
        self._started = True
        self._coroutine.close()

    def __await__(self) -> Generator[Any, None, ResponseStream]:
        self._start_once()
        return self._coroutine.__await__()

    async def __aenter__(self) -> ResponseStream:
        self._start_once()
        self._stream = await self._coroutine
        return self._stream

    def _start_once(self) -> None:
        """A call opens one stream, once: a second ``await`` or ``async with`` says so."""
        if self._started:
            raise UsageError(_REUSED)
        self._started = True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            await self._stream.aclose()

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._abandon()
        raise UsageError(_MISUSE_ITERATE)

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and hasattr(ResponseStream, name):
            self._abandon()
            raise UsageError(
                f"{name!r} belongs to the stream, not to the call that opens it: "
                "`async with client.invoke_endpoint_with_response_stream(...) as stream:` "
                f"then `stream.{name}`"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _abandon(self) -> None:
        """Drop the unstarted request quietly: the error says what to write instead."""
        if not self._started:
            self._started = True
            self._coroutine.close()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if not getattr(self, "_started", True):
            self._coroutine.close()  # in place of Python's warning naming a private method
            _warn(_NEVER_AWAITED, RuntimeWarning, stacklevel=1)


_MISUSE_ITERATE = (
    "invoke_endpoint_with_response_stream(...) opens a stream and must be awaited first: "
    "write `async with client.invoke_endpoint_with_response_stream(...) as stream:` and "
    "then `async for part in stream:` (or `stream = await client.invoke_...(...)`)"
)
_REUSED = (
    "this call was already awaited or entered (`async with`): a call opens one stream, "
    "once; call client.invoke_endpoint_with_response_stream(...) again for another stream, "
    "or keep the stream the first `await` / `async with` gave you"
)
_NEVER_AWAITED = (
    "invoke_endpoint_with_response_stream(...) was never awaited, so no request was sent: "
    "use `async with client.invoke_endpoint_with_response_stream(...) as stream:` "
    "or `stream = await client.invoke_endpoint_with_response_stream(...)`"
)
