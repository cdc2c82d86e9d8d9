"""Tool calls: the fragments servers stream, and the whole calls assembled from them.

OpenAI-style servers stream a tool call as fragments in ``delta.tool_calls``: the
first names the call (``id``, ``function.name``), the rest carry pieces of its JSON
arguments, each tagged with the call's ``index``.  The servers differ in the details
(docs/streaming-formats.md has the table and its sources):

* vLLM sends ``id`` and name on the first fragment only, no ``arguments`` key there;
* SGLang sends every key, ``null`` where unused, and ``"arguments": ""`` first;
* TGI 3.2+ repeats the same ``id`` (``"0"``) on every fragment;
* TGI up to 3.1 sends ``tool_calls`` as one object instead of a list, ``id: ""``,
  never a name, and arguments wrapped as ``{"function": {"_name": NAME, ...}}``
  followed by the end-of-turn token's text;
* SGLang up to 0.4 sends no ``index`` but the call's number as its ``id``.

So calls are assembled by index, keeping the first non-empty id and name and joining
the argument fragments in order; a fragment without an index belongs to the call its
id names (a new id starts the next call), else to the last call.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ..errors import FormatError
from ._records import _preview

__all__ = ["ToolCall", "ToolCallDelta", "ToolCalls", "message_tool_calls", "tool_call_deltas"]


@dataclasses.dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """One streamed fragment of a tool call, as the server sent it.

    ``index`` says which call of the choice it belongs to; ``id`` and ``name`` are
    ``None`` when the fragment does not carry them (an empty string counts as not
    carried); ``arguments`` is the raw piece of JSON text, ``""`` when none.
    """

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclasses.dataclass(frozen=True, slots=True)
class ToolCall:
    """A whole tool call: its id and function name (``None`` if the server sent none) and
    ``arguments``, the complete JSON text (the fragments joined in order)."""

    id: str | None
    name: str | None
    arguments: str

    def parse_arguments(self) -> Any:
        """The arguments as a Python value.

        Empty arguments (``""``, which servers send for a call without parameters) are
        ``{}``.  Text that is not JSON raises :class:`FormatError` naming the call.
        """
        text = self.arguments
        if not text.strip():
            return {}
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise FormatError(
                f"the arguments of tool call {self.name!r} (id {self.id!r}) are not "
                f"valid JSON ({reason}): {_preview(text)}"
            ) from None


def tool_call_deltas(value: Any, ids: dict[str, int]) -> tuple[ToolCallDelta, ...]:
    """The fragments in a delta's ``tool_calls`` (a list, or TGI 3.1's single object).

    ``ids`` maps the ids seen in this choice to their index, for fragments that carry
    no index; it is updated.
    """
    fragments = [value] if isinstance(value, dict) else value
    if not isinstance(fragments, list):
        raise FormatError(f"'tool_calls' must be a list of objects: {_preview(value)}")
    return tuple(_delta(fragment, ids) for fragment in fragments)


def _delta(fragment: Any, ids: dict[str, int]) -> ToolCallDelta:
    if not isinstance(fragment, dict):
        raise FormatError(f"a 'tool_calls' entry must be an object: {_preview(fragment)}")
    call_id = _text(fragment.get("id"))
    function = fragment.get("function")
    if not isinstance(function, dict):
        function = {}
    index = fragment.get("index")
    if type(index) is not int or index < 0:
        index = _index_by_id(call_id, ids)
    elif call_id is not None:
        ids.setdefault(call_id, index)
    return ToolCallDelta(index, call_id, _text(function.get("name")), _arguments(function))


def _index_by_id(call_id: str | None, ids: dict[str, int]) -> int:
    """The index of a fragment that has none: its id's call, a new call, or the last."""
    last = max(ids.values(), default=-1)
    if call_id is None:
        return max(last, 0)
    if call_id not in ids:
        ids[call_id] = last + 1
    return ids[call_id]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _arguments(function: dict[str, Any]) -> str:
    """A fragment's arguments: text as sent; an object (TGI 3.1's whole answers) as JSON."""
    arguments = function.get("arguments")
    if arguments is None or isinstance(arguments, str):
        return arguments or ""
    return json.dumps(arguments, ensure_ascii=False)


class ToolCalls:
    """Assembles the tool calls of one choice from its fragments, in arrival order."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, tuple[list[str | None], list[str]]] = {}

    def add(self, deltas: tuple[ToolCallDelta, ...]) -> None:
        for delta in deltas:
            call = self._calls.get(delta.index)
            if call is None:
                call = self._calls[delta.index] = ([None, None], [])
            names, arguments = call
            if names[0] is None:
                names[0] = delta.id
            if names[1] is None:
                names[1] = delta.name
            if delta.arguments:
                arguments.append(delta.arguments)

    def result(self) -> tuple[ToolCall, ...]:
        """The calls so far, in index order."""
        return tuple(
            _unwrapped(ToolCall(names[0], names[1], "".join(arguments)))
            for _, (names, arguments) in sorted(self._calls.items())
        )


def message_tool_calls(value: Any) -> tuple[ToolCall, ...]:
    """The calls of a whole answer's ``message.tool_calls``: each entry is a whole call."""
    if value is None:
        return ()
    entries = [value] if isinstance(value, dict) else value
    if not isinstance(entries, list):
        raise FormatError(f"'tool_calls' must be a list of objects: {_preview(value)}")
    deltas = [_delta(entry, {}) for entry in entries]
    return tuple(_unwrapped(ToolCall(d.id, d.name, d.arguments)) for d in deltas)


def _unwrapped(call: ToolCall) -> ToolCall:
    """TGI 3.1's unnamed call ``{"function": {"_name": NAME, ...}}<|eot_id|>`` as NAME and
    the other keys; any other call as it is."""
    if call.name is not None:
        return call
    try:
        value, _ = json.JSONDecoder().raw_decode(call.arguments.lstrip())
    except (ValueError, RecursionError):
        return call
    inner = value.get("function") if isinstance(value, dict) and len(value) == 1 else None
    if not isinstance(inner, dict) or not isinstance(inner.get("_name"), str):
        return call
    arguments = {key: item for key, item in inner.items() if key != "_name"}
    return ToolCall(call.id, inner["_name"], json.dumps(arguments, ensure_ascii=False))
