"""The ``asyncsagemaker`` LiteLLM provider, against the emulator over real sockets.

``litellm.acompletion(model="asyncsagemaker/<endpoint>", stream=True, tools=...)``
completes (both routes, both loops; the synchronous calls too); every failure is
LiteLLM's class by what happened (throttling 429, refused 400, the container's failure
424 ..., never a blanket 503) with our error code and ours as ``__cause__``; a model
failing mid-stream raises after the chunks before it, never a hang, never a silently
shortened answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import litellm
import pytest
from litellm import exceptions as lite

from asyncsagemaker import errors
from asyncsagemaker.emulator import Emulator, Faults, ModelErrorFault
from asyncsagemaker.integrations.litellm import PROVIDER, SageMakerLLM, handler, register
from tests._support import BOTH_LOOPS

from ._support import emulator, settings

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a location.",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
            },
        },
    }
]
WEATHER = [{"role": "user", "content": "Weather in 'Oslo'?"}]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with emulator() as running:
        yield running


@pytest.fixture
def provider(emu: Emulator) -> Iterator[SageMakerLLM]:
    registered = register(SageMakerLLM(**settings(emu), max_retries=0))
    yield registered
    registered.close()
    register()  # the module's own handler again


async def collect(stream: Any) -> list[Any]:
    return [chunk async for chunk in stream]


# -- streamed completions with tools --------------------------------------------------


@pytest.mark.anyio
@BOTH_LOOPS
@pytest.mark.parametrize("route", ["invoke", "openai"])
async def test_a_streamed_completion_with_tools_completes(
    emu: Emulator, provider: SageMakerLLM, route: str
) -> None:
    with anyio.fail_after(20):
        stream = await litellm.acompletion(
            model=f"{PROVIDER}/demo", messages=WEATHER, tools=TOOLS, stream=True, route=route
        )
        chunks = await collect(stream)
    assert len(chunks) > 1
    whole: Any = litellm.stream_chunk_builder(chunks)
    [call] = whole.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Oslo"}
    assert whole.choices[0].finish_reason == "tool_calls"
    sent = json.loads(emu.records[-1].body)
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    operation = "ChatCompletions" if route == "openai" else "InvokeEndpointWithResponseStream"
    assert emu.records[-1].operation == operation
    await provider.aclose()


@pytest.mark.anyio
async def test_the_tool_result_turn_answers_in_text(emu: Emulator, provider: SageMakerLLM) -> None:
    first = await litellm.acompletion(model=f"{PROVIDER}/demo", messages=WEATHER, tools=TOOLS)
    message = first.choices[0].message
    [call] = message.tool_calls
    history = [
        *WEATHER,
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny in Oslo"},
    ]
    stream = await litellm.acompletion(
        model=f"{PROVIDER}/demo", messages=history, tools=TOOLS, stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in await collect(stream))
    assert "Sunny in Oslo" in text
    await provider.aclose()


def test_the_synchronous_calls_stream_from_the_private_loop(
    emu: Emulator, provider: SageMakerLLM
) -> None:
    chunks = list(
        litellm.completion(
            model=f"{PROVIDER}/demo", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    whole = litellm.completion(
        model=f"{PROVIDER}/demo", messages=[{"role": "user", "content": "Hi"}]
    )
    assert text and text == whole.choices[0].message.content


def test_register_replaces_an_earlier_registration() -> None:
    mine = SageMakerLLM(region_name="us-east-1")
    assert register(mine) is mine
    entries: list[Any] = [e for e in litellm.custom_provider_map if e["provider"] == PROVIDER]
    assert entries == [{"provider": PROVIDER, "custom_handler": mine}]
    assert register() is handler


# -- errors ----------------------------------------------------------------------------


@pytest.mark.anyio
@BOTH_LOOPS
async def test_a_model_stream_error_mid_stream_is_litellms_and_carries_our_code(
    emu: Emulator, provider: SageMakerLLM
) -> None:
    emu.set_faults("demo", Faults(stream_error_after=3, stream_error_code="StreamBroken"))
    received: list[Any] = []
    messages = [{"role": "user", "content": "Tell me about Zürich"}]
    with anyio.fail_after(10), pytest.raises(lite.MidStreamFallbackError) as caught:
        async for chunk in await litellm.acompletion(
            model=f"{PROVIDER}/demo", messages=messages, stream=True
        ):
            received.append(chunk)
    error = caught.value
    assert error.status_code == 502 and not error.is_pre_first_chunk
    original = error.original_exception
    assert isinstance(original, lite.BadGatewayError)
    assert original.code == "StreamBroken" and "StreamBroken" in str(original)
    assert type(original.__cause__) is errors.ModelStreamError  # ours, as raised
    assert "".join(chunk.choices[0].delta.content or "" for chunk in received)  # came first
    assert emu.records[-1].outcome == "fault:stream_error_after"
    await provider.aclose()


@pytest.mark.parametrize(
    ("faults", "ours", "theirs", "status"),
    [
        (Faults(throttle_first=9), errors.ThrottlingException, lite.RateLimitError, 429),
        (Faults(not_ready_first=9), errors.ModelNotReadyException, lite.RateLimitError, 429),
        (Faults(model_error=ModelErrorFault(422)), errors.ModelError, lite.BadRequestError, 400),
        (
            Faults(model_error=ModelErrorFault(400, "maximum context length is 4096 tokens")),
            errors.ModelError,
            lite.ContextWindowExceededError,
            400,
        ),
        (Faults(model_error=ModelErrorFault(500)), errors.ModelError, lite.APIError, 424),
        (
            Faults(error_first=9, error_status=500),
            errors.InternalFailure,
            lite.InternalServerError,
            500,
        ),
        (
            Faults(error_first=9, error_status=503),
            errors.ServiceUnavailable,
            lite.ServiceUnavailableError,
            503,
        ),
        (Faults(stall_seconds=5), errors.SageMakerTimeoutError, lite.Timeout, 408),
    ],
)
@pytest.mark.anyio
async def test_each_failure_is_litellms_class_by_status(
    emu: Emulator,
    provider: SageMakerLLM,
    faults: Faults,
    ours: type[Exception],
    theirs: type[Exception],
    status: int,
) -> None:
    emu.set_faults("demo", faults)
    with anyio.fail_after(20), pytest.raises(theirs) as caught:
        await litellm.acompletion(
            model=f"{PROVIDER}/demo",
            messages=[{"role": "user", "content": "Hi"}],
            timeout=1.0,
            num_retries=0,
        )
    error: Any = caught.value
    assert error.status_code == status
    assert isinstance(error.__cause__, ours)
    assert error.code == getattr(error.__cause__, "code", None)  # the service's code
    assert settings(emu)["aws_secret_access_key"] not in str(error)
    await provider.aclose()


@pytest.mark.anyio
async def test_a_request_refused_before_sending_is_a_bad_request(
    emu: Emulator, provider: SageMakerLLM
) -> None:
    with pytest.raises(lite.BadRequestError, match="target_variant") as caught:
        stream = await litellm.acompletion(  # the OpenAI route has no variants
            model=f"{PROVIDER}/demo",
            messages=WEATHER,
            stream=True,
            route="openai",
            target_variant="blue",
        )
        await collect(stream)
    assert caught.value.status_code == 400
    assert isinstance(caught.value.__cause__, errors.ParamValidationError)
    assert len(emu.records) == 0  # nothing was sent
    await provider.aclose()


@pytest.mark.anyio
async def test_a_throttled_stream_is_a_rate_limit_before_any_chunk(
    emu: Emulator, provider: SageMakerLLM
) -> None:
    emu.set_faults("demo", Faults(throttle_first=9))
    with pytest.raises((lite.RateLimitError, lite.MidStreamFallbackError)) as caught:
        await collect(
            await litellm.acompletion(
                model=f"{PROVIDER}/demo", messages=WEATHER, stream=True, num_retries=0
            )
        )
    error: Any = caught.value
    assert error.status_code == 429
    original = getattr(error, "original_exception", error)
    assert isinstance(original, lite.RateLimitError) and original.code == "ThrottlingException"
    await provider.aclose()


def test_the_endpoint_and_component_reach_the_request(
    emu: Emulator, provider: SageMakerLLM
) -> None:
    litellm.completion(
        model=f"{PROVIDER}/demo/ic-1",
        messages=[{"role": "user", "content": "Hi"}],
        max_tokens=5,
        temperature=0.2,
        custom_attributes="trace=7",
    )
    record = emu.records[-1]
    assert record.endpoint_name == "demo"
    assert record.headers["x-amzn-sagemaker-inference-component"] == "ic-1"
    assert record.headers["x-amzn-sagemaker-custom-attributes"] == "trace=7"
    body = json.loads(record.body)
    assert body["max_tokens"] == 5 and body["temperature"] == 0.2
