"""Which format a stream is in, from its first bytes (``format="auto"``)."""

from __future__ import annotations

import json
import re
from typing import Any

from ..codecs import (
    DEFAULT_MAX_EVENT_BYTES,
    ServerSentEvent,
    SSEDecoder,
)
from ..errors import FormatError, LineTooLongError, ModelOutputError
from ._records import _error_of, _keys_of, _preview, _schema_of

__all__ = ["detect_format"]


_SSE_PREFIXES = (b"data:", b"event:", b"id:", b"retry:", b":")


_BOM = b"\xef\xbb\xbf"


_NOT_WHITESPACE = re.compile(rb"[^ \t\r\n]")


class _Sniffer:
    """Holds the head of a stream until its transport (and maybe format) is decided.

    Every byte is looked at once: the scans resume where they stopped.  What it holds
    is bounded by ``limit`` (the record limit): leading whitespace past it raises
    :class:`LineTooLongError`, a first line starting with ``{`` past it is text.
    """

    __slots__ = ("_eol_scan", "_first", "_format", "_head", "_limit", "_ws_scan")

    def __init__(self, format: str | None, limit: int) -> None:
        self._format = format  # None for auto, else a JSON format
        self._limit = limit
        self._head = bytearray()
        self._first = -1  # index of the first byte that is not BOM or whitespace
        self._ws_scan = 0
        self._eol_scan = 0

    def feed(self, data: bytes) -> tuple[str, str | None] | None:
        self._head += data
        return self._decide(final=False)

    def finish(self) -> tuple[str, str | None] | None:
        return self._decide(final=True)

    def take(self) -> bytes:
        head = bytes(self._head)
        self._head = bytearray()
        return head

    def _decide(self, *, final: bool) -> tuple[str, str | None] | None:
        if self._first < 0:
            first = self._skip_whitespace(final)
            if first is None:
                return self._undecided(final)
            self._first = first
        first = self._first
        head = self._head
        if self._format is not None:
            return ("jsonlines" if head[first] in b"{[" else "sse", self._format)
        if head[first] == ord("{"):
            return self._decide_json(first, final=final)
        start = bytes(head[first : first + 7])
        if start.startswith(_SSE_PREFIXES):
            return ("sse", None)
        if not final and any(prefix.startswith(start) for prefix in _SSE_PREFIXES):
            return None
        return ("text", "text")

    def _skip_whitespace(self, final: bool) -> int | None:
        """The index of the first byte that is not a BOM or whitespace, None if none yet."""
        head = self._head
        i = self._ws_scan
        if i == 0:
            if head.startswith(_BOM):
                i = 3
            elif len(head) < 3 and _BOM.startswith(head) and not final:
                return None  # maybe a BOM still arriving
        found = _NOT_WHITESPACE.search(head, i)
        if found is None:
            self._ws_scan = len(head)
            return None
        self._ws_scan = found.start()
        return found.start()

    def _undecided(self, final: bool) -> tuple[str, str | None] | None:
        """Nothing but whitespace so far: wait (within the limit), or decide at the end."""
        head = self._head
        if not final:
            if len(head) > self._limit:
                self._head = bytearray()  # release the memory now
                raise LineTooLongError(
                    f"the stream began with {len(head)} bytes of whitespace and no record "
                    f"(more than max_record_bytes={self._limit})",
                    limit=self._limit,
                )
            return None
        if not head:
            return None
        return ("text", "text") if self._format is None else ("jsonlines", self._format)

    def _decide_json(self, first: int, *, final: bool) -> tuple[str, str | None] | None:
        head = self._head
        scan = max(self._eol_scan, first)
        ends = [at for at in (head.find(b"\n", scan), head.find(b"\r", scan)) if at >= 0]
        if ends:
            line = bytes(head[first : min(ends)])
        elif final:
            line = bytes(head[first:])
        else:
            self._eol_scan = len(head)
            if len(head) - first > self._limit:
                return ("text", "text")
            return None
        try:
            record = json.loads(line)
        except ValueError:
            return ("text", "text")
        except RecursionError:
            raise FormatError(
                "the stream's first line is JSON nested too deeply to read; "
                'use format="text" for the raw text'
            ) from None
        schema = _schema_of(record, "jsonlines")
        if schema is None:
            raise FormatError(
                f"the stream's first line is JSON of no known token format "
                f"({_keys_of(record)}): {_preview(record)}; name the format, "
                'or use format="text" for the raw text'
            )
        return ("jsonlines", schema)


def _sse_record(event: ServerSentEvent) -> Any:
    """The JSON of an event's data; None for an empty keep-alive event."""
    if event.event == "error":
        try:
            record = json.loads(event.data)
        except (ValueError, RecursionError):
            record = None
        error = _error_of(record) if isinstance(record, dict) else None
        raise error or ModelOutputError(
            event.data or "error event without data", payload=event.data
        )
    if not event.data or event.data.isspace():
        return None
    try:
        return json.loads(event.data)
    except ValueError as exc:
        raise FormatError(
            f"the data of a Server-Sent Event is not JSON ({exc}): {_preview(event.data)}"
        ) from exc
    except RecursionError:
        raise FormatError(
            f"the data of a Server-Sent Event is JSON nested too deeply: {_preview(event.data)}"
        ) from None


def detect_format(head: bytes, *, final: bool = False) -> str | None:
    """The format of a stream from its first bytes; None while more bytes are needed.

    The rules, after skipping a byte order mark and whitespace:

    1. A first line that is a JSON object of a known shape means JSON lines:
       ``token``/``generated_text``/``outputs``/3p's ``body.generation`` ->
       ``"lmi"``; ``choices`` -> an OpenAI format.  A first line that is JSON of no
       known shape raises :class:`FormatError` naming its keys (a raw record is never
       the answer: ``format="text"`` reads it as text); one that is not JSON means
       ``"text"``.
    2. A first line that is a Server-Sent Events field (``data:``, ``event:``,
       ``id:``, ``retry:``) or comment (``:``) means SSE; the JSON of the first
       event with data picks the format: ``token``/``generated_text`` -> ``"tgi"``,
       ``choices[0].delta`` (else ``object: chat.completion.chunk``) ->
       ``"vllm-chat"``, ``choices[0].text`` (else ``object: text_completion``) ->
       ``"vllm-completions"``, other ``choices`` or a first ``[DONE]`` ->
       ``"openai"``.  The choice's shape comes first because TGI before 2.1
       labels its chat chunks ``text_completion``.  Data that is not JSON of a known shape raises
       :class:`FormatError` (read such a stream with an SSE view instead).
    3. Anything else is ``"text"``, decided as soon as the first bytes rule out
       rules 1 and 2, so plain text is never held back waiting for a newline.

    ``final=True`` says ``head`` is the whole stream: decide with what is there.
    """
    sniffer = _Sniffer(None, DEFAULT_MAX_EVENT_BYTES)
    decided = sniffer.feed(head)
    if decided is None and final:
        decided = sniffer.finish()
    if decided is None:
        return None
    _, schema = decided
    if schema is not None:
        return schema
    events = SSEDecoder()
    found = events.feed(head)
    if final:
        found += events.close()
    for event in found:
        record = _sse_record(event)
        if record is None:
            continue
        schema = _schema_of(record, "sse")
        if schema is None:
            raise FormatError(
                f"SSE data of no known token format ({_keys_of(record)}): {_preview(record)}"
            )
        return schema
    return "openai" if events.done else None
