"""The generated text in the streaming formats of the common model servers, sans-IO.

Feed :class:`TokenDecoder` the bytes of a response stream in any chunking; it
returns the pieces of generated text ("tokens") as they complete::

    tokens = TokenDecoder()              # format="auto"
    for chunk in chunks:
        for text in tokens.feed(chunk):
            print(text, end="")
    for text in tokens.close():
        print(text, end="")

or, with ``feed_events``/``close_events``, a :class:`GenerationEvent` per piece
(token id, logprob, ``special``) and per record that ends the generation (finish
reason, token usage), which :class:`GenerationAccumulator` folds into a
:class:`Generation`.  :func:`parse_generation` reads a whole non-streaming answer
into the same :class:`Generation`; :func:`chat_body` builds the OpenAI-style chat
request that TGI, LMI, vLLM and SGLang accept on ``/invocations``.

Formats (``FORMATS``), each the documented streaming output of a server:

``tgi``
    Hugging Face Text Generation Inference, ``/generate_stream``: Server-Sent
    Events whose data is ``{"token": {"id", "text", "logprob", "special"},
    "generated_text", "details"}``.  Special tokens (``</s>``) are events marked
    ``special``, never text; the event with a non-null ``generated_text`` is the
    last one and its ``details`` give the finish reason and token counts.  An
    ``{"error": ..., "error_type": ...}`` event raises :class:`ModelOutputError`.
``lmi``
    AWS Large Model Inference (DJL Serving) rolling batch, JSON lines:
    ``{"token": {"id", "text", "log_prob"}}``, the last line adding
    ``generated_text`` and ``details``; ``details.finish_reason == "error"``
    raises.  Also the dynamic-batch form ``{"outputs": ["text", ...]}``.
``vllm-chat`` / ``vllm-completions``
    OpenAI-compatible servers (vLLM, TGI's Messages API, LMI's chat schema):
    ``chat.completion.chunk`` objects (``choices[0].delta.content``; role-only
    and empty deltas give no text) or ``text_completion`` objects
    (``choices[0].text``), ended by ``data: [DONE]``.  Only the choice with
    index 0 is read; its ``finish_reason`` and the chunk's ``usage`` end the
    generation.  ``{"error": {...}}`` raises.
``openai``
    Either of the two above, chunk by chunk.
``text``
    Plain UTF-8, passed through as it arrives (a character cut between parts
    is held until complete).

The transport of the JSON formats is recognised from the first byte that is not
whitespace, so every JSON format reads both Server-Sent Events and JSON lines
(LMI can send either, with ``option.output_formatter``).

``format="auto"`` (rules in :func:`detect_format`) decides from the start of the
stream, holding back only the bytes it needs to see.  Empty tokens are never
returned.  After the end of the generation (``[DONE]``, or a TGI/LMI record with
``generated_text``) :attr:`TokenDecoder.done` is true and further input is ignored.

Sources the formats and the fixtures in ``tests/data/formats`` follow: TGI's
``router/src/lib.rs`` (``StreamResponse``, ``StreamDetails``, ``ErrorResponse``,
the chat chunk) and streaming docs, DJL Serving's
``serving/docs/lmi/user_guides/lmi_input_output_schema.md`` and
``chat_input_output_schema.md`` (rolling and dynamic batch, chat, error lines),
and vLLM's "OpenAI-Compatible Server" docs (chat completion chunks, completions,
``stream_options``, ``data: [DONE]``, streamed error objects).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast, get_args

from ._generation import (
    Generation,
    GenerationAccumulator,
    GenerationEvent,
    Usage,
    details_usage,
    ending,
    number,
    openai_usage,
    piece,
)
from .codecs import (
    DEFAULT_MAX_EVENT_BYTES,
    JSONLinesDecoder,
    ServerSentEvent,
    SSEDecoder,
    TextDecoder,
    UnicodeErrors,
    check_errors,
)
from .errors import DecodeError, FormatError, ModelOutputError, ParamValidationError

__all__ = [
    "FORMATS",
    "WIRE_FORMATS",
    "FormatError",
    "Generation",
    "GenerationAccumulator",
    "GenerationEvent",
    "ModelOutputError",
    "TokenDecoder",
    "TokenFormat",
    "Usage",
    "WireFormat",
    "chat_body",
    "check_format",
    "detect_format",
    "parse_generation",
]

#: A concrete wire format: what one model server writes (the emulator's demo speaks each).
WireFormat = Literal["tgi", "lmi", "vllm-chat", "vllm-completions", "text"]
#: A name :class:`TokenDecoder` accepts: a wire format, ``"openai"`` (either OpenAI shape) or
#: ``"auto"`` (decided from the first bytes).
TokenFormat = Literal["auto", "tgi", "lmi", "vllm-chat", "vllm-completions", "openai", "text"]

#: The wire formats, in the order of :data:`WireFormat`.
WIRE_FORMATS: tuple[WireFormat, ...] = get_args(WireFormat)
#: The format names :class:`TokenDecoder` accepts besides ``"auto"``.
FORMATS: tuple[str, ...] = tuple(name for name in get_args(TokenFormat) if name != "auto")

_TOKEN_OBJECT = ("tgi", "lmi")
_CHOICES = ("vllm-chat", "vllm-completions", "openai")
_SSE_PREFIXES = (b"data:", b"event:", b"id:", b"retry:", b":")
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"
_PREVIEW = 120


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return repr(text) if len(text) <= _PREVIEW else repr(text[:_PREVIEW]) + "..."


def _error_of(record: dict[str, Any]) -> ModelOutputError | None:
    """The error a record reports, in TGI, LMI or OpenAI shape, if any."""
    error = record.get("error")
    if error is not None and error != "":
        if isinstance(error, dict):
            message = error.get("message")
            return ModelOutputError(
                message if isinstance(message, str) else json.dumps(error),
                error_type=error.get("type"),
                code=error.get("code"),
                payload=record,
            )
        return ModelOutputError(
            str(error),
            error_type=record.get("error_type"),
            code=record.get("code"),
            payload=record,
        )
    if record.get("object") == "error":  # older vLLM: the ErrorResponse itself
        message = record.get("message")
        return ModelOutputError(
            message if isinstance(message, str) else json.dumps(record),
            error_type=record.get("type"),
            code=record.get("code"),
            payload=record,
        )
    return None


def _schema_of(record: Any, transport: str) -> str | None:
    """Which format a first record belongs to, or None if it is no known shape."""
    if not isinstance(record, dict):
        return None
    kind = record.get("object")
    if "choices" in record or kind in ("chat.completion.chunk", "text_completion"):
        # the choice's shape first: TGI before 2.1 labels its chat chunks "text_completion"
        choices = record.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        if isinstance(first, dict):
            if "delta" in first:
                return "vllm-chat"
            if "text" in first:
                return "vllm-completions"
        if kind == "chat.completion.chunk":
            return "vllm-chat"
        if kind == "text_completion":
            return "vllm-completions"
        return "openai"
    token_object = "tgi" if transport == "sse" else "lmi"
    if "token" in record or "generated_text" in record or "outputs" in record:
        return token_object
    if "error" in record:
        return "openai" if isinstance(record["error"], dict) else token_object
    if kind == "error":
        return "openai"
    return None


class _Sniffer:
    """Holds the head of a stream until its transport (and maybe format) is decided.

    Every byte is looked at once: the scans resume where they stopped.
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
        head = self._head
        if self._first < 0:
            i = self._ws_scan
            if i == 0:
                if head.startswith(_BOM):
                    i = 3
                elif len(head) < 3 and _BOM.startswith(head) and not final:
                    return None  # maybe a BOM still arriving
            end = len(head)
            while i < end and head[i] in _WHITESPACE:
                i += 1
            self._ws_scan = i
            if i == end:
                if not final or not head:
                    return None
                return ("text", "text") if self._format is None else ("jsonlines", self._format)
            self._first = i
        first = self._first
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
        schema = _schema_of(record, "jsonlines")
        return ("jsonlines", schema) if schema else ("text", "text")


def _sse_record(event: ServerSentEvent) -> Any:
    """The JSON of an event's data; None for an empty keep-alive event."""
    if event.event == "error":
        try:
            record = json.loads(event.data)
        except ValueError:
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


def detect_format(head: bytes, *, final: bool = False) -> str | None:
    """The format of a stream from its first bytes; None while more bytes are needed.

    The rules, after skipping a byte order mark and whitespace:

    1. A first line that is a JSON object of a known shape means JSON lines:
       ``token``/``generated_text``/``outputs`` -> ``"lmi"``; ``choices`` -> an
       OpenAI format.  Any other first line starting with ``{`` means ``"text"``.
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
            raise FormatError(f"SSE data of no known token format: {_preview(record)}")
        return schema
    return "openai" if events.done else None


def check_format(format: str) -> TokenFormat:
    """``format`` if :class:`TokenDecoder` accepts it, else :class:`ParamValidationError`.

    For callers that take a ``format=`` argument and want it checked before anything
    is sent (ParamValidationError is also a ``ValueError``).
    """
    if isinstance(format, str) and format in _TOKEN_FORMATS:
        return cast(TokenFormat, format)
    names = ", ".join(repr(name) for name in _TOKEN_FORMATS)
    raise ParamValidationError(f"unknown token format {format!r}: use one of {names}")


_TOKEN_FORMATS: tuple[str, ...] = get_args(TokenFormat)


class TokenDecoder:
    """Generated text from a model server's response stream, in any chunking.

    ``format`` is ``"auto"`` or one of :data:`FORMATS`.  Two forms of output, from
    the same decoding:

    * ``feed(chunk)`` / ``close()``: the pieces of text (non-empty, special tokens
      left out);
    * ``feed_events(chunk)`` / ``close_events()``: a :class:`GenerationEvent` per
      generated piece (special tokens included, marked ``special``) and per record
      that carries a finish reason or token usage.

    Use one form per decoder.  Errors the server reports in the stream raise
    :class:`ModelOutputError` (its ``payload`` is the whole record); bytes that do
    not fit the format raise :class:`FormatError` (or another
    :class:`~asyncsagemaker.codecs.DecodeError`).  As with the codecs, what was
    decoded before an error is returned first and the error is raised by the next
    call, after which the decoder stays failed.

    ``max_record_bytes`` bounds one SSE event or JSON line; ``errors`` is the
    UTF-8 error handling.  Bad arguments raise :class:`ParamValidationError`.
    """

    __slots__ = (
        "_closed",
        "_done",
        "_error",
        "_errors",
        "_format",
        "_jsonl",
        "_limit",
        "_sniffer",
        "_sse",
        "_text",
        "_transport",
        "_yielded",
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
        self._done = False
        self._yielded = False  # some non-empty, non-special text was produced
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
            decided = self._sniffer.feed(data)
            if decided is None:
                return
            data = self._sniffer.take()
            self._sniffer = None
            self._start(*decided)
        self._run(data, out, events, final=False)

    def _close(self, out: list[Any], events: bool) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            return
        self._closed = True
        if self._done:
            return
        if self._sniffer is not None:
            decided = self._sniffer.finish()
            if decided is None:
                return  # nothing but an empty stream
            data = self._sniffer.take()
            self._sniffer = None
            self._start(*decided)
            if not self._run(data, out, events, final=False):
                return
        self._run(b"", out, events, final=True)

    def _start(self, transport: str, schema: str | None) -> None:
        self._transport = transport
        if schema is not None:
            self._format = schema
        if transport == "text":
            self._text = TextDecoder(self._errors)
        elif transport == "sse":
            self._sse = SSEDecoder(self._limit, self._errors)
        else:
            self._jsonl = JSONLinesDecoder(self._limit, self._errors)

    def _run(self, data: bytes, out: list[Any], events: bool, *, final: bool) -> bool:
        """Decode ``data`` into ``out``; False once the stream is done or failed."""
        try:
            if self._text is not None:
                text = self._text.close() if final else self._text.feed(data)
                if text:
                    out.append(piece(text, None, None, False, text) if events else text)
            elif self._sse is not None:
                for event in self._sse.close() if final else self._sse.feed(data):
                    record = _sse_record(event)
                    if record is not None:
                        self._record(record, "sse", out, events)
                        if self._done:
                            break
                if self._sse.done:
                    self._done = True
                    if self._format is None:
                        self._format = "openai"  # an OpenAI stream that ended at once
            elif self._jsonl is not None:
                for record in self._jsonl.close() if final else self._jsonl.feed(data):
                    self._record(record, "jsonlines", out, events)
                    if self._done:
                        break
        except DecodeError as exc:
            self._error = exc
            if not out:
                raise
        return self._error is None and not self._done

    def _record(self, record: Any, transport: str, out: list[Any], events: bool) -> None:
        if self._format is None:
            self._format = _schema_of(record, transport)
            if self._format is None:
                raise FormatError(
                    "the stream is Server-Sent Events but its first event is not a known "
                    f"token format (TGI or OpenAI-style): {_preview(record)}; "
                    "read it with an SSE view, or name the format"
                )
        if not isinstance(record, dict):
            raise FormatError(f"a {self._format} record must be a JSON object: {_preview(record)}")
        error = _error_of(record)
        if error is not None:
            raise error
        if self._format in _CHOICES:
            self._choices(record, out, events)
        else:
            self._token_object(record, out, events)

    def _token_object(self, record: dict[str, Any], out: list[Any], events: bool) -> None:
        """A TGI or LMI record: a ``token``, ``outputs``, or the final ``generated_text``."""
        details = record.get("details")
        if isinstance(details, dict) and details.get("finish_reason") == "error":
            raise ModelOutputError(
                "the model stopped with finish_reason 'error' during generation",
                error_type="finish_reason",
                payload=record,
            )
        start = len(out)
        found = False
        token = record.get("token")
        if isinstance(token, dict):
            found = True
            text = token.get("text")
            if not isinstance(text, str):
                text = ""
            special = bool(token.get("special") or token.get("special_token"))
            if events:
                token_id = token.get("id")
                if type(token_id) is not int or token_id < 0:  # no bool, no -1 "no token"
                    token_id = None
                logprob = token.get("logprob")
                if logprob is None:
                    logprob = token.get("log_prob")  # LMI's spelling
                if type(logprob) is not float:
                    logprob = number(logprob)
                out.append(piece(text, token_id, logprob, special, record))
            elif text and not special:
                out.append(text)
            if text and not special:
                self._yielded = True
        outputs = record.get("outputs")
        if isinstance(outputs, str):
            outputs = [outputs]
        if isinstance(outputs, list):
            found = True
            for text in outputs:
                if isinstance(text, str) and text:
                    out.append(piece(text, None, None, False, record) if events else text)
                    self._yielded = True
        generated = record.get("generated_text")
        if isinstance(generated, str):
            if not found and not self._yielded and generated:
                # a lone final record: the whole answer at once
                out.append(piece(generated, None, None, False, record) if events else generated)
                self._yielded = True
            self._done = True
        elif not found:
            raise FormatError(
                f"a {self._format} record needs 'token', 'outputs', 'generated_text' "
                f"or 'error': {_preview(record)}"
            )
        if events and isinstance(details, dict):
            _end_record(out, start, details.get("finish_reason"), details_usage(details), record)

    def _choices(self, record: dict[str, Any], out: list[Any], events: bool) -> None:
        """An OpenAI-style chunk: the choice with index 0, and the record's ``usage``."""
        choices = record.get("choices")
        if not isinstance(choices, list):
            if choices is not None or not isinstance(record.get("usage"), dict):
                raise FormatError(
                    f"a {self._format} chunk needs a 'choices' list: {_preview(record)}"
                )
            choices = []  # a usage-only chunk whose choices are null or left out (vLLM)
        start = len(out)
        chat = self._format != "vllm-completions"
        completion = self._format != "vllm-chat"
        raw_finish = None
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            text = choice.get("text")
            if not completion and delta is None:
                raise FormatError(f"a vllm-chat chunk has no 'delta': {_preview(record)}")
            if not chat and text is None:
                raise FormatError(f"a vllm-completions chunk has no 'text': {_preview(record)}")
            if chat and isinstance(delta, dict):
                text = delta.get("content")
            if isinstance(text, str) and text:
                if events:
                    logprobs = choice.get("logprobs")
                    logprob = None if logprobs is None else _logprob_of(logprobs)
                    out.append(piece(text, None, logprob, False, record))
                else:
                    out.append(text)
            if events and choice.get("finish_reason") is not None:
                raw_finish = choice["finish_reason"]
        if events:
            usage = record.get("usage")
            if raw_finish is not None or usage is not None:
                _end_record(out, start, raw_finish, openai_usage(usage), record)


def _end_record(
    out: list[GenerationEvent], start: int, raw_finish: Any, usage: Usage | None, record: Any
) -> None:
    """Put a record's finish reason and usage on its last event in ``out[start:]``.

    A record that gave no event (an empty final delta, a usage-only chunk) gets an
    empty one; a record that carries neither changes nothing.
    """
    last = out[-1] if len(out) > start else None
    ended = ending(last, raw_finish, usage, record)
    if ended is None or ended is last:
        return
    if last is None:
        out.append(ended)
    else:
        out[-1] = ended


def _logprob_of(logprobs: Any) -> float | None:
    """The log-probability of a one-token chunk from its ``logprobs``.

    OpenAI chat (``{"content": [{"logprob": ...}]}``), LMI's chat stream (the same in
    a one-element list) or completions (``{"token_logprobs": [...]}``); None when the
    chunk carries more than one token (the raw record has them).
    """
    if isinstance(logprobs, list) and len(logprobs) == 1:
        logprobs = logprobs[0]
    if not isinstance(logprobs, dict):
        return None
    content = logprobs.get("content")
    if isinstance(content, list):
        if len(content) == 1 and isinstance(content[0], dict):
            return number(content[0].get("logprob"))
        return None
    token_logprobs = logprobs.get("token_logprobs")
    if isinstance(token_logprobs, list) and len(token_logprobs) == 1:
        return number(token_logprobs[0])
    return None


# --- whole (non-streaming) answers ----------------------------------------------------


def parse_generation(
    body: bytes | bytearray | memoryview | str,
    format: TokenFormat = "auto",
    *,
    errors: UnicodeErrors = "strict",
) -> Generation:
    """The :class:`Generation` in the whole body of a non-streaming answer.

    Reads what ``invoke_endpoint`` gets back from the common containers:

    * an OpenAI ``chat.completion`` (``choices[0].message.content``) or
      ``text_completion`` (``choices[0].text``), with its ``finish_reason`` and
      ``usage``;
    * TGI's ``[{"generated_text": ..., "details": {...}}]`` (or the object alone) and
      LMI's ``{"generated_text": ..., "details": {...}}``; ``details`` gives the finish
      reason and the token counts it has;
    * a body that is a whole stream (Server-Sent Events or JSON lines of any
      :class:`TokenDecoder` format), read as the stream would be;
    * plain text, as it is.

    ``format`` narrows what is accepted, as for :class:`TokenDecoder` (``"openai"``,
    ``"vllm-chat"``, ``"vllm-completions"`` for the OpenAI shapes, ``"tgi"``/``"lmi"``
    for ``generated_text``).  An error object (``{"error": ...}``) raises
    :class:`ModelOutputError` carrying it; a body of no known shape raises
    :class:`FormatError`; bad arguments raise :class:`ParamValidationError`.  The
    result has one event (the text with the finish reason and usage), or the events
    of the stream, and no ``stats``.
    """
    check_format(format)
    check_errors(errors)
    if isinstance(body, str):
        text, data = body, body.encode()
    elif isinstance(body, (bytes, bytearray, memoryview)):
        data = bytes(body)
        decoder = TextDecoder(errors)
        text = decoder.feed(data) + decoder.close()
    else:
        raise ParamValidationError(f"body must be bytes or str, not {type(body).__name__}")
    if format == "text":
        return _one_event(text, None, None, text)
    head = text.lstrip("\ufeff \t\r\n")
    if head[:1] in ("{", "["):
        try:
            value = json.loads(head)
        except ValueError:
            pass  # JSON lines, or text that starts with a brace
        else:
            whole = _whole_answer(value, format)
            if whole is not None:
                return whole
    return _streamed_answer(data, format, errors)


def _whole_answer(value: Any, format: str) -> Generation | None:
    """The generation of a one-JSON-value body; None if it is one record of a stream."""
    record = value
    if isinstance(value, list):  # TGI and the Hugging Face toolkit answer a list of one
        if not value:
            raise FormatError("the body is an empty JSON list: no answer in it")
        record = value[0]
    if not isinstance(record, dict):
        raise FormatError(f"the body is JSON of no known answer shape: {_preview(value)}")
    error = _error_of(record)
    if error is not None:
        raise error
    if "choices" in record:
        if format in _TOKEN_OBJECT:
            raise FormatError(f"a {format} answer needs 'generated_text': {_preview(record)}")
        return _openai_answer(record, format)
    if "token" in record or "outputs" in record:
        return None
    if "generated_text" in record:
        if format in _CHOICES:
            raise FormatError(f"an OpenAI-style answer needs 'choices': {_preview(record)}")
        return _generated_text_answer(record)
    raise FormatError(
        "the body is JSON of no known answer shape (OpenAI 'choices', TGI/LMI "
        f"'generated_text'): {_preview(record)}"
    )


def _openai_answer(record: dict[str, Any], format: str) -> Generation | None:
    """A ``chat.completion`` or ``text_completion``; None for a streamed chunk alone."""
    choices = record.get("choices")
    if not isinstance(choices, list):
        raise FormatError(f"an OpenAI-style answer needs a 'choices' list: {_preview(record)}")
    choice = next(
        (c for c in choices if isinstance(c, dict) and c.get("index", 0) == 0),
        None,
    )
    if choice is None:
        raise FormatError(f"an OpenAI-style answer has no choice with index 0: {_preview(record)}")
    message = choice.get("message")
    if isinstance(message, dict) and format != "vllm-completions":
        text = message.get("content")
    elif "delta" in choice:
        return None
    elif "text" in choice and format != "vllm-chat":
        text = choice.get("text")
    else:
        wanted = {"vllm-chat": "'message'", "vllm-completions": "'text'"}.get(
            format, "'message' or 'text'"
        )
        raise FormatError(f"the first choice of the answer has no {wanted}: {_preview(record)}")
    if text is not None and not isinstance(text, str):
        raise FormatError(f"the answer's text is not a string: {_preview(record)}")
    return _one_event(
        text or "", choice.get("finish_reason"), openai_usage(record.get("usage")), record
    )


def _generated_text_answer(record: dict[str, Any]) -> Generation:
    """TGI's or LMI's ``{"generated_text": ..., "details": {...}}``."""
    text = record["generated_text"]
    if not isinstance(text, str):
        raise FormatError(f"'generated_text' is not a string: {_preview(record)}")
    details = record.get("details")
    if not isinstance(details, dict):
        return _one_event(text, None, None, record)
    if details.get("finish_reason") == "error":
        raise ModelOutputError(
            "the model stopped with finish_reason 'error'",
            error_type="finish_reason",
            payload=record,
        )
    return _one_event(text, details.get("finish_reason"), details_usage(details), record)


def _one_event(text: str, raw_finish: Any, usage: Usage | None, record: Any) -> Generation:
    """The generation of a whole answer: one event with all of it (none if it is empty)."""
    accumulator = GenerationAccumulator()
    event = ending(
        piece(text, None, None, False, record) if text else None, raw_finish, usage, record
    )
    if event is not None:
        accumulator.add(event)
    return accumulator.result()


def _streamed_answer(data: bytes, format: TokenFormat, errors: UnicodeErrors) -> Generation:
    """A body that holds a whole stream, read as a stream (the body bounds every record)."""
    decoder = TokenDecoder(
        format, max_record_bytes=max(DEFAULT_MAX_EVENT_BYTES, len(data)), errors=errors
    )
    accumulator = GenerationAccumulator()
    accumulator.extend(decoder.feed_events(data))
    accumulator.extend(decoder.close_events())
    answer = accumulator.result()
    if not answer.events and not decoder.done and format != "auto" and data.strip():
        raise FormatError(
            f"no {format} record in the body: {_preview(data.decode(errors='replace'))}"
        )
    return answer


# --- the OpenAI-style Messages request ----------------------------------------------


def chat_body(
    messages: Sequence[Mapping[str, Any]],
    *,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    stop: str | Sequence[str] | None = None,
    stream: bool = True,
    include_usage: bool = True,
    **model_params: Any,
) -> dict[str, Any]:
    """The OpenAI-style chat request body (``{"messages": [...], ...}``), checked.

    ``messages`` is a non-empty list of ``{"role": ..., "content": ...}`` mappings
    (content a string or a list of content parts; ``None`` only for an assistant
    message with ``tool_calls``); other keys of a message are kept.  Arguments left
    ``None`` are left out of the body, so the server's defaults apply.  A streaming
    body gets ``"stream": true`` and, with ``include_usage``, ``stream_options:
    {"include_usage": true}`` (a ``stream_options`` model parameter is merged over
    it).  ``model_params`` go into the body as they are (``model``, ``seed``,
    ``logprobs``, server extensions...), ``None`` values left out.

    Anything that is not a valid body raises :class:`ParamValidationError`, before a
    request is sent.
    """
    body: dict[str, Any] = {"messages": _checked_messages(messages)}
    if max_tokens is not None:
        if type(max_tokens) is not int or max_tokens < 1:
            raise ParamValidationError(f"max_tokens must be a positive int, not {max_tokens!r}")
        body["max_tokens"] = max_tokens
    if temperature is not None:
        if not _is_number(temperature) or not 0 <= temperature < float("inf"):
            raise ParamValidationError(f"temperature must be a number >= 0, not {temperature!r}")
        body["temperature"] = temperature
    if top_p is not None:
        if not _is_number(top_p) or not 0 < top_p <= 1:
            raise ParamValidationError(f"top_p must be a number in (0, 1], not {top_p!r}")
        body["top_p"] = top_p
    if stop is not None:
        body["stop"] = _checked_stop(stop)
    if not isinstance(stream, bool):
        raise ParamValidationError(f"stream must be True or False, not {stream!r}")
    if not isinstance(include_usage, bool):
        raise ParamValidationError(f"include_usage must be True or False, not {include_usage!r}")
    for name, value in model_params.items():
        if value is not None and name != "stream_options":
            body[name] = value
    if stream:
        body["stream"] = True
        options = model_params.get("stream_options")
        if options is not None and not isinstance(options, Mapping):
            raise ParamValidationError(f"stream_options must be a mapping, not {options!r}")
        merged = {"include_usage": True} if include_usage else {}
        merged.update(options or {})
        if merged:
            body["stream_options"] = merged
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ParamValidationError(f"the chat body is not JSON: {exc}") from exc
    return body


def _checked_messages(messages: Any) -> list[dict[str, Any]]:
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
        raise ParamValidationError(
            "messages must be a list of {'role': ..., 'content': ...} mappings, "
            f"not {type(messages).__name__}"
        )
    if not messages:
        raise ParamValidationError("messages must not be empty")
    checked = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, Mapping):
            raise ParamValidationError(
                f"{where} must be a mapping with 'role' and 'content', not {message!r}"
            )
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise ParamValidationError(f"{where} needs a 'role' string: {message!r}")
        if "content" not in message:
            raise ParamValidationError(f"{where} needs a 'content': {message!r}")
        content = message["content"]
        if content is None:
            if role != "assistant" or not message.get("tool_calls"):
                raise ParamValidationError(
                    f"{where} has no content (allowed only for an assistant message with "
                    f"tool_calls): {message!r}"
                )
        elif not isinstance(content, (str, list)):
            raise ParamValidationError(
                f"{where}'s content must be a string or a list of content parts: {message!r}"
            )
        checked.append(dict(message))
    return checked


def _checked_stop(stop: Any) -> str | list[str]:
    if isinstance(stop, str):
        return stop
    if isinstance(stop, Sequence) and all(isinstance(item, str) for item in stop):
        return list(stop)
    raise ParamValidationError(f"stop must be a string or a list of strings, not {stop!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
