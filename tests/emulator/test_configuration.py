"""Wire bytes against the shared vectors, and configuration mistakes refused with clear errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import aiohttp
import pytest

from asyncsagemaker.emulator import Emulator, Faults, Invocation, ModelErrorFault
from asyncsagemaker.emulator._faults import parse_fault_option
from asyncsagemaker.emulator._streaming import PAYLOAD_PART_HEADERS, exception_frame
from asyncsagemaker.eventstream import frame
from tests._support import DATA

from ._support import boto3_client

VECTORS = DATA / "sagemaker-frames"
Start = Callable[..., Emulator]


def vector(name: str) -> bytes:
    return (VECTORS / f"{name}.bin").read_bytes()


def test_frames_are_byte_identical_to_the_reference_vectors() -> None:
    payload = b'data: {"token": {"text": " Hello"}}\n\n'
    assert frame(PAYLOAD_PART_HEADERS, payload) == vector("payload_part")
    assert frame(PAYLOAD_PART_HEADERS, b"") == vector("payload_part_empty")
    timeout = exception_frame(
        "ModelStreamError", "Model invocation time exceeded", "ModelInvocationTimeExceeded"
    )
    assert timeout == vector("model_stream_error")
    failure = exception_frame("InternalStreamFailure", "Internal stream failure")
    assert failure == vector("internal_stream_failure")


def test_fault_option_parsing() -> None:
    endpoint, faults = parse_fault_option(
        "chat:throttle_first=2, stall_seconds=1.5,byte_writes=yes,model_error=503,"
        "stream_error=InternalStreamFailure"
    )
    assert endpoint == "chat"
    assert faults == Faults(
        throttle_first=2,
        stall_seconds=1.5,
        byte_writes=True,
        model_error=ModelErrorFault(original_status_code=503),
        stream_error="InternalStreamFailure",
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("throttle_first=1", "expected ENDPOINT:"),
        ("chat:unknown=1", "unknown setting"),
        ("chat:drop_after=soon", "cannot read 'soon'"),
        ("chat:byte_writes=maybe", "cannot read 'maybe'"),
        ("chat:error_status=404", "error_status must be one of"),
        ("chat:throttle_first=-1", "must not be negative"),
    ],
)
def test_bad_fault_options_are_value_errors(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_fault_option(text)


def test_faults_reject_unknown_stream_error() -> None:
    with pytest.raises(ValueError, match="stream_error"):
        Faults(stream_error="Oops")


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"models": {"bad_name": "echo"}}, ValueError, "not a valid SageMaker endpoint name"),
        ({"models": {"m": "nothing-like-a-spec"}}, ValueError, "expected echo, demo"),
        ({"models": {"m": "container:ftp://x"}}, ValueError, "container:http"),
        ({"models": {"m": 42}}, TypeError, "handler or a string spec"),
        ({"models": {"m": "json:no_such_function"}}, AttributeError, "no_such_function"),
        ({"variants": {"nope": {"a": 1.0}}}, ValueError, "unknown endpoint"),
        ({"variants": {"echo": {"a": 0.0}}}, ValueError, "must not all be 0"),
        ({"variants": {"echo": {"a_b": 1.0}}}, ValueError, "variant name"),
        ({"faults": {"echo": {"throttle_first": 1}}}, TypeError, "Faults instance"),
    ],
)
def test_bad_configuration_is_refused_at_construction(
    kwargs: dict[str, object], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        Emulator(**kwargs)  # type: ignore[arg-type]


def test_a_model_named_by_module_path_is_loaded(start: Start) -> None:
    emu = start(models={"m": "tests.emulator.test_configuration:shout"})
    assert boto3_client(emu).invoke_endpoint(EndpointName="m", Body=b"hi")["Body"].read() == b"HI"


async def shout(inv: Invocation) -> bytes:
    return inv.body.upper()


def test_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = Emulator().url


@pytest.mark.anyio
async def test_ping_unknown_routes_and_restart() -> None:
    emulator = Emulator()
    async with emulator, aiohttp.ClientSession() as session:
        async with session.get(emulator.url + "/ping") as ping:
            assert ping.status == 200
            assert ping.headers["x-amzn-RequestId"]
        async with session.post(emulator.url + "/endpoints/echo/unknown") as unknown:
            assert unknown.status == 404
            assert unknown.headers["x-amzn-ErrorType"] == "UnknownOperationException"
            assert json.loads(await unknown.read())["Message"] == "Unknown operation"
        with pytest.raises(RuntimeError, match="already running"):
            await emulator.start()
        assert len(emulator.records) == 1  # /ping is not recorded
    async with emulator:  # can be started again after close
        assert emulator.url.startswith("http://127.0.0.1:")
