"""In AWS Lambda, ``X-Amzn-Trace-Id`` goes out as botocore sends it, telemetry on or off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.handlers import add_recursion_detection_header

from asyncsagemaker.emulator import Emulator, Faults
from tests.observability._support import Otel, plain_client

pytestmark = pytest.mark.anyio

EmulatorFactory = Callable[..., Emulator]
#: A trace id with characters botocore quotes (``|``, a space) and some it keeps (``;=``).
TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Lineage=a:1|b 2"


def botocore_header() -> str | None:
    """What botocore's own handler puts in the request, in this environment."""
    params: dict[str, Any] = {"headers": {}}
    add_recursion_detection_header(params)
    value: str | None = params["headers"].get("X-Amzn-Trace-Id")
    return value


def signed_headers(headers: dict[str, str]) -> list[str]:
    authorization = headers["authorization"]
    return authorization.split("SignedHeaders=")[1].split(",")[0].split(";")


@pytest.mark.parametrize("telemetry", ["off", "on"])
async def test_in_lambda_every_attempt_carries_the_invocations_trace_id(
    start_emulator: EmulatorFactory,
    otel: Otel,
    monkeypatch: pytest.MonkeyPatch,
    telemetry: str,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "relay")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE_ID)
    expected = botocore_header()
    assert expected is not None and "%7C" in expected and ";" in expected
    emu = start_emulator(token_delay=0, faults={"echo": Faults(throttle_first=1)})
    made = plain_client(emu) if telemetry == "off" else otel.client(emu)
    async with made as client:
        await client.invoke_endpoint("echo", body=b"x")  # throttled once, then answered
        monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-00000000-111111111111111111111111")
        async with client.invoke_endpoint_with_response_stream("echo", body=b"y") as stream:
            await stream.read()
    first, retried, streamed = emu.records
    assert first.headers["x-amzn-trace-id"] == expected
    assert retried.headers["x-amzn-trace-id"] == expected
    # Lambda changes the variable per invocation: each call reads it afresh.
    assert streamed.headers["x-amzn-trace-id"] == "Root=1-00000000-111111111111111111111111"
    for record in emu.records:
        assert "x-amzn-trace-id" not in signed_headers(record.headers)  # as botocore: unsigned


@pytest.mark.parametrize("missing", ["AWS_LAMBDA_FUNCTION_NAME", "_X_AMZN_TRACE_ID"])
async def test_outside_lambda_no_trace_header_is_sent(
    start_emulator: EmulatorFactory, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "relay")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE_ID)
    monkeypatch.delenv(missing)
    assert botocore_header() is None
    emu = start_emulator()
    async with plain_client(emu) as client:
        await client.invoke_endpoint("echo", body=b"x")
    assert "x-amzn-trace-id" not in emu.records[0].headers
