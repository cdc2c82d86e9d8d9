"""The transport seam: what the client hands a transport and what it gets back.

Stdlib only.  The client builds a :class:`Request` (the exact bytes to send, already
signed), a transport sends it and returns a :class:`RawResponse` as soon as the
status and headers are in.  Its ``body`` is a :class:`BodySource`: chunks of bytes,
read only when asked, knowing nothing of event streams.  Every failure a transport
or a body source raises is already one of our errors (the transport's error map),
and the deadline of the call (``_deadline.Deadline``) is the transport's to keep.

Two transports stand behind this seam: aiohttp for HTTP/1.1 (:mod:`.http1`) and,
for tests, ``testing.MockTransport`` (:mod:`.mock`); the HTTP/2 transport of the
bidirectional call (:mod:`.http2`) follows the same rules, and its streams are
:class:`Answer` s too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from .._deadline import Deadline

__all__ = [
    "RESIGN_AFTER",
    "Answer",
    "BodySource",
    "ChunkedBody",
    "RawResponse",
    "Request",
    "Transport",
    "refresh",
]

#: Seconds a request's signature may age before the request is written; older, it is
#: signed again.  AWS refuses a request that reaches it more than 5 minutes after its
#: signing time (protocol.md §5.1), and a request may wait for a pooled connection
#: (or for one to be made) for longer than that.
RESIGN_AFTER = 1.0


class Request(NamedTuple):
    """One attempt, ready for the wire: ``url`` is exact (already percent-encoded).

    **The rule of the seam: a request is signed when it is about to be written.** The
    attempt loop signs before it hands the request over (``signed_at``, from
    ``time.monotonic()``); a transport that may wait before writing (for a pooled
    connection, for a connection to be made) calls :func:`refresh` once the wait is
    over and writes ``headers`` as they are then.  ``sign_again(headers)`` signs
    them anew, in place.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    signed_at: float = 0.0
    sign_again: Callable[[dict[str, str]], None] | None = None


def refresh(request: Request) -> bool:
    """Sign ``request`` again, in place, if its signature is older than :data:`RESIGN_AFTER`.

    True if it was signed again (its ``headers`` changed).
    """
    sign_again = request.sign_again
    headers = request.headers
    if (
        sign_again is None
        or not isinstance(headers, dict)
        or time.monotonic() - request.signed_at <= RESIGN_AFTER
    ):
        return False
    sign_again(headers)
    return True


class BodySource(Protocol):
    """The body of a response, pulled chunk by chunk (backpressure is the caller's pace)."""

    async def read_chunk(self) -> bytes:
        """The next bytes that arrived (waits for some); ``b""`` once the body ended."""
        ...

    async def read_all(self) -> bytes:
        """Everything left, joined (for whole answers and error bodies)."""
        ...

    def release(self) -> None:
        """The body was read to its end: its connection may serve another request."""
        ...

    def abort(self) -> None:
        """Stop now: the connection is closed, never returned half-read."""
        ...


class ChunkedBody:
    """``read_all`` for a body that reads chunks: every transport's body (and the mock's)."""

    __slots__ = ()

    async def read_chunk(self) -> bytes:
        raise NotImplementedError

    async def read_all(self) -> bytes:
        chunks = []
        while chunk := await self.read_chunk():
            chunks.append(chunk)
        return b"".join(chunks)


class RawResponse(NamedTuple):
    """Status and headers of a response, with its body still to be read."""

    status: int
    headers: Mapping[str, str]  # looked up case-insensitively
    body: BodySource


class Answer(Protocol):
    """What every transport's answer offers: a :class:`RawResponse`, an HTTP/2 stream."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Looked up by lower-case name (HTTP/2's are lower case; HTTP/1.1's any case)."""
        ...

    @property
    def body(self) -> BodySource: ...


class Transport(Protocol):
    """Sends requests; owns the connections (a pool) and the deadline rules."""

    async def send(self, request: Request, deadline: Deadline) -> RawResponse:
        """Send ``request``; return once the response headers arrived.

        A transport that waited (for a connection) before writing calls
        :func:`refresh` on ``request`` first.

        Raises only our errors: ``ConnectTimeoutError``, ``ReadTimeoutError``,
        ``DeadlineExceededError``, ``NetworkError`` (and subclasses),
        ``ClientClosedError``, ``ParamValidationError``.
        """
        ...

    async def aclose(self) -> None:
        """Close every connection; bodies still being read end with ``NetworkError``."""
        ...
