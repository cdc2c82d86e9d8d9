"""The client and stream logic above the seam, driven through MockTransport (no sockets)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import asyncsagemaker
from asyncsagemaker import Config, SageMakerRuntime
from asyncsagemaker.emulator._streaming import exception_frame
from asyncsagemaker.testing import MockResponse, MockTransport, Request, event_stream

pytestmark = pytest.mark.anyio

HEADERS = {"x-amzn-RequestId": "rid-mock", "X-Amzn-SageMaker-Content-Type": "text/plain"}


def client_with(transport: MockTransport, **config: object) -> SageMakerRuntime:
    return SageMakerRuntime(
        "us-east-1",
        aws_access_key_id="AKID",
        aws_secret_access_key="secret",
        transport=transport,
        config=Config(backoff_base=0.001, **config),  # type: ignore[arg-type]
    )


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(st.binary(max_size=40), min_size=0, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_a_stream_gives_the_same_parts_in_any_chunking(parts: list[bytes], cuts: list[int]) -> None:
    chunks = split(event_stream(*parts), cuts)

    async def main() -> tuple[list[bytes], MockTransport]:
        transport = MockTransport(lambda request: MockResponse(200, HEADERS, chunks))
        async with client_with(transport) as client:
            async with client.invoke_endpoint_with_response_stream("e", body=b"x") as stream:
                got = [part async for part in stream]
                assert stream.content_type == "text/plain"
                assert stream.request_id == "rid-mock"
        return got, transport

    got, transport = asyncio.run(main())
    assert got == parts
    assert transport.requests[0].url.endswith("/endpoints/e/invocations-response-stream")


async def test_a_clean_end_releases_and_an_early_exit_aborts() -> None:
    bodies: list[object] = []

    def handler(request: Request) -> MockResponse:
        return MockResponse(200, HEADERS, [event_stream(b"a"), event_stream(b"b")])

    transport = MockTransport(handler)
    original = transport.send

    async def send(request: Request, deadline: object) -> object:
        response = await original(request, deadline)  # type: ignore[arg-type]
        bodies.append(response.body)
        return response

    transport.send = send  # type: ignore[method-assign, assignment]
    async with client_with(transport) as client:
        async with client.invoke_endpoint_with_response_stream("e", body=b"x") as stream:
            assert [part async for part in stream] == [b"a", b"b"]
        async with client.invoke_endpoint_with_response_stream("e", body=b"x") as stream:
            async for _ in stream:
                break
    first, second = bodies
    assert first.released and not first.aborted  # type: ignore[attr-defined]
    assert second.aborted and not second.released  # type: ignore[attr-defined]


async def test_retries_happen_above_the_transport_with_fresh_signatures() -> None:
    answers = iter([MockResponse(503, {"x-amzn-ErrorType": "ServiceUnavailable"}, b"{}")] * 2)

    def handler(request: Request) -> MockResponse:
        return next(answers, MockResponse(200, HEADERS, b"ok"))

    transport = MockTransport(handler)
    async with client_with(transport) as client:
        answer = await client.invoke_endpoint("e", body=b"x")
    assert answer.body == b"ok"
    attempts = [request.headers["amz-sdk-request"] for request in transport.requests]
    assert attempts == ["attempt=1; max=3", "attempt=2; max=3", "attempt=3; max=3"]
    assert len({request.headers["amz-sdk-invocation-id"] for request in transport.requests}) == 1


async def test_an_exception_frame_after_parts_is_typed_and_carries_the_request_id() -> None:
    body = [event_stream(b"one"), exception_frame("ModelStreamError", "boom", "StreamBroken")]
    transport = MockTransport(lambda request: MockResponse(200, HEADERS, body))
    got = []
    async with client_with(transport) as client:
        with pytest.raises(asyncsagemaker.ModelStreamError) as caught:
            async with client.invoke_endpoint_with_response_stream("e", body=b"x") as stream:
                async for part in stream:
                    got.append(part)
    assert got == [b"one"]
    assert caught.value.error_code == "StreamBroken"
    assert caught.value.request_id == "rid-mock"


async def test_a_view_error_carries_the_request_id_too() -> None:
    body = [event_stream(b'{"ok": 1}\n', b"not json\n")]
    transport = MockTransport(lambda request: MockResponse(200, HEADERS, body))
    async with client_with(transport) as client:
        async with client.invoke_endpoint_with_response_stream("e", body=b"x") as stream:
            with pytest.raises(asyncsagemaker.JSONLineError) as caught:
                async for _ in stream.json_lines():
                    pass
    assert caught.value.request_id == "rid-mock"


async def test_the_idle_limit_applies_to_a_mock_body_as_to_a_socket() -> None:
    async def slow() -> AsyncIterator[bytes]:
        yield event_stream(b"first")
        await asyncio.sleep(5)
        yield event_stream(b"never")

    transport = MockTransport(lambda request: MockResponse(200, HEADERS, slow()))
    async with client_with(transport, read_timeout=0.2) as client:
        async with client.invoke_endpoint_with_response_stream("e", body=b"x") as stream:
            with pytest.raises(asyncsagemaker.ReadTimeoutError):
                async for _ in stream:
                    pass
    assert stream.stats.parts == 1
