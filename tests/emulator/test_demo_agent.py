"""The demo model speaks agent: tool calls, tool results, reasoning, in each server's dialect.

Seen from boto3, byte for byte: which tool it calls and with which arguments (the rules
agent frameworks' test suites need), that the arguments arrive in several fragments,
what each dialect puts where (docs/streaming-formats.md), and that the default dialect
stays valid OpenAI.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from asyncsagemaker.emulator import Emulator
from asyncsagemaker.emulator._demo_chat import DIALECTS
from tests.formats._openai_schema import assert_chat_chunk, assert_chat_completion

from ._support import boto3_client, stream_parts
from .test_demo import Start, sse

MAGIC = {
    "type": "function",
    "function": {
        "name": "magic_function",
        "description": "Applies a magic function to an input.",
        "parameters": {
            "type": "object",
            "properties": {"input": {"type": "integer", "exclusiveMinimum": -1000}},
            "required": ["input"],
        },
    },
}
NO_ARGS = {
    "type": "function",
    "function": {"name": "magic_function_no_args", "parameters": {"type": "object"}},
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def tool(name: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    parameters = {"type": "object", "properties": properties, "required": required}
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def client(start: Start) -> Any:
    return boto3_client(start(token_delay=0))


def whole(client: Any, body: dict[str, Any], dialect: str = "default") -> dict[str, Any]:
    answer = client.invoke_endpoint(
        EndpointName="demo", Body=json.dumps(body), CustomAttributes=f"dialect={dialect}"
    )
    result: dict[str, Any] = json.loads(answer["Body"].read())
    return result


def streamed(client: Any, body: dict[str, Any], dialect: str = "default") -> list[bytes]:
    body = {**body, "stream": True}
    return stream_parts(
        client, "demo", json.dumps(body).encode(), CustomAttributes=f"dialect={dialect}"
    )


def chunks_of(parts: list[bytes], dialect: str) -> list[dict[str, Any]]:
    """The chunks of a stream (SSE, or JSON lines for LMI), without the end marker."""
    if dialect == "lmi":
        assert parts[-1] == b"\n"  # [DONE] became an empty line
        return [json.loads(part) for part in parts[:-1]]
    events = sse(parts)
    assert events[-1] == "[DONE]"
    return events[:-1]


def call_of(answer: dict[str, Any]) -> tuple[str, Any]:
    [call] = answer["choices"][0]["message"]["tool_calls"]
    return call["function"]["name"], json.loads(call["function"]["arguments"])


# --- which tool, which arguments ---------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "tools", "tool_choice", "expected"),
    [
        (  # LangChain's test_tool_calling
            "What is the value of magic_function(3)? Use the tool.",
            [MAGIC],
            "required",
            ("magic_function", {"input": 3}),
        ),
        (
            "What is the value of magic_function(3)?",
            [MAGIC],
            None,
            ("magic_function", {"input": 3}),
        ),
        ("Call it.", [NO_ARGS], "required", ("magic_function_no_args", {})),
        (  # the tool named in the prompt, not the first
            "Hello! What is get_weather in 'Paris'?",
            [MAGIC, WEATHER],
            "auto",
            ("get_weather", {"location": "Paris"}),
        ),
        (  # tool_choice wins over the prompt
            "What is get_weather in 'Paris'?",
            [MAGIC, WEATHER],
            {"type": "function", "function": {"name": "magic_function"}},
            ("magic_function", {"input": 1}),
        ),
        (
            "Hello!",
            [WEATHER, MAGIC],
            "required",
            ("get_weather", {"location": "emulated location"}),
        ),
        (  # an apostrophe is not a quote; non-ASCII survives
            "What's the name? Create a customer named '你好啊集团' who 'likes tea'.",
            [
                tool(
                    "unicode_customer",
                    {"customer_name": {"type": "string"}, "description": {"type": "string"}},
                    ["customer_name", "description"],
                )
            ],
            "required",
            ("unicode_customer", {"customer_name": "你好啊集团", "description": "likes tea"}),
        ),
        (
            "Add 2 and -40, then 7.",
            [
                tool(
                    "add",
                    {
                        "a": {"type": "integer"},
                        "b": {"type": "number"},
                        "c": {"type": "integer"},
                        "d": {"type": "integer"},
                    },
                    ["a", "b", "c", "d"],
                )
            ],
            "required",
            ("add", {"a": 2, "b": -40, "c": 7, "d": 1}),
        ),
        (
            "Set it up.",
            [
                tool(
                    "setup",
                    {
                        "flag": {"type": "boolean"},
                        "mode": {"enum": ["fast", "slow"]},
                        "tags": {"type": "array"},
                        "maybe": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
                        "inner": {
                            "type": "object",
                            "properties": {"x": {"type": "integer"}},
                            "required": ["x"],
                        },
                        "optional": {"type": "string"},
                    },
                    ["flag", "mode", "tags", "maybe", "inner"],
                )
            ],
            "required",
            ("setup", {"flag": True, "mode": "fast", "tags": [], "maybe": 1, "inner": {"x": 1}}),
        ),
    ],
)
def test_which_tool_and_which_arguments(
    client: Any, prompt: str, tools: list[Any], tool_choice: Any, expected: tuple[str, Any]
) -> None:
    body: dict[str, Any] = {"messages": user(prompt), "tools": tools}
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    answer = whole(client, body)
    assert call_of(answer) == expected
    assert answer["choices"][0]["finish_reason"] == "tool_calls"
    assert answer["choices"][0]["message"]["content"] is None
    assert_chat_completion(answer)


def test_no_call_without_a_user_turn_to_answer_or_with_tool_choice_none(client: Any) -> None:
    answer = whole(
        client, {"messages": user("magic_function(3)"), "tools": [MAGIC], "tool_choice": "none"}
    )
    assert "tool_calls" not in answer["choices"][0]["message"]
    assert answer["choices"][0]["finish_reason"] == "stop"
    history = [*user("Hi"), {"role": "assistant", "content": "Hello"}]
    answer = whole(client, {"messages": history, "tools": [MAGIC]})
    assert "tool_calls" not in answer["choices"][0]["message"]


def test_after_tool_results_it_answers_with_them(client: Any) -> None:
    call = {
        "id": "call-1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
    }
    history = [
        *user("Weather in 'Paris'?"),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call-1", "content": '{"celsius": 21}'},
    ]
    answer = whole(client, {"messages": history, "tools": [WEATHER]})
    message = answer["choices"][0]["message"]
    assert message["content"] == 'Here is what I found: get_weather returned {"celsius": 21}.'
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert_chat_completion(answer)


JOKE = {
    "type": "object",
    "properties": {
        "setup": {"type": "string"},
        "punchline": {"type": "string"},
        "rating": {"type": "integer"},
        "note": {"type": "string"},
    },
    "required": ["setup", "punchline", "rating"],
}


@pytest.mark.parametrize(
    ("response_format", "prompt", "expected"),
    [
        (
            {"type": "json_schema", "json_schema": {"name": "Joke", "schema": JOKE}},
            "A joke about 'cats', 5 stars",
            {"setup": "cats", "punchline": "emulated punchline", "rating": 5},
        ),
        (
            {"type": "json_object"},
            "Return JSON with 'setup' and 'punchline' keys.",
            {"setup": "emulated setup", "punchline": "emulated punchline"},
        ),
    ],
)
def test_a_response_format_makes_the_answer_json(
    client: Any, response_format: dict[str, Any], prompt: str, expected: dict[str, Any]
) -> None:
    body = {"messages": user(prompt), "response_format": response_format}
    answer = whole(client, body)
    assert json.loads(answer["choices"][0]["message"]["content"]) == expected
    assert answer["choices"][0]["finish_reason"] == "stop"
    chunks = chunks_of(streamed(client, body), "default")
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert json.loads(text) == expected


def test_json_object_without_quoted_keys_wraps_the_plain_answer(client: Any) -> None:
    plain = whole(client, {"messages": user("Hi there")})["choices"][0]["message"]["content"]
    body = {"messages": user("Hi there"), "response_format": {"type": "json_object"}}
    answer = whole(client, body)["choices"][0]["message"]["content"]
    assert json.loads(answer) == {"answer": plain}


def test_tools_come_before_a_response_format(client: Any) -> None:
    body = {
        "messages": user("magic_function(3)"),
        "tools": [MAGIC],
        "response_format": {"type": "json_object"},
    }
    assert call_of(whole(client, body)) == ("magic_function", {"input": 3})


# --- the stream ------------------------------------------------------------------------


def test_default_stream_sends_the_arguments_in_fragments_and_stays_valid_openai(
    client: Any,
) -> None:
    body = {
        "messages": user("magic_function(3) please"),
        "tools": [MAGIC],
        "stream_options": {"include_usage": True},
    }
    chunks = chunks_of(streamed(client, body), "default")
    for chunk in chunks:
        assert_chat_chunk(chunk)
    fragments = [
        f for c in chunks if c["choices"] for f in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert len(fragments) >= 3  # the name, then several pieces of the arguments
    assert fragments[0]["function"] == {"name": "magic_function"}
    arguments = "".join(f["function"].get("arguments", "") for f in fragments)
    assert json.loads(arguments) == {"input": 3}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"
    assert [c for c in chunks if c.get("usage")] == [chunks[-1]]  # usage only at the end


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_dialect_sends_the_same_call_and_usage_only_at_the_end(
    client: Any, dialect: str
) -> None:
    body = {
        "messages": user("Weather in 'Oslo'?"),
        "tools": [WEATHER],
        "stream_options": {"include_usage": True},
    }
    chunks = chunks_of(streamed(client, body, dialect), dialect)
    fragments = [
        f for c in chunks if c["choices"] for f in c["choices"][0]["delta"].get("tool_calls") or []
    ]
    arguments = "".join(f["function"].get("arguments") or "" for f in fragments)
    assert json.loads(arguments) == {"location": "Oslo"}
    assert [f["function"].get("name") for f in fragments if f["function"].get("name")] == [
        "get_weather"
    ]
    with_usage = [c for c in chunks if c.get("usage")]
    assert with_usage == [chunks[-1]] and chunks[-1]["choices"] == []
    assert call_of(
        whole(client, {"messages": user("Weather in 'Oslo'?"), "tools": [WEATHER]}, dialect)
    ) == ("get_weather", {"location": "Oslo"})


def tool_fragments(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        f for c in chunks if c["choices"] for f in c["choices"][0]["delta"].get("tool_calls") or []
    ]


def test_dialect_shapes_of_a_tool_call(client: Any) -> None:
    body = {"messages": user("Weather in 'Oslo'?"), "tools": [WEATHER]}
    vllm = tool_fragments(chunks_of(streamed(client, body, "vllm"), "vllm"))
    assert "arguments" not in vllm[0]["function"] and vllm[0]["id"].startswith("chatcmpl-tool-")
    assert all(set(f) == {"index", "function"} for f in vllm[1:])
    sglang_chunks = chunks_of(streamed(client, body, "sglang"), "sglang")
    sglang = tool_fragments(sglang_chunks)
    assert sglang[0]["function"] == {"name": "get_weather", "arguments": ""}
    assert sglang[0]["id"].startswith("call_") and len(sglang[0]["id"]) == 29
    assert {f["id"] for f in sglang[1:]} == {None}
    assert all(c["usage"] is None for c in sglang_chunks)
    finish = sglang_chunks[-1]["choices"][0]
    assert finish["delta"] == {
        "role": None,
        "content": None,
        "reasoning_content": None,
        "tool_calls": None,
    }
    assert (finish["finish_reason"], finish["matched_stop"]) == ("tool_calls", 151645)
    tgi_chunks = chunks_of(streamed(client, body, "tgi"), "tgi")
    tgi = tool_fragments(tgi_chunks)
    assert {f["id"] for f in tgi} == {"0"} and tgi[0]["function"]["name"] == "get_weather"
    assert {c["choices"][0]["finish_reason"] for c in tgi_chunks} == {None}  # as TGI: none
    assert all(next(iter(c)) == "object" and c["id"] == "" for c in tgi_chunks)
    old = tool_fragments(chunks_of(streamed(client, body, "vllm-0.11"), "vllm-0.11"))
    assert old == vllm


def test_tgi_numbers_its_calls_after_the_history(client: Any) -> None:
    call = {"id": "4", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    history = [
        *user("a"),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "4", "content": "x"},
        *user("Weather in 'Oslo'?"),
    ]
    answer = whole(client, {"messages": history, "tools": [WEATHER]}, "tgi")
    assert answer["choices"][0]["message"]["tool_calls"][0]["id"] == "5"
    assert answer["choices"][0]["finish_reason"] == "stop"  # TGI never says tool_calls


# --- reasoning --------------------------------------------------------------------


REASONING_FIELDS = {
    "default": ["reasoning"],
    "vllm": ["reasoning"],
    "vllm-0.11": ["reasoning", "reasoning_content"],
    "vllm-0.10": ["reasoning_content"],
    "sglang": ["reasoning_content"],
    "lmi": ["reasoning"],
}


@pytest.mark.parametrize("dialect", sorted(REASONING_FIELDS))
@pytest.mark.parametrize(
    "ask", [{"reasoning_effort": "low"}, {"chat_template_kwargs": {"enable_thinking": True}}]
)
def test_reasoning_streams_before_the_answer_in_the_dialects_field(
    client: Any, dialect: str, ask: dict[str, Any]
) -> None:
    chunks = chunks_of(streamed(client, {"messages": user("Hi there"), **ask}, dialect), dialect)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    fields = REASONING_FIELDS[dialect]
    reasoning = [d for d in deltas if any(d.get(f) for f in fields)]
    assert reasoning, deltas
    for delta in reasoning:
        assert len({delta[f] for f in fields}) == 1  # vLLM 0.11-0.15: the same text twice
        assert not delta.get("content")
    text = "".join(delta[fields[0]] for delta in reasoning)
    assert text == 'The user says "Hi there". I will answer.'
    first_content = next(i for i, d in enumerate(deltas) if d.get("content"))
    assert deltas.index(reasoning[-1]) < first_content  # reasoning comes first
    answer = whole(client, {"messages": user("Hi there"), **ask}, dialect)
    message = answer["choices"][0]["message"]
    assert all(message[f] == text for f in fields)


def test_tgi_has_no_reasoning_field_the_thinking_is_text(client: Any) -> None:
    chunks = chunks_of(
        streamed(client, {"messages": user("Hi"), "reasoning_effort": "high"}, "tgi"), "tgi"
    )
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert content.startswith('<think>The user says "Hi". I will answer.</think>')


@pytest.mark.parametrize(
    "ask", [{}, {"reasoning_effort": "none"}, {"chat_template_kwargs": {"enable_thinking": False}}]
)
def test_no_reasoning_unless_asked(client: Any, ask: dict[str, Any]) -> None:
    for dialect in ("vllm", "sglang"):
        answer = whole(client, {"messages": user("Hi"), **ask}, dialect)
        message = answer["choices"][0]["message"]
        assert not message.get("reasoning") and not message.get("reasoning_content")


def test_a_token_limit_cuts_reasoning_and_arguments_alike(client: Any) -> None:
    body = {"messages": user("magic_function(3)"), "tools": [MAGIC], "reasoning_effort": "low"}
    answer = whole(client, {**body, "max_tokens": 3}, "vllm")
    message = answer["choices"][0]["message"]
    assert answer["choices"][0]["finish_reason"] == "length"
    assert message["tool_calls"] == [] and answer["usage"]["completion_tokens"] == 3
    answer = whole(client, {**body, "max_tokens": 10}, "vllm")  # 8 of reasoning, 2 pieces
    [call] = answer["choices"][0]["message"]["tool_calls"]
    assert answer["choices"][0]["finish_reason"] == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(call["function"]["arguments"])  # cut short, as a real server would


def test_the_same_agent_request_gives_the_same_bytes(client: Any) -> None:
    body = {"messages": user("magic_function(3)"), "tools": [MAGIC], "reasoning_effort": "low"}
    for dialect in DIALECTS:
        assert streamed(client, body, dialect) == streamed(client, body, dialect)


# --- the option ------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["sglang", "lmi"])
def test_the_emulator_option_sets_the_dialect(start: Start, dialect: str) -> None:
    emulator = start(token_delay=0, dialect=dialect)
    assert emulator.dialect == dialect
    client = boto3_client(emulator)
    body = {"messages": user("Weather in 'Oslo'?"), "tools": [WEATHER], "stream": True}
    response = client.invoke_endpoint_with_response_stream(
        EndpointName="demo", Body=json.dumps(body)
    )
    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    if dialect == "lmi":
        assert response["ContentType"] == "application/jsonlines"
        assert json.loads(parts[0])["object"] == "chat.completion.chunk"
        lmi = client.invoke_endpoint(EndpointName="demo", Body=b'{"inputs": "Hi"}')
        assert "generated_text" in json.loads(lmi["Body"].read())  # LMI's own schema
    else:
        assert b'"reasoning_content":null' in parts[0]


def test_an_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown dialect 'openai': use one of default, vllm"):
        Emulator(dialect="openai")


def test_a_chat_answer_names_the_model_the_request_named(client: Any) -> None:
    """What the chunks' ``model`` says (frameworks report it as the model's name)."""
    for dialect in DIALECTS:
        body = {
            "messages": user("Hi"),
            "model": "my-llama",
            "stream_options": {"include_usage": True},
        }
        chunks = chunks_of(streamed(client, body, dialect), dialect)
        assert {chunk["model"] for chunk in chunks} == {"my-llama"}
        assert whole(client, {"messages": user("Hi")}, dialect)["model"] == "demo"


def test_tgi_says_length_on_the_last_token_and_stop_on_the_end_token(client: Any) -> None:
    cut = chunks_of(streamed(client, {"messages": user("Hi"), "max_tokens": 2}, "tgi"), "tgi")
    assert [c["choices"][0]["finish_reason"] for c in cut] == [None, "length"]
    assert all(c["choices"][0]["delta"]["content"] for c in cut)
    ended = chunks_of(streamed(client, {"messages": user("Hi")}, "tgi"), "tgi")
    last = ended[-1]["choices"][0]
    assert (last["delta"], last["finish_reason"]) == ({"role": "assistant", "content": ""}, "stop")
