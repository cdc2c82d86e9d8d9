"""ChatSageMaker beyond the standard suites: its errors, its fields, the dialects.

Errors: every failure leaves as a class that is both ours and LangChain's
(``langchain_core.exceptions``), with our fields and ours as ``__cause__``; a model
failing mid-stream is raised after the chunks before it (never a hang, never a silent
truncation).  Fields: what the model object says reaches the request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from langchain_core import exceptions as lc
from langchain_core.messages import AIMessageChunk, BaseMessageChunk
from langchain_core.tools import tool

from asyncsagemaker import errors
from asyncsagemaker.emulator import Emulator, Faults, ModelErrorFault
from asyncsagemaker.integrations.langchain import ChatSageMaker
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


def chat(emu: Emulator, **fields: Any) -> ChatSageMaker:
    return ChatSageMaker(endpoint_name="demo", **{**settings(emu), **fields})


# -- errors ---------------------------------------------------------------------------


@pytest.mark.anyio
@BOTH_LOOPS
async def test_a_model_stream_error_mid_stream_is_langchains_and_ours(emu: Emulator) -> None:
    emu.set_faults("demo", Faults(stream_error_after=3, stream_error_code="StreamBroken"))
    model = chat(emu)
    received: list[BaseMessageChunk] = []
    with anyio.fail_after(10), pytest.raises(errors.ModelStreamError) as caught:
        async for chunk in model.astream("Tell me about Zürich"):
            received.append(chunk)
    error = caught.value
    assert isinstance(error, lc.ModelAPIError) and error.is_retryable
    assert error.error_code == "StreamBroken" and "StreamBroken" in str(error)
    assert type(error.__cause__) is errors.ModelStreamError  # ours, as raised
    assert "".join(str(chunk.content) for chunk in received)  # what came first came out
    assert emu.records[-1].outcome == "fault:stream_error_after"
    await model.aclose()


def test_the_sync_stream_raises_the_same_and_the_partial_answer_reaches_callbacks(
    emu: Emulator,
) -> None:
    emu.set_faults("demo", Faults(stream_error_after=2))
    model = chat(emu)
    received: list[BaseMessageChunk] = []
    with pytest.raises(lc.ModelAPIError) as caught:
        received.extend(model.stream("Hi"))
    assert isinstance(caught.value, errors.ModelStreamError)
    assert caught.value.error_code == "ModelInvocationTimeExceeded"
    assert received
    with pytest.raises(errors.ModelStreamError):
        model.invoke("Hi", stream=True)  # invoke that streams: no answer made of a part
    model.close()


@pytest.mark.parametrize(
    ("faults", "ours", "theirs"),
    [
        (Faults(throttle_first=9), errors.ThrottlingException, lc.ModelRateLimitError),
        (Faults(not_ready_first=9), errors.ModelNotReadyException, lc.ModelRateLimitError),
        (
            Faults(
                model_error=ModelErrorFault(
                    400,
                    "This model's maximum context length is 4096 tokens. However, you "
                    "requested 5000 tokens (4900 in the messages, 100 in the completion).",
                )
            ),
            errors.ModelError,
            lc.ContextOverflowError,
        ),
        (Faults(model_error=ModelErrorFault(422)), errors.ModelError, lc.ModelInvalidRequestError),
        (Faults(model_error=ModelErrorFault(500)), errors.ModelError, lc.ModelAPIError),
        (Faults(error_first=9, error_status=503), errors.ServiceUnavailable, lc.ModelAPIError),
        (Faults(stall_seconds=5), errors.SageMakerTimeoutError, lc.ModelTimeoutError),
        (Faults(drop_after=1), errors.NetworkError, lc.ModelConnectionError),
    ],
)
def test_each_failure_is_its_langchain_kind(
    emu: Emulator, faults: Faults, ours: type[Exception], theirs: type[Exception]
) -> None:
    emu.set_faults("demo", faults)
    model = chat(emu, max_retries=0, timeout=1.0)
    with pytest.raises(ours) as caught:
        model.invoke("Hi", stream=True)
    assert isinstance(caught.value, theirs)
    assert type(caught.value.__cause__) is type(caught.value).__mro__[1]  # ours, as raised
    model.close()


def test_a_request_refused_before_sending_is_an_invalid_request(emu: Emulator) -> None:
    model = chat(emu, route="openai", target_variant="blue")  # the route has no variants
    with pytest.raises(errors.ParamValidationError, match="target_variant") as caught:
        model.invoke("Hi")
    assert isinstance(caught.value, lc.ModelInvalidRequestError)
    assert emu.records.dropped == 0 and len(emu.records) == 0  # nothing was sent


def test_errors_carry_the_request_id_and_no_secret(emu: Emulator) -> None:
    emu.set_faults("demo", Faults(model_error=ModelErrorFault(500, "boom")))
    model = chat(emu, max_retries=0)
    with pytest.raises(errors.ModelError) as caught:
        model.invoke("Hi")
    assert caught.value.request_id == emu.records[-1].request_id
    assert caught.value.original_status_code == 500
    assert settings(emu)["aws_secret_access_key"] not in str(caught.value)
    assert "SecretStr('**********')" in repr(model)  # the key never shows
    model.close()


# -- what the fields send -----------------------------------------------------------


def test_the_fields_reach_the_request(emu: Emulator) -> None:
    model = chat(
        emu,
        inference_component_name="ic-1",
        target_variant="AllTraffic",
        custom_attributes="trace=7",
        model="qwen3",
        temperature=0.3,
        max_tokens=5,
        top_p=0.9,
        stop=["\n\n"],
        reasoning_effort="low",
        extra_body={"chat_template_kwargs": {"enable_thinking": True}},
        model_kwargs={"seed": 7},
    )
    answer = model.invoke("Hi", temperature=0.1)  # the call's keyword wins
    record = emu.records[-1]
    body = json.loads(record.body)
    assert record.headers["x-amzn-sagemaker-inference-component"] == "ic-1"
    assert record.headers["x-amzn-sagemaker-target-variant"] == "AllTraffic"
    assert record.headers["x-amzn-sagemaker-custom-attributes"] == "trace=7"
    sent = ("model", "temperature", "max_tokens", "top_p", "stop", "seed")
    assert {k: body[k] for k in sent} == {
        "model": "qwen3",
        "temperature": 0.1,
        "max_tokens": 5,
        "top_p": 0.9,
        "stop": ["\n\n"],
        "seed": 7,
    }
    assert body["reasoning_effort"] == "low" and body["chat_template_kwargs"]["enable_thinking"]
    assert answer.response_metadata["model_name"] == "qwen3"
    assert answer.response_metadata["request_id"] == record.request_id
    model.close()


def test_the_openai_route_puts_the_component_in_the_path(emu: Emulator) -> None:
    model = chat(emu, route="openai", inference_component_name="ic-1")
    assert model.invoke("Hi", max_tokens=2).content
    assert emu.records[-1].operation == "ChatCompletions"
    assert emu.records[-1].headers["authorization"].startswith("Bearer ")
    model.close()


# -- answers ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_reasoning_stays_out_of_the_content_and_comes_first(emu: Emulator) -> None:
    model = chat(emu, reasoning_effort="low", output_version="v1").bind_tools([get_weather])
    full: AIMessageChunk | None = None
    async for chunk in model.astream("Weather in 'Oslo'?"):
        assert isinstance(chunk, AIMessageChunk)
        full = chunk if full is None else full + chunk
    assert full is not None
    kinds = [block["type"] for block in full.content_blocks]
    assert kinds == ["reasoning", "tool_call"]
    assert full.tool_calls[0]["args"] == {"location": "Oslo"}
    assert "I will call get_weather" in str(full.additional_kwargs["reasoning_content"])
    whole = await model.ainvoke("Weather in 'Oslo'?")
    assert whole.text == "" and whole.tool_calls[0]["args"] == {"location": "Oslo"}
    assert [block["type"] for block in whole.content_blocks] == ["reasoning", "tool_call"]


@pytest.mark.parametrize("dialect", ["tgi", "sglang", "vllm-0.10", "lmi"])
def test_every_dialect_gives_the_same_call(dialect: str) -> None:
    """TGI repeats the call's id ("0") on every fragment and sends no finish reason."""
    with emulator(dialect=dialect) as emu:
        model = chat(emu).bind_tools([get_weather])
        chunks = list(model.stream("Weather in 'Oslo'?"))
        full: Any = chunks[0]
        for chunk in chunks[1:]:
            full = full + chunk
        assert isinstance(full, AIMessageChunk)
        [call] = full.tool_calls
        assert call["args"] == {"location": "Oslo"} and call["name"] == "get_weather"
        assert call["id"] == model.invoke("Weather in 'Oslo'?").tool_calls[0]["id"]
        assert full.response_metadata["finish_reason"] == "tool_calls"
        assert sum(1 for chunk in chunks if chunk.usage_metadata) == 1
