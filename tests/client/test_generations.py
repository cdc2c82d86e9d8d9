"""From tokens to generations, end to end: events, final() after every view, the chat calls."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import asyncsagemaker
from asyncsagemaker import Config, SageMakerRuntime
from asyncsagemaker.emulator import Emulator, Faults, Invocation
from asyncsagemaker.emulator._demo import demo_answer
from tests.formats._openai_schema import assert_chat_chunk, assert_chat_completion

pytestmark = pytest.mark.anyio

EmulatorFactory = Callable[..., Emulator]
PROMPT = "Tell me about Zürich"
MESSAGES = [{"role": "user", "content": PROMPT}]


def client_for(emu: Emulator, **config: Any) -> SageMakerRuntime:
    return SageMakerRuntime(
        "us-east-1",
        endpoint_url=emu.url,
        aws_access_key_id="AKIDGEN",
        aws_secret_access_key="secret",
        config=Config(backoff_base=0.01, **config),
    )


def tgi(max_new_tokens: int, details: bool = True) -> dict[str, Any]:
    """A TGI body; TGI sends the finish reason (in ``details``) only when asked."""
    parameters = {"max_new_tokens": max_new_tokens, "details": details}
    return {"inputs": PROMPT, "parameters": parameters}


def full_words() -> list[str]:
    return demo_answer(PROMPT).split()


async def test_events_carry_what_tgi_sends_and_a_cut_answer_says_length(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        async with client.invoke_endpoint_with_response_stream("demo", body=tgi(5)) as stream:
            events = [event async for event in stream.events()]
    assert [e.text.strip() for e in events] == full_words()[:5]
    assert all(e.token_id is not None and e.logprob is not None for e in events)
    assert not any(e.special for e in events)
    assert events[-1].finish_reason == "length"
    assert all(e.finish_reason is None for e in events[:-1])


async def test_no_finish_reason_or_usage_is_invented_when_the_server_sends_none(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        body = tgi(5, details=False)
        async with client.invoke_endpoint_with_response_stream("demo", body=body) as stream:
            generation = await stream.final()
    assert generation.text.split() == full_words()[:5]
    assert generation.finish_reason is None and generation.usage is None


async def test_a_whole_tgi_answer_ends_with_its_special_token_and_stop(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        async with client.invoke_endpoint_with_response_stream("demo", body=tgi(500)) as stream:
            generation = await stream.final()
    assert generation.text.split() == full_words()
    assert generation.events[-1].special
    assert generation.finish_reason == "stop"
    assert generation.raw_finish_reason == "eos_token"
    assert "</s>" not in generation.text
    assert generation.request_id == stream.request_id is not None
    assert generation.stats is not None and generation.stats.parts == len(generation.events)


VIEWS: list[tuple[str, Callable[[Any], AsyncIterator[Any]]]] = [
    ("parts", lambda stream: stream.__aiter__()),
    ("text", lambda stream: stream.text()),
    ("lines", lambda stream: stream.lines()),
    ("sse", lambda stream: stream.sse()),
    ("tokens", lambda stream: stream.tokens()),
    ("events", lambda stream: stream.events()),
]


@pytest.mark.parametrize(("name", "view"), VIEWS, ids=[name for name, _ in VIEWS])
async def test_final_after_every_view_read_to_the_end(
    start_emulator: EmulatorFactory, name: str, view: Callable[[Any], AsyncIterator[Any]]
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        async with client.chat_stream("demo", MESSAGES, max_tokens=6) as stream:
            async for _ in view(stream):
                pass
            generation = await stream.final()
    assert generation.text.split() == full_words()[:6]
    assert generation.finish_reason == "length"
    assert generation.usage is not None
    assert generation.usage.completion_tokens == 6


@pytest.mark.parametrize(("name", "view"), VIEWS, ids=[name for name, _ in VIEWS])
async def test_final_after_an_early_break_is_what_was_read_without_a_finish_reason(
    start_emulator: EmulatorFactory, name: str, view: Callable[[Any], AsyncIterator[Any]]
) -> None:
    emu = start_emulator(token_delay=0.01)
    async with client_for(emu) as client:
        async with client.invoke_endpoint_with_response_stream("demo", body=tgi(50)) as stream:
            read = 0
            async for _ in view(stream):
                read += 1
                if read == 3:
                    break
            generation = await stream.final()
    assert generation.finish_reason is None
    assert stream.closed
    words = generation.text.split()
    assert 0 < len(words) < len(full_words())
    assert words == full_words()[: len(words)]
    assert await stream.final_text() == generation.text  # asked again: the same


async def test_final_without_any_view_reads_the_rest_as_events(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        async with client.invoke_endpoint_with_response_stream("demo", body=tgi(8)) as stream:
            text = await stream.final_text()
            await stream.until_done()  # already done: returns at once
    assert text.split() == full_words()[:8]
    assert emu.records[-1].outcome == "ok"


async def test_final_after_part_of_a_view_reads_the_rest_through_it(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        async with client.invoke_endpoint_with_response_stream("demo", body=tgi(8)) as stream:
            tokens = stream.tokens()
            first = await tokens.__anext__()
            generation = await stream.final()
    assert generation.text.startswith(first)
    assert generation.text.split() == full_words()[:8]
    assert generation.finish_reason == "length"


async def test_chat_stream_sends_an_openai_body_and_passes_call_keywords_through(
    start_emulator: EmulatorFactory,
) -> None:
    seen: list[Invocation] = []
    emu = start_emulator(token_delay=0)
    demo = emu._models["demo"]  # the built-in model, behind a recorder

    async def recording(inv: Invocation) -> Any:
        seen.append(inv)
        return await demo(inv)  # type: ignore[misc]

    emu._models["demo"] = recording
    async with client_for(emu) as client:
        call = client.chat_stream(
            "demo",
            MESSAGES,
            max_tokens=4,
            temperature=0.5,
            seed=7,
            inference_component_name="ic-1",
            custom_attributes="trace=1",
        )
        async with call as stream:
            tokens = [token async for token in stream.tokens()]
            assert stream.format == "openai"
    body = json.loads(seen[0].body)
    assert body["messages"] == MESSAGES
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 4 and body["temperature"] == 0.5 and body["seed"] == 7
    assert seen[0].inference_component_name == "ic-1"
    assert seen[0].custom_attributes == "trace=1"
    assert "".join(tokens).split() == full_words()[:4]


async def test_the_demo_chat_stream_is_valid_openai_chunk_by_chunk(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        async with client.chat_stream("demo", MESSAGES, max_tokens=5) as stream:
            chunks = [json.loads(event.data) async for event in stream.sse()]
            generation = await stream.final()
    assert len(chunks) >= 6
    for chunk in chunks:
        assert_chat_chunk(chunk)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 5
    usage = generation.usage
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + 5  # type: ignore[operator]


async def test_chat_returns_a_generation_from_a_valid_chat_completion(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        answer = await client.invoke_endpoint("demo", body={"messages": MESSAGES, "max_tokens": 3})
        assert_chat_completion(answer.json())
        generation = await client.chat("demo", MESSAGES, max_tokens=3, target_variant="AllTraffic")
        full = await client.chat("demo", MESSAGES)
    assert generation.text.split() == full_words()[:3]
    assert generation.finish_reason == "length"
    assert generation.usage is not None and generation.usage.completion_tokens == 3
    assert generation.request_id == emu.records[-2].request_id
    assert full.finish_reason == "stop"
    assert full.text.split() == full_words()


async def test_bad_chat_arguments_and_formats_are_refused_before_sending(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        with pytest.raises(asyncsagemaker.ParamValidationError, match="messages"):
            await client.chat("demo", [])
        with pytest.raises(asyncsagemaker.ParamValidationError, match="max_tokens"):
            async with client.chat_stream("demo", MESSAGES, max_tokens=0):
                pass
        with pytest.raises(asyncsagemaker.ParamValidationError, match="body"):
            await client.chat("demo", MESSAGES, body=b"x")
        assert len(emu.records) == 0
        async with client.invoke_endpoint_with_response_stream("demo", body=tgi(3)) as stream:
            with pytest.raises(asyncsagemaker.ParamValidationError, match="'auto', 'tgi'"):
                stream.tokens("foo")  # type: ignore[arg-type]
            with pytest.raises(asyncsagemaker.ParamValidationError, match="strict"):
                stream.text("ignore")  # type: ignore[arg-type]
            assert [t async for t in stream.tokens("tgi")]  # the stream is still whole


async def tgi_error_model(inv: Invocation) -> AsyncIterator[bytes]:
    yield b'data:{"token":{"id":1,"text":" Hi","logprob":-0.1,"special":false}}\n\n'
    yield b'data:{"error":"CUDA out of memory","error_type":"generation"}\n\n'


STREAM_FAILURES: list[tuple[str, dict[str, Any], type[asyncsagemaker.StreamError]]] = [
    (
        "model-stream-error",
        {"faults": Faults(stream_error_after=2)},
        asyncsagemaker.ModelStreamError,
    ),
    (
        "internal-failure",
        {"faults": Faults(stream_error_after=2, stream_error="InternalStreamFailure")},
        asyncsagemaker.InternalStreamFailure,
    ),
    ("corrupt-frame", {"faults": Faults(corrupt_crc_after=2)}, asyncsagemaker.ProtocolError),
    ("cut-mid-frame", {"faults": Faults(drop_mid_frame_after=2)}, asyncsagemaker.ProtocolError),
    ("dropped", {"faults": Faults(drop_after=2)}, asyncsagemaker.StreamInterruptedError),
    ("model-output-error", {"model": tgi_error_model}, asyncsagemaker.ModelOutputError),
]


@pytest.mark.parametrize(
    ("name", "setup", "error"), STREAM_FAILURES, ids=[row[0] for row in STREAM_FAILURES]
)
async def test_every_stream_failure_is_a_stream_error_with_the_request_id(
    start_emulator: EmulatorFactory,
    name: str,
    setup: dict[str, Any],
    error: type[asyncsagemaker.StreamError],
) -> None:
    models: dict[str, Any] = {"m": setup.get("model", "demo")}
    faults = {"m": setup["faults"]} if "faults" in setup else None
    emu = start_emulator(models=models, faults=faults, token_delay=0)
    async with client_for(emu) as client:
        async with client.invoke_endpoint_with_response_stream("m", body=tgi(20)) as stream:
            with pytest.raises(asyncsagemaker.StreamError) as caught:
                async for _ in stream.tokens():
                    pass
            with pytest.raises(error):  # final() raises the same failure again
                await stream.final()
    assert isinstance(caught.value, error)
    assert caught.value.request_id == emu.records[-1].request_id
