"""The faults that used to slip through the client's layers, each typed now and never a hang."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import botocore.session
import pytest

import asyncsagemaker
from asyncsagemaker import Config, SageMakerRuntime
from asyncsagemaker.emulator import Emulator, Invocation
from asyncsagemaker.testing import MockResponse, MockTransport, Request, event_stream
from tests._support import ROOT

from ._servers import STREAM_HEAD, chunk, client_for, raw_server, read_request

pytestmark = pytest.mark.anyio

_MALFORMED_CHUNK_SCRIPT = """
import asyncio, json, time
from tests.client._servers import STREAM_HEAD, chunk, client_for, raw_server, read_request
from asyncsagemaker.testing import event_stream

async def handle(reader, writer):
    await read_request(reader)
    writer.write(STREAM_HEAD + chunk(event_stream(b"first")))
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.write(b"zz-not-a-chunk-size\\r\\nxx\\r\\n")  # a malformed chunk-size line
    await writer.drain()
    await asyncio.sleep(5)  # the server keeps the connection open

async def main():
    async with raw_server(handle) as server:
        parts, started = [], time.monotonic()
        async with client_for(server.url, read_timeout=30) as client:
            try:
                async with client.invoke_endpoint_with_response_stream("e", body=b"x") as stream:
                    async for part in stream:
                        parts.append(part.decode())
            except Exception as exc:
                print(json.dumps({"error": type(exc).__name__, "module": type(exc).__module__,
                                  "parts": parts, "seconds": time.monotonic() - started,
                                  "request_id": getattr(exc, "request_id", None)}))

asyncio.run(main())
"""


@pytest.mark.parametrize("parser", ["c", "python"])
def test_a_malformed_chunk_mid_stream_is_a_typed_error_at_once(parser: str) -> None:
    # The C parser used to hang the stream forever; the Python one let aiohttp's
    # TransferEncodingError escape.  Both parsers are checked in a child process,
    # since aiohttp picks its parser when it is imported.
    env = dict(os.environ)
    env.pop("AIOHTTP_NO_EXTENSIONS", None)
    if parser == "python":
        env["AIOHTTP_NO_EXTENSIONS"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", _MALFORMED_CHUNK_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    import json

    outcome = json.loads(result.stdout)
    assert outcome["error"] == "StreamInterruptedError", outcome
    assert outcome["module"] == "asyncsagemaker.errors"
    assert outcome["parts"] == ["first"]  # the part before the fault came through first
    assert outcome["seconds"] < 3  # not read_timeout (30 s), not forever
    assert outcome["request_id"] == "rid-raw-1"


async def test_total_timeout_covers_waiting_for_credentials() -> None:
    def hanging_chain() -> None:
        time.sleep(3)  # an SSO or IMDS call that hangs

    session = botocore.session.Session()
    session.get_credentials = hanging_chain
    transport = MockTransport(lambda request: MockResponse(200, body=b"ok"))
    client = SageMakerRuntime(
        "us-east-1",
        botocore_session=session,
        config=Config(total_timeout=1.0),
        transport=transport,
    )
    started = time.monotonic()
    with pytest.raises(asyncsagemaker.DeadlineExceededError):
        await client.invoke_endpoint("e", body=b"x")
    assert time.monotonic() - started < 1.8
    assert transport.requests == []
    await client.close()


@pytest.mark.parametrize("region", ["us-east-1\nX", "us east 1", "", "us-east-1/", "a" * 70])
async def test_a_bad_region_is_refused_when_the_client_is_made(region: str) -> None:
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with raw_server(never) as server:
        with pytest.raises(asyncsagemaker.ConfigurationError, match="region"):
            SageMakerRuntime(region, endpoint_url=server.url)
    assert server.connections == 0


async def test_a_bad_region_from_the_environment_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1\nX")
    transport = MockTransport(lambda request: MockResponse(200))
    client = SageMakerRuntime(aws_access_key_id="a", aws_secret_access_key="b", transport=transport)
    with pytest.raises(asyncsagemaker.ConfigurationError, match="region"):
        await client.invoke_endpoint("e", body=b"x")
    assert transport.requests == []


@pytest.mark.parametrize("content", [None, b"not a certificate"])
async def test_a_ca_bundle_that_cannot_be_used_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes | None
) -> None:
    bundle = tmp_path / "ca.pem"
    if content is not None:
        bundle.write_bytes(content)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    client = SageMakerRuntime(
        "us-east-1",
        endpoint_url="https://127.0.0.1:9",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    with pytest.raises(asyncsagemaker.ConfigurationError, match="CA bundle") as caught:
        async with client:
            pass
    assert str(bundle) in str(caught.value)


async def test_one_tls_context_per_ca_bundle_per_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trustme

    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))

    async def context() -> object:
        client = SageMakerRuntime(
            "us-east-1", endpoint_url="https://127.0.0.1:9", aws_access_key_id="a",
            aws_secret_access_key="b",
        )  # fmt: skip
        async with client:
            settings = client._core.ready.settings if client._core.ready else None
            assert settings is not None and settings.ca_bundle == str(bundle)
            return settings.ssl_context

    first = await context()
    assert first is not None
    assert await context() is first  # a second client: the same context
    trustme.CA().cert_pem.write_to_path(str(bundle))  # another CA in the same file
    os.utime(bundle, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert await context() is not first


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("caf\udce9", "lone surrogate"),
        ({"x": float("nan")}, "JSON"),
        ({"x": float("inf")}, "JSON"),
        ({"text": "ok", "bad": "\ud800"}, "lone surrogate"),
    ],
)
async def test_bodies_that_cannot_be_encoded_are_refused_before_sending(
    body: object, reason: str
) -> None:
    transport = MockTransport(lambda request: MockResponse(200))
    client = SageMakerRuntime(
        "us-east-1", aws_access_key_id="a", aws_secret_access_key="b", transport=transport
    )
    async with client:
        with pytest.raises(asyncsagemaker.ParamValidationError, match=reason):
            await client.invoke_endpoint("e", body=body)
        with pytest.raises(asyncsagemaker.ParamValidationError, match=reason):
            await client.invoke_endpoint_with_response_stream("e", body=body)
    assert transport.requests == []


async def test_read_timeout_counts_only_while_the_reader_waits() -> None:
    # All parts are sent at once; the consumer takes longer than read_timeout over
    # each.  That is a slow consumer, not an idle model: no timeout.
    parts = [b"%d" % i for i in range(4)]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(STREAM_HEAD + chunk(event_stream(*parts)) + b"0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(3)

    async with raw_server(handle) as server, client_for(server.url, read_timeout=0.2) as client:
        got = []
        async with client.invoke_endpoint_with_response_stream("e", body=b"x") as stream:
            async for part in stream:
                got.append(part)
                await asyncio.sleep(0.35)
    assert got == parts


async def test_an_idle_model_between_parts_is_a_read_timeout_with_the_request_id() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(STREAM_HEAD + chunk(event_stream(b"one")))
        await writer.drain()
        await asyncio.sleep(3)  # then nothing

    async with raw_server(handle) as server, client_for(server.url, read_timeout=0.3) as client:
        async with client.invoke_endpoint_with_response_stream("e", body=b"x") as stream:
            got = []
            started = time.monotonic()
            with pytest.raises(asyncsagemaker.ReadTimeoutError) as caught:
                async for part in stream:
                    got.append(part)
            waited = time.monotonic() - started
    assert got == [b"one"]
    assert 0.25 < waited < 1.5
    assert caught.value.request_id == "rid-raw-1"
    assert stream.closed


async def test_waiting_for_a_pooled_connection_is_bounded_by_total_timeout() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(STREAM_HEAD + chunk(event_stream(b"x")))
        await writer.drain()
        await asyncio.sleep(3)

    async with raw_server(slow) as server:
        client = client_for(server.url, max_pool_connections=1, total_timeout=0.6)
        async with client:
            holder = await client.invoke_endpoint_with_response_stream("e", body=b"x")
            started = time.monotonic()
            with pytest.raises(asyncsagemaker.DeadlineExceededError):
                await client.invoke_endpoint("e", body=b"x")  # waits for the one connection
            assert time.monotonic() - started < 1.2
            await holder.aclose()


def test_mock_transport_requests_are_signed_as_sent() -> None:
    async def main() -> Request:
        transport = MockTransport(lambda request: MockResponse(200, body=b"{}"))
        async with SageMakerRuntime(
            "us-east-1", aws_access_key_id="AKID", aws_secret_access_key="s", transport=transport
        ) as client:
            await client.invoke_endpoint("my-endpoint", body={"a": 1})
        return transport.requests[0]

    request = asyncio.run(main())
    assert request.url == (
        "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/my-endpoint/invocations"
    )
    assert request.body == b'{"a":1}'
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKID/")
    assert request.headers["Content-Type"] == "application/json"


async def test_a_flood_of_data_still_lets_a_cancellation_and_other_tasks_in(
    start_emulator: Callable[..., Emulator],
) -> None:
    # The model (in the emulator's thread) writes as fast as the socket takes.  anyio
    # (and so Starlette) cancels only a task it finds waiting on an unfinished future;
    # when every turn of the loop brings data, a reader may never be found so, and a
    # relay whose client left read the whole answer (seen with the FastAPI example
    # under a slow interpreter).  The body gives the loop a bare turn now and then;
    # here a cancellation during a flood must end the stream promptly.
    async def flood(inv: Invocation) -> AsyncIterator[bytes]:
        for index in range(100_000):  # bounded: about 100 MB at most
            yield b"%08d" % index + b"x" * 992

    emu = start_emulator(models={"flood": flood})
    parts = 0
    async with client_for(emu.url) as client:
        started = time.monotonic()
        with anyio.move_on_after(0.5):
            async with client.invoke_endpoint_with_response_stream("flood", body=b"x") as s:
                async for _ in s:
                    parts += 1  # awaits nothing itself, and takes its time
                    sum(range(2000))
        stopped = time.monotonic() - started
    assert stopped < 2.0
    assert 0 < parts < 100_000
