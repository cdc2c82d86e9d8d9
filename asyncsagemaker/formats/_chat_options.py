"""The options of a chat body, checked: sampling, and what agents add (tools, formats,
reasoning).  Each returns the body's entries for what was given, nothing for ``None``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ParamValidationError

__all__ = ["agent_entries", "chat_options", "sampling_entries"]

_TOOL_CHOICES = ("none", "auto", "required")


def chat_options(
    max_tokens: Any,
    temperature: Any,
    top_p: Any,
    stop: Any,
    tools: Any,
    tool_choice: Any,
    parallel_tool_calls: Any,
    response_format: Any,
    reasoning_effort: Any,
    extra_body: Any,
) -> dict[str, Any]:
    """The keywords a chat body takes besides messages and model parameters, by name
    (``None``: not given), as ``built_chat_body`` reads them."""
    return {
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "stop": stop,
        "tools": tools,
        "tool_choice": tool_choice,
        "parallel_tool_calls": parallel_tool_calls,
        "response_format": response_format,
        "reasoning_effort": reasoning_effort,
        "extra_body": extra_body,
    }


def sampling_entries(max_tokens: Any, temperature: Any, top_p: Any, stop: Any) -> dict[str, Any]:
    checks = (
        ("max_tokens", max_tokens, _checked_max_tokens),
        ("temperature", temperature, _checked_temperature),
        ("top_p", top_p, _checked_top_p),
        ("stop", stop, _checked_stop),
    )
    return {name: check(value) for name, value, check in checks if value is not None}


def _checked_max_tokens(value: Any) -> int:
    if type(value) is not int or value < 1:
        raise ParamValidationError(f"max_tokens must be a positive int, not {value!r}")
    return value


def _checked_temperature(value: Any) -> Any:
    if not _is_number(value) or not 0 <= value < float("inf"):
        raise ParamValidationError(f"temperature must be a number >= 0, not {value!r}")
    return value  # as given: 0 stays 0 in the body


def _checked_top_p(value: Any) -> Any:
    if not _is_number(value) or not 0 < value <= 1:
        raise ParamValidationError(f"top_p must be a number in (0, 1], not {value!r}")
    return value


def agent_entries(
    tools: Any,
    tool_choice: Any,
    parallel_tool_calls: Any,
    response_format: Any,
    reasoning_effort: Any,
) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    if tools is not None:
        entries["tools"] = _checked_tools(tools)
    if tool_choice is not None:
        entries["tool_choice"] = _checked_tool_choice(tool_choice, entries.get("tools"))
    if parallel_tool_calls is not None:
        if not isinstance(parallel_tool_calls, bool):
            raise ParamValidationError(
                f"parallel_tool_calls must be True or False, not {parallel_tool_calls!r}"
            )
        entries["parallel_tool_calls"] = parallel_tool_calls
    if response_format is not None:
        entries["response_format"] = _checked_response_format(response_format)
    if reasoning_effort is not None:
        if not isinstance(reasoning_effort, str) or not reasoning_effort:
            raise ParamValidationError(
                "reasoning_effort must be a string ('low', 'medium', 'high'...), "
                f"not {reasoning_effort!r}"
            )
        entries["reasoning_effort"] = reasoning_effort
    return entries


def _checked_tools(tools: Any) -> list[dict[str, Any]]:
    """``[{"type": "function", "function": {"name", "description"?, "parameters"?}}]``."""
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise ParamValidationError(
            "tools must be a list of {'type': 'function', 'function': {...}} mappings, "
            f"not {type(tools).__name__}"
        )
    if not tools:
        raise ParamValidationError("tools must not be empty: leave it out for no tools")
    return [_checked_tool(f"tools[{index}]", tool) for index, tool in enumerate(tools)]


def _checked_tool(where: str, tool: Any) -> dict[str, Any]:
    if not isinstance(tool, Mapping) or tool.get("type") != "function":
        raise ParamValidationError(
            f"{where} must be a mapping with 'type': 'function' and a 'function': {tool!r}"
        )
    function = tool.get("function")
    if not isinstance(function, Mapping):
        raise ParamValidationError(f"{where}.function must be a mapping: {tool!r}")
    if not isinstance(function.get("name"), str) or not function["name"]:
        raise ParamValidationError(f"{where}.function.name must be a non-empty string: {tool!r}")
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise ParamValidationError(
            f"{where}.function.parameters must be a JSON Schema object (a mapping): {tool!r}"
        )
    return dict(tool)


def _checked_tool_choice(choice: Any, tools: list[dict[str, Any]] | None) -> Any:
    """``"none"``, ``"auto"``, ``"required"`` or ``{"type": "function", "function": {"name"}}``
    naming one of ``tools``."""
    if tools is None:
        raise ParamValidationError("tool_choice needs tools: pass tools= as well")
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise ParamValidationError(
                f"tool_choice must be 'none', 'auto', 'required' or "
                f"{{'type': 'function', 'function': {{'name': ...}}}}, not {choice!r}"
            )
        return choice
    function = choice.get("function") if isinstance(choice, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(name, str) or choice.get("type") != "function":
        raise ParamValidationError(
            f"tool_choice must be 'none', 'auto', 'required' or "
            f"{{'type': 'function', 'function': {{'name': ...}}}}, not {choice!r}"
        )
    names = [tool["function"]["name"] for tool in tools]
    if name not in names:
        raise ParamValidationError(
            f"tool_choice names the function {name!r}, which is not among the tools {names}"
        )
    return dict(choice)


def _checked_response_format(value: Any) -> dict[str, Any]:
    """``{"type": "text" | "json_object" | "json_schema", ...}`` (servers add their own)."""
    if not isinstance(value, Mapping) or not isinstance(value.get("type"), str):
        raise ParamValidationError(
            "response_format must be a mapping with a 'type' ('text', 'json_object', "
            f"'json_schema'...), not {value!r}"
        )
    if value["type"] == "json_schema" and not isinstance(value.get("json_schema"), Mapping):
        raise ParamValidationError(
            f"response_format of type 'json_schema' needs a 'json_schema' mapping: {value!r}"
        )
    return dict(value)


def _checked_stop(stop: Any) -> str | list[str]:
    if isinstance(stop, str):
        return stop
    if isinstance(stop, Sequence) and all(isinstance(item, str) for item in stop):
        return list(stop)
    raise ParamValidationError(f"stop must be a string or a list of strings, not {stop!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
