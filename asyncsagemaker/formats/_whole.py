"""Whole (non-streaming) answers read into the same ``Generation`` as a stream."""

from __future__ import annotations

import json
from typing import Any

from ..codecs import (
    DEFAULT_MAX_EVENT_BYTES,
    TextDecoder,
    UnicodeErrors,
    check_errors,
)
from ..errors import FormatError, ModelOutputError, ParamValidationError
from ._accumulator import GenerationAccumulator
from ._decoder import _CHOICES, _TOKEN_OBJECT, TokenDecoder
from ._generation import (
    Generation,
    GenerationEvent,
    Usage,
    count,
    details_usage,
    ending,
    openai_usage,
    piece,
)
from ._names import TokenFormat, check_format
from ._records import _error_of, _is_three_p, _keys_of, _preview
from ._tools import ToolCallDelta, message_tool_calls

__all__ = ["parse_generation"]


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
        except RecursionError:
            raise FormatError("the body is JSON nested too deeply to read") from None
        else:
            whole = _whole_answer(value, format)
            if whole is not None:
                return whole
    return _streamed_answer(data, format, errors)


def _whole_answer(value: Any, format: str) -> Generation | None:
    """The generation of a one-JSON-value body; None if it is one record of a stream."""
    record = _answer_record(value)
    if "choices" in record:
        if format in _TOKEN_OBJECT:
            raise FormatError(f"a {format} answer needs 'generated_text': {_preview(record)}")
        return _openai_answer(record, format)
    if "token" in record or "outputs" in record:
        return None
    if "generated_text" in record or _is_three_p(record):
        if format in _CHOICES:
            raise FormatError(f"an OpenAI-style answer needs 'choices': {_preview(record)}")
        if "generated_text" in record:
            return _generated_text_answer(record)
        return _three_p_answer(record)
    raise FormatError(
        "the body is JSON of no known answer shape (OpenAI 'choices', TGI/LMI "
        f"'generated_text', LMI 3p 'body'; {_keys_of(record)}): {_preview(record)}"
    )


def _answer_record(value: Any) -> dict[str, Any]:
    """The answer object of a body (TGI and the Hugging Face toolkit answer a list of one);
    an error object raises the error it reports."""
    record = value
    if isinstance(value, list):
        if not value:
            raise FormatError("the body is an empty JSON list: no answer in it")
        record = value[0]
    if not isinstance(record, dict):
        raise FormatError(f"the body is JSON of no known answer shape: {_preview(value)}")
    error = _error_of(record)
    if error is not None:
        raise error
    return record


def _openai_answer(record: dict[str, Any], format: str) -> Generation | None:
    """A ``chat.completion`` or ``text_completion``; None for a streamed chunk alone."""
    choice = _first_choice(record)
    message = choice.get("message")
    if isinstance(message, dict) and format != "vllm-completions":
        return _message_answer(message, choice, record)
    if "delta" in choice:
        return None
    if "text" not in choice or format == "vllm-chat":
        wanted = {"vllm-chat": "'message'", "vllm-completions": "'text'"}.get(
            format, "'message' or 'text'"
        )
        raise FormatError(f"the first choice of the answer has no {wanted}: {_preview(record)}")
    text = choice.get("text")
    if text is not None and not isinstance(text, str):
        raise FormatError(f"the answer's text is not a string: {_preview(record)}")
    return _one_event(
        text or "", choice.get("finish_reason"), openai_usage(record.get("usage")), record
    )


def _first_choice(record: dict[str, Any]) -> dict[str, Any]:
    """The choice with index 0 (a whole answer is read for its first choice)."""
    choices = record.get("choices")
    if not isinstance(choices, list):
        raise FormatError(f"an OpenAI-style answer needs a 'choices' list: {_preview(record)}")
    choice = next(
        (c for c in choices if isinstance(c, dict) and c.get("index", 0) == 0),
        None,
    )
    if choice is None:
        raise FormatError(f"an OpenAI-style answer has no choice with index 0: {_preview(record)}")
    return choice


def _message_answer(
    message: dict[str, Any], choice: dict[str, Any], record: dict[str, Any]
) -> Generation:
    """A ``chat.completion``'s message: its content, reasoning and tool calls."""
    text = message.get("content")
    if text is not None and not isinstance(text, str):
        raise FormatError(f"the answer's text is not a string: {_preview(record)}")
    reasoning = message.get("reasoning")
    if not isinstance(reasoning, str) or not reasoning:
        reasoning = message.get("reasoning_content")
    calls = message_tool_calls(message.get("tool_calls"))
    deltas = tuple(ToolCallDelta(i, c.id, c.name, c.arguments) for i, c in enumerate(calls))
    event = piece(
        text or "",
        None,
        None,
        False,
        record,
        0,
        reasoning if isinstance(reasoning, str) else "",
        deltas,
    )
    return _one_event(event, choice.get("finish_reason"), openai_usage(record.get("usage")), record)


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


def _three_p_answer(record: dict[str, Any]) -> Generation:
    """LMI's ``3p`` answer: ``{"body": {"generation", "prompt_token_count",
    "generation_token_count", "stop_reason"}, ...}`` (``generation`` holds the prompt
    too: LMI forces ``return_full_text`` for it)."""
    body = record["body"]
    text = body.get("generation")
    if text is not None and not isinstance(text, str):
        raise FormatError(f"'generation' is not a string: {_preview(record)}")
    counts = Usage(
        count(body.get("prompt_token_count")), count(body.get("generation_token_count")), None
    )
    usage = None if counts == Usage(None, None, None) else counts
    return _one_event(text or "", body.get("stop_reason"), usage, record)


def _one_event(
    answer: str | GenerationEvent, raw_finish: Any, usage: Usage | None, record: Any
) -> Generation:
    """The generation of a whole answer: one event with all of it (none if it is empty)."""
    accumulator = GenerationAccumulator()
    if isinstance(answer, str):
        answer_event = piece(answer, None, None, False, record) if answer else None
    else:
        empty = not (answer.text or answer.reasoning or answer.tool_calls)
        answer_event = None if empty else answer
    event = ending(answer_event, raw_finish, usage, record)
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
