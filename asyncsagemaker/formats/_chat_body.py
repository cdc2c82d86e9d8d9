"""The OpenAI-style Messages request that TGI, LMI, vLLM and SGLang accept."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ParamValidationError

__all__ = ["chat_body"]


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
