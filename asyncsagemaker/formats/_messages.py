"""The messages of a chat body, checked in the shapes agents send back (OpenAI's).

An agent loop sends the model's assistant message back with its ``tool_calls`` (and
``content`` ``None`` or left out), then one ``tool`` message per call with its
``tool_call_id``; content may be a string or a list of parts.  Anything else that a
server would refuse is refused here, before a request is sent, naming the message
index and the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ParamValidationError

__all__ = ["checked_messages"]


def checked_messages(messages: Any) -> list[dict[str, Any]]:
    """A copy of ``messages`` (each message a new dict) once every one is valid."""
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
        raise ParamValidationError(
            "messages must be a list of {'role': ..., 'content': ...} mappings, "
            f"not {type(messages).__name__}"
        )
    if not messages:
        raise ParamValidationError("messages must not be empty")
    return [_checked(f"messages[{index}]", message) for index, message in enumerate(messages)]


def _checked(where: str, message: Any) -> dict[str, Any]:
    if not isinstance(message, Mapping):
        raise ParamValidationError(
            f"{where} must be a mapping with 'role' and 'content', not {message!r}"
        )
    role = message.get("role")
    if not isinstance(role, str) or not role:
        raise ParamValidationError(f"{where} needs a 'role' string: {message!r}")
    name = message.get("name")
    if name is not None and not isinstance(name, str):
        raise ParamValidationError(f"{where}.name must be a string, not {name!r}")
    calls = message.get("tool_calls")
    if calls is not None:
        _check_tool_calls(where, role, calls)
    _check_content(where, role, message, bool(calls))
    if role == "tool":
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise ParamValidationError(
                f"{where}.tool_call_id: a tool message needs the id of the call it answers "
                f"(a string): {message!r}"
            )
    return dict(message)


def _check_content(where: str, role: str, message: Mapping[str, Any], calls: bool) -> None:
    """A string or a list of parts; ``None`` or absent only beside an assistant's calls."""
    if "content" not in message:
        if role == "assistant" and calls:
            return
        raise ParamValidationError(f"{where} needs a 'content': {message!r}")
    content = message["content"]
    if content is None:
        if role != "assistant" or not calls:
            raise ParamValidationError(
                f"{where} has no content (allowed only for an assistant message with "
                f"tool_calls): {message!r}"
            )
    elif isinstance(content, list):
        for index, part in enumerate(content):
            _check_part(f"{where}.content[{index}]", part)
    elif not isinstance(content, str):
        raise ParamValidationError(
            f"{where}'s content must be a string or a list of content parts: {message!r}"
        )


def _check_part(where: str, part: Any) -> None:
    """A content part: ``{"type": ..., ...}``; a text part needs its ``text``."""
    if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
        raise ParamValidationError(
            f"{where} must be a content part, a mapping with a 'type' string: {part!r}"
        )
    if part["type"] == "text" and not isinstance(part.get("text"), str):
        raise ParamValidationError(f"{where}.text: a text part needs a 'text' string: {part!r}")


def _check_tool_calls(where: str, role: str, calls: Any) -> None:
    if role != "assistant":
        raise ParamValidationError(
            f"{where}.tool_calls: only an assistant message has tool calls (role {role!r})"
        )
    if isinstance(calls, (str, bytes, Mapping)) or not isinstance(calls, Sequence):
        raise ParamValidationError(
            f"{where}.tool_calls must be a list of calls, not {type(calls).__name__}"
        )
    for index, call in enumerate(calls):
        _check_call(f"{where}.tool_calls[{index}]", call)


def _check_call(where: str, call: Any) -> None:
    """``{"id": str, "type": "function", "function": {"name": str, "arguments": str}}``."""
    if not isinstance(call, Mapping):
        raise ParamValidationError(f"{where} must be a mapping, not {call!r}")
    if not isinstance(call.get("id"), str) or not call["id"]:
        raise ParamValidationError(f"{where}.id: a tool call needs its id (a string): {call!r}")
    if call.get("type", "function") != "function":
        raise ParamValidationError(f"{where}.type must be 'function', not {call['type']!r}")
    function = call.get("function")
    if not isinstance(function, Mapping):
        raise ParamValidationError(f"{where}.function must be a mapping: {call!r}")
    if not isinstance(function.get("name"), str) or not function["name"]:
        raise ParamValidationError(f"{where}.function.name must be a non-empty string: {call!r}")
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        raise ParamValidationError(
            f"{where}.function.arguments must be the arguments' JSON text (a string), "
            f"not {type(arguments).__name__}: {call!r}"
        )
