"""The client against the emulator on 127.0.0.1: parameters, metadata, faults, retries.

The emulator runs on a loop of its own in a thread, so each test's client loop
(asyncio or uvloop) holds only the client's own tasks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import gc
import inspect
import json
import logging
import time
import warnings
from collections.abc import AsyncIterator, Callable

import pytest

import asyncsagemaker
from asyncsagemaker import Config, SageMakerRuntime
from asyncsagemaker.emulator import (
    Emulator,
    Faults,
    Invocation,
    ModelErrorFault,
    ModelResponse,
    RequestRecord,
)
from tests._support import BOTH_LOOPS, needs_model_member

AKID, SECRET = "AKIDTESTCLIENT", "secret/with+special=chars"

pytestmark = pytest.mark.anyio

EmulatorFactory = Callable[..., Emulator]


def client_for(emulator: Emulator, **config: object) -> SageMakerRuntime:
    settings: dict[str, object] = {"backoff_base": 0.01, "read_timeout": 10.0}
    settings.update(config)
    return SageMakerRuntime(
        "us-east-1",
        endpoint_url=emulator.url,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=Config(**settings),  # type: ignore[arg-type]
    )


async def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> float:
    """Poll until ``predicate`` holds; return the seconds it took (bounded)."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def other_tasks() -> set[asyncio.Task[object]]:
    """Tasks besides this test's own (and the test runner's, which awaits it)."""
    current = asyncio.current_task()
    return {
        t
        for t in asyncio.all_tasks()
        if t is not current and "_call_in_runner_task" not in repr(t.get_coro())
    }


# -- models used by these tests ------------------------------------------------------


def capturing_model(seen: list[Invocation]) -> Callable[[Invocation], object]:
    async def handler(inv: Invocation) -> ModelResponse:
        seen.append(inv)

        async def parts() -> AsyncIterator[bytes]:
            yield b"first "
            yield b"second"

        return ModelResponse(
            body=parts() if inv.streaming else b'{"answer": 42}',
            content_type="application/x-answer",
            custom_attributes="reply=yes; trace=1",
            new_session_id="sess-2" if inv.session_id == "NEW_SESSION" else None,
            closed_session_id=inv.session_id if inv.body == b"close" else None,
        )

    return handler


def counting_model(parts: int, size: int = 16) -> Callable[[Invocation], AsyncIterator[bytes]]:
    async def handler(inv: Invocation) -> AsyncIterator[bytes]:
        for i in range(parts):
            yield (b"%08d" % i).ljust(size, b".")

    return handler


def slow_model(closed: list[bool]) -> Callable[[Invocation], AsyncIterator[bytes]]:
    async def handler(inv: Invocation) -> AsyncIterator[bytes]:
        try:
            for i in range(600):  # bounded: 30 s at most
                yield b"tok%d " % i
                await asyncio.sleep(0.05)
        finally:
            closed.append(True)

    return handler


# -- parameters and metadata ----------------------------------------------------------


@BOTH_LOOPS
async def test_every_stream_parameter_reaches_the_model_and_metadata_comes_back(
    start_emulator: EmulatorFactory,
) -> None:
    seen: list[Invocation] = []
    emu = start_emulator(models={"capture": capturing_model(seen)})
    async with client_for(emu) as client:  # the emulator routes only sessions that were opened
        opened = await client.invoke_endpoint("capture", body=b"", session_id="NEW_SESSION")
        assert opened.new_session_id == "sess-2"  # the id, not the header with "; Expires="
        expires = opened.new_session_expires_at
        assert expires is not None and expires.tzinfo is not None
        assert expires > datetime.datetime.now(datetime.timezone.utc)
    async with (
        client_for(emu) as client,
        client.invoke_endpoint_with_response_stream(
            "capture",
            body={"inputs": "héllo"},
            accept="text/event-stream",
            custom_attributes='trace=abc; user="x y"',
            target_variant="AllTraffic",
            target_container_hostname="c1",
            inference_id="inf-3",
            inference_component_name="ic-1",
            session_id="sess-2",
        ) as stream,
    ):
        parts = [part async for part in stream]
        assert parts == [b"first ", b"second"]
        assert stream.status_code == 200
        assert stream.content_type == "application/x-answer"
        assert stream.custom_attributes == "reply=yes; trace=1"
        assert stream.invoked_production_variant == "AllTraffic"
        assert stream.request_id == emu.records[-1].request_id
        assert stream.headers["Content-Type"] == "application/vnd.amazon.eventstream"
        stats = stream.stats
        assert stats.parts == 2
        assert stats.bytes == len(b"first second")
        assert stats.time_to_first_part is not None
        assert stats.duration is not None and stats.duration >= stats.time_to_first_part
    inv = seen[-1]
    assert inv.operation == "InvokeEndpointWithResponseStream"
    assert json.loads(inv.body) == {"inputs": "héllo"}
    assert inv.content_type == "application/json"
    assert inv.accept == "text/event-stream"
    assert inv.custom_attributes == 'trace=abc; user="x y"'
    assert inv.target_variant == "AllTraffic"
    assert inv.target_container_hostname == "c1"
    assert inv.inference_id == "inf-3"
    assert inv.inference_component_name == "ic-1"
    assert inv.session_id == "sess-2"
    # headers botocore would not send are not sent (docs/protocol.md §2.5)
    assert "accept" not in inv.headers
    assert inv.headers["accept-encoding"] == "identity"
    assert inv.headers["user-agent"].startswith("asyncsagemaker/")


async def test_every_invoke_endpoint_parameter_and_response_header(
    start_emulator: EmulatorFactory,
) -> None:
    seen: list[Invocation] = []
    emu = start_emulator(models={"capture": capturing_model(seen)})
    async with client_for(emu) as client:
        response = await client.invoke_endpoint(
            "capture",
            body=b"1,2,3",
            content_type="text/csv",
            accept="application/json",
            custom_attributes="a=1",
            target_model="model-a.tar.gz",
            target_variant="AllTraffic",
            target_container_hostname="c2",
            inference_id="inf-4",
            enable_explanations="`true`",
            inference_component_name="ic-2",
            session_id="NEW_SESSION",
        )
    assert response.body == b'{"answer": 42}'
    assert response.json() == {"answer": 42}
    assert response.text() == '{"answer": 42}'
    assert response.content_type == "application/x-answer"
    assert response.custom_attributes == "reply=yes; trace=1"
    assert response.invoked_production_variant == "AllTraffic"
    assert response.new_session_id == "sess-2"
    assert response.new_session_expires_at is not None
    assert response.closed_session_id is None
    assert response.request_id == emu.records[-1].request_id
    inv = seen[0]
    assert (inv.operation, inv.body, inv.content_type, inv.accept) == (
        "InvokeEndpoint",
        b"1,2,3",
        "text/csv",
        "application/json",
    )
    assert inv.custom_attributes == "a=1"
    assert inv.target_model == "model-a.tar.gz"
    assert inv.target_container_hostname == "c2"
    assert inv.inference_id == "inf-4"
    assert inv.enable_explanations == "`true`"
    assert inv.inference_component_name == "ic-2"
    assert inv.session_id == "NEW_SESSION"


async def test_closed_session_comes_back(start_emulator: EmulatorFactory) -> None:
    emu = start_emulator(models={"capture": capturing_model([])})
    async with client_for(emu) as client:
        await client.invoke_endpoint("capture", body=b"", session_id="NEW_SESSION")
        response = await client.invoke_endpoint("capture", body=b"close", session_id="sess-2")
    assert response.closed_session_id == "sess-2"


async def test_echo_round_trip_and_stream_of_parts(start_emulator: EmulatorFactory) -> None:
    emu = start_emulator()
    body = bytes(range(256)) * 3
    async with client_for(emu) as client:
        whole = await client.invoke_endpoint("echo", body=body, content_type="application/x-bin")
        assert whole.body == body
        assert whole.content_type == "application/x-bin"
        async with client.invoke_endpoint_with_response_stream(
            "echo", body=body, content_type="application/x-bin"
        ) as stream:
            parts = [part async for part in stream]
    assert b"".join(parts) == body
    assert all(len(part) <= 64 for part in parts)
    assert len(parts) == len(body) // 64


async def test_awaited_stream_without_async_with(start_emulator: EmulatorFactory) -> None:
    emu = start_emulator()
    async with client_for(emu) as client:
        stream = await client.invoke_endpoint_with_response_stream("echo", body=b"abc")
        assert await stream.read() == b"abc"
        assert stream.closed
        with pytest.raises(asyncsagemaker.StreamConsumedError):
            [part async for part in stream]


async def test_invoke_endpoint_async_returns_locations(
    start_emulator: EmulatorFactory, tmp_path: object
) -> None:
    emu = start_emulator(models={"echo": "echo"}, async_output_dir=tmp_path)
    (emu.async_output_dir / "bucket").mkdir(parents=True, exist_ok=True)
    (emu.async_output_dir / "bucket" / "input.json").write_bytes(b'{"x": 1}')
    async with client_for(emu) as client:
        accepted = await client.invoke_endpoint_async(
            "echo",
            input_location="s3://bucket/input.json",
            content_type="application/json",
            inference_id="job-1",
            request_ttl_seconds=600,
        )
    assert accepted.status_code == 202
    assert accepted.inference_id == "job-1"
    assert accepted.output_location is not None and accepted.output_location.startswith("s3://")
    assert accepted.failure_location is not None
    bucket, _, key = accepted.output_location[len("s3://") :].partition("/")
    output = emu.async_output_dir / bucket / key
    await wait_for(output.exists, timeout=5)
    assert output.read_bytes() == b'{"x": 1}'


# -- errors and faults ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "error", "code"),
    [
        (Faults(throttle_first=9), asyncsagemaker.ThrottlingException, "ThrottlingException"),
        (
            Faults(not_ready_first=9),
            asyncsagemaker.ModelNotReadyException,
            "ModelNotReadyException",
        ),
        (Faults(error_first=9, error_status=500), asyncsagemaker.InternalFailure, None),
        (Faults(error_first=9, error_status=503), asyncsagemaker.ServiceUnavailable, None),
        (Faults(error_first=9, error_status=502), asyncsagemaker.ServiceError, "502"),
        (
            Faults(error_first=9, error_status=530),
            asyncsagemaker.InternalDependencyException,
            None,
        ),
    ],
)
async def test_request_faults_become_typed_errors(
    start_emulator: EmulatorFactory,
    faults: Faults,
    error: type[asyncsagemaker.ServiceError],
    code: str | None,
) -> None:
    emu = start_emulator(faults={"echo": faults})
    async with client_for(emu, max_attempts=1) as client:
        with pytest.raises(error) as caught:
            async with client.invoke_endpoint_with_response_stream("echo", body=b"x"):
                pass
    assert type(caught.value) is error
    assert caught.value.request_id == emu.records[-1].request_id
    if code is not None:
        assert caught.value.code == code
    assert len(emu.records) == 1


async def test_model_error_is_typed_and_never_retried(start_emulator: EmulatorFactory) -> None:
    fault = ModelErrorFault(original_status_code=503, original_message="container overloaded")
    emu = start_emulator(faults={"echo": Faults(model_error=fault)})
    async with client_for(emu, max_attempts=5) as client:
        with pytest.raises(asyncsagemaker.ModelError) as caught:
            await client.invoke_endpoint("echo", body=b"x")
    assert caught.value.status_code == 424
    assert caught.value.original_status_code == 503
    assert caught.value.original_message == "container overloaded"
    assert caught.value.log_stream_arn and caught.value.log_stream_arn.startswith("arn:aws:logs:")
    assert len(emu.records) == 1


async def test_unknown_endpoint_is_a_validation_error_not_retried(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator()
    async with client_for(emu, max_attempts=5) as client:
        with pytest.raises(asyncsagemaker.ValidationError, match="not found"):
            await client.invoke_endpoint("nowhere", body=b"x")
    assert len(emu.records) == 1


@BOTH_LOOPS
@pytest.mark.parametrize(
    ("faults", "error", "detail"),
    [
        (
            Faults(stream_error_after=3, stream_error_code="StreamBroken"),
            asyncsagemaker.ModelStreamError,
            "StreamBroken",
        ),
        (
            Faults(stream_error_after=3, stream_error="InternalStreamFailure"),
            asyncsagemaker.InternalStreamFailure,
            None,
        ),
        (Faults(drop_after=3), asyncsagemaker.StreamInterruptedError, None),
        (Faults(drop_mid_frame_after=3), asyncsagemaker.ProtocolError, "middle of a message"),
        (Faults(corrupt_crc_after=3), asyncsagemaker.ProtocolError, "message checksum"),
    ],
)
async def test_stream_faults_raise_after_the_parts_before_them(
    start_emulator: EmulatorFactory, faults: Faults, error: type, detail: str | None
) -> None:
    emu = start_emulator(models={"count": counting_model(10)}, faults={"count": faults})
    received: list[bytes] = []
    async with client_for(emu, max_attempts=5) as client:
        with pytest.raises(error) as caught:
            async with client.invoke_endpoint_with_response_stream("count", body=b"") as stream:
                async for part in stream:
                    received.append(part)
        assert stream.closed
    assert len(received) == 3
    assert received[0].startswith(b"00000000")
    assert isinstance(caught.value, asyncsagemaker.StreamError)
    if isinstance(caught.value, asyncsagemaker.ModelStreamError):
        assert caught.value.error_code == detail
    elif detail is not None:
        assert detail in str(caught.value)
    assert len(emu.records) == 1  # a stream failure is never retried


async def test_one_byte_writes_still_give_whole_parts(start_emulator: EmulatorFactory) -> None:
    emu = start_emulator(
        models={"count": counting_model(20)}, faults={"count": Faults(byte_writes=True)}
    )
    async with client_for(emu) as client:
        async with client.invoke_endpoint_with_response_stream("count", body=b"") as stream:
            parts = [part async for part in stream]
    assert [p[:8] for p in parts] == [b"%08d" % i for i in range(20)]


async def test_connection_refused_is_a_network_error_after_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = SageMakerRuntime(
        "us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=Config(max_attempts=3, backoff_base=0.01),
    )
    caplog.set_level(logging.DEBUG, logger="asyncsagemaker")
    async with client:
        with pytest.raises(asyncsagemaker.NetworkError) as caught:
            await client.invoke_endpoint("echo", body=b"x")
    assert isinstance(caught.value, ConnectionError)
    attempts = [r.getMessage() for r in caplog.records if "attempt" in r.getMessage()]
    assert [m.split("attempt ")[1][:3] for m in attempts] == ["1/3", "2/3", "3/3"]


# -- retries ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [
        Faults(throttle_first=2),
        Faults(not_ready_first=2),
        Faults(error_first=2, error_status=500),
        Faults(error_first=2, error_status=502),
        Faults(error_first=2, error_status=503),
    ],
)
async def test_retryable_faults_succeed_on_a_later_attempt(
    start_emulator: EmulatorFactory, faults: Faults, caplog: pytest.LogCaptureFixture
) -> None:
    emu = start_emulator(faults={"echo": faults})
    caplog.set_level(logging.DEBUG, logger="asyncsagemaker")
    async with client_for(emu, max_attempts=3) as client:
        async with client.invoke_endpoint_with_response_stream("echo", body=b"hello") as stream:
            assert await stream.read() == b"hello"
    assert len(emu.records) == 3
    lines = [r.getMessage() for r in caplog.records if r.name == "asyncsagemaker"]
    assert "attempt 1/3" in lines[0] and "retrying" in lines[0]
    assert "attempt 3/3: HTTP 200" in lines[-1]
    retried = {r.headers["amz-sdk-invocation-id"] for r in emu.records}
    assert len(retried) == 1  # one invocation id across the attempts, as botocore does
    assert [r.headers["amz-sdk-request"].split(";")[0] for r in emu.records] == [
        "attempt=1",
        "attempt=2",
        "attempt=3",
    ]


async def test_attempts_are_bounded(start_emulator: EmulatorFactory) -> None:
    emu = start_emulator(faults={"echo": Faults(error_first=10, error_status=503)})
    async with client_for(emu, max_attempts=4) as client:
        with pytest.raises(asyncsagemaker.ServiceUnavailable):
            await client.invoke_endpoint("echo", body=b"x")
    assert len(emu.records) == 4


async def test_legacy_mode_does_not_retry_what_it_does_not_know(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(faults={"echo": Faults(error_first=3, error_status=530)})
    async with client_for(emu, retry_mode="legacy", max_attempts=5) as client:
        with pytest.raises(asyncsagemaker.InternalDependencyException):
            await client.invoke_endpoint("echo", body=b"x")
    assert len(emu.records) == 1


# -- timeouts ---------------------------------------------------------------------------


@BOTH_LOOPS
async def test_a_stall_longer_than_read_timeout_raises_a_timeout(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(
        models={"count": counting_model(5)},
        faults={"count": Faults(stall_seconds=3.0, stall_after=2)},
    )
    received = []
    async with client_for(emu, read_timeout=0.3) as client:
        with pytest.raises(asyncsagemaker.ReadTimeoutError) as caught:
            async with client.invoke_endpoint_with_response_stream("count", body=b"") as stream:
                async for part in stream:
                    received.append(part)
    assert isinstance(caught.value, TimeoutError)
    assert len(received) == 2


async def test_total_timeout_bounds_the_whole_stream(start_emulator: EmulatorFactory) -> None:
    closed: list[bool] = []
    emu = start_emulator(models={"slow": slow_model(closed)})
    async with client_for(emu, total_timeout=0.4, read_timeout=5) as client:
        started = time.monotonic()
        with pytest.raises(asyncsagemaker.DeadlineExceededError) as caught:
            async with client.invoke_endpoint_with_response_stream("slow", body=b"") as stream:
                async for _ in stream:
                    pass
        assert time.monotonic() - started < 3
    assert isinstance(caught.value, TimeoutError)
    await wait_for(lambda: bool(closed))


# -- cancellation and closing -------------------------------------------------------------


async def _first_part_then(emu: Emulator, action: str) -> RequestRecord:
    async with client_for(emu) as client:
        if action == "cancel":

            async def consume() -> None:
                async with client.invoke_endpoint_with_response_stream("slow", body=b"") as s:
                    async for _ in s:
                        started.set()

            started = asyncio.Event()
            task = asyncio.create_task(consume())
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        elif action == "break":
            async with client.invoke_endpoint_with_response_stream("slow", body=b"") as s:
                async for _ in s:
                    break
        elif action == "exit":
            async with client.invoke_endpoint_with_response_stream("slow", body=b"") as s:
                await s.__aiter__().__anext__()
        elif action == "bare-break":
            stream = await client.invoke_endpoint_with_response_stream("slow", body=b"")
            async for _ in stream:
                break
        elif action == "exception":
            with pytest.raises(KeyError):
                async with client.invoke_endpoint_with_response_stream("slow", body=b"") as s:
                    async for _ in s:
                        raise KeyError("consumer bug")
        closed_at = time.monotonic()
        record = emu.records[-1]
        took = await wait_for(lambda: record.ended is not None, timeout=1.0)
        assert took < 1.0
        assert record.outcome == "client_disconnected"
        assert record.ended is not None and record.ended - closed_at < 1.0
        await asyncio.sleep(0)
        assert other_tasks() == set()
    return record


@BOTH_LOOPS
@pytest.mark.parametrize("action", ["cancel", "break", "exit", "bare-break", "exception"])
async def test_leaving_early_closes_the_connection_at_once(
    start_emulator: EmulatorFactory, action: str
) -> None:
    closed: list[bool] = []
    emu = start_emulator(models={"slow": slow_model(closed)})
    record = await _first_part_then(emu, action)
    assert record.parts_sent < 20
    await wait_for(lambda: bool(closed))  # the model generator was closed too


async def test_garbage_collected_stream_and_client_warn(start_emulator: EmulatorFactory) -> None:
    emu = start_emulator()
    client = client_for(emu)
    stream = await client.invoke_endpoint_with_response_stream("echo", body=b"x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del stream
        gc.collect()
        assert any(
            issubclass(w.category, ResourceWarning) and "ResponseStream" in str(w.message)
            for w in caught
        )
    assert client._core.ready is not None
    transport = client._core.ready.transport  # to close the pool after the warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
        assert any(
            issubclass(w.category, ResourceWarning) and "SageMakerRuntime" in str(w.message)
            for w in caught
        )
    await transport.aclose()


async def test_closed_client_refuses_calls(start_emulator: EmulatorFactory) -> None:
    emu = start_emulator()
    client = client_for(emu)
    async with client:
        await client.invoke_endpoint("echo", body=b"x")
    with pytest.raises(asyncsagemaker.ClientClosedError):
        await client.invoke_endpoint("echo", body=b"x")


# -- members of newer service models ---------------------------------------------------


@needs_model_member("InvokeEndpoint", "PrefixAwareId")
async def test_prefix_aware_id_is_a_keyword_of_both_calls_and_reaches_the_model(
    start_emulator: EmulatorFactory,
) -> None:
    seen: list[Invocation] = []
    emu = start_emulator(models={"capture": capturing_model(seen)})
    async with client_for(emu) as client:
        await client.invoke_endpoint("capture", body=b"", prefix_aware_id="app-1")
        async with client.invoke_endpoint_with_response_stream(
            "capture", body=b"", prefix_aware_id="app-2"
        ) as stream:
            await stream.read()
        messages = [{"role": "user", "content": "hi"}]
        async with client.chat_stream("capture", messages, prefix_aware_id="app-3") as stream:
            await stream.read()
        for bad in (" leading space", "x" * 65, ""):
            with pytest.raises(asyncsagemaker.ParamValidationError, match="prefix_aware_id"):
                await client.invoke_endpoint("capture", body=b"", prefix_aware_id=bad)
    assert [inv.prefix_aware_id for inv in seen] == ["app-1", "app-2", "app-3"]
    for method in (
        SageMakerRuntime.invoke_endpoint,
        SageMakerRuntime.invoke_endpoint_with_response_stream,
    ):
        parameter = inspect.signature(method).parameters["prefix_aware_id"]  # typed, documented
        assert (parameter.kind, parameter.annotation) == (parameter.KEYWORD_ONLY, "str | None")
    assert "body" in inspect.signature(SageMakerRuntime.invoke_endpoint_async).parameters
    assert len(emu.records) == 3  # the bad ones were refused before sending


@needs_model_member("InvokeEndpointAsync", "Body")
async def test_invoke_endpoint_async_takes_an_inline_body(
    start_emulator: EmulatorFactory, tmp_path: object
) -> None:
    emu = start_emulator(models={"echo": "echo"}, async_output_dir=tmp_path)
    async with client_for(emu) as client:
        accepted = await client.invoke_endpoint_async("echo", body={"inline": True})
        bucket, _, key = str(accepted.output_location)[len("s3://") :].partition("/")
        output = emu.async_output_dir / bucket / key
        await wait_for(output.exists, timeout=5)
        assert json.loads(output.read_bytes()) == {"inline": True}
        for kwargs, why in [
            ({"input_location": "s3://b/k", "body": b"x"}, "not both"),
            ({}, "got neither"),
            ({"body": b"x" * 128_001}, "at most 128000"),
        ]:
            with pytest.raises(asyncsagemaker.ParamValidationError, match=why) as caught:
                await client.invoke_endpoint_async("echo", **kwargs)  # type: ignore[arg-type]
            assert "input_location" in str(caught.value) or why.startswith("at most")
    assert len(emu.records) == 1  # nothing else was sent


@pytest.mark.parametrize(
    ("operation", "keyword", "member", "release"),
    [
        ("InvokeEndpoint", "prefix_aware_id", "PrefixAwareId", "1.43.68"),
        ("InvokeEndpointWithResponseStream", "prefix_aware_id", "PrefixAwareId", "1.43.68"),
        ("InvokeEndpointAsync", "body", "Body", "1.43.29"),
    ],
)
async def test_a_member_an_older_botocore_lacks_names_the_botocore_that_has_it(
    start_emulator: EmulatorFactory, operation: str, keyword: str, member: str, release: str
) -> None:
    emu = start_emulator(models={"echo": "echo"})
    async with client_for(emu) as client:
        await client.invoke_endpoint("echo", body=b"")  # ready: the model is loaded
        ready = client._core.ready
        assert ready is not None
        real = ready.operations[operation]
        older = dataclasses.replace(  # the model of a botocore before the member came
            real,
            members={k: v for k, v in real.members.items() if k != keyword},
            payload=None if real.payload == keyword else real.payload,
        )
        params = {"body": b""} if older.payload == "body" else {"input_location": "s3://b/k"}
        with pytest.raises(asyncsagemaker.ParamValidationError) as caught:
            older.prepare("echo", {**params, keyword: "x"})
    assert f"has no {member}: it came with botocore {release}" in str(caught.value)
