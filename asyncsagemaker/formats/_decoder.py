"""``TokenDecoder``: generated text and events from a response stream, in any chunking."""

from __future__ import annotations

from collections.abc import Callable
from json import loads
from typing import Any

from ..codecs import (
    DEFAULT_MAX_EVENT_BYTES,
    JSONLinesDecoder,
    SSEDecoder,
    TextDecoder,
    UnicodeErrors,
    check_errors,
)
from ..errors import DecodeError, FormatError, ParamValidationError
from ._choices import ChoiceRecords
from ._detect import _Sniffer, _sse_record
from ._generation import GenerationEvent, piece
from ._names import TokenFormat, check_format
from ._records import _error_of, _keys_of, _preview, _schema_of
from ._tokens import TokenRecords

__all__ = ["TokenDecoder"]


_TOKEN_OBJECT = ("tgi", "lmi")


_CHOICES = ("vllm-chat", "vllm-completions", "openai")


class TokenDecoder:
    """Generated text from a model server's response stream, in any chunking.

    ``format`` is ``"auto"`` or one of :data:`FORMATS`.  Two forms of output, from
    the same decoding:

    * ``feed(chunk)`` / ``close()``: the pieces of choice 0's answer text (non-empty,
      special tokens left out);
    * ``feed_events(chunk)`` / ``close_events()``: a :class:`GenerationEvent` per
      generated piece of any choice (answer text, reasoning, tool-call fragments;
      special tokens included, marked ``special``) and per record that carries a
      finish reason or token usage, in arrival order.

    Use one form per decoder.  Errors the server reports in the stream raise
    :class:`ModelOutputError` (its ``payload`` is the whole record); bytes that do
    not fit the format raise :class:`FormatError` (or another
    :class:`~asyncsagemaker.codecs.DecodeError`).  As with the codecs, what was
    decoded before an error is returned first and the error is raised by the next
    call, after which the decoder stays failed.

    ``max_record_bytes`` bounds one SSE event or JSON line, and the whitespace held
    before the first record; ``errors`` is the UTF-8 error handling.  Bad arguments
    raise :class:`ParamValidationError`.
    """

    __slots__ = (
        "_closed",
        "_done",
        "_error",
        "_errors",
        "_format",
        "_jsonl",
        "_limit",
        "_reader",
        "_sniffer",
        "_sse",
        "_step",
        "_text",
        "_transport",
    )

    def __init__(
        self,
        format: TokenFormat = "auto",
        *,
        max_record_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        errors: UnicodeErrors = "strict",
    ) -> None:
        check_format(format)
        self._errors = check_errors(errors)
        limit = max_record_bytes
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ParamValidationError(f"max_record_bytes must be a positive int, not {limit!r}")
        self._limit = max_record_bytes
        self._format: str | None = None if format == "auto" else format
        self._transport: str | None = None
        self._sniffer: _Sniffer | None = None
        self._text: TextDecoder | None = None
        self._sse: SSEDecoder | None = None
        self._jsonl: JSONLinesDecoder | None = None
        self._reader: TokenRecords | ChoiceRecords | None = None
        self._step: Callable[[TokenDecoder, bytes, list[Any], bool, bool], None] = _no_step
        self._done = False
        self._error: DecodeError | None = None
        self._closed = False
        if format == "text":
            self._start("text", "text")
        else:
            self._sniffer = _Sniffer(self._format, max_record_bytes)

    @property
    def format(self) -> str | None:
        """The format in use: the one asked for, or what ``auto`` decided (None until then)."""
        return self._format

    @property
    def transport(self) -> str | None:
        """``"sse"``, ``"jsonlines"`` or ``"text"`` once decided, else None."""
        return self._transport

    @property
    def done(self) -> bool:
        """True once the generation has ended (``[DONE]``, or a final ``generated_text``)."""
        return self._done

    def feed(self, data: bytes) -> list[str]:
        """Add ``data``; returns the pieces of text it completed (possibly none)."""
        out: list[str] = []
        self._feed(data, out, False)
        return out

    def close(self) -> list[str]:
        """End of stream: returns the text still held (a last line without newline, ...)."""
        out: list[str] = []
        self._close(out, False)
        return out

    def feed_events(self, data: bytes) -> list[GenerationEvent]:
        """Add ``data``; returns the events it completed (possibly none)."""
        out: list[GenerationEvent] = []
        self._feed(data, out, True)
        return out

    def close_events(self) -> list[GenerationEvent]:
        """End of stream: returns the events still held."""
        out: list[GenerationEvent] = []
        self._close(out, True)
        return out

    # --- internals ------------------------------------------------------------
    # ``out`` receives texts (``events`` false) or GenerationEvents (``events`` true):
    # one decoding path, two outputs, and the text form never pays for the events.

    def _feed(self, data: bytes, out: list[Any], events: bool) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RuntimeError("TokenDecoder.feed() called after close()")
        if self._done:
            return
        if self._sniffer is not None:
            decided = self._sniff(self._sniffer.feed, data)
            if decided is None:
                return
            data = self._sniffer.take()
            self._sniffer = None
            self._start(*decided)
        self._step(self, data, out, events, False)

    def _close(self, out: list[Any], events: bool) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            return
        self._closed = True
        if self._done:
            return
        if self._sniffer is not None:
            sniffer = self._sniffer
            decided = self._sniff(lambda _: sniffer.finish(), b"")
            if decided is None:
                return  # nothing but an empty stream
            data = sniffer.take()
            self._sniffer = None
            self._start(*decided)
            self._step(self, data, out, events, False)
            if self._stopped():
                return
        self._step(self, b"", out, events, True)

    def _stopped(self) -> bool:
        """The stream is done or failed: nothing more to decode."""
        return self._error is not None or self._done

    def _sniff(
        self, step: Callable[[bytes], tuple[str, str | None] | None], data: bytes
    ) -> tuple[str, str | None] | None:
        """A step of the format detection; its error (a bound passed, an unknown record)
        fails the decoder."""
        try:
            return step(data)
        except DecodeError as exc:
            self._error = exc
            raise

    def _start(self, transport: str, schema: str | None) -> None:
        """The transport's decoder, and its step: a plain function of the class (a bound
        method kept on the instance would be a reference cycle)."""
        self._transport = transport
        if schema is not None:
            self._format = schema
        if transport == "text":
            self._text = TextDecoder(self._errors)
            self._step = TokenDecoder._run_text
        elif transport == "sse":
            self._sse = SSEDecoder(self._limit, self._errors)
            self._step = TokenDecoder._run_sse
        else:
            self._jsonl = JSONLinesDecoder(self._limit, self._errors)
            self._step = TokenDecoder._run_jsonl

    # Each step decodes ``data`` (the end of the stream when ``final``) into ``out``; an
    # error is latched, and raised now only if ``out`` has nothing to hand out first.

    def _run_text(self, data: bytes, out: list[Any], events: bool, final: bool) -> None:
        decoder = self._text
        assert decoder is not None
        try:
            text = decoder.close() if final else decoder.feed(data)
        except DecodeError as exc:
            self._failed(exc, out)
            return
        if text:
            out.append(piece(text, None, None, False, text) if events else text)

    def _run_sse(self, data: bytes, out: list[Any], events: bool, final: bool) -> None:
        sse = self._sse
        assert sse is not None
        try:
            for event in sse.close() if final else sse.feed(data):
                text = event.data
                try:  # the usual event, inline: JSON data of a plain message
                    if event.event != "message" or not text or text.isspace():
                        raise ValueError
                    record = loads(text)
                except (ValueError, RecursionError):
                    record = _sse_record(event)  # an error event, a keep-alive, or bad data
                    if record is None:
                        continue
                self._record(record, "sse", out, events)
                if self._done:
                    break
        except DecodeError as exc:
            self._failed(exc, out)
            return
        if sse.done:
            self._done = True
            if self._format is None:
                self._format = "openai"  # an OpenAI stream that ended at once

    def _run_jsonl(self, data: bytes, out: list[Any], events: bool, final: bool) -> None:
        jsonl = self._jsonl
        assert jsonl is not None
        try:
            for record in jsonl.close() if final else jsonl.feed(data):
                self._record(record, "jsonlines", out, events)
                if self._done:
                    break
        except DecodeError as exc:
            self._failed(exc, out)

    def _failed(self, exc: DecodeError, out: list[Any]) -> None:
        self._error = exc
        if not out:
            raise exc

    def _record(self, record: Any, transport: str, out: list[Any], events: bool) -> None:
        reader = self._reader
        if reader is None:
            reader = self._reader = self._reader_for(record, transport)
        if type(record) is not dict:
            raise FormatError(f"a {self._format} record must be a JSON object: {_preview(record)}")
        if "error" in record or record.get("object") == "error":  # _error_of's cases
            error = _error_of(record)
            if error is not None:
                raise error
        reader.read(record, out, events)
        if reader.done:
            self._done = True

    def _reader_for(self, record: Any, transport: str) -> TokenRecords | ChoiceRecords:
        """The reader of the stream's format (decided from its first record if need be)."""
        if self._format is None:
            self._format = _schema_of(record, transport)
            if self._format is None:
                raise FormatError(
                    "the stream is Server-Sent Events but its first event is not a known "
                    f"token format (TGI or OpenAI-style; {_keys_of(record)}): "
                    f"{_preview(record)}; read it with an SSE view, or name the format"
                )
        if self._format in _CHOICES:
            return ChoiceRecords(self._format)
        return TokenRecords(self._format)


def _no_step(decoder: TokenDecoder, data: bytes, out: list[Any], events: bool, final: bool) -> None:
    """The step before a transport is decided (never run: the sniffer comes first)."""
