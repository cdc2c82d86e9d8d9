"""The OpenAI-style Messages request that TGI, LMI, vLLM and SGLang accept."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ParamValidationError
from ._chat_options import agent_entries, chat_options, sampling_entries
from ._messages import checked_messages

__all__ = ["built_chat_body", "chat_body"]

#: Compact UTF-8 JSON, NaN refused; one encoder, as ``json.dumps`` makes one per call
#: when given any option.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def chat_body(
    messages: Sequence[Mapping[str, Any]],
    *,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    stop: str | Sequence[str] | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: str | Mapping[str, Any] | None = None,
    parallel_tool_calls: bool | None = None,
    response_format: Mapping[str, Any] | None = None,
    reasoning_effort: str | None = None,
    stream: bool = True,
    include_usage: bool = True,
    extra_body: Mapping[str, Any] | None = None,
    **model_params: Any,
) -> dict[str, Any]:
    """The OpenAI-style chat request body (``{"messages": [...], ...}``), checked.

    ``messages`` is a non-empty list of ``{"role": ..., "content": ...}`` mappings in
    the shapes an agent sends back: content a string or a list of content parts
    (``None`` or left out only for an assistant message with ``tool_calls``), ``tool``
    messages with their ``tool_call_id``; other keys of a message are kept.

    Arguments left ``None`` are left out of the body, so the server's defaults apply:
    the sampling ones, and ``tools`` (``[{"type": "function", "function": {"name",
    "description", "parameters"}}]``), ``tool_choice`` (``"none"``, ``"auto"``,
    ``"required"`` or ``{"type": "function", "function": {"name": ...}}`` naming one
    of ``tools``), ``parallel_tool_calls``, ``response_format`` and
    ``reasoning_effort``.  A streaming body gets ``"stream": true`` and, with
    ``include_usage``, ``stream_options: {"include_usage": true}`` (a
    ``stream_options`` model parameter is merged over it).  ``model_params`` go into
    the body as they are (``model``, ``seed``, ``logprobs``, server extensions...),
    ``None`` values left out; ``extra_body`` is merged into the body last, over
    everything, as openai-python does.

    Anything that is not a valid body raises :class:`ParamValidationError` naming the
    message index or argument and the field, before a request is sent.
    """
    options = chat_options(
        max_tokens,
        temperature,
        top_p,
        stop,
        tools,
        tool_choice,
        parallel_tool_calls,
        response_format,
        reasoning_effort,
        extra_body,
    )
    return built_chat_body(messages, options, model_params, stream, include_usage)[0]


def built_chat_body(
    messages: Sequence[Mapping[str, Any]],
    options: Mapping[str, Any],
    model_params: Mapping[str, Any],
    stream: bool,
    include_usage: bool = True,
) -> tuple[dict[str, Any], bytes]:
    """:func:`chat_body` and its UTF-8 JSON, encoded once: the check that it is JSON is
    the encoding a client sends (``options``: each keyword :func:`chat_body` names
    before ``stream``, ``None`` when not given)."""
    get = options.get
    body: dict[str, Any] = {"messages": checked_messages(messages)}
    body.update(sampling_entries(get("max_tokens"), get("temperature"), get("top_p"), get("stop")))
    agent = ("tools", "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort")
    body.update(agent_entries(*map(get, agent)))
    if model_params:
        body.update(
            (name, value)
            for name, value in model_params.items()
            if value is not None and name != "stream_options"
        )
    body.update(_streaming(stream, include_usage, model_params.get("stream_options")))
    extra_body = get("extra_body")
    if extra_body is not None:
        if not isinstance(extra_body, Mapping):
            raise ParamValidationError(f"extra_body must be a mapping, not {extra_body!r}")
        body.update(extra_body)
    try:
        text = _ENCODER.encode(body)
        return body, text.encode()
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError: a ValueError
        raise ParamValidationError(f"the chat body is not JSON: {exc}") from None


def _streaming(stream: Any, include_usage: Any, options: Any) -> dict[str, Any]:
    """``stream`` and ``stream_options`` of a streaming body (none for a whole answer)."""
    for name, flag in (("stream", stream), ("include_usage", include_usage)):
        if not isinstance(flag, bool):
            raise ParamValidationError(f"{name} must be True or False, not {flag!r}")
    if not stream:
        return {}
    if options is not None and not isinstance(options, Mapping):
        raise ParamValidationError(f"stream_options must be a mapping, not {options!r}")
    merged = {"include_usage": True} if include_usage else {}
    merged.update(options or {})
    return {"stream": True, "stream_options": merged} if merged else {"stream": True}
