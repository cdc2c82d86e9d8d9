"""Spans and metrics of real calls to the emulator, read back from the SDK's memory exporters.

Each test drives a call the way a user would (a stream read to its end, closed early,
failing mid-stream, retried, cancelled; the chat calls) and checks what an
OpenTelemetry backend would receive: the span names, kinds, parents, attributes,
statuses and events, and the GenAI client metrics with their bucket advice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.lowlevel
import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

import asyncsagemaker
from asyncsagemaker import Config
from asyncsagemaker._telemetry import otel as telemetry_otel
from asyncsagemaker._telemetry.otel import DURATION_BUCKETS, FIRST_PART_EVENT, TOKEN_BUCKETS
from asyncsagemaker.emulator import Emulator, Faults, Invocation
from asyncsagemaker.emulator._demo import demo_answer
from tests._support import BOTH_LOOPS
from tests.observability._support import Otel, attributes

pytestmark = pytest.mark.anyio

EmulatorFactory = Callable[..., Emulator]
PROMPT = "Tell me about Zürich"
MESSAGES = [{"role": "user", "content": PROMPT}]
TOKEN_USAGE = "gen_ai.client.token.usage"


def tgi(max_new_tokens: int) -> dict[str, Any]:
    return {"inputs": PROMPT, "parameters": {"max_new_tokens": max_new_tokens, "details": True}}


def common(emu: Emulator, operation: str, model: str = "demo") -> dict[str, Any]:
    """The attributes every GenAI call span of ``emu`` starts with."""
    return {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": "aws.sagemaker",
        "gen_ai.request.model": model,
        "server.address": "127.0.0.1",
        "server.port": urlsplit(emu.url).port,
    }


def rpc(method: str) -> dict[str, Any]:
    return {
        "rpc.system": "aws-api",
        "rpc.service": "SageMaker Runtime",
        "rpc.method": method,
        "cloud.region": "us-east-1",
    }


def assert_within(inner: ReadableSpan, outer: ReadableSpan) -> None:
    assert inner.start_time is not None and inner.end_time is not None
    assert outer.start_time is not None and outer.end_time is not None
    assert outer.start_time <= inner.start_time <= inner.end_time <= outer.end_time


@BOTH_LOOPS
async def test_a_stream_read_to_its_end_is_one_client_span_with_one_attempt(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(token_delay=0)
    async with otel.client(emu) as client:
        async with client.invoke_endpoint_with_response_stream("demo", body=tgi(5)) as stream:
            generation = await stream.final()
            assert len(otel.call_spans()) == 1  # ended with the stream, before `async with` ends
    span = otel.call_span()
    assert span.name == "invoke_endpoint demo"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    found = attributes(span)
    first_chunk = found.pop("gen_ai.response.time_to_first_chunk")
    assert generation.usage is not None and generation.usage.completion_tokens == 5
    expected = {
        **common(emu, "invoke_endpoint"),
        **rpc("InvokeEndpointWithResponseStream"),
        "gen_ai.request.stream": True,
        "aws.request_id": stream.request_id,
        "gen_ai.response.finish_reasons": ("length",),
        "gen_ai.usage.output_tokens": 5,
    }
    if generation.usage.prompt_tokens is not None:
        expected["gen_ai.usage.input_tokens"] = generation.usage.prompt_tokens
    assert found == expected
    stats = stream.stats
    assert stats.time_to_first_part is not None
    assert 0 < first_chunk <= stats.time_to_first_part
    assert [event.name for event in span.events] == [FIRST_PART_EVENT]

    (attempt,) = otel.attempts(span)
    assert attempt.name == "POST" and attempt.kind is SpanKind.CLIENT
    assert attributes(attempt) == {
        "http.request.method": "POST",
        "url.full": f"{emu.url}/endpoints/demo/invocations-response-stream",
        "server.address": "127.0.0.1",
        "server.port": urlsplit(emu.url).port,
        "network.protocol.version": "1.1",
        "http.response.status_code": 200,
        "aws.request_id": stream.request_id,
    }
    assert_within(attempt, span)
    assert attempt.end_time is not None and attempt.end_time <= span.events[0].timestamp

    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert attributes(duration) == common(emu, "invoke_endpoint")
    assert duration.count == 1 and tuple(duration.explicit_bounds) == DURATION_BUCKETS
    assert span.end_time is not None and span.start_time is not None
    assert duration.sum == pytest.approx((span.end_time - span.start_time) / 1e9, abs=0.005)
    (first,) = otel.points("gen_ai.client.operation.time_to_first_chunk")
    assert first.count == 1 and first.sum == pytest.approx(first_chunk)
    assert tuple(first.explicit_bounds) == DURATION_BUCKETS
    (per_chunk,) = otel.points("gen_ai.client.operation.time_per_output_chunk")
    assert per_chunk.count == stats.parts - 1
    assert tuple(per_chunk.explicit_bounds) == DURATION_BUCKETS
    tokens = {attributes(p)["gen_ai.token.type"]: p for p in otel.points(TOKEN_USAGE)}
    assert tokens["output"].sum == 5 and tokens["output"].count == 1
    assert tuple(tokens["output"].explicit_bounds) == TOKEN_BUCKETS
    assert attributes(tokens["output"]) == {
        **common(emu, "invoke_endpoint"),
        "gen_ai.token.type": "output",
    }


async def test_raw_parts_read_to_the_end_end_the_span_with_the_body(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(token_delay=0)
    async with otel.client(emu) as client:
        stream = await client.invoke_endpoint_with_response_stream("echo", body=b"hello")
        assert await stream.read() == b"hello"  # no `async with`, no aclose()
        span = otel.call_span()
    found = attributes(span)
    assert "gen_ai.response.finish_reasons" not in found  # nothing decoded, nothing invented
    assert "gen_ai.usage.output_tokens" not in found
    assert found["gen_ai.request.model"] == "echo"
    assert span.status.status_code is StatusCode.UNSET


@pytest.mark.parametrize("view", ["parts", "tokens", "text"])
async def test_a_stream_closed_early_ends_its_span_at_once_without_error(
    start_emulator: EmulatorFactory, otel: Otel, view: str
) -> None:
    emu = start_emulator(token_delay=0.01)
    async with otel.client(emu) as client:
        async with client.invoke_endpoint_with_response_stream("demo", body=tgi(200)) as stream:
            if view == "parts":
                reader: AsyncIterator[Any] = stream.__aiter__()
            else:
                reader = stream.tokens() if view == "tokens" else stream.text()
            async for _ in reader:
                break
            await stream.aclose()
            assert len(otel.call_spans()) == 1  # ended when the reader left
    span = otel.call_span()
    assert span.status.status_code is StatusCode.UNSET
    found = attributes(span)
    assert "error.type" not in found
    assert "gen_ai.response.finish_reasons" not in found  # the end was never read
    assert "gen_ai.response.time_to_first_chunk" in found
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert "error.type" not in attributes(duration)


async def test_a_break_without_async_with_ends_the_span_when_the_loop_drops_the_stream(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(token_delay=0.01)
    async with otel.client(emu) as client:
        stream = await client.invoke_endpoint_with_response_stream("demo", body=tgi(200))
        async for _ in stream:
            break
        for _ in range(3):  # the loop closes an abandoned async generator in a task of its own
            await anyio.lowlevel.checkpoint()
        assert stream.closed
        assert len(otel.call_spans()) == 1


@pytest.mark.parametrize("kind", ["ModelStreamError", "InternalStreamFailure"])
async def test_a_mid_stream_exception_is_the_span_error_and_the_duration_error(
    start_emulator: EmulatorFactory, otel: Otel, kind: str
) -> None:
    emu = start_emulator(
        token_delay=0, faults={"demo": Faults(stream_error_after=2, stream_error=kind)}
    )
    async with otel.client(emu) as client:
        async with client.invoke_endpoint_with_response_stream("demo", body=tgi(20)) as stream:
            with pytest.raises(asyncsagemaker.StreamError) as caught:
                async for _ in stream.tokens():
                    pass
    span = otel.call_span()
    assert type(caught.value).__name__ == kind
    found = attributes(span)
    assert found["error.type"] == kind
    assert found["aws.request_id"] == stream.request_id
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is None  # the message is not recorded unless captured
    (attempt,) = otel.attempts(span)
    assert attempt.status.status_code is StatusCode.UNSET  # the answer was a 200
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert attributes(duration)["error.type"] == kind


async def test_an_error_record_of_the_model_server_is_the_span_error(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    async def failing_tgi(inv: Invocation) -> AsyncIterator[bytes]:
        yield b'data: {"token": {"id": 1, "text": " Hi", "logprob": -0.1, "special": false}}\n\n'
        yield b'data: {"error": "Request failed during generation", "error_type": "generation"}\n\n'

    emu = start_emulator(models={"tgi": failing_tgi})
    async with otel.client(emu) as client:
        async with client.invoke_endpoint_with_response_stream("tgi", body=b"{}") as stream:
            with pytest.raises(asyncsagemaker.ModelOutputError):
                async for _ in stream.events("tgi"):
                    pass
    span = otel.call_span()
    assert attributes(span)["error.type"] == "ModelOutputError"
    assert span.status.status_code is StatusCode.ERROR


async def test_a_bad_json_line_in_a_text_view_is_the_span_error(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    async def lines(inv: Invocation) -> AsyncIterator[bytes]:
        yield b'{"a": 1}\n'
        yield b"not json\n"

    emu = start_emulator(models={"lines": lines})
    async with otel.client(emu) as client:
        async with client.invoke_endpoint_with_response_stream("lines", body=b"{}") as stream:
            with pytest.raises(asyncsagemaker.JSONLineError):
                async for _ in stream.json_lines():
                    pass
    assert attributes(otel.call_span())["error.type"] == "JSONLineError"


@BOTH_LOOPS
async def test_a_retried_throttle_shows_as_attempt_spans_and_the_call_succeeds(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(faults={"echo": Faults(throttle_first=2)})
    async with otel.client(emu) as client:
        answer = await client.invoke_endpoint("echo", body=b"ping")
    span = otel.call_span()
    assert span.name == "invoke_endpoint echo"
    assert span.status.status_code is StatusCode.UNSET
    assert attributes(span) == {
        **common(emu, "invoke_endpoint", "echo"),
        **rpc("InvokeEndpoint"),
        "aws.request_id": answer.request_id,
    }
    first, second, third = otel.attempts(span)
    for throttled, resends in ((first, None), (second, 1)):
        found = attributes(throttled)
        assert found.get("http.request.resend_count") == resends
        assert found["http.response.status_code"] == 400
        assert found["error.type"] == "400"
        assert found["aws.request_id"] not in (None, answer.request_id)
        assert throttled.status.status_code is StatusCode.ERROR
        assert throttled.status.description == "ThrottlingException"  # a code, no content
    assert attributes(third)["http.request.resend_count"] == 2
    assert attributes(third)["http.response.status_code"] == 200
    assert third.status.status_code is StatusCode.UNSET
    for attempt in (first, second, third):
        assert_within(attempt, span)
    assert first.end_time is not None and second.start_time is not None
    assert first.end_time <= second.start_time  # the backoff lies between
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert "error.type" not in attributes(duration)  # retried errors are not the call's


async def test_a_throttle_that_outlasts_the_retries_is_the_call_error(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(faults={"echo": Faults(throttle_first=5)})
    config = Config(backoff_base=0.01, max_attempts=2)
    async with otel.client(emu, config=config) as client:
        with pytest.raises(asyncsagemaker.ThrottlingException) as caught:
            await client.invoke_endpoint("echo", body=b"ping")
    span = otel.call_span()
    assert attributes(span)["error.type"] == "ThrottlingException"
    assert attributes(span)["aws.request_id"] == caught.value.request_id
    assert span.status.status_code is StatusCode.ERROR
    assert len(otel.attempts(span)) == 2
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert attributes(duration)["error.type"] == "ThrottlingException"


async def test_attempts_that_cannot_connect_name_the_network_error(otel: Otel) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # nothing listens there now
    config = Config(backoff_base=0.01, max_attempts=2, connect_timeout=2)
    async with otel.client(f"http://127.0.0.1:{port}", config=config) as client:
        with pytest.raises(asyncsagemaker.NetworkError) as caught:
            await client.invoke_endpoint("echo", body=b"ping")
    span = otel.call_span()
    kind = type(caught.value).__name__
    assert attributes(span)["error.type"] == kind
    attempts = otel.attempts(span)
    assert len(attempts) == 2
    for attempt in attempts:
        assert attributes(attempt)["error.type"] == kind
        assert "http.response.status_code" not in attributes(attempt)
        assert attempt.status.description is None  # error.type says it; no message


async def test_a_call_cancelled_before_its_answer_ends_its_spans_without_error(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(faults={"echo": Faults(stall_seconds=5)})
    async with otel.client(emu) as client:
        with anyio.move_on_after(0.3) as scope:
            await client.invoke_endpoint("echo", body=b"ping")
    assert scope.cancelled_caught
    span = otel.call_span()
    (attempt,) = otel.attempts(span)  # the attempt in flight was ended too
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in attributes(span)
    assert "http.response.status_code" not in attributes(attempt)
    assert_within(attempt, span)
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert 0.25 < duration.sum < 2 and "error.type" not in attributes(duration)


async def test_a_stream_cancelled_while_waiting_for_a_part_ends_its_span(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(token_delay=0, faults={"demo": Faults(stall_seconds=5, stall_after=2)})
    async with otel.client(emu) as client:
        parts = 0
        with anyio.move_on_after(0.3) as scope:
            async with client.invoke_endpoint_with_response_stream("demo", body=tgi(20)) as stream:
                async for _ in stream:
                    parts += 1
    assert scope.cancelled_caught and parts == 2
    span = otel.call_span()
    assert span.status.status_code is StatusCode.UNSET
    assert "gen_ai.response.finish_reasons" not in attributes(span)
    (per_chunk,) = otel.points("gen_ai.client.operation.time_per_output_chunk")
    assert per_chunk.count == 1


async def test_chat_stream_records_the_chat_request_usage_and_response(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(token_delay=0)
    async with otel.client(emu) as client:
        call = client.chat_stream(
            "demo", MESSAGES, max_tokens=6, temperature=0.5, top_p=0.9, stop=["zzz"], seed=3
        )
        async with call as stream:
            generation = await stream.final()
    span = otel.call_span()
    assert span.name == "chat demo"
    found = attributes(span)
    found.pop("gen_ai.response.time_to_first_chunk")
    usage = generation.usage
    assert usage is not None and usage.prompt_tokens and usage.completion_tokens == 6
    first = generation.events[0].raw
    assert found == {
        **common(emu, "chat"),
        **rpc("InvokeEndpointWithResponseStream"),
        "gen_ai.request.stream": True,
        "gen_ai.request.max_tokens": 6,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.stop_sequences": ("zzz",),
        "gen_ai.request.seed": 3,
        "gen_ai.response.id": first["id"],
        "gen_ai.response.model": first["model"],
        "gen_ai.response.finish_reasons": ("length",),
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": 6,
        "aws.request_id": stream.request_id,
    }
    tokens = {attributes(p)["gen_ai.token.type"]: p for p in otel.points(TOKEN_USAGE)}
    assert tokens["input"].sum == usage.prompt_tokens and tokens["output"].sum == 6
    assert attributes(tokens["input"])["gen_ai.response.model"] == first["model"]


async def test_chat_records_the_whole_answer_and_its_usage(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(token_delay=0)
    async with otel.client(emu) as client:
        generation = await client.chat("demo", MESSAGES, max_tokens=500)
    span = otel.call_span()
    assert span.name == "chat demo"
    found = attributes(span)
    usage = generation.usage
    assert usage is not None
    assert found["rpc.method"] == "InvokeEndpoint"
    assert "gen_ai.request.stream" not in found  # not streamed
    assert "gen_ai.response.time_to_first_chunk" not in found
    assert found["gen_ai.response.finish_reasons"] == ("stop",)
    assert found["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert found["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert found["gen_ai.request.max_tokens"] == 500
    assert found["aws.request_id"] == generation.request_id
    assert generation.text == demo_answer(PROMPT)
    assert otel.points("gen_ai.client.operation.time_to_first_chunk") == []  # not a stream


async def test_a_chat_answer_that_is_no_chat_is_the_span_error(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(models={"odd": lambda inv: b'{"unexpected": true}'})
    async with otel.client(emu) as client:
        with pytest.raises(asyncsagemaker.FormatError):
            await client.chat("odd", MESSAGES)
    span = otel.call_span()
    assert attributes(span)["error.type"] == "FormatError"
    (attempt,) = otel.attempts(span)
    assert attempt.status.status_code is StatusCode.UNSET


async def test_an_inference_component_is_the_request_model(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(token_delay=0)
    async with otel.client(emu) as client:
        await client.invoke_endpoint("echo", body=b"x", inference_component_name="llama-ic")
    span = otel.call_span()
    assert span.name == "invoke_endpoint llama-ic"
    assert attributes(span)["gen_ai.request.model"] == "llama-ic"
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert attributes(duration)["gen_ai.request.model"] == "llama-ic"


async def test_a_session_id_is_the_conversation_id(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(token_delay=0)
    async with otel.client(emu) as client:
        async with client.session("demo", close_body={"requestType": "CLOSE"}) as session:
            await session.invoke_endpoint(body={"inputs": "Hi"})
            await session.invoke_endpoint(body={"inputs": "Again"})
    opening, second, closing = otel.call_spans()
    assert "gen_ai.conversation.id" not in attributes(opening)  # NEW_SESSION is no id
    assert attributes(second)["gen_ai.conversation.id"] == session.id
    assert attributes(closing)["gen_ai.conversation.id"] == session.id


async def test_an_async_invocation_gets_the_aws_sdk_span_and_no_genai_metric(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator()
    async with otel.client(emu) as client:
        answer = await client.invoke_endpoint_async("echo", input_location="s3://bucket/in.json")
    span = otel.call_span()
    assert span.name == "SageMaker Runtime.InvokeEndpointAsync"
    assert span.kind is SpanKind.CLIENT
    assert attributes(span) == {
        **rpc("InvokeEndpointAsync"),
        "server.address": "127.0.0.1",
        "server.port": urlsplit(emu.url).port,
        "aws.request_id": answer.request_id,
    }
    assert otel.metric_names() == set()


async def test_traces_and_metrics_are_separate_switches(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator(token_delay=0)
    async with otel.client(emu, metrics=False) as client:
        async with client.invoke_endpoint_with_response_stream("demo", body=tgi(3)) as stream:
            await stream.until_done()
    assert len(otel.call_spans()) == 1
    assert otel.metric_names() == set()
    otel.exporter.clear()
    async with otel.client(emu, traces=False) as client:
        async with client.invoke_endpoint_with_response_stream("demo", body=tgi(3)) as stream:
            await stream.until_done()
    assert otel.spans() == []
    assert "gen_ai.client.operation.time_per_output_chunk" in otel.metric_names()


async def test_the_span_is_a_child_of_the_callers_span(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = start_emulator()
    tracer = otel.tracer_provider.get_tracer("app")
    async with otel.client(emu) as client:
        with tracer.start_as_current_span("handler") as handler:
            await client.invoke_endpoint("echo", body=b"x")
    call = next(span for span in otel.spans() if span.name == "invoke_endpoint echo")
    assert call.parent is not None
    assert call.parent.span_id == handler.get_span_context().span_id
    (attempt,) = otel.attempts(call)
    assert attempt.context.trace_id == handler.get_span_context().trace_id


def test_error_types_are_low_cardinality_names() -> None:
    from asyncsagemaker._telemetry.otel import error_type

    assert error_type(asyncsagemaker.ThrottlingException("x")) == "ThrottlingException"
    assert error_type(asyncsagemaker.ServiceError("x", code="BrandNewError")) == "BrandNewError"
    assert error_type(asyncsagemaker.ServiceError("x")) == "_OTHER"
    assert error_type(asyncsagemaker.StreamError("x", code="Odd")) == "Odd"
    assert error_type(asyncsagemaker.ReadTimeoutError("x")) == "ReadTimeoutError"
    assert error_type(ValueError("x")) == "ValueError"
    assert error_type(json.JSONDecodeError("x", "", 0)) == "json.decoder.JSONDecodeError"


class BrokenProcessor(SpanProcessor):
    """An application's span processor with a bug."""

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        raise RuntimeError("processor bug")

    def on_end(self, span: ReadableSpan) -> None:
        raise RuntimeError("processor bug")


async def test_a_failing_span_processor_never_fails_a_call(
    start_emulator: EmulatorFactory,
    otel: Otel,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(telemetry_otel, "_warned", False)
    otel.tracer_provider.add_span_processor(BrokenProcessor())
    emu = start_emulator(token_delay=0)
    with caplog.at_level(logging.DEBUG, "asyncsagemaker"):
        async with otel.client(emu) as client:
            answer = await client.invoke_endpoint("echo", body=b"still works")
            async with client.invoke_endpoint_with_response_stream("demo", body=tgi(3)) as stream:
                text = await stream.final_text()
    assert answer.body == b"still works" and text.split()
    failures = [r for r in caplog.records if "instrumentation failed" in r.getMessage()]
    assert failures and failures[0].levelno == logging.WARNING
    assert all(r.levelno == logging.DEBUG for r in failures[1:])  # warned once
