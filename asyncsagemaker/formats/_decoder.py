"""``TokenDecoder``: generated text and events from a response stream, in any chunking."""

from __future__ import annotations

from typing import Any

from ..codecs import (
    DEFAULT_MAX_EVENT_BYTES,
    JSONLinesDecoder,
    SSEDecoder,
    TextDecoder,
    UnicodeErrors,
    check_errors,
)
from ..errors import DecodeError, FormatError, ModelOutputError, ParamValidationError
from ._detect import _Sniffer, _sse_record
from ._generation import (
    GenerationEvent,
    Usage,
    details_usage,
    ending,
    number,
    openai_usage,
    piece,
)
from ._names import TokenFormat, check_format
from ._records import _error_of, _preview, _schema_of

__all__ = ["TokenDecoder"]


_TOKEN_OBJECT = ("tgi", "lmi")


_CHOICES = ("vllm-chat", "vllm-completions", "openai")


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
