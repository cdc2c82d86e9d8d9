"""What the ``demo`` model does with an agent's chat body: call a tool, answer a tool's
result, reason first when asked.  Deterministic: the same body, the same turn.

The rules, chosen so that agent frameworks' own test suites pass against it (LangChain's
standard chat-model tests among them):

* With ``tools`` and the last message from the user (and ``tool_choice`` not
  ``"none"``), it calls one tool: the one ``tool_choice`` names, else the first whose
  name appears in the last user message, else the first.  Its arguments are the
  required properties of the tool's JSON schema: integers (and numbers) take the
  integers of the prompt in order (then 1), strings its 'single-quoted' pieces in order
  (then ``"emulated <name>"``), booleans ``true``, enums their first value, objects
  their own required properties, arrays ``[]``.
* After ``tool`` messages it answers in text, quoting what the tools returned.
* With ``response_format`` (and no call to make) the answer is JSON, as servers
  constrain it: ``json_schema`` gives the object its schema requires, filled by the
  rules of a call's arguments; ``json_object`` an object whose keys are the
  'single-quoted' pieces of the last user message, each ``"emulated <key>"`` (no
  pieces: ``{"answer": <the plain answer>}``).
* It reasons first when the body sets ``reasoning_effort`` (not ``"none"``) or
  ``chat_template_kwargs: {"enable_thinking": true}`` (Qwen3's switch).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["ChatAsk", "Turn", "chat_ask", "respond"]

_INTEGER = re.compile(r"-?\b\d+\b")
_QUOTED = re.compile(r"(?<!\w)'([^']+?)'(?!\w)")
_RESULT_CHARS = 200


@dataclass(frozen=True)
class ChatAsk:
    """What an agent's chat body asks of the demo."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    tool_choice: Any
    reasoning: bool
    response_format: Any = None


@dataclass(frozen=True)
class Turn:
    """The demo's turn: answer text, or a tool call (name and JSON arguments); and the
    reasoning before it (``""`` when not asked)."""

    text: str
    call: tuple[str, str] | None
    reasoning: str


def chat_ask(fields: dict[str, Any]) -> ChatAsk:
    """The agent's part of a chat body (anything malformed is simply not used)."""
    messages = [m for m in fields.get("messages") or [] if isinstance(m, dict)]
    tools = [t for t in fields.get("tools") or [] if _tool_name(t) is not None]
    effort = fields.get("reasoning_effort")
    template = fields.get("chat_template_kwargs")
    thinking = isinstance(template, dict) and template.get("enable_thinking") is True
    return ChatAsk(
        messages,
        tools,
        fields.get("tool_choice"),
        (isinstance(effort, str) and effort != "none") or thinking,
        fields.get("response_format"),
    )


def respond(ask: ChatAsk, answer: str, prompt: str) -> Turn:
    """The turn for ``ask``: ``answer`` is the demo's plain answer to ``prompt``."""
    last = ask.messages[-1] if ask.messages else {}
    if ask.tools and last.get("role") == "user" and ask.tool_choice != "none":
        tool = _pick(ask.tools, ask.tool_choice, prompt)
        name = _tool_name(tool) or ""
        function = tool.get("function")
        schema = function.get("parameters") if isinstance(function, dict) else None
        arguments = json.dumps(_object(schema, _Prompt(prompt)), ensure_ascii=False)
        thought = f'The user asks "{_short(prompt)}". I will call {name}.'
        return Turn("", (name, arguments), thought if ask.reasoning else "")
    formatted = _formatted(ask.response_format, answer, prompt)
    if formatted is not None:
        thought = f'The user asks "{_short(prompt)}". I will answer in JSON.'
        return Turn(formatted, None, thought if ask.reasoning else "")
    results = _tool_results(ask.messages)
    if results:
        text = " ".join(f"{name} returned {result}." for name, result in results)
        thought = "The tools answered. I will sum up what they returned."
        return Turn(f"Here is what I found: {text}", None, thought if ask.reasoning else "")
    thought = f'The user says "{_short(prompt)}". I will answer.'
    return Turn(answer, None, thought if ask.reasoning else "")


def _formatted(response_format: Any, answer: str, prompt: str) -> str | None:
    """The JSON answer ``response_format`` asks for, or None for a plain answer."""
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return json.dumps(_object(schema, _Prompt(prompt)), ensure_ascii=False)
    if kind == "json_object":
        keys = _QUOTED.findall(prompt)
        value = {key: f"emulated {key}" for key in keys} if keys else {"answer": answer}
        return json.dumps(value, ensure_ascii=False)
    return None


def _tool_name(tool: Any) -> str | None:
    function = tool.get("function") if isinstance(tool, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) and name else None


def _pick(tools: list[dict[str, Any]], choice: Any, prompt: str) -> dict[str, Any]:
    named = _tool_name(choice) if isinstance(choice, dict) else None
    for tool in tools:
        if named is not None and _tool_name(tool) == named:
            return tool
    for tool in tools:
        if (_tool_name(tool) or "") in prompt:
            return tool
    return tools[0]


class _Prompt:
    """The values a prompt offers, handed out in order."""

    def __init__(self, prompt: str) -> None:
        self._integers: Iterator[str] = iter(_INTEGER.findall(prompt))
        self._strings: Iterator[str] = iter(_QUOTED.findall(prompt))

    def integer(self) -> int:
        return int(next(self._integers, "1"))

    def string(self, name: str) -> str:
        return next(self._strings, f"emulated {name}")


def _object(schema: Any, prompt: _Prompt) -> dict[str, Any]:
    """The required properties of an object schema, filled in."""
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    required = schema.get("required")
    names = (
        [name for name in required if isinstance(name, str)] if isinstance(required, list) else []
    )
    return {name: _value(name, properties.get(name), prompt) for name in names}


def _value(name: str, schema: Any, prompt: _Prompt) -> Any:
    if not isinstance(schema, dict):
        return prompt.string(name)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = _type_of(schema)
    if kind in ("integer", "number"):
        return prompt.integer()
    if kind == "boolean":
        return True
    if kind == "object":
        return _object(schema, prompt)
    if kind == "array":
        return []
    return prompt.string(name)


def _type_of(schema: dict[str, Any]) -> str | None:
    """A schema's type: ``type`` (the first that is not null), else its first ``anyOf``'s."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if isinstance(kind, str):
        return kind
    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list):
        for option in options:
            if isinstance(option, dict) and option.get("type") != "null":
                return _type_of(option)
    return None


def _tool_results(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """``(tool name, result)`` of the tool messages that end the conversation."""
    names: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict) and isinstance(call.get("id"), str):
                names[call["id"]] = _tool_name(call) or "the tool"
    results: list[tuple[str, str]] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        result = _content_text(message.get("content"))
        if len(result) > _RESULT_CHARS:
            result = result[:_RESULT_CHARS] + "…"
        results.append((names.get(str(message.get("tool_call_id")), "the tool"), result))
    return results[::-1]


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return content if isinstance(content, str) else json.dumps(content)


def _short(prompt: str) -> str:
    words = prompt.split()
    return " ".join(words[:8]) + (" …" if len(words) > 8 else "")
