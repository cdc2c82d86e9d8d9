"""An agent loop through chat_stream against the emulator, in every dialect it speaks:
question -> streamed tool call -> tool result -> streamed answer.

What the client assembles (``final().tool_calls``) must be exactly what the demo model
sent, which each test also reads straight off the wire; reasoning stays apart from the
answer; several choices come back from ``finals()``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from asyncsagemaker import SageMakerRuntime, ToolCall, ToolCallDelta
from asyncsagemaker.codecs import JSONLinesDecoder, SSEDecoder
from asyncsagemaker.emulator import Emulator, Invocation
from asyncsagemaker.emulator._demo_chat import DIALECTS
from asyncsagemaker.errors import FormatError, JSONLineError, ParamValidationError
from asyncsagemaker.formats import chat_body

pytestmark = pytest.mark.anyio

EmulatorFactory = Callable[..., Emulator]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city, for some days",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}
QUESTION = [{"role": "user", "content": "What will the weather be in 'Zürich' for 3 days?"}]


def client_for(emu: Emulator) -> SageMakerRuntime:
    return SageMakerRuntime(
        "us-east-1", endpoint_url=emu.url, aws_access_key_id="AKID", aws_secret_access_key="s"
    )


async def sent_arguments(client: SageMakerRuntime, messages: list[dict[str, Any]]) -> str:
    """The argument fragments the demo sends for this request, read off the wire."""
    body = chat_body(messages, tools=[WEATHER])
    async with client.invoke_endpoint_with_response_stream("demo", body=body) as stream:
        data = await stream.read()
    if data.lstrip().startswith(b"{"):  # LMI: JSON lines
        decoder: Any = JSONLinesDecoder()
        chunks = decoder.feed(data) + decoder.close()
    else:
        decoder = SSEDecoder()
        chunks = [event.json() for event in decoder.feed(data) + decoder.close()]
    return "".join(
        (fragment["function"].get("arguments") or "")
        for chunk in chunks
        if chunk.get("choices")
        for fragment in chunk["choices"][0]["delta"].get("tool_calls") or []
    )


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_agent_loop_in_every_dialect(start_emulator: EmulatorFactory, dialect: str) -> None:
    emu = start_emulator(token_delay=0, dialect=dialect)
    async with client_for(emu) as client:
        # 1. the question: the model calls the tool, its arguments streamed in fragments
        async with client.chat_stream("demo", QUESTION, tools=[WEATHER]) as stream:
            events = [event async for event in stream.events()]
            final = await stream.final()
        assert final.text == ""
        [call] = final.tool_calls
        assert call.name == "get_weather"
        assert call.parse_arguments() == {"city": "Zürich", "days": 3}
        assert call.arguments == await sent_arguments(client, QUESTION)  # exactly what was sent
        fragments = [delta for event in events for delta in event.tool_calls]
        assert len([d for d in fragments if d.arguments]) > 1
        assert all(isinstance(d, ToolCallDelta) and d.index == 0 for d in fragments)
        assert call.id is not None and call.id == next(d.id for d in fragments if d.id)
        # 2. the tool's result goes back; the model answers with it, streamed
        result = {"celsius": [21, 19, 23]}
        messages: list[dict[str, Any]] = [
            *QUESTION,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)},
        ]
        async with client.chat_stream("demo", messages, tools=[WEATHER]) as stream:
            tokens = [token async for token in stream.tokens()]
            answer = await stream.final()
    assert len(tokens) > 3 and "".join(tokens) == answer.text
    assert answer.text == f"Here is what I found: get_weather returned {json.dumps(result)}."
    assert answer.tool_calls == () and answer.finish_reason == "stop"
    assert answer.usage is not None and answer.usage.completion_tokens == len(tokens) + 1


@pytest.mark.parametrize("dialect", [d for d in DIALECTS if d != "tgi"])
async def test_reasoning_is_shown_apart_from_the_answer(
    start_emulator: EmulatorFactory, dialect: str
) -> None:
    emu = start_emulator(token_delay=0, dialect=dialect)
    async with client_for(emu) as client:
        async with client.chat_stream(
            "demo", QUESTION, tools=[WEATHER], reasoning_effort="low"
        ) as stream:
            tokens = [token async for token in stream.tokens()]
            final = await stream.final()
        whole = await client.chat("demo", QUESTION, tools=[WEATHER], reasoning_effort="low")
    assert tokens == []  # the reasoning is never answer text
    assert (
        final.reasoning == "The user asks \"What will the weather be in 'Zürich' for …\". "
        "I will call get_weather."
    )
    assert final.tool_calls[0].parse_arguments() == {"city": "Zürich", "days": 3}
    assert (whole.reasoning, whole.tool_calls) == (final.reasoning, final.tool_calls)
    assert whole.finish_reason == final.finish_reason == "tool_calls"


async def test_chat_whole_answer_has_the_call_and_sessions_take_the_same_keywords(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        whole = await client.chat("demo", QUESTION, tools=[WEATHER], tool_choice="required")
        async with client.session("demo") as session:
            in_session = await session.chat(QUESTION, tools=[WEATHER], parallel_tool_calls=False)
            async with session.chat_stream(QUESTION, tools=[WEATHER]) as stream:
                streamed = await stream.final()
    assert whole.tool_calls == in_session.tool_calls == streamed.tool_calls
    assert isinstance(whole.tool_calls[0], ToolCall)
    sent = [json.loads(record.body) for record in emu.records if record.endpoint_name == "demo"]
    assert sent[0]["tool_choice"] == "required" and "stream" not in sent[0]
    assert sent[-2]["parallel_tool_calls"] is False


async def test_the_agent_keywords_go_into_the_body_only_when_given(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        await client.chat("demo", QUESTION)
        await client.chat(
            "demo",
            QUESTION,
            tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            response_format={"type": "json_object"},
            reasoning_effort="high",
            extra_body={"chat_template_kwargs": {"enable_thinking": True}, "max_tokens": 50},
            max_tokens=5,
        )
    plain, agent = (json.loads(record.body) for record in emu.records)
    assert plain == {"messages": QUESTION}
    assert agent == {
        "messages": QUESTION,
        "max_tokens": 50,  # extra_body is merged last
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_object"},
        "reasoning_effort": "high",
        "chat_template_kwargs": {"enable_thinking": True},
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"messages": [*QUESTION, {"role": "assistant", "tool_calls": [{"id": "1"}]}]},
            r"messages\[1\]\.tool_calls\[0\]\.function must be a mapping",
        ),
        ({"tool_choice": "auto"}, "tool_choice needs tools"),
        ({"tools": [{"type": "function"}]}, r"tools\[0\]\.function must be a mapping"),
        ({"extra_body": ["x"]}, "extra_body must be a mapping"),
    ],
)
async def test_bad_agent_arguments_are_refused_before_sending(
    start_emulator: EmulatorFactory, kwargs: dict[str, Any], message: str
) -> None:
    emu = start_emulator(token_delay=0)
    messages = kwargs.pop("messages", QUESTION)
    async with client_for(emu) as client:
        with pytest.raises(ParamValidationError, match=message):
            await client.chat("demo", messages, **kwargs)
        with pytest.raises(ParamValidationError, match=message):
            async with client.chat_stream("demo", messages, **kwargs):
                pass
    assert len(emu.records) == 0


async def two_choices(inv: Invocation) -> bytes:
    """A vLLM-style stream with n=2: one choice per chunk, usage for both at the end."""

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "finish_reason": finish}
        return {"object": "chat.completion.chunk", "choices": [choice]}

    chunks = [
        chunk(0, {"role": "assistant", "content": ""}),
        chunk(1, {"role": "assistant", "content": ""}),
        chunk(1, {"reasoning": "hm"}),
        chunk(0, {"content": "Yes"}),
        chunk(1, {"content": "No"}),
        chunk(0, {}, "stop"),
        chunk(1, {}, "length"),
        {
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7},
        },
    ]
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + (
        b"data: [DONE]\n\n"
    )


async def test_finals_give_every_choice_and_tokens_stay_choice_0(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(models={"n2": two_choices})
    async with client_for(emu) as client:
        async with client.chat_stream("n2", QUESTION, n=2) as stream:
            tokens = [token async for token in stream.tokens()]
            finals = await stream.finals()
            final = await stream.final()
        async with client.chat_stream("n2", QUESTION, n=2) as stream:
            events = [event async for event in stream.events()]
    assert tokens == ["Yes"] and final.text == "Yes"
    first, second = finals
    assert first == final
    assert (second.index, second.text, second.reasoning, second.finish_reason) == (
        1,
        "No",
        "hm",
        "length",
    )
    assert first.usage == second.usage  # the usage-only chunk is the whole request's
    assert [e.choice for e in events if e.text or e.reasoning] == [1, 0, 1]


async def nested(inv: Invocation) -> bytes:
    return b'{"choices": ' + b"[" * 100_000 + b"\n"


async def test_a_deeply_nested_answer_is_a_format_error(start_emulator: EmulatorFactory) -> None:
    emu = start_emulator(models={"deep": nested})
    async with client_for(emu) as client:
        with pytest.raises(FormatError) as info:
            await client.chat("deep", QUESTION)
        assert info.value.request_id is not None
        async with client.chat_stream("deep", QUESTION) as stream:
            with pytest.raises(JSONLineError, match="nested too deeply"):
                await stream.final()  # the stream's view: a JSON line it cannot read
