"""chat_body in an agent loop: tools, tool results, content parts, reasoning, extra_body.

Whatever a server would refuse is refused before sending, with a ParamValidationError
naming the message index (or the argument) and the field.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from asyncsagemaker.errors import ParamValidationError
from asyncsagemaker.formats import chat_body

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CALL = {
    "id": "call-1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
#: What an agent sends back after a tool call: the model's message, then the tool's result.
HISTORY: list[dict[str, Any]] = [
    {"role": "system", "content": "Use the tools."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Weather in 'Paris'?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ],
    },
    {"role": "assistant", "tool_calls": [CALL]},  # content left out
    {"role": "tool", "tool_call_id": "call-1", "content": '{"celsius": 21}'},
    {"role": "assistant", "content": None, "tool_calls": [CALL], "name": "bot"},
    {"role": "tool", "tool_call_id": "call-1", "content": [{"type": "text", "text": "21"}]},
]


def test_an_agent_history_with_every_option() -> None:
    body = chat_body(
        HISTORY,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        reasoning_effort="low",
        max_tokens=64,
    )
    assert body == {
        "messages": HISTORY,
        "max_tokens": 64,
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        "reasoning_effort": "low",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert "content" not in body["messages"][2]  # left out as given, not invented
    assert body["messages"][2] is not HISTORY[2]
    assert json.loads(json.dumps(body)) == body


def test_options_are_sent_only_when_given() -> None:
    one = [{"role": "user", "content": "Hi"}]
    assert chat_body(one, stream=False) == {"messages": one}
    assert chat_body(one, tools=[WEATHER], stream=False) == {"messages": one, "tools": [WEATHER]}
    for choice in ("none", "auto", "required"):
        assert chat_body(one, tools=[WEATHER], tool_choice=choice)["tool_choice"] == choice


def test_extra_body_is_merged_last_over_everything() -> None:
    one = [{"role": "user", "content": "Hi"}]
    body = chat_body(
        one,
        max_tokens=8,
        seed=1,
        extra_body={"max_tokens": 16, "chat_template_kwargs": {"enable_thinking": True}},
    )
    assert body["max_tokens"] == 16
    assert body["chat_template_kwargs"] == {"enable_thinking": True}
    assert body["seed"] == 1
    assert chat_body(one, stream=False, extra_body={"stream": False}) == {
        "messages": one,
        "stream": False,
    }


def refused(messages: Any = None, **kwargs: Any) -> str:
    with pytest.raises(ParamValidationError) as info:
        chat_body(messages or [{"role": "user", "content": "Hi"}], **kwargs)
    assert isinstance(info.value, ValueError)
    return str(info.value)


def with_call(**changes: Any) -> list[dict[str, Any]]:
    call: dict[str, Any] = {**CALL, **changes}
    return [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
    ]


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (
            with_call(function={"name": "f", "arguments": {"city": "Paris"}}),
            r"messages\[1\]\.tool_calls\[0\]\.function\.arguments must be the arguments' JSON "
            r"text \(a string\), not dict",
        ),
        (
            with_call(function={"name": "", "arguments": "{}"}),
            r"messages\[1\]\.tool_calls\[0\]\.function\.name must be a non-empty string",
        ),
        (
            with_call(function="get_weather"),
            r"messages\[1\]\.tool_calls\[0\]\.function must be a mapping",
        ),
        (with_call(id=None), r"messages\[1\]\.tool_calls\[0\]\.id: a tool call needs its id"),
        (with_call(type="code"), r"messages\[1\]\.tool_calls\[0\]\.type must be 'function'"),
        (
            [{"role": "assistant", "tool_calls": ["x"]}],
            r"messages\[0\]\.tool_calls\[0\] must be a mapping",
        ),
        (
            [{"role": "assistant", "tool_calls": CALL}],
            r"messages\[0\]\.tool_calls must be a list of calls, not dict",
        ),
        (
            [{"role": "user", "content": "Hi", "tool_calls": [CALL]}],
            r"messages\[0\]\.tool_calls: only an assistant message has tool calls \(role 'user'\)",
        ),
        (
            [{"role": "user", "content": "Hi"}, {"role": "tool", "content": "21"}],
            r"messages\[1\]\.tool_call_id: a tool message needs the id of the call it answers",
        ),
        ([{"role": "tool", "content": "21", "tool_call_id": 7}], r"messages\[0\]\.tool_call_id"),
        ([{"role": "assistant"}], r"messages\[0\] needs a 'content'"),
        (
            [{"role": "assistant", "content": None, "tool_calls": []}],
            r"messages\[0\] has no content",
        ),
        ([{"role": "tool", "tool_call_id": "c"}], r"messages\[0\] needs a 'content'"),
        (
            [{"role": "user", "content": [{"type": "text", "text": "a"}, "b"]}],
            r"messages\[0\]\.content\[1\] must be a content part",
        ),
        (
            [{"role": "user", "content": [{"text": "a"}]}],
            r"messages\[0\]\.content\[0\] must be a content part, a mapping with a 'type'",
        ),
        (
            [{"role": "user", "content": [{"type": "text", "text": None}]}],
            r"messages\[0\]\.content\[0\]\.text: a text part needs a 'text' string",
        ),
        ([{"role": "user", "content": "Hi", "name": 3}], r"messages\[0\]\.name must be a string"),
    ],
)
def test_bad_messages_are_refused_naming_index_and_field(messages: Any, message: str) -> None:
    assert re.search(message, refused(messages)), refused(messages)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tools": WEATHER}, "tools must be a list of"),
        ({"tools": []}, "tools must not be empty"),
        ({"tools": [{"type": "code"}]}, r"tools\[0\] must be a mapping with 'type': 'function'"),
        ({"tools": [WEATHER, {"type": "function"}]}, r"tools\[1\]\.function must be a mapping"),
        ({"tools": [{"type": "function", "function": {}}]}, r"tools\[0\]\.function\.name"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}]},
            r"tools\[0\]\.function\.parameters must be a JSON Schema object",
        ),
        ({"tool_choice": "auto"}, "tool_choice needs tools"),
        ({"tools": [WEATHER], "tool_choice": "any"}, "tool_choice must be 'none', 'auto'"),
        ({"tools": [WEATHER], "tool_choice": {"name": "get_weather"}}, "tool_choice must be"),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "x"}}},
            r"tool_choice names the function 'x', which is not among the tools \['get_weather'\]",
        ),
        ({"parallel_tool_calls": "yes"}, "parallel_tool_calls must be True or False"),
        ({"response_format": "json"}, "response_format must be a mapping with a 'type'"),
        ({"response_format": {"type": "json_schema"}}, "needs a 'json_schema' mapping"),
        ({"reasoning_effort": 3}, "reasoning_effort must be a string"),
        ({"reasoning_effort": ""}, "reasoning_effort must be a string"),
        ({"extra_body": "x"}, "extra_body must be a mapping"),
        ({"extra_body": {"x": float("nan")}}, "the chat body is not JSON"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, Any], message: str) -> None:
    assert re.search(message, refused(**kwargs)), refused(**kwargs)
