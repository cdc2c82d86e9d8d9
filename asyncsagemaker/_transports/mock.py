"""``MockTransport``: answer a client's requests from a function, without sockets.

For unit tests of code that calls the client (and of the client's own layers above
the transport), the way httpx's ``MockTransport`` is used::

    def handler(request: Request) -> MockResponse:
        return MockResponse(200, body=event_stream(b"Hello", b" world"))

    client = SageMakerRuntime("us-east-1", transport=MockTransport(handler),
                              aws_access_key_id="k", aws_secret_access_key="s")

Requests arrive signed, exactly as they would go on the wire; ``transport.requests``
keeps them.  A body given as a list (or an async iterable) is handed out one item
per read, so chunking is under the test's control.  Timeouts apply as they do on a
socket: ``read_timeout`` per chunk waited for, ``total_timeout`` for everything.
The emulator (real sockets) remains the way to test end to end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import TypeAlias

from .._deadline import Deadline
from ..errors import ClientClosedError, DeadlineExceededError, ReadTimeoutError
from ..eventstream import encode_headers, frame
from .base import ChunkedBody, RawResponse, Request

__all__ = ["MockResponse", "MockTransport", "event_stream"]

MockBody: TypeAlias = "bytes | Iterable[bytes] | AsyncIterable[bytes]"
Handler: TypeAlias = "Callable[[Request], MockResponse | Awaitable[MockResponse]]"

_PAYLOAD_PART = encode_headers(
    {
        ":event-type": "PayloadPart",
        ":content-type": "application/octet-stream",
        ":message-type": "event",
    }
)


def event_stream(*parts: bytes) -> bytes:
    """``PayloadPart`` frames for ``parts``: the body of a successful streaming answer."""
    return b"".join(frame(_PAYLOAD_PART, part) for part in parts)


@dataclasses.dataclass(frozen=True)
class MockResponse:
    """What the handler answers: a status, headers, and the body (bytes or chunks)."""

    status: int = 200
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    body: MockBody = b""


class MockTransport:
    """A transport that calls ``handler(request)`` instead of opening connections."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[Request] = []
        self.closed = False

    async def send(self, request: Request, deadline: Deadline) -> RawResponse:
        if self.closed:
            raise ClientClosedError("the client was closed while the call was under way")
        self.requests.append(request)
        answer = self._handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        assert isinstance(answer, MockResponse), "the handler must return a MockResponse"
        headers = {name.lower(): value for name, value in answer.headers.items()}
        return RawResponse(answer.status, _Caseless(headers), _MockBody(answer.body, deadline))

    async def aclose(self) -> None:
        self.closed = True


class _Caseless(dict[str, str]):
    """Headers looked up in any case, as aiohttp's are."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


async def _chunks(body: MockBody) -> AsyncIterator[bytes]:
    if isinstance(body, (bytes, bytearray, memoryview)):
        if body:
            yield bytes(body)
    elif isinstance(body, AsyncIterable):
        async for chunk in body:
            yield chunk
    else:
        for chunk in body:
            yield chunk


class _MockBody(ChunkedBody):
    """Chunks from the handler's body, read under the call's deadline."""

    def __init__(self, body: MockBody, deadline: Deadline) -> None:
        self._chunks = _chunks(body)
        self._deadline = deadline
        self.released = False
        self.aborted = False

    async def read_chunk(self) -> bytes:
        deadline = self._deadline
        limits = [t for t in (deadline.read_timeout, deadline.remaining()) if t is not None]
        try:
            return await asyncio.wait_for(self._chunks.__anext__(), min(limits, default=None))
        except StopAsyncIteration:
            return b""
        except (TimeoutError, asyncio.TimeoutError):
            if deadline.at is not None and deadline.remaining() == 0:
                raise DeadlineExceededError(
                    "the call did not finish within total_timeout"
                ) from None
            raise ReadTimeoutError(
                f"no data for read_timeout ({deadline.read_timeout:g} s)"
            ) from None

    def release(self) -> None:
        self.released = True

    def abort(self) -> None:
        self.aborted = True
