"""Sans-IO splitters that turn a stream of byte chunks into text, lines, JSON values or SSE events.

A SageMaker response stream is a sequence of ``PayloadPart`` byte strings whose
boundaries mean nothing: a UTF-8 character, a line, a JSON line or a Server-Sent
Event may be cut anywhere, even between the ``\\r`` and ``\\n`` of a line break.
Each decoder here holds the unfinished tail of its input between calls, so it
gives the same output however the bytes are chunked.  They know nothing of
sockets or asyncio: drive them from any loop with the same two calls::

    decoder = LineDecoder()
    for chunk in chunks:                 # bytes, in any chunking
        for line in decoder.feed(chunk):
            ...
    for line in decoder.close():         # the last line, even without a newline
        ...

Rules shared by every decoder:

* ``feed`` returns only what is complete; ``close`` flushes what is left and
  raises if the stream ended in the middle of something that cannot be completed
  (a UTF-8 character cut short, in strict mode).
* An error never swallows output decoded before it: if a chunk holds two good
  lines and then a bad one, ``feed`` returns the two lines and the *next* call
  (``feed``, even ``feed(b"")``, or ``close``) raises.  After an error the decoder
  is failed for good and raises the same error on every call.
* Memory is bounded: a line (or SSE event) longer than the limit raises instead
  of growing a buffer, so a decoder holds at most the limit plus one chunk.
* Work is linear in the input: a buffer is only ever searched from where the
  previous search stopped, so a long line delivered one byte at a time costs no
  more than the same line delivered at once.

Line breaks are ``\\n``, ``\\r\\n`` and a lone ``\\r`` (Python's universal newlines
and the Server-Sent Events rule), never the other characters ``str.splitlines``
knows (U+2028 may appear raw inside a JSON string).
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from .errors import (
    DecodeError,
    EventTooLargeError,
    JSONLineError,
    LineTooLongError,
    ParamValidationError,
)

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "DEFAULT_MAX_LINE_BYTES",
    "DecodeError",
    "EventTooLargeError",
    "JSONLineError",
    "JSONLinesDecoder",
    "LineDecoder",
    "LineTooLongError",
    "SSEDecoder",
    "ServerSentEvent",
    "TextDecoder",
    "UnicodeErrors",
    "check_errors",
]

#: How invalid UTF-8 is handled: ``"strict"`` raises :class:`DecodeError`, ``"replace"``
#: puts U+FFFD in its place.
UnicodeErrors = Literal["strict", "replace"]

#: Longest line :class:`LineDecoder` and :class:`JSONLinesDecoder` accept.
DEFAULT_MAX_LINE_BYTES = 1024 * 1024
#: Longest line, and largest ``data`` of one event, :class:`SSEDecoder` accepts.
#: Larger than the line limit: a final TGI event repeats the whole generated text.
DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024

#: Data lines of one event kept as a list; every so many are joined (see SSEDecoder._spill).
_DATA_PIECES = 64

_PREVIEW = 120
_LF = 0x0A
_CR = 0x0D
_BOM = "\ufeff"


def _preview(text: str) -> str:
    return repr(text) if len(text) <= _PREVIEW else repr(text[:_PREVIEW]) + "..."


def check_errors(errors: str) -> UnicodeErrors:
    """``errors`` if it is one of :data:`UnicodeErrors`, else :class:`ParamValidationError`.

    For callers that take an ``errors=`` argument and want it checked before anything
    is sent (ParamValidationError is also a ``ValueError``).
    """
    if isinstance(errors, str) and errors in get_args(UnicodeErrors):
        return cast(UnicodeErrors, errors)
    names = " or ".join(repr(name) for name in get_args(UnicodeErrors))
    raise ParamValidationError(f"errors must be {names}, not {errors!r}")


def _check_limit(name: str, limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ParamValidationError(f"{name} must be a positive int, not {limit!r}")
    return limit


class _Base:
    """Error latch and closed flag shared by the decoders."""

    __slots__ = ("_closed", "_error")

    def __init__(self) -> None:
        self._error: DecodeError | None = None
        self._closed = False

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RuntimeError(f"{type(self).__name__}.feed() called after close()")

    def _fail(self, error: DecodeError, out: list[Any]) -> None:
        """Latch ``error``; raise it now unless ``out`` holds results to hand out first."""
        self._error = error
        if not out:
            raise error


# --- text ---------------------------------------------------------------------------


class TextDecoder(_Base):
    """Incremental UTF-8: bytes in, ``str`` out, a character cut between chunks is held.

    ``errors="strict"`` (the default) raises :class:`DecodeError` on invalid UTF-8,
    naming its byte offset in the stream; ``"replace"`` puts U+FFFD in its place.
    A byte order mark is kept: this is the text exactly as sent.
    """

    __slots__ = ("_decoder", "_errors", "_offset")

    def __init__(self, errors: UnicodeErrors = "strict") -> None:
        super().__init__()
        self._errors = check_errors(errors)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors)
        self._offset = 0  # bytes fed so far

    def feed(self, data: bytes) -> str:
        """Decode ``data``; returns the text completed by it (maybe ``""``)."""
        self._check_usable()
        return self._decode(data, final=False)

    def close(self) -> str:
        """Flush; in strict mode a character cut short by the end of the stream raises."""
        if self._error is not None:
            raise self._error
        if self._closed:
            return ""
        self._closed = True
        return self._decode(b"", final=True)

    def _decode(self, data: bytes, *, final: bool) -> str:
        held = len(self._decoder.getstate()[0])
        start = self._offset - held  # stream offset of the decoder's input
        self._offset += len(data)
        try:
            return self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            text = exc.object[: exc.start].decode("utf-8")
            where = start + exc.start
            if final and exc.reason == "unexpected end of data":
                message = f"UTF-8 character cut short by the end of the stream at byte {where}"
            else:
                bad = bytes(exc.object[exc.start : exc.end])
                message = f"invalid UTF-8 at byte {where} of the stream ({bad!r})"
            error = DecodeError(message)
            error.__cause__ = exc
            self._fail(error, [text] if text else [])
            return text


# --- lines --------------------------------------------------------------------------


class LineDecoder(_Base):
    """Split a byte stream into lines of text, without their line breaks.

    ``\\n``, ``\\r\\n`` and a lone ``\\r`` each end a line (a ``\\r\\n`` cut between
    two chunks is one break, not two).  A last line without a line break is
    returned by :meth:`close`.  Each line is decoded as UTF-8 once complete, so a
    character cut between chunks is never a problem; ``errors`` is as for
    :class:`TextDecoder`.  A line longer than ``max_line_bytes`` raises
    :class:`LineTooLongError`.
    """

    __slots__ = ("_buf", "_errors", "_line_number", "_max", "_skip_lf")

    def __init__(
        self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, errors: UnicodeErrors = "strict"
    ) -> None:
        super().__init__()
        self._max = _check_limit("max_line_bytes", max_line_bytes)
        self._errors = check_errors(errors)
        self._buf = bytearray()  # the current unfinished line: never holds a line break
        self._skip_lf = False  # the last break was a "\r": a "\n" right after belongs to it
        self._line_number = 0

    def feed(self, data: bytes) -> list[str]:
        """Add ``data``; returns the lines it completed."""
        self._check_usable()
        out: list[str] = []
        if not data:
            return out
        if self._skip_lf:
            self._skip_lf = False
            if data[0] == _LF:
                data = data[1:]
                if not data:
                    return out
        buf = self._buf
        # Only the new bytes can hold a break: the held bytes never do.
        cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if cut < 0:
            buf += data
        else:
            end = cut + 1
            if buf:
                buf += data[:end]
                complete = bytes(buf)
                buf.clear()
            else:  # the common case: nothing held, no copy of the whole chunk
                complete = bytes(data[:end]) if end < len(data) else bytes(data)
            buf += data[end:]
            self._skip_lf = end == len(data) and data[cut] == _CR
            self._split(complete, out)
            if self._error is not None:
                return out
        if len(buf) > self._max:
            self._too_long(len(buf), out)
        return out

    def close(self) -> list[str]:
        """End of stream: returns the last line if it had no line break."""
        if self._error is not None:
            raise self._error
        out: list[str] = []
        if self._closed:
            return out
        self._closed = True
        if self._buf:
            rest = bytes(self._buf)
            self._buf.clear()
            self._decode_into([rest], out)
        return out

    @property
    def line_number(self) -> int:
        """How many lines have been returned so far."""
        return self._line_number

    def _split(self, complete: bytes, out: list[str]) -> None:
        lines = complete.splitlines()  # bytes.splitlines knows only \n, \r\n and \r
        if len(complete) > self._max:
            for index, line in enumerate(lines):
                if len(line) > self._max:
                    self._decode_into(lines[:index], out)
                    if self._error is None:
                        self._too_long(len(line), out)
                    return
        self._decode_into(lines, out)

    def _decode_into(self, lines: list[bytes], out: list[str]) -> None:
        try:
            out.extend([line.decode("utf-8", self._errors) for line in lines])
        except UnicodeDecodeError:
            for line in lines:  # slow path, only to find the bad line
                try:
                    out.append(line.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    number = self._line_number + len(out) + 1
                    error = DecodeError(
                        f"line {number} is not valid UTF-8 "
                        f"(byte {exc.start} of the line: {line[exc.start : exc.end]!r})"
                    )
                    error.__cause__ = exc
                    self._line_number += len(out)
                    self._fail(error, out)
                    return
        self._line_number += len(lines)

    def _too_long(self, size: int, out: list[str]) -> None:
        self._buf = bytearray()  # release the memory now
        self._fail(
            LineTooLongError(
                f"line {self._line_number + 1} is longer than max_line_bytes={self._max} "
                f"({size} bytes without a line break)",
                limit=self._max,
            ),
            out,
        )


class JSONLinesDecoder(_Base):
    """JSON lines (NDJSON): one JSON value per line, blank lines skipped.

    A line that is not JSON (nesting too deep for the parser included) raises
    :class:`JSONLineError` carrying the line and its number; a UTF-8 byte order mark
    at the start of the stream is ignored.
    Lines are split as by :class:`LineDecoder` (so the last line needs no newline).
    """

    __slots__ = ("_lines", "_started")

    def __init__(
        self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, errors: UnicodeErrors = "strict"
    ) -> None:
        super().__init__()
        self._lines = LineDecoder(max_line_bytes, errors)
        self._started = False

    def feed(self, data: bytes) -> list[Any]:
        """Add ``data``; returns the JSON values of the lines it completed."""
        self._check_usable()
        return self._parse(self._lines.feed, data)

    def close(self) -> list[Any]:
        """End of stream: returns the value of a last line without a newline."""
        if self._error is not None:
            raise self._error
        if self._closed:
            return []
        self._closed = True
        return self._parse(lambda _: self._lines.close(), b"")

    def _parse(self, source: Any, data: bytes) -> list[Any]:
        out: list[Any] = []
        try:
            lines: list[str] = source(data)
        except DecodeError as exc:
            self._error = exc
            raise
        first = self._lines.line_number - len(lines) + 1
        if lines and not self._started:
            self._started = True
            if lines[0].startswith(_BOM):
                lines[0] = lines[0][1:]
        loads = json.loads
        for offset, line in enumerate(lines):
            if not line or line.isspace():
                continue
            try:
                out.append(loads(line))
            except (ValueError, RecursionError) as exc:
                # JSONDecodeError, a number too long to convert, or nesting too deep
                number = first + offset
                reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                error = JSONLineError(
                    f"line {number} is not valid JSON ({reason}): {_preview(line)}",
                    line=line,
                    line_number=number,
                )
                error.__cause__ = None if isinstance(exc, RecursionError) else exc
                self._fail(error, out)
                return out
        return out


# --- Server-Sent Events ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched Server-Sent Event.

    ``id`` is the stream's last event id when this event was dispatched (it
    carries over from earlier events, as in browsers), ``None`` if none was ever
    set.  ``retry`` is the reconnection time in ms if this event set one.
    """

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        """``data`` parsed as JSON (``json.JSONDecodeError``, a ``ValueError``, if it is not)."""
        return json.loads(self.data)


class SSEDecoder(_Base):
    """Server-Sent Events (``text/event-stream``), parsed as the WHATWG HTML standard says.

    Several events per chunk, an event (or a line, or a ``\\r\\n``) split across
    chunks, ``data:`` with or without one space, multi-line data joined with
    ``\\n``, comments, ``event``, ``id`` (sticky), ``retry`` (digits only), CR, LF
    and CRLF line endings and a byte order mark at the start all work.

    Two deliberate additions to the standard, both for model servers:

    * :meth:`close` dispatches an event still pending at the end of the stream
      (the standard discards it, but servers often omit the final blank line and
      that last event is usually the one with the answer's end).
    * An event whose data is exactly ``[DONE]`` (OpenAI and vLLM's end marker)
      ends the stream: it is not returned, :attr:`done` becomes true and any input
      after it is ignored.  Pass ``done_data=None`` to get it as a plain event.

    Text is decoded with ``errors="replace"`` by default, as the standard does.
    A line or an event's data larger than ``max_event_bytes`` raises
    (:class:`LineTooLongError`, :class:`EventTooLargeError`).
    """

    __slots__ = (
        "_data",
        "_data_size",
        "_data_spill",
        "_done",
        "_done_data",
        "_event",
        "_event_retry",
        "_last_id",
        "_lines",
        "_max",
        "_retry",
        "_started",
    )

    def __init__(
        self,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        errors: UnicodeErrors = "replace",
        *,
        done_data: str | None = "[DONE]",
    ) -> None:
        super().__init__()
        self._max = _check_limit("max_event_bytes", max_event_bytes)
        self._lines = LineDecoder(max_event_bytes, errors)
        self._done_data = done_data
        self._done = False
        self._started = False
        self._data: list[str] = []
        self._data_size = 0
        self._data_spill: list[str] | None = None  # earlier lines of an event of many, joined
        self._event = ""
        self._event_retry: int | None = None
        self._last_id: str | None = None
        self._retry: int | None = None

    @property
    def done(self) -> bool:
        """True once the ``[DONE]`` event has been seen; later input is ignored."""
        return self._done

    @property
    def retry(self) -> int | None:
        """The last reconnection time (ms) the stream asked for, even from an event without data."""
        return self._retry

    @property
    def last_event_id(self) -> str | None:
        """The last event id the stream set, as a reconnecting client would send it."""
        return self._last_id

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Add ``data``; returns the events it completed."""
        self._check_usable()
        out: list[ServerSentEvent] = []
        if self._done:
            return out
        try:
            lines = self._lines.feed(data)
        except DecodeError as exc:
            self._error = exc
            raise
        self._process(lines, out)
        return out

    def close(self) -> list[ServerSentEvent]:
        """End of stream: the last line and any pending event are dispatched (see class doc)."""
        if self._error is not None:
            raise self._error
        out: list[ServerSentEvent] = []
        if self._closed:
            return out
        self._closed = True
        if self._done:
            return out
        try:
            lines = self._lines.close()
        except DecodeError as exc:
            self._error = exc
            raise
        self._process(lines, out)
        if self._error is None and not self._done:
            self._dispatch(out)
        return out

    def _process(self, lines: list[str], out: list[ServerSentEvent]) -> None:
        if lines and not self._started:
            self._started = True
            if lines[0].startswith(_BOM):
                lines[0] = lines[0][1:]
        for line in lines:
            if not line:
                self._dispatch(out)
                if self._done:
                    return
                continue
            if line[0] == ":":
                continue  # a comment, often a keep-alive
            field, colon, value = line.partition(":")
            if colon and value[:1] == " ":
                value = value[1:]
            if field == "data":
                self._data_size += len(value) + 1
                if self._data_size > self._max:
                    self._data, self._data_spill = [], None
                    self._fail(
                        EventTooLargeError(
                            f"the data of one event is larger than max_event_bytes={self._max}",
                            limit=self._max,
                        ),
                        out,
                    )
                    return
                if len(self._data) < _DATA_PIECES:
                    self._data.append(value)
                else:
                    self._spill(value)
            elif field == "event":
                self._event = value
            elif field == "id":
                if "\0" not in value:
                    self._last_id = value
            elif field == "retry" and value.isascii() and value.isdigit():
                self._retry = self._event_retry = int(value)
            # any other field name is ignored, as the standard says

    def _spill(self, value: str) -> None:
        """One more data line of an event that has many: the lines so far become one text.

        A list entry costs a pointer and a string object (~60 bytes) however short the
        line, so an event of many tiny lines would hold far more than its counted size.
        """
        spill = self._data_spill
        if spill is None:
            spill = self._data_spill = []
        spill.append("\n".join(self._data))
        self._data = [value]

    def _dispatch(self, out: list[ServerSentEvent]) -> None:
        data, spill, event, retry = self._data, self._data_spill, self._event, self._event_retry
        self._data, self._data_size, self._event, self._event_retry = [], 0, "", None
        self._data_spill = None
        if not data:
            return  # a block without data (only comments, event or id) dispatches nothing
        text = "\n".join(data) if spill is None else "\n".join([*spill, "\n".join(data)])
        if self._done_data is not None and text == self._done_data:
            self._done = True
            return
        out.append(ServerSentEvent(event or "message", text, self._last_id, retry))
