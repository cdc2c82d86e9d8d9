"""LangChain's messages and tool choices as the OpenAI-style chat body our client sends.

langchain-core's ``convert_to_openai_messages`` does the shape (tool calls from
``AIMessage.tool_calls``, ``ToolMessage`` as ``role: tool``, images as ``image_url``
parts); what it passes through that the containers refuse is cut here.  An assistant
message sent back keeps only its text: the reasoning and ``tool_call`` blocks of a
``output_version="v1"`` message, or Anthropic-style ``tool_use`` blocks, are
unknown part types to vLLM and SGLang, and its calls travel as ``tool_calls``.  A
tool result is one string (vLLM's and TGI's chat templates want one; Strands joins
the parts the same way).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.messages.utils import convert_to_openai_messages

from ...errors import ParamValidationError

__all__ = ["openai_messages", "openai_tool_choice"]

#: The content parts a user message may carry to the containers (others are dropped).
_USER_PARTS = frozenset({"text", "image_url", "input_audio", "file", "video_url"})


def openai_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """``messages`` as the chat body's ``messages``."""
    converted = convert_to_openai_messages(list(messages))
    return [_cleaned(message) for message in converted]


def _cleaned(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role")
    content = message.get("content")
    if not isinstance(content, list):
        return message
    if role == "user":
        return {**message, "content": _user_content(content)}
    text = _joined(content, "\n" if role == "tool" else "")
    if role == "assistant" and not text and message.get("tool_calls"):
        return {**message, "content": None}
    return {**message, "content": text}


def _user_content(content: list[Any]) -> str | list[Any]:
    """The parts containers take; text alone as one string."""
    parts = [part for part in content if _part_type(part) in _USER_PARTS]
    if all(_part_type(part) == "text" for part in parts):
        return _joined(parts, "")
    return parts


def _part_type(part: Any) -> str | None:
    kind = part.get("type") if isinstance(part, Mapping) else None
    return kind if isinstance(kind, str) else None


def _joined(parts: list[Any], separator: str) -> str:
    return separator.join(
        part["text"]
        for part in parts
        if _part_type(part) == "text" and isinstance(part.get("text"), str)
    )


def openai_tool_choice(choice: Any) -> str | dict[str, Any] | None:
    """LangChain's ``tool_choice`` in OpenAI's words.

    ``"any"`` (and ``True``) is ``"required"``; ``"auto"``, ``"none"`` and
    ``"required"`` stay; any other string names the tool to call; a mapping is
    already OpenAI's (``{"type": "function", "function": {"name": ...}}``).
    """
    if choice is None or choice is False:
        return None
    if choice is True or choice == "any":
        return "required"
    if isinstance(choice, str):
        if choice in ("auto", "none", "required"):
            return choice
        return {"type": "function", "function": {"name": choice}}
    if isinstance(choice, Mapping):
        return dict(choice)
    raise ParamValidationError(
        f"tool_choice must be a tool's name, 'auto', 'any' or 'none', not {choice!r}"
    )
