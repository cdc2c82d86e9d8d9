"""Every error and fault surfaces in boto3 as the real service's would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import botocore.eventstream
import botocore.exceptions
import pytest
import urllib3.exceptions

from asyncsagemaker.emulator import Emulator, Faults, Invocation, ModelErrorFault

from ._support import boto3_client

Start = Callable[..., Emulator]


async def ten_parts(inv: Invocation) -> AsyncIterator[bytes]:
    for number in range(10):
        yield b"part-%d" % number


def read_stream(client: Any, endpoint: str, received: list[bytes]) -> None:
    response = client.invoke_endpoint_with_response_stream(EndpointName=endpoint, Body=b"{}")
    for event in response["Body"]:
        received.append(event["PayloadPart"]["Bytes"])


def error_of(call: Callable[[], Any]) -> botocore.exceptions.ClientError:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    return caught.value


def test_unknown_endpoint_is_a_validation_error(start: Start) -> None:
    emu = start()
    client = boto3_client(emu)
    with pytest.raises(client.exceptions.ValidationError) as caught:
        client.invoke_endpoint(EndpointName="nope", Body=b"x")
    error = caught.value.response
    assert error["Error"]["Message"] == "Endpoint nope of account 123456789012 not found."
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["ResponseMetadata"]["RequestId"] == emu.records[-1].request_id


def test_throttling_for_the_first_requests_then_success(start: Start) -> None:
    emu = start(faults={"echo": Faults(throttle_first=2)})
    client = boto3_client(emu)
    for _ in range(2):
        error = error_of(lambda: client.invoke_endpoint(EndpointName="echo", Body=b"x"))
        assert error.response["Error"]["Code"] == "ThrottlingException"
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert client.invoke_endpoint(EndpointName="echo", Body=b"x")["Body"].read() == b"x"
    assert [r.outcome for r in emu.records] == ["fault:throttle_first"] * 2 + ["ok"]


def test_request_faults_are_consumed_in_order(start: Start) -> None:
    faults = Faults(throttle_first=1, not_ready_first=1, error_first=1, error_status=503)
    emu = start(faults={"echo": faults})
    client = boto3_client(emu)
    codes = []
    for _ in range(4):
        try:
            client.invoke_endpoint(EndpointName="echo", Body=b"x")
            codes.append("ok")
        except botocore.exceptions.ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
    assert codes == ["ThrottlingException", "ModelNotReadyException", "ServiceUnavailable", "ok"]


@pytest.mark.parametrize(
    ("status", "code", "modeled"),
    [
        (500, "InternalFailure", True),
        (503, "ServiceUnavailable", True),
        (502, "502", False),
        (530, "InternalDependencyException", True),
    ],
)
def test_server_errors_have_the_service_codes(
    start: Start, status: int, code: str, modeled: bool
) -> None:
    emu = start(faults={"echo": Faults(error_first=1, error_status=status)})
    client = boto3_client(emu)
    error = error_of(lambda: client.invoke_endpoint(EndpointName="echo", Body=b"x"))
    assert error.response["Error"]["Code"] == code
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert isinstance(error, getattr(client.exceptions, code, type(None))) == modeled
    assert emu.records[-1].outcome == "fault:error_first"


def test_not_ready_is_the_modeled_429(start: Start) -> None:
    emu = start(faults={"echo": Faults(not_ready_first=1)})
    client = boto3_client(emu)
    with pytest.raises(client.exceptions.ModelNotReadyException) as caught:
        client.invoke_endpoint_with_response_stream(EndpointName="echo", Body=b"x")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_model_error_fault_carries_the_original_status(start: Start) -> None:
    fault = ModelErrorFault(original_status_code=503, original_message="overloaded")
    emu = start(faults={"echo": Faults(model_error=fault)})
    client = boto3_client(emu)
    for call in (client.invoke_endpoint, client.invoke_endpoint_with_response_stream):
        with pytest.raises(client.exceptions.ModelError) as caught:
            call(EndpointName="echo", Body=b"x")
        response = caught.value.response
        assert response["OriginalStatusCode"] == 503
        assert response["OriginalMessage"] == "overloaded"
        assert response["LogStreamArn"].startswith("arn:aws:logs:")
        assert "Received server error (503) from primary" in response["Error"]["Message"]
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 424


def test_a_handler_that_raises_is_a_model_error(start: Start) -> None:
    async def broken(inv: Invocation) -> bytes:
        raise ValueError("bad input")

    emu = start(models={"broken": broken})
    client = boto3_client(emu)
    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName="broken", Body=b"x")
    assert caught.value.response["OriginalStatusCode"] == 500
    assert "bad input" in caught.value.response["OriginalMessage"]


@pytest.mark.parametrize("kind", ["ModelStreamError", "InternalStreamFailure"])
def test_stream_error_after_some_parts(start: Start, kind: str) -> None:
    faults = Faults(stream_error_after=3, stream_error=kind)
    emu = start(models={"m": ten_parts}, faults={"m": faults})
    received: list[bytes] = []
    with pytest.raises(botocore.exceptions.EventStreamError) as caught:
        read_stream(boto3_client(emu), "m", received)
    assert caught.value.response["Error"]["Code"] == kind
    assert caught.value.response["Error"]["Message"]
    assert received == [b"part-0", b"part-1", b"part-2"]
    assert emu.records[-1].outcome == "fault:stream_error_after"


def test_a_generator_that_raises_mid_stream_sends_model_stream_error(start: Start) -> None:
    async def breaks(inv: Invocation) -> AsyncIterator[bytes]:
        yield b"one"
        raise RuntimeError("out of memory")

    emu = start(models={"m": breaks})
    received: list[bytes] = []
    with pytest.raises(botocore.exceptions.EventStreamError) as caught:
        read_stream(boto3_client(emu), "m", received)
    assert caught.value.response["Error"]["Code"] == "ModelStreamError"
    assert "out of memory" in caught.value.response["Error"]["Message"]
    assert received == [b"one"]


@pytest.mark.parametrize("field", ["drop_after", "drop_mid_frame_after"])
def test_dropped_connection_after_some_parts(start: Start, field: str) -> None:
    faults = Faults(drop_after=2) if field == "drop_after" else Faults(drop_mid_frame_after=2)
    emu = start(models={"m": ten_parts}, faults={"m": faults})
    received: list[bytes] = []
    with pytest.raises(urllib3.exceptions.ProtocolError):
        read_stream(boto3_client(emu), "m", received)
    assert received == [b"part-0", b"part-1"]
    assert emu.records[-1].outcome == f"fault:{field}"


def test_corrupt_message_crc_is_a_checksum_mismatch(start: Start) -> None:
    emu = start(models={"m": ten_parts}, faults={"m": Faults(corrupt_crc_after=4)})
    received: list[bytes] = []
    with pytest.raises(botocore.eventstream.ChecksumMismatch):
        read_stream(boto3_client(emu), "m", received)
    assert received == [b"part-0", b"part-1", b"part-2", b"part-3"]


def test_stall_after_headers_trips_the_read_timeout(start: Start) -> None:
    emu = start(models={"m": ten_parts}, faults={"m": Faults(stall_seconds=5, stall_after=1)})
    received: list[bytes] = []
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        read_stream(boto3_client(emu, read_timeout=0.5), "m", received)
    assert received == [b"part-0"]


def test_stall_delays_invoke_endpoint(start: Start) -> None:
    emu = start(faults={"echo": Faults(stall_seconds=5)})
    client = boto3_client(emu, read_timeout=0.5)
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        client.invoke_endpoint(EndpointName="echo", Body=b"x")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"CustomAttributes": "a" * 1025}, "Value at 'customAttributes' failed"),
        ({"CustomAttributes": "tab\there"}, "Value at 'customAttributes' failed"),
        ({"TargetVariant": "bad_variant"}, "'targetVariant' failed to satisfy"),
        ({"InferenceComponentName": "-ic"}, "'inferenceComponentName'"),
        ({"SessionId": "x" * 257}, "length less than or equal to 256"),
        ({"ContentType": "a" * 1025}, "'contentType'"),
    ],
)
def test_member_constraints_are_enforced(
    start: Start, kwargs: dict[str, str], fragment: str
) -> None:
    emu = start()
    client = boto3_client(emu)
    with pytest.raises(client.exceptions.ValidationError) as caught:
        client.invoke_endpoint(EndpointName="echo", Body=b"x", **kwargs)
    message = caught.value.response["Error"]["Message"]
    assert message.startswith("1 validation error detected: ")
    assert fragment in message
    if "CustomAttributes" in kwargs:
        assert kwargs["CustomAttributes"] not in message  # sensitive: never echoed


@pytest.mark.parametrize("name", ["bad_name!", "a" * 64, "-leading", "sp ace", "slash/name"])
def test_invalid_endpoint_names_are_validation_errors(start: Start, name: str) -> None:
    emu = start()
    client = boto3_client(emu)
    with pytest.raises(client.exceptions.ValidationError) as caught:
        client.invoke_endpoint_with_response_stream(EndpointName=name, Body=b"x")
    assert "'endpointName' failed to satisfy constraint" in str(caught.value)
    assert emu.records[-1].endpoint_name == name  # the label was percent-decoded


def test_body_over_6_mib_is_refused(start: Start) -> None:
    emu = start()
    client = boto3_client(emu)
    with pytest.raises(client.exceptions.ValidationError) as caught:
        client.invoke_endpoint(EndpointName="echo", Body=b"\0" * (6 * 1024 * 1024 + 1))
    assert "less than or equal to 6291456" in str(caught.value)
    exact = client.invoke_endpoint(EndpointName="echo", Body=b"\0" * (6 * 1024 * 1024))
    assert len(exact["Body"].read()) == 6 * 1024 * 1024


def test_unknown_target_variant_is_a_validation_error(start: Start) -> None:
    emu = start()
    client = boto3_client(emu)
    with pytest.raises(client.exceptions.ValidationError) as caught:
        client.invoke_endpoint(EndpointName="echo", Body=b"x", TargetVariant="v9")
    assert "v9" in str(caught.value)


def test_faults_set_while_running_apply_and_restart_the_count(start: Start) -> None:
    emu = start()
    client = boto3_client(emu)
    client.invoke_endpoint(EndpointName="echo", Body=b"x")
    emu.set_faults("echo", Faults(throttle_first=1))
    error = error_of(lambda: client.invoke_endpoint(EndpointName="echo", Body=b"x"))
    assert error.response["Error"]["Code"] == "ThrottlingException"
    emu.set_faults("echo", None)
    assert client.invoke_endpoint(EndpointName="echo", Body=b"x")["Body"].read() == b"x"
