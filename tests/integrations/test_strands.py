"""SageMakerModel under a Strands ``Agent``, against the emulator over real sockets.

A tool-using turn completes (both routes, both loops, and Strands' synchronous call);
every failure leaves as a class that is both ours and Strands' (throttling retried by
the agent, an overflowing context handed to its conversation manager, anything else an
``EventLoopException``), with our error code; a model failing mid-stream is raised
after what came before it, never a hang, never a silently shortened answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import pydantic
import pytest
from strands import Agent, tool
from strands.event_loop._retry import ModelRetryStrategy
from strands.types.exceptions import (
    ContextWindowOverflowException,
    EventLoopException,
    ModelThrottledException,
)

from asyncsagemaker import errors
from asyncsagemaker.emulator import Emulator, Faults, ModelErrorFault
from asyncsagemaker.integrations.strands import SageMakerModel
from tests._support import BOTH_LOOPS

from ._support import emulator, settings


@tool
def get_weather(location: str) -> str:
    """The weather in a location."""
    return f"Sunny in {location}"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with emulator() as running:
        yield running


def model_on(emu: Emulator, **config: Any) -> SageMakerModel:
    return SageMakerModel(**settings(emu), **{"endpoint_name": "demo", **config})


def agent_on(model: SageMakerModel, retries: int = 1, **kwargs: Any) -> Agent:
    strategy = ModelRetryStrategy(max_attempts=retries, initial_delay=0, max_delay=0)
    return Agent(model=model, callback_handler=None, retry_strategy=strategy, **kwargs)


# -- a tool-using turn ------------------------------------------------------------------


@pytest.mark.anyio
@BOTH_LOOPS
@pytest.mark.parametrize("route", ["invoke", "openai"])
async def test_an_agent_completes_a_tool_using_turn(emu: Emulator, route: str) -> None:
    model = model_on(emu, route=route, params={"reasoning_effort": "low"})
    agent = agent_on(model, tools=[get_weather])
    with anyio.fail_after(20):
        result = await agent.invoke_async("Weather in 'Oslo'?")
    assert result.stop_reason == "end_turn"
    assert "Sunny in Oslo" in str(result)
    _, call, answer, final = agent.messages
    [use] = [block["toolUse"] for block in call["content"] if "toolUse" in block]
    assert use["name"] == "get_weather" and use["input"] == {"location": "Oslo"}
    assert any("reasoningContent" in block for block in call["content"])  # kept apart
    [tool_result] = [block["toolResult"] for block in answer["content"]]
    assert tool_result["toolUseId"] == use["toolUseId"]
    assert tool_result["status"] == "success"
    assert final["content"][-1]["text"].endswith("Sunny in Oslo.")
    usage = result.metrics.accumulated_usage
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"] > 0
    operation = "ChatCompletions" if route == "openai" else "InvokeEndpointWithResponseStream"
    assert [record.operation for record in emu.records] == [operation, operation]
    sent = json.loads(emu.records[0].body)
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    await model.aclose()


def test_the_synchronous_agent_call_runs_each_turn_on_its_own_loop(emu: Emulator) -> None:
    model = model_on(emu)
    agent = agent_on(model, tools=[get_weather])
    assert "Sunny in Oslo" in str(agent("Weather in 'Oslo'?"))
    assert "Sunny in Bergen" in str(agent("Weather in 'Bergen'?"))  # a second asyncio.run
    model.close()


@pytest.mark.anyio
async def test_stream_async_streams_text_as_it_comes(emu: Emulator) -> None:
    model = model_on(emu)
    agent = agent_on(model)
    pieces = [event["data"] async for event in agent.stream_async("Hi") if "data" in event]
    assert len(pieces) > 1 and "".join(pieces) == str(agent.messages[-1]["content"][0]["text"])
    await model.aclose()


class Person(pydantic.BaseModel):
    name: str
    age: int


@pytest.mark.anyio
async def test_structured_output_is_the_schemas_instance(emu: Emulator) -> None:
    model = model_on(emu, route="openai")
    events = [
        event
        async for event in model.structured_output(
            Person, [{"role": "user", "content": [{"text": "Anna, 31"}]}]
        )
    ]
    assert isinstance(events[-1]["output"], Person)
    sent = json.loads(emu.records[-1].body)
    assert sent["response_format"]["json_schema"]["name"] == "Person"
    await model.aclose()


# -- errors ----------------------------------------------------------------------------


@pytest.mark.anyio
@BOTH_LOOPS
async def test_a_model_stream_error_mid_stream_is_strands_and_ours(emu: Emulator) -> None:
    emu.set_faults("demo", Faults(stream_error_after=3, stream_error_code="StreamBroken"))
    model = model_on(emu)
    received: list[str] = []
    with anyio.fail_after(10), pytest.raises(EventLoopException) as caught:
        async for event in agent_on(model).stream_async("Tell me about Zürich"):
            if "data" in event:
                received.append(event["data"])
    error = caught.value
    assert isinstance(error, errors.ModelStreamError)
    assert error.error_code == "StreamBroken" and "StreamBroken" in str(error)
    assert type(error.original_exception) is errors.ModelStreamError  # ours, as raised
    assert error.__cause__ is error.original_exception
    assert "".join(received)  # what came first came out, and then the error: no truncation
    assert emu.records[-1].outcome == "fault:stream_error_after"
    await model.aclose()


@pytest.mark.anyio
async def test_throttling_is_retried_by_the_agent_as_strands_throttling(emu: Emulator) -> None:
    emu.set_faults("demo", Faults(throttle_first=2))
    model = model_on(emu, max_retries=0)
    with anyio.fail_after(20):
        result = await agent_on(model, retries=3).invoke_async("Hi")  # the agent retried
    assert str(result).strip() and len(emu.records) == 3
    emu.set_faults("demo", Faults(throttle_first=9))
    with pytest.raises(ModelThrottledException) as caught:
        await agent_on(model, retries=1).invoke_async("Hi")
    assert isinstance(caught.value, errors.ThrottlingException)
    assert caught.value.code == "ThrottlingException"
    await model.aclose()


@pytest.mark.parametrize(
    ("faults", "ours", "theirs"),
    [
        (
            Faults(
                model_error=ModelErrorFault(
                    400, "This model's maximum context length is 4096 tokens."
                )
            ),
            errors.ModelError,
            ContextWindowOverflowException,
        ),
        (Faults(not_ready_first=9), errors.ModelNotReadyException, ModelThrottledException),
        (Faults(model_error=ModelErrorFault(500)), errors.ModelError, EventLoopException),
        (Faults(error_first=9, error_status=503), errors.ServiceUnavailable, EventLoopException),
        (Faults(drop_after=1), errors.NetworkError, EventLoopException),
    ],
)
def test_each_failure_is_its_strands_kind(
    emu: Emulator, faults: Faults, ours: type[Exception], theirs: type[Exception]
) -> None:
    emu.set_faults("demo", faults)
    model = model_on(emu, max_retries=0)
    with pytest.raises(theirs) as caught:
        agent_on(model)("Hi")
    # the conversation manager, unable to shorten one message, raises its own from ours
    raised = caught.value if isinstance(caught.value, ours) else caught.value.__cause__
    assert isinstance(raised, ours) and isinstance(raised, theirs)
    assert settings(emu)["aws_secret_access_key"] not in str(caught.value)
    model.close()


def test_the_fields_reach_the_request(emu: Emulator) -> None:
    model = model_on(
        emu,
        inference_component_name="ic-1",
        target_variant="AllTraffic",
        custom_attributes="trace=7",
        model_id="qwen3",
        params={"max_tokens": 50, "temperature": 0.2},
    )
    agent_on(model, system_prompt="Be brief.")("Hi")
    record = emu.records[-1]
    body = json.loads(record.body)
    assert record.headers["x-amzn-sagemaker-inference-component"] == "ic-1"
    assert record.headers["x-amzn-sagemaker-target-variant"] == "AllTraffic"
    assert record.headers["x-amzn-sagemaker-custom-attributes"] == "trace=7"
    assert body["model"] == "qwen3" and body["max_tokens"] == 50 and body["temperature"] == 0.2
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    model.close()


def test_a_model_without_an_endpoint_is_refused() -> None:
    with pytest.raises(errors.ConfigurationError, match="endpoint_name"):
        SageMakerModel(region_name="us-east-1")
