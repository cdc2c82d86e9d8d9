"""A bidirectional stream is a call like the others: one client span, its attempts, metrics.

Driven against the emulator's HTTP/2 listener (h2c), read back from the SDK's memory
exporters: the span names the operation and the HTTP/2 endpoint it went to, an
attempt span per try (protocol version 2), the first part as an event, the call's
failure as ``error.type``, and the duration histogram.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from asyncsagemaker import ModelStreamError, ThrottlingException
from asyncsagemaker._telemetry.otel import FIRST_PART_EVENT
from asyncsagemaker.emulator import BidiFaults, Emulator
from tests._support import BOTH_LOOPS
from tests.observability._support import AKID, SECRET, Otel, attributes

pytestmark = pytest.mark.anyio

EmulatorFactory = Callable[..., Emulator]
OPERATION = "invoke_endpoint_with_bidirectional_stream"
DURATION = "gen_ai.client.operation.duration"


def bidi_emulator(start_emulator: EmulatorFactory, **options: object) -> Emulator:
    return start_emulator(bidi_port=0, token_delay=0, credentials={AKID: SECRET}, **options)


def expected_call(emu: Emulator, request_id: str | None) -> dict[str, object]:
    port = urlsplit(emu.bidi_url).port
    return {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.provider.name": "aws.sagemaker",
        "gen_ai.request.model": "echo",
        "server.address": "127.0.0.1",
        "server.port": port,
        "rpc.system": "aws-api",
        "rpc.service": "SageMaker Runtime",
        "rpc.method": "InvokeEndpointWithBidirectionalStream",
        "cloud.region": "us-east-1",
        "gen_ai.request.stream": True,
        "aws.request_id": request_id,
    }


@BOTH_LOOPS
async def test_a_duplex_stream_is_one_client_span_with_one_http2_attempt(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = bidi_emulator(start_emulator)
    async with otel.client(emu, bidi_endpoint_url=emu.bidi_url) as client:
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
            await duplex.send("hello")
            await duplex.send("again")
            await duplex.end_input()
            echoed = [part.text async for part in duplex]
            assert otel.call_spans() == []  # the span lasts as long as the stream
        assert echoed == ["hello", "again"]
    span = otel.call_span()
    assert span.name == f"{OPERATION} echo"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    found = attributes(span)
    first_chunk = found.pop("gen_ai.response.time_to_first_chunk")
    assert isinstance(first_chunk, float) and first_chunk > 0
    assert found == expected_call(emu, duplex.request_id)
    assert duplex.request_id  # the emulator's x-amzn-RequestId
    assert [event.name for event in span.events] == [FIRST_PART_EVENT]

    (attempt,) = otel.attempts(span)
    assert attributes(attempt) == {
        "http.request.method": "POST",
        "url.full": f"{emu.bidi_url}/endpoints/echo/invocations-bidirectional-stream",
        "server.address": "127.0.0.1",
        "server.port": urlsplit(emu.bidi_url).port,
        "network.protocol.version": "2",
        "http.response.status_code": 200,
        "aws.request_id": duplex.request_id,
    }
    (duration,) = otel.points(DURATION)
    assert attributes(duration) == {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.provider.name": "aws.sagemaker",
        "gen_ai.request.model": "echo",
        "server.address": "127.0.0.1",
        "server.port": urlsplit(emu.bidi_url).port,
    }


async def test_a_retried_refusal_shows_as_attempt_spans_and_the_stream_succeeds(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = bidi_emulator(start_emulator, bidi_faults={"echo": BidiFaults(throttle_first=1)})
    async with otel.client(emu, bidi_endpoint_url=emu.bidi_url) as client:
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
            await duplex.end_input()
            assert [part async for part in duplex] == []
    span = otel.call_span()
    assert span.status.status_code is StatusCode.UNSET
    throttled, accepted = otel.attempts(span)
    assert attributes(throttled)["error.type"] == "400"
    assert attributes(throttled)["http.response.status_code"] == 400
    assert throttled.status.description == "ThrottlingException"
    assert attributes(accepted)["http.request.resend_count"] == 1
    assert attributes(accepted)["http.response.status_code"] == 200


async def test_a_refusal_that_outlasts_the_retries_is_the_call_error(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = bidi_emulator(start_emulator, bidi_faults={"echo": BidiFaults(throttle_first=9)})
    async with otel.client(emu, bidi_endpoint_url=emu.bidi_url) as client:
        with pytest.raises(ThrottlingException):
            async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                pass
    span = otel.call_span()
    assert span.status.status_code is StatusCode.ERROR
    assert attributes(span)["error.type"] == "ThrottlingException"
    assert len(otel.attempts(span)) == 3
    (duration,) = otel.points(DURATION)
    assert attributes(duration)["error.type"] == "ThrottlingException"


async def test_a_stream_that_fails_midway_is_the_call_error(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    faults = BidiFaults(stream_error_after=1, stream_error_code="ModelFailed")
    emu = bidi_emulator(start_emulator, bidi_faults={"echo": faults})
    async with otel.client(emu, bidi_endpoint_url=emu.bidi_url) as client:
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
            await duplex.send("one")
            await duplex.send("two")
            received = []
            with pytest.raises(ModelStreamError):
                async for part in duplex:
                    received.append(part.text)
    assert received == ["one"]
    span = otel.call_span()
    assert span.status.status_code is StatusCode.ERROR
    assert attributes(span)["error.type"] == "ModelStreamError"
    assert attributes(span)["aws.request_id"] == duplex.request_id


async def test_closing_early_ends_the_span_without_an_error(
    start_emulator: EmulatorFactory, otel: Otel
) -> None:
    emu = bidi_emulator(start_emulator)
    async with otel.client(emu, bidi_endpoint_url=emu.bidi_url) as client:
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
            await duplex.send("hello")
            async for part in duplex:
                assert part.text == "hello"
                break  # leave with the input still open: the stream is reset
    span = otel.call_span()
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in attributes(span)
