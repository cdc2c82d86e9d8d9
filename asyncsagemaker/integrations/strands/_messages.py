"""Strands' messages (Bedrock Converse content blocks) as the OpenAI-style chat body.

The rules are those of Strands' own ``OpenAIModel`` (``strands/models/openai.py``), so
an agent moved from it to a SageMaker endpoint sends the same conversation:

* ``text`` is a text part, ``image`` an ``image_url`` part with a data URI,
  ``document`` a ``file`` part; ``reasoningContent`` and ``cachePoint`` blocks, and
  images or documents stored elsewhere (``location``), are not sent (the Chat
  Completions API has no place for them).
* ``toolUse`` blocks become the assistant message's ``tool_calls`` (arguments as JSON
  text, non-ASCII kept).
* each ``toolResult`` becomes a ``role: tool`` message, placed before the rest of its
  message; its text and JSON parts joined into one string (vLLM's and Kimi's chat
  templates want a string); its images go to a ``user`` message right after the tool
  messages (only user messages may carry images).
* a message left with neither content nor calls is dropped.
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import ParamValidationError

__all__ = ["openai_messages", "openai_tool_choice", "openai_tools"]

logger = logging.getLogger("asyncsagemaker.integrations.strands")

_SKIPPED = ("reasoningContent", "cachePoint", "toolUse", "toolResult")


def openai_messages(
    messages: Sequence[Mapping[str, Any]],
    system_prompt: str | None = None,
    system_prompt_content: Sequence[Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The chat body's ``messages`` for a system prompt and Strands ``messages``."""
    if system_prompt and system_prompt_content is None:
        system_prompt_content = [{"text": system_prompt}]
    out = [
        {"role": "system", "content": block["text"]}
        for block in system_prompt_content or []
        if isinstance(block.get("text"), str)
    ]
    for message in messages:
        out.extend(_message(message))
    return out


def _message(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    blocks: Sequence[Mapping[str, Any]] = message.get("content") or []
    out = _tool_results(blocks)
    parts = [part for block in blocks if (part := _part(block)) is not None]
    calls = [_call(block["toolUse"]) for block in blocks if "toolUse" in block]
    formatted: dict[str, Any] = {"role": message.get("role", "user")}
    if parts:
        formatted["content"] = _content(parts)
    if calls:
        formatted["tool_calls"] = calls
    if parts or calls:
        out.append(formatted)
    return out


def _tool_results(blocks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``tool`` messages of ``blocks`` (first, as the containers expect them), then
    a user message with the images they returned, if any."""
    out: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    for block in blocks:
        if "toolResult" in block:
            tool, pictures = _tool_message(block["toolResult"])
            out.append(tool)
            images += pictures
    if images:
        out.append({"role": "user", "content": images})
    return out


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Text alone as one string (what every container's chat template reads)."""
    if all(part["type"] == "text" for part in parts):
        return "".join(part["text"] for part in parts)
    return parts


def _part(block: Mapping[str, Any]) -> dict[str, Any] | None:
    """A content block as a content part; ``None`` for a block that is not sent."""
    if any(kind in block for kind in _SKIPPED):
        return None
    if "text" in block:
        return {"type": "text", "text": block["text"]}
    for kind in ("image", "document"):
        if kind in block:
            source = block[kind].get("source") or {}
            if "bytes" not in source:
                logger.warning("a %s stored elsewhere (location) is not sent: skipped", kind)
                return None
            return _image(block["image"]) if kind == "image" else _document(block["document"])
    raise ParamValidationError(
        f"a content block of type {next(iter(block), 'unknown')!r} cannot be sent in a chat body"
    )


def _data_uri(content: Mapping[str, Any]) -> tuple[str, str]:
    mime = mimetypes.types_map.get(f".{content.get('format')}", "application/octet-stream")
    data = base64.b64encode(content["source"]["bytes"]).decode("ascii")
    return mime, f"data:{mime};base64,{data}"


def _image(image: Mapping[str, Any]) -> dict[str, Any]:
    mime, uri = _data_uri(image)
    return {"type": "image_url", "image_url": {"detail": "auto", "format": mime, "url": uri}}


def _document(document: Mapping[str, Any]) -> dict[str, Any]:
    _, uri = _data_uri(document)
    return {"type": "file", "file": {"file_data": uri, "filename": document.get("name", "")}}


def _call(tool_use: Mapping[str, Any]) -> dict[str, Any]:
    arguments = json.dumps(tool_use.get("input", {}), ensure_ascii=False)
    return {
        "id": tool_use["toolUseId"],
        "type": "function",
        "function": {"name": tool_use["name"], "arguments": arguments},
    }


def _tool_message(result: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``tool`` message of a result, and the images it returned (for a user message)."""
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for item in result.get("content") or []:
        if "json" in item:
            texts.append(json.dumps(item["json"], ensure_ascii=False))
        elif "text" in item:
            texts.append(item["text"])
        elif "image" in item or "document" in item:
            part = _part(item)
            if part is not None:
                images.append(part)
    if images:
        texts.append("The tool returned an image, in the following user message.")
    message = {"role": "tool", "tool_call_id": result["toolUseId"], "content": "\n".join(texts)}
    return message, images


def openai_tools(tool_specs: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Strands' tool specs as the body's ``tools`` (``None`` for none)."""
    if not tool_specs:
        return None
    return [
        {
            "type": "function",
            "function": {
                "name": spec["name"],
                "description": spec.get("description", ""),
                "parameters": (spec.get("inputSchema") or {}).get("json", {}),
            },
        }
        for spec in tool_specs
    ]


def openai_tool_choice(tool_choice: Mapping[str, Any] | None) -> str | dict[str, Any] | None:
    """``{"auto": {}}``, ``{"any": {}}`` (a call is required), ``{"tool": {"name": ...}}``."""
    if not tool_choice:
        return None
    if "any" in tool_choice:
        return "required"
    named = tool_choice.get("tool")
    if isinstance(named, Mapping) and isinstance(named.get("name"), str):
        return {"type": "function", "function": {"name": named["name"]}}
    return "auto"
