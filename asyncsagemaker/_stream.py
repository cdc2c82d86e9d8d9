"""``ResponseStream``: the parts of an ``InvokeEndpointWithResponseStream`` answer.

It reads from the body only when the consumer asks for the next part, so a slow
consumer slows the model through TCP and memory per stream stays bounded.  Each
frame goes through the sans-IO :class:`~asyncsagemaker.eventstream.Decoder`; an
in-stream exception, a corrupt frame or a connection lost mid-message raises its
typed error exactly where it happens, after the parts before it.

Leaving ``async with``, ``break``, an exception or the cancellation of the task
closes the response at once: a half-read connection is never returned to the
pool.  (A bare ``async for`` that breaks without ``async with`` closes it when
the event loop finalises the abandoned generator, on one of its next turns.)

Whatever view is read (parts, text, lines, SSE, tokens, events), the stream keeps
what it needs for :meth:`ResponseStream.final`: the events of a token view as they
go, or the parts of any other view (up to :data:`RETAINED_BYTES`), decoded when
``final()`` is asked for.

The OpenAI-compatible route answers with a plain HTTP body (Server-Sent Events), not
an event stream: a stream made with ``framed=False`` hands out the body's chunks as
its parts, with no event-stream decoder, and everything else is the same.
"""

from __future__ import annotations

import contextlib
import time
import warnings
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from ._telemetry.hooks import NO_OBSERVER, Observer
from ._transports.base import RawResponse
from .errors import (
    NetworkError,
    ProtocolError,
    SageMakerError,
    StreamConsumedError,
    StreamError,
    StreamInterruptedError,
)
from .eventstream import Decoder, Headers, Message

if TYPE_CHECKING:
    from ._stats import StreamStats
    from .codecs import ServerSentEvent, UnicodeErrors
    from .formats import (
        Generation,
        GenerationAccumulator,
        GenerationEvent,
        TokenDecoder,
        TokenFormat,
    )

# What only some streams use is imported when first used: the token formats (a view
# of tokens or events, final()), the codecs (a text view), the statistics and the
# exception events, so that a process whose streams are read as parts never loads
# them (docs/architecture.md, "Cold start").

__all__ = ["RETAINED_BYTES", "ResponseStream"]

#: Bytes of parts a stream keeps for ``final()`` while a view other than
#: ``tokens()``/``events()`` reads it (those keep events instead).
RETAINED_BYTES = 4 * 1024 * 1024


class _Chunks:
    """The "decoder" of a plain HTTP body (``framed=False``): each chunk is one
    PayloadPart, so both kinds of stream share one part loop."""

    __slots__ = ()
    failed = False
    buffered = 0

    @staticmethod
    def feed(data: bytes) -> tuple[Message]:
        return (Message(_PAYLOAD_PART, data),)

    @staticmethod
    def close() -> None:
        """A plain body has no framing to be cut off in."""


_PAYLOAD_PART: Headers = MappingProxyType({":message-type": "event", ":event-type": "PayloadPart"})
_CHUNKS = _Chunks()


class ResponseStream:
    """An open streaming response: iterate it for the bytes of each ``PayloadPart``.

    Metadata from the response headers is available at once: ``content_type``,
    ``invoked_production_variant``, ``custom_attributes``, ``request_id``,
    ``status_code``, ``headers``.  ``stats`` tells time to first part, parts,
    bytes and duration.  A stream can be iterated once (directly or through one
    of its views); :meth:`final` works after any of them.  ``format`` is the
    token format ``tokens()``, ``events()`` and ``final()`` use when not told.
    ``framed=False``: the body is not an event stream; its chunks are the parts.
    """

    __slots__ = (
        "__weakref__",
        "_aborted",
        "_body",
        "_bytes",
        "_closed",
        "_complete",
        "_decoder",
        "_ended_at",
        "_events",
        "_failure",
        "_first_part_at",
        "_iterated",
        "_iterator",
        "_observer",
        "_operation",
        "_parts",
        "_reading",
        "_retained",
        "_retained_size",
        "_started",
        "_view",
        "format",
        "headers",
        "status_code",
    )

    def __init__(
        self,
        response: RawResponse,
        operation: _HeaderMembers,
        *,
        started: float,
        max_message_bytes: int | None = None,
        format: TokenFormat = "auto",
        observer: Observer = NO_OBSERVER,
        framed: bool = True,
    ) -> None:
        self._body = response.body
        self._observer = observer
        self._operation = operation
        self.status_code: int = response.status
        self.headers: Mapping[str, str] = response.headers
        self.format: TokenFormat = format
        self._started = started
        self._decoder: Decoder | _Chunks = _CHUNKS
        if framed:
            self._decoder = Decoder(max_message_bytes) if max_message_bytes else Decoder()
        self._iterator: weakref.ref[AsyncGenerator[bytes, None]] | None = None
        self._view: weakref.ref[AsyncGenerator[Any, None]] | None = None
        self._iterated = False
        self._reading = False  # a task is waiting inside `async for` for the next chunk
        self._first_part_at: float | None = None
        self._ended_at: float | None = None
        self._parts = 0
        self._bytes = 0
        self._closed = False
        self._complete = False  # the body (or the generation) was read to its end
        self._aborted = False  # closed by aclose() while another task was reading
        self._failure: SageMakerError | None = None
        self._events: GenerationAccumulator | None = None  # fed by tokens()/events()
        self._retained: list[bytes] | None = []  # parts kept for final(), else None
        self._retained_size = 0

    # The metadata, read from the headers when asked for (most calls never ask).

    @property
    def request_id(self) -> str | None:
        """``x-amzn-RequestId``: quote it to AWS support."""
        return self.headers.get("x-amzn-RequestId")

    @property
    def content_type(self) -> str | None:
        """The model's output type (``X-Amzn-SageMaker-Content-Type``)."""
        return self._attribute("content_type")

    @property
    def invoked_production_variant(self) -> str | None:
        return self._attribute("invoked_production_variant")

    @property
    def custom_attributes(self) -> str | None:
        """``X-Amzn-SageMaker-Custom-Attributes`` as the model set it."""
        return self._attribute("custom_attributes")

    def _attribute(self, name: str) -> str | None:
        return self._operation.response_attributes(self.headers).get(name)

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
        # drops the generator, and the event loop's finaliser closes the response.
        self._iterator = weakref.ref(iterator)
        return iterator

    async def _iterate(self) -> AsyncGenerator[bytes, None]:
        # One generator frame for the whole stream: a step is a resume, not a new
        # coroutine, which is what the bulk events/s figure measures.
        decoder = self._decoder
        part_headers: Headers | None = None  # the header block known to be a PayloadPart
        on_part = self._observer.on_part  # None unless telemetry is on
        try:
            while True:
                if self._closed:
                    return
                if decoder.failed:  # intact parts before a fault went out; now the fault
                    decoder.close()
                self._reading = True
                try:
                    chunk = await self._body.read_chunk()
                except SageMakerError as exc:
                    if self._aborted:
                        return
                    raise self._failed(exc) from exc.__cause__
                finally:
                    self._reading = False
                if self._aborted:
                    return
                if not chunk:
                    decoder.close()  # raises ProtocolError on a truncated message
                    self._complete = True
                    self._finish(reusable=True)
                    return
                for message in decoder.feed(chunk):
                    headers = message.headers
                    if headers is not part_headers:
                        if not self._is_payload_part(headers, message.payload):
                            continue
                        part_headers = headers
                    # Counted (and kept for final(), up to the limit) as it goes out.
                    payload = message.payload
                    if not self._parts:
                        self._first_part_at = time.monotonic()
                    if on_part is not None:
                        on_part()
                    self._parts += 1
                    self._bytes += len(payload)
                    retained = self._retained
                    if retained is not None:
                        self._retained_size += len(payload)
                        if self._retained_size > RETAINED_BYTES:
                            self._retained = None
                        else:
                            retained.append(payload)
                    yield payload
        except SageMakerError as exc:
            self._note(exc)
            self._finish(reusable=False)
            raise
        except BaseException:  # cancelled, closed, or a bug: not returned half-read
            self._finish(reusable=False)
            raise

    @staticmethod
    def _is_payload_part(headers: Headers, payload: bytes) -> bool:
        """True for a PayloadPart; False for an unknown event; raises for errors."""
        message_type = headers.get(":message-type", "event")
        if message_type == "event":
            return headers.get(":event-type") == "PayloadPart"
        from ._events import exception_from_event

        raise exception_from_event(headers, payload)

    def _failed(self, exc: SageMakerError) -> SageMakerError:
        """What a failed read means for the stream: the connection was lost, mid-message or not."""
        if not isinstance(exc, NetworkError) or isinstance(exc, StreamError):
            return exc  # timeouts, a closed client: as they are
        if self._decoder.buffered:
            return ProtocolError(
                "truncated stream: the connection closed in the middle of a message "
                f"({self._decoder.buffered} bytes of it received): {exc}"
            )
        return StreamInterruptedError(f"the connection was lost after {self._parts} parts: {exc}")

    def _note(self, exc: SageMakerError) -> None:
        """An error leaving the stream: it names the call, and ``final()`` raises it again."""
        if exc.request_id is None:
            exc.request_id = self.request_id
        if self._failure is None:
            self._failure = exc

    def _finish(self, *, reusable: bool) -> None:
        if self._closed:
            return
        self._closed = True
        self._ended_at = time.monotonic()
        if reusable:
            self._body.release()
        else:
            self._body.abort()
        if self._observer.watches_streams:
            view = self._view() if self._view is not None else None
            if not (reusable and view is not None):  # else the view ends it, after decoding
                self._tell_observer()

    def _tell_observer(self) -> None:
        """The values telemetry records at the end: failure, generation, request id."""
        events = self._events
        generation = None if events is None else events.result(closed_early=not self._complete)
        self._observer.stream_ended(self._failure, generation, self.request_id)

    # -- lifetime ------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the response now; unread parts are discarded and the connection dropped."""
        if not self._closed:
            if self._reading:
                # Another task is inside `async for`, waiting for data: close the
                # connection under it; its loop then ends quietly.
                self._aborted = True
            self._finish(reusable=False)
        if self._observer.watches_streams:
            self._tell_observer()

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
        from ._stats import StreamStats

        first = self._first_part_at
        ended = self._ended_at
        return StreamStats(
            time_to_first_part=None if first is None else first - self._started,
            parts=self._parts,
            bytes=self._bytes,
            duration=None if ended is None else ended - self._started,
        )

    # -- the final result ----------------------------------------------------------

    async def until_done(self) -> None:
        """Read the rest of the stream (through the view in use, if any), then return."""
        view = self._view() if self._view is not None else None
        iterator = self._iterator() if self._iterator is not None else None
        rest: AsyncIterator[Any] | None = view or iterator
        if self._closed or (rest is None and self._iterated):
            return
        if rest is None:
            rest = self.events()
        try:
            async for _ in rest:
                pass
        except RuntimeError as exc:  # "asynchronous generator is already running"
            if "already running" not in str(exc):
                raise
            raise StreamConsumedError(
                "another task is reading this stream: call final() once its loop ends"
            ) from None

    async def final(self) -> Generation:
        """The whole generation of choice 0: text, reasoning, tool calls, finish reason,
        usage, events and stats.

        Reads what is left of the stream first.  After an early exit (``break``,
        ``aclose()``) it is what was read, with ``finish_reason`` ``None``; after an
        error, the error is raised again.  Works after any view.
        """
        return (await self._accumulated()).result(
            self.stats, closed_early=not self._complete, request_id=self.request_id
        )

    async def finals(self) -> tuple[Generation, ...]:
        """One :class:`Generation` per choice (``n > 1``, several prompts), in index order;
        the first is :meth:`final`'s.  The same rules as :meth:`final`."""
        return (await self._accumulated()).results(
            self.stats, closed_early=not self._complete, request_id=self.request_id
        )

    async def _accumulated(self) -> GenerationAccumulator:
        await self.until_done()
        if self._failure is not None:
            raise self._failure.with_traceback(None)
        return self._events or self._replay()

    async def final_text(self) -> str:
        """The whole generated text of choice 0 (see :meth:`final`)."""
        return (await self.final()).text

    def _replay(self) -> GenerationAccumulator:
        """Events of the parts a bytes view read, decoded now."""
        if self._retained is None:
            raise StreamConsumedError(
                f"final() cannot decode this stream: more than {RETAINED_BYTES} bytes were "
                "read through a bytes or text view; read it with tokens() or events() instead"
            )
        from .formats import GenerationAccumulator, TokenDecoder

        events = GenerationAccumulator()
        if not self._retained:
            return events
        decoder = TokenDecoder(self.format)
        try:
            for part in self._retained:
                events.extend(decoder.feed_events(part))
            if self._complete:
                events.extend(decoder.close_events())
        except SageMakerError as exc:
            self._note(exc)
            raise
        return events

    # -- views ---------------------------------------------------------------------

    async def read(self) -> bytes:
        """All remaining parts joined (the whole answer, once the stream ends)."""
        return b"".join([part async for part in self])

    def _start_view(self, view: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
        self._view = weakref.ref(view)
        return view

    async def _through(self, decoder: Any) -> AsyncGenerator[Any, None]:
        """Feed every part through a sans-IO decoder and yield what it produces."""
        async with contextlib.aclosing(self):  # noted before closing, for the observer
            try:
                async for part in self:  # to the end, after a decoder's end marker too:
                    for item in decoder.feed(part):  # the connection then serves again
                        yield item
                for item in decoder.close():
                    yield item
            except SageMakerError as exc:
                self._note(exc)
                raise

    async def _generation(
        self, decoder: TokenDecoder, texts: bool
    ) -> AsyncGenerator[GenerationEvent | str, None]:
        """Events (or choice 0's texts) of a token format; each one is kept for ``final()``."""
        from .formats import GenerationAccumulator

        events = self._events = GenerationAccumulator()
        self._retained = None  # the events are kept instead
        add = events.add
        async with contextlib.aclosing(self):  # noted before closing, for the observer
            try:
                async for part in self:
                    for event in decoder.feed_events(part):
                        add(event)
                        if not texts:
                            yield event
                        elif event.text and not event.special and not event.choice:
                            yield event.text
                for event in decoder.close_events():
                    add(event)
                    if not texts:
                        yield event
                    elif event.text and not event.special and not event.choice:
                        yield event.text
            except SageMakerError as exc:
                self._note(exc)
                raise

    def text(self, errors: UnicodeErrors = "strict") -> AsyncIterator[str]:
        """The answer as text, decoded as UTF-8 safely across part boundaries."""
        from .codecs import TextDecoder, check_errors

        return self._start_view(self._through(_Pieces(TextDecoder(errors=check_errors(errors)))))

    def lines(self) -> AsyncIterator[str]:
        """The answer line by line (``\\n`` or ``\\r\\n``); a last line without one too."""
        from .codecs import LineDecoder

        return self._start_view(self._through(LineDecoder()))

    def json_lines(self) -> AsyncIterator[Any]:
        """One parsed JSON value per non-blank line (JSON Lines / NDJSON)."""
        from .codecs import JSONLinesDecoder

        return self._start_view(self._through(JSONLinesDecoder()))

    def sse(self) -> AsyncIterator[ServerSentEvent]:
        """Server-Sent Events, as TGI and OpenAI-compatible servers stream them."""
        from .codecs import SSEDecoder

        return self._start_view(self._through(SSEDecoder()))

    def tokens(self, format: TokenFormat | None = None) -> AsyncIterator[str]:
        """Text tokens from TGI, LMI, vLLM/OpenAI or plain text output (see formats):
        choice 0's answer text, never reasoning nor tool-call arguments.

        ``format`` defaults to the stream's (``"auto"``, or ``"openai"`` for
        ``chat_stream``); a name that is not a format is refused at once.
        """
        from .formats import TokenDecoder, check_format

        decoder = TokenDecoder(format=check_format(format or self.format))
        return self._start_view(self._generation(decoder, texts=True))

    def events(self, format: TokenFormat | None = None) -> AsyncIterator[GenerationEvent]:
        """One :class:`GenerationEvent` per generated piece of every choice, in arrival
        order: text, reasoning, tool-call fragments, token id, log-probability, special,
        finish reason, usage, the server's record (see formats)."""
        from .formats import TokenDecoder, check_format

        decoder = TokenDecoder(format=check_format(format or self.format))
        return self._start_view(self._generation(decoder, texts=False))


class _HeaderMembers(Protocol):
    """What a stream needs of its operation: the output members bound to headers."""

    def response_attributes(self, headers: Mapping[str, str]) -> dict[str, str | None]: ...


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
