"""No content by default; chat messages, in the conventions' shape, only when asked for."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import asyncsagemaker
from asyncsagemaker.emulator import Emulator, Faults, Invocation
from asyncsagemaker.emulator._demo import demo_answer
from tests.observability._support import AKID, SECRET, Otel, attributes, check_messages, every_value

pytestmark = pytest.mark.anyio

EmulatorFactory = Callable[..., Emulator]
SECRET_PROMPT = "my card number is 4111 1111 1111 1111"
SYSTEM = "You answer in riddles"
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": [{"type": "text", "text": SECRET_PROMPT}]},
]


async def run_everything(client: asyncsagemaker.SageMakerRuntime) -> list[str]:
    """Every kind of call with the secret prompt; what the model answered."""
    answers = []
    async with client.chat_stream("demo", MESSAGES, max_tokens=50) as stream:
        answers.append(await stream.final_text())
    answers.append((await client.chat("demo", MESSAGES, max_tokens=50)).text)
    body = {"inputs": SECRET_PROMPT, "parameters": {"max_new_tokens": 50}}
    async with client.invoke_endpoint_with_response_stream("demo", body=body) as stream:
        answers.append(await stream.final_text())
    answers.append((await client.invoke_endpoint("demo", body=body)).body.decode())
    return answers


async def test_nothing_of_the_bodies_or_credentials_is_recorded_by_default(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(token_delay=0)
    async with otel.client(emu) as client:
        answers = await run_everything(client)
    texts = list(every_value(otel))
    assert len(otel.call_spans()) == 4
    pieces = [SECRET_PROMPT, "4111", SYSTEM, AKID, SECRET, "Authorization", "riddles"]
    pieces += [word for answer in answers for word in answer.split() if len(word) > 6]
    for text in texts:
        for piece in pieces:
            assert piece not in text
    for span in otel.spans():
        assert not any(
            key.startswith(("gen_ai.input", "gen_ai.output")) for key in span.attributes or {}
        )


async def test_an_error_message_is_not_recorded_by_default(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    async def echoing_error(inv: Invocation) -> AsyncIterator[bytes]:
        text = json.loads(inv.body)["inputs"]
        yield json.dumps({"error": f"cannot answer {text!r}", "error_type": "validation"}).encode()

    emu = start_emulator(models={"m": echoing_error})
    async with otel.client(emu) as client:
        async with client.invoke_endpoint_with_response_stream(
            "m", body={"inputs": SECRET_PROMPT}
        ) as stream:
            with pytest.raises(asyncsagemaker.ModelOutputError) as caught:
                async for _ in stream.events("tgi"):
                    pass
    assert SECRET_PROMPT in str(caught.value)  # the message quotes the prompt...
    span = otel.call_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is None  # ...so it stays out of the span
    assert all(SECRET_PROMPT not in text for text in every_value(otel))


@pytest.mark.parametrize("how", ["argument", "environment"])
async def test_capture_records_chat_messages_in_the_conventions_schema(
    start_emulator: EmulatorFactory, otel: Otel, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    emu = start_emulator(token_delay=0)
    if how == "environment":
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
        options: dict[str, Any] = {}
    else:
        options = {"capture_content": True}
    async with otel.client(emu, **options) as client:
        async with client.chat_stream("demo", MESSAGES, max_tokens=5) as stream:
            streamed = await stream.final()
        whole = await client.chat("demo", MESSAGES)
    for span, generation in zip(otel.call_spans(), (streamed, whole), strict=True):
        found = attributes(span)
        inputs = check_messages(found["gen_ai.input.messages"], "input-messages.schema.json")
        assert inputs == [
            {"role": "system", "parts": [{"type": "text", "content": SYSTEM}]},
            {"role": "user", "parts": [{"type": "text", "content": SECRET_PROMPT}]},
        ]
        outputs = check_messages(found["gen_ai.output.messages"], "output-messages.schema.json")
        assert outputs == [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": generation.text}],
                "finish_reason": generation.finish_reason,
            }
        ]
    assert whole.text == demo_answer(SECRET_PROMPT)


async def test_capture_false_wins_over_the_environment(
    start_emulator: EmulatorFactory, otel: Otel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    emu = start_emulator(token_delay=0)
    async with otel.client(emu, capture_content=False) as client:
        await client.chat("demo", MESSAGES)
    assert "gen_ai.input.messages" not in attributes(otel.call_span())


async def test_captured_tool_messages_keep_their_calls_and_results(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(token_delay=0)
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call-1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call-1", "content": "rainy"},
    ]
    async with otel.client(emu, capture_content=True) as client:
        await client.chat("demo", messages)
    found = attributes(otel.call_span())
    inputs = check_messages(found["gen_ai.input.messages"], "input-messages.schema.json")
    assert inputs[1] == {
        "role": "assistant",
        "parts": [
            {
                "type": "tool_call",
                "id": "call-1",
                "name": "weather",
                "arguments": '{"city": "Paris"}',
            }
        ],
    }
    assert inputs[2] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "call-1", "response": "rainy"}],
    }


async def test_capture_puts_the_error_message_in_the_status_and_the_text_read_so_far(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(token_delay=0, faults={"demo": Faults(stream_error_after=3)})
    async with otel.client(emu, capture_content=True) as client:
        async with client.chat_stream("demo", MESSAGES, max_tokens=30) as stream:
            with pytest.raises(asyncsagemaker.ModelStreamError) as caught:
                async for _ in stream.tokens():
                    pass
    span = otel.call_span()
    assert span.status.description == str(caught.value)
    (output,) = check_messages(
        attributes(span)["gen_ai.output.messages"], "output-messages.schema.json"
    )
    assert output["finish_reason"] == "error"
    assert output["parts"][0]["content"]  # what came before the fault


async def test_raw_bodies_are_not_captured_even_when_asked(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(token_delay=0)
    async with otel.client(emu, capture_content=True) as client:
        await client.invoke_endpoint("echo", body=SECRET_PROMPT.encode())
    assert all(SECRET_PROMPT not in text for text in every_value(otel))


async def test_request_attributes_and_captured_parts_of_every_shape(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(token_delay=0)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    messages: list[dict[str, Any]] = [
        {"role": "user", "name": "ada", "content": [{"type": "text", "text": "Look"}, image]}
    ]
    async with otel.client(emu, capture_content=True) as client:
        await client.chat(
            "demo", messages, stop="END", n=2, top_k=40, presence_penalty=0.5, seed=True
        )
    found = attributes(otel.call_span())
    assert found["gen_ai.request.stop_sequences"] == ("END",)
    assert found["gen_ai.request.choice.count"] == 2
    assert found["gen_ai.request.top_k"] == 40.0
    assert found["gen_ai.request.presence_penalty"] == 0.5
    assert "gen_ai.request.seed" not in found  # a bool is no seed
    inputs = check_messages(found["gen_ai.input.messages"], "input-messages.schema.json")
    assert inputs == [
        {"role": "user", "name": "ada", "parts": [{"type": "text", "content": "Look"}, image]}
    ]
