"""Edge cases found in review: every failure stays typed, nothing stays open."""

from __future__ import annotations

import asyncio
import datetime
import enum
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import botocore.config
import botocore.session
import pytest
from botocore.credentials import RefreshableCredentials

import asyncsagemaker
from asyncsagemaker import Config, ConfigurationError, CredentialsError, SageMakerRuntime
from asyncsagemaker._stream_call import StreamCall
from asyncsagemaker.emulator import Faults, Invocation
from asyncsagemaker.errors import ParamValidationError, UsageError
from asyncsagemaker.testing import MockResponse, MockTransport
from tests._support import NO_AIOBOTOCORE, ROOT
from tests.client._servers import client_for as raw_client_for
from tests.client._servers import raw_server, read_request
from tests.client.test_client_emulator import (
    AKID,
    SECRET,
    EmulatorFactory,
    client_for,
    slow_model,
    wait_for,
)

pytestmark = pytest.mark.anyio


async def test_aclose_from_another_task_closes_the_stream_under_its_reader(
    start_emulator: EmulatorFactory,
) -> None:
    closed: list[bool] = []
    emu = start_emulator(models={"slow": slow_model(closed)})
    async with client_for(emu) as client:
        stream = await client.invoke_endpoint_with_response_stream("slow", body=b"")

        async def reader() -> int:
            return len([part async for part in stream])

        task = asyncio.create_task(reader())
        await wait_for(lambda: stream.stats.parts >= 2)
        await stream.aclose()  # a "stop" button, from another task
        assert stream.closed
        parts = await asyncio.wait_for(task, 2)  # the reader's loop just ends
        assert parts >= 2
        record = emu.records[-1]
        await wait_for(lambda: record.ended is not None)
        assert record.outcome == "client_disconnected"


class ContentType(str, enum.Enum):
    CSV = "text/csv"


async def test_enum_and_bool_arguments_are_sent_as_values_and_checked(
    start_emulator: EmulatorFactory,
) -> None:
    seen: list[Invocation] = []

    async def capture(inv: Invocation) -> bytes:
        seen.append(inv)
        return b"ok"

    emu = start_emulator(models={"m": capture})
    async with client_for(emu) as client:
        await client.invoke_endpoint("m", body=b"", content_type=ContentType.CSV)
        await client.invoke_endpoint("m", body=b"", content_type="text/csv")
        await client.invoke_endpoint_async("m", input_location="s3://b/k", request_ttl_seconds=60)
        with pytest.raises(asyncsagemaker.ParamValidationError, match="must be an int"):
            await client.invoke_endpoint_async(
                "m",
                input_location="s3://b/k",
                request_ttl_seconds=60.0,  # type: ignore[arg-type]
            )
    assert [inv.content_type for inv in seen] == ["text/csv", "text/csv"]


def test_botocore_config_keeps_our_defaults_for_what_it_does_not_set() -> None:
    config = Config.coerce(botocore.config.Config(read_timeout=300))
    assert config.read_timeout == 300
    assert config.max_pool_connections == Config().max_pool_connections == 100
    assert config.connect_timeout == Config().connect_timeout


def test_aiobotocore_config_is_accepted() -> None:
    AioConfig = pytest.importorskip("aiobotocore.config", reason=NO_AIOBOTOCORE).AioConfig
    assert (
        Config.coerce(AioConfig(read_timeout=5, max_pool_connections=7)).max_pool_connections == 7
    )


def test_impossible_frame_limit_is_refused_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="max_message_bytes"):
        Config(max_message_bytes=10)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (502, b"null", asyncsagemaker.ServiceError),
        (502, b"[1, 2]", asyncsagemaker.ServiceError),
        (500, b"\xff\xfe\x00", asyncsagemaker.InternalFailure),
        (503, b'"oops"', asyncsagemaker.ServiceUnavailable),
        (400, b'{"__type": 5}', asyncsagemaker.ValidationError),
        (424, b'{"OriginalStatusCode": "not a number"}', asyncsagemaker.ModelError),
    ],
)
async def test_unreadable_error_bodies_still_give_typed_errors(
    status: int, body: bytes, error: type[asyncsagemaker.ServiceError]
) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (status, len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = SageMakerRuntime(
            "us-east-1",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id=AKID,
            aws_secret_access_key=SECRET,
            config=Config(max_attempts=1),
        )
        async with client:
            with pytest.raises(error) as caught:
                await client.invoke_endpoint("e", body=b"x")
        assert caught.value.status_code == status
    finally:
        server.close()


async def test_an_error_body_cut_off_is_still_retried() -> None:
    hits = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal hits
        hits += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        if hits == 1:  # a 503 whose body never arrives whole
            writer.write(b'HTTP/1.1 503 X\r\nContent-Length: 100\r\n\r\n{"message":')
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = SageMakerRuntime(
            "us-east-1",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id=AKID,
            aws_secret_access_key=SECRET,
            config=Config(backoff_base=0.01),
        )
        async with client:
            response = await client.invoke_endpoint("e", body=b"x")
        assert response.body == b"ok"
        assert hits == 2
    finally:
        server.close()


async def test_a_retry_the_deadline_forbids_costs_no_quota(start_emulator: EmulatorFactory) -> None:
    emu = start_emulator(faults={"echo": Faults(error_first=1000, error_status=503)})
    slow_backoff = {"backoff_base": 10_000.0, "max_backoff": 10_000.0}
    async with client_for(emu, total_timeout=0.5, **slow_backoff) as client:
        for _ in range(5):
            with pytest.raises(asyncsagemaker.ServiceUnavailable):
                await client.invoke_endpoint("echo", body=b"x")
        assert client._core.ready is not None
        assert client._core.ready.retry.quota == 500
    assert len(emu.records) == 5


async def test_closing_the_client_during_a_call_gives_client_closed_error(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(faults={"echo": Faults(error_first=3, error_status=503)})
    client = client_for(emu, backoff_base=0.5, max_attempts=5)
    async with client:
        call = asyncio.create_task(client.invoke_endpoint("echo", body=b"x"))
        await wait_for(lambda: len(emu.records) >= 1)
        await client.close()
        with pytest.raises(asyncsagemaker.ClientClosedError):
            await call


async def test_reading_a_stream_after_its_client_closed_is_typed(
    start_emulator: EmulatorFactory,
) -> None:
    closed: list[bool] = []
    emu = start_emulator(models={"slow": slow_model(closed)})
    client = client_for(emu)
    async with client:
        stream = await client.invoke_endpoint_with_response_stream("slow", body=b"")
    with pytest.raises(asyncsagemaker.StreamInterruptedError):
        async for _ in stream:
            pass
    assert stream.closed


def _write_config(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text(text)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))


async def test_a_missing_profile_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_config(tmp_path, "[default]\nregion = us-east-1\n", monkeypatch)
    with pytest.raises(ConfigurationError, match="nope"):
        async with SageMakerRuntime(endpoint_url="http://127.0.0.1:9", profile_name="nope"):
            pass


async def test_a_bad_max_attempts_in_the_profile_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_config(tmp_path, "[default]\nregion = us-east-1\nmax_attempts = three\n", monkeypatch)
    with pytest.raises(ConfigurationError, match="max_attempts"):
        async with SageMakerRuntime(
            endpoint_url="http://127.0.0.1:9", aws_access_key_id="a", aws_secret_access_key="b"
        ):
            pass


async def test_a_failing_credential_process_is_a_credentials_error_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_config(
        tmp_path,
        "[profile broken]\nregion = us-east-1\ncredential_process = false\n",
        monkeypatch,
    )
    with pytest.raises(CredentialsError, match="could not load AWS credentials"):
        async with SageMakerRuntime(endpoint_url="http://127.0.0.1:9", profile_name="broken"):
            pass


async def test_an_advisory_refresh_does_not_hold_up_other_calls(
    start_emulator: EmulatorFactory,
) -> None:
    attempts = 0

    def failing_refresh() -> dict[str, str]:
        nonlocal attempts
        attempts += 1
        time.sleep(0.5)
        raise RuntimeError("STS is down")

    def expiring_in(minutes: int) -> datetime.datetime:
        return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)

    credentials = RefreshableCredentials.create_from_metadata(
        {"access_key": AKID, "secret_key": SECRET, "token": "t", "expiry_time": "2000-01-01"},
        failing_refresh,
        "test",
    )
    credentials._expiry_time = expiring_in(12)  # inside the advisory window, not the mandatory
    session = botocore.session.Session()
    session.get_credentials = lambda: credentials
    emu = start_emulator(credentials={AKID: SECRET})
    async with SageMakerRuntime("us-east-1", endpoint_url=emu.url, botocore_session=session) as c:
        started = time.monotonic()
        await asyncio.gather(*(c.invoke_endpoint("echo", body=b"x") for _ in range(6)))
        assert time.monotonic() - started < 1.5  # one slow failed refresh at most, not six
        assert attempts <= 1
        credentials._expiry_time = expiring_in(5)  # now inside the mandatory window
        with pytest.raises(CredentialsError, match="STS is down"):
            await c.invoke_endpoint("echo", body=b"x")


# -- misuse says what to write ---------------------------------------------------------


async def test_new_session_on_a_streaming_call_says_only_invoke_endpoint_opens_one() -> None:
    client = SageMakerRuntime(
        "us-east-1",
        transport=MockTransport(lambda request: MockResponse(200)),
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
    )
    async with client:

        def stream() -> StreamCall:
            return client.invoke_endpoint_with_response_stream(
                "ep", body=b"", session_id="NEW_SESSION"
            )

        def chat() -> StreamCall:
            messages = [{"role": "user", "content": "hi"}]
            return client.chat_stream("ep", messages, session_id="NEW_SESSION")

        for call in (stream, chat):
            with pytest.raises(ParamValidationError, match="only invoke_endpoint can open") as info:
                async with call():
                    pass
            assert "pattern" not in str(info.value)
            assert "client.session(" in str(info.value)
        assert client._core.ready is not None
        assert client._core.ready.transport.requests == []  # type: ignore[attr-defined]


def test_a_failed_async_with_leaves_no_resource_warning() -> None:
    """No credentials: ``async with`` fails, and nothing is left open to warn about
    (in a child process, so that the warning of a client freed late is seen too)."""
    script = textwrap.dedent(
        """
        import asyncio, gc
        from asyncsagemaker import CredentialsError, SageMakerRuntime

        async def main():
            try:
                async with SageMakerRuntime("us-east-1"):
                    pass
            except CredentialsError:
                print("CredentialsError")
            gc.collect()

        asyncio.run(main())
        gc.collect()
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", script],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.stdout.strip() == "CredentialsError"
    assert "ResourceWarning" not in done.stderr
    assert "unclosed" not in done.stderr


@pytest.mark.parametrize("second", ["await", "async with"])
@pytest.mark.parametrize("first", ["await", "async with"])
async def test_a_call_awaited_or_entered_twice_is_a_usage_error(
    start_emulator: EmulatorFactory, first: str, second: str
) -> None:
    emu = start_emulator()
    async with client_for(emu) as client:
        call = client.invoke_endpoint_with_response_stream("echo", body=b"once")
        if first == "await":
            stream = await call
            await stream.aclose()
        else:
            async with call as stream:
                assert await stream.read() == b"once"
        with pytest.raises(UsageError, match="already awaited or entered") as info:
            if second == "await":
                await call
            else:
                async with call:
                    pass  # pragma: no cover
        assert "invoke_endpoint_with_response_stream(...) again" in str(info.value)
        assert len(emu.records) == 1  # nothing sent the second time


# -- error bodies are read up to a bound -------------------------------------------------


async def test_a_huge_error_body_is_read_only_up_to_a_bound() -> None:
    """A 400 whose body says it is 200 MB: the client reads 1 MiB and hangs up, and the
    message keeps the first KiBs and says the rest was cut."""
    total = 200 * 1024 * 1024
    sent: list[int] = []

    async def huge_refusal(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 400 Bad Request\r\nx-amzn-ErrorType: ValidationError\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % total
        )
        writer.write(b'{"message": "')
        piece = b"x" * 65536
        sent.append(0)
        while sent[0] < total:
            writer.write(piece)
            await writer.drain()  # the client hanging up ends this
            sent[0] += len(piece)

    async with raw_server(huge_refusal) as server:
        async with raw_client_for(server.url, max_attempts=1) as client:
            with pytest.raises(asyncsagemaker.ValidationError) as caught:
                await client.invoke_endpoint("ep", body=b"")
    error = caught.value
    assert error.status_code == 400
    assert len(str(error)) < 5000  # was a 209-million-character message
    assert error.message.startswith('{"message": "xxxx')
    assert "the error body was over 1048576 bytes; the rest was not read" in error.message
    assert sent[0] < 32 * 1024 * 1024  # the connection was closed, not drained


async def test_a_long_error_message_keeps_its_first_kibs() -> None:
    message = "why " * 50_000  # 200,000 characters, in a 200 KB body read whole

    async def long_refusal(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        body = json.dumps({"message": message, "OriginalMessage": message}).encode()
        writer.write(
            b"HTTP/1.1 424 Failed Dependency\r\nx-amzn-ErrorType: ModelError\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        await reader.read(1)  # until the client hangs up: closing first may lose the tail

    async with raw_server(long_refusal) as server:
        async with raw_client_for(server.url, max_attempts=1) as client:
            with pytest.raises(asyncsagemaker.ModelError) as caught:
                await client.invoke_endpoint("ep", body=b"")
    error = caught.value
    assert error.message == message[:4096] + f" [... {len(message) - 4096} more characters cut]"
    assert error.original_message is not None and len(error.original_message) < 4200
    assert str(error).startswith("ModelError (HTTP 424): why why")
