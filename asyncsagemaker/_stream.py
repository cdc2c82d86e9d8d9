"""``ResponseStream``: the parts of an ``InvokeEndpointWithResponseStream`` answer.

It reads from the socket only when the consumer asks for the next part, so a
slow consumer slows the model through TCP and memory per stream stays bounded.
Each frame goes through the sans-IO :class:`~asyncsagemaker.eventstream.Decoder`;
an in-stream exception, a corrupt frame or a connection lost mid-message raises
its typed error exactly where it happens, after the parts before it.

Leaving ``async with``, ``break``, an exception or the cancellation of the task
closes the HTTP response at once: a half-read connection is never returned to
the pool.  (A bare ``async for`` that breaks without ``async with`` closes it as
soon as the loop finalises the abandoned iterator, which CPython does at once.)
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Coroutine,
    Generator,
    Mapping,
)
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ._http import RawResponse
from ._stats import StreamStats
from .errors import (
    InternalStreamFailure,
    ModelStreamError,
    NetworkError,
    ProtocolError,
    SageMakerError,
    StreamConsumedError,
    StreamError,
    StreamInterruptedError,
    UsageError,
)
from .eventstream import Decoder, Headers

if TYPE_CHECKING:
    from .codecs import ServerSentEvent

__all__ = ["ResponseStream", "StreamCall", "StreamStats"]

_T = TypeVar("_T")


def _stream_exception(headers: Headers, payload: bytes) -> StreamError:
    """The typed error for an ``exception`` or ``error`` message."""
    if headers.get(":message-type") == "error":
        code = str(headers.get(":error-code", ""))
        return StreamError(str(headers.get(":error-message", "")) or code, code=code)
    kind = str(headers.get(":exception-type", ""))
    try:
        body = json.loads(payload) if payload else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("Message") or body.get("message") or payload.decode("utf-8", "replace"))
    if kind == "ModelStreamError":
        error_code = body.get("ErrorCode")
        return ModelStreamError(message, error_code=None if error_code is None else str(error_code))
    if kind == "InternalStreamFailure":
        return InternalStreamFailure(message)
    return StreamError(message, code=kind)


class ResponseStream:
    """An open streaming response: iterate it for the bytes of each ``PayloadPart``.

    Metadata from the response headers is available at once: ``content_type``,
    ``invoked_production_variant``, ``custom_attributes``, ``request_id``,
    ``status_code``, ``headers``.  ``stats`` tells time to first part, parts,
    bytes and duration.  A stream can be iterated once (directly or through one
    of its views).
    """

    def __init__(
        self,
        response: RawResponse,
        attributes: Mapping[str, str | None],
        *,
        started: float,
        max_message_bytes: int | None = None,
    ) -> None:
        self._body = response.body
        self.status_code: int = response.status
        self.headers: Mapping[str, str] = response.headers
        self.request_id: str | None = response.headers.get("x-amzn-RequestId")
        self.content_type: str | None = attributes.get("content_type")
        self.invoked_production_variant: str | None = attributes.get("invoked_production_variant")
        self.custom_attributes: str | None = attributes.get("custom_attributes")
        self._started = started
        self._decoder = Decoder(max_message_bytes) if max_message_bytes else Decoder()
        self._iterator: weakref.ref[AsyncGenerator[bytes, None]] | None = None
        self._iterated = False
        self._first_part_at: float | None = None
        self._ended_at: float | None = None
        self._parts = 0
        self._bytes = 0
        self._closed = False
        self._aborted = False  # closed by aclose() while another task was reading

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<ResponseStream {state} request_id={self.request_id!r} parts={self._parts}>"

    # -- iteration -----------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._iterated:
            raise StreamConsumedError(
                "this stream is already being read; a stream's parts can be read only once"
            )
        if self._closed:
            raise StreamConsumedError("this stream is closed")
        self._iterated = True
        iterator = self._iterate()
        # Only a weak reference: an abandoned loop (`break` without `async with`)
        # drops the iterator, and its finaliser closes the response at once.
        self._iterator = weakref.ref(iterator)
        return iterator

    async def _iterate(self) -> AsyncGenerator[bytes, None]:
        decoder = self._decoder
        body = self._body
        part_headers: Headers | None = None
        try:
            while True:
                try:
                    chunk = await body.read_chunk()
                except SageMakerError as exc:
                    if self._aborted:
                        return
                    raise self._failure(exc) from exc.__cause__
                if self._aborted:
                    return
                if not chunk:
                    decoder.close()  # raises ProtocolError on a truncated message
                    self._finish(reusable=True)
                    return
                for message in decoder.feed(chunk):
                    headers = message.headers
                    if headers is not part_headers:
                        if not self._is_payload_part(headers, message.payload):
                            continue
                        part_headers = headers
                    payload = message.payload
                    if not self._parts:
                        self._first_part_at = time.monotonic()
                    self._parts += 1
                    self._bytes += len(payload)
                    yield payload
                if decoder.failed:  # intact parts before a fault went out; now the fault
                    decoder.close()
        except SageMakerError as exc:
            if exc.request_id is None:
                exc.request_id = self.request_id
            raise
        finally:
            self._finish(reusable=False)

    @staticmethod
    def _is_payload_part(headers: Headers, payload: bytes) -> bool:
        """True for a PayloadPart; False for an unknown event; raises for errors."""
        message_type = headers.get(":message-type", "event")
        if message_type == "event":
            return headers.get(":event-type") == "PayloadPart"
        raise _stream_exception(headers, payload)

    def _failure(self, exc: SageMakerError) -> SageMakerError:
        """What a failed read means for the stream: the connection was lost, mid-message or not."""
        if not isinstance(exc, NetworkError) or isinstance(exc, StreamError):
            return exc  # timeouts, a closed client: as they are
        if self._decoder.buffered:
            return ProtocolError(
                "truncated stream: the connection closed in the middle of a message "
                f"({self._decoder.buffered} bytes of it received): {exc}"
            )
        return StreamInterruptedError(f"the connection was lost after {self._parts} parts: {exc}")

    def _finish(self, *, reusable: bool) -> None:
        if self._closed:
            return
        self._closed = True
        self._ended_at = time.monotonic()
        if reusable:
            self._body.release()
        else:
            self._body.abort()

    # -- lifetime ------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the response now; unread parts are discarded and the connection dropped."""
        iterator = self._iterator() if self._iterator is not None else None
        if iterator is not None and not self._closed:
            if getattr(iterator, "ag_running", False):
                # Another task is inside `async for`, waiting for data: close the
                # connection under it; its loop then ends quietly.
                self._aborted = True
            else:
                await iterator.aclose()
        self._finish(reusable=False)

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> ResponseStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if not getattr(self, "_closed", True):
            _warn(f"unclosed {self!r}: use `async with` or aclose()", ResourceWarning, stacklevel=1)
            self._body.abort()

    @property
    def stats(self) -> StreamStats:
        """Time to first part, parts, bytes and duration (``None`` while unknown)."""
        first = self._first_part_at
        ended = self._ended_at
        return StreamStats(
            time_to_first_part=None if first is None else first - self._started,
            parts=self._parts,
            bytes=self._bytes,
            duration=None if ended is None else ended - self._started,
        )

    # -- views ---------------------------------------------------------------------

    async def read(self) -> bytes:
        """All remaining parts joined (the whole answer, once the stream ends)."""
        return b"".join([part async for part in self])

    async def _through(self, decoder: Any) -> AsyncIterator[Any]:
        """Feed every part through a sans-IO decoder and yield what it produces."""
        try:
            async with contextlib.aclosing(self):
                async for part in self:
                    for item in decoder.feed(part):
                        yield item
                    if getattr(decoder, "done", False):
                        return
                for item in decoder.close():
                    yield item
        except SageMakerError as exc:
            if exc.request_id is None:
                exc.request_id = self.request_id
            raise

    def text(self, errors: str = "strict") -> AsyncIterator[str]:
        """The answer as text, decoded as UTF-8 safely across part boundaries."""
        from .codecs import TextDecoder

        return self._through(_Pieces(TextDecoder(errors=errors)))

    def lines(self) -> AsyncIterator[str]:
        """The answer line by line (``\\n`` or ``\\r\\n``); a last line without one too."""
        from .codecs import LineDecoder

        return self._through(LineDecoder())

    def json_lines(self) -> AsyncIterator[Any]:
        """One parsed JSON value per non-blank line (JSON Lines / NDJSON)."""
        from .codecs import JSONLinesDecoder

        return self._through(JSONLinesDecoder())

    def sse(self) -> AsyncIterator[ServerSentEvent]:
        """Server-Sent Events, as TGI and OpenAI-compatible servers stream them."""
        from .codecs import SSEDecoder

        return self._through(SSEDecoder())

    def tokens(self, format: str = "auto") -> AsyncIterator[str]:
        """Text tokens from TGI, LMI, vLLM/OpenAI or plain text output (see formats)."""
        from .formats import TokenDecoder

        return self._through(TokenDecoder(format=format))


class _Pieces:
    """A decoder that returns one string per call, as one that returns lists."""

    __slots__ = ("_decoder",)

    def __init__(self, decoder: Any) -> None:
        self._decoder = decoder

    def feed(self, data: bytes) -> list[str]:
        text: str = self._decoder.feed(data)
        return [text] if text else []

    def close(self) -> list[str]:
        text: str = self._decoder.close()
        return [text] if text else []


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
        self._started = True
        return self._coroutine.__await__()

    async def __aenter__(self) -> ResponseStream:
        self._started = True
        self._stream = await self._coroutine
        return self._stream

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
_NEVER_AWAITED = (
    "invoke_endpoint_with_response_stream(...) was never awaited, so no request was sent: "
    "use `async with client.invoke_endpoint_with_response_stream(...) as stream:` "
    "or `stream = await client.invoke_endpoint_with_response_stream(...)`"
)
