"""Every BidiFaults field as a client sees it, and the model's own failures."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from h2.errors import ErrorCodes

from asyncsagemaker._bidi.events import BidiPart
from asyncsagemaker.emulator import BidiFaults, BidiInvocation, ModelErrorFault
from asyncsagemaker.errors import InternalStreamFailure, ModelStreamError, StreamError
from tests.bidi._h2client import Reset
from tests.bidi.conftest import Connect

pytestmark = pytest.mark.anyio


async def ticker(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[str]:
    """Ten parts, without waiting for input."""
    for n in range(10):
        yield f"tick {n}"


MODELS = {"ticker": ticker}


async def test_throttle_then_error_then_ok(connect: Connect) -> None:
    faults = {"echo": BidiFaults(throttle_first=1, error_first=2, error_status=500)}
    async with connect(bidi_faults=faults) as (emu, client):
        seen = []
        for _ in range(4):
            stream = await client.open("echo")
            if stream.status != 200:
                document = await stream.error()
                seen.append((stream.status, document["_header"], document["XAmznErrorType"]))
            else:
                seen.append((200, None, None))
                stream.reset()
        assert seen == [
            (400, "ThrottlingException", "ThrottlingException"),
            (500, "InternalServerError", "InternalServerError"),
            (500, "InternalServerError", "InternalServerError"),
            (200, None, None),
        ]
        outcomes = [r.outcome for r in emu.bidi_records]
        assert outcomes[:3] == ["fault:throttle_first", "fault:error_first", "fault:error_first"]


async def test_service_unavailable(connect: Connect) -> None:
    async with connect(bidi_faults={"echo": BidiFaults(error_first=1)}) as (_, client):
        stream = await client.open("echo")
        document = await stream.error()
        assert stream.status == 503
        assert document["ErrorCode"] == "ServiceUnavailableError"
        assert document["_header"] == "ServiceUnavailableError"
        assert document["Message"]


async def test_model_error_424_carries_its_fields(connect: Connect) -> None:
    fault = ModelErrorFault(503, "container is warming up", "arn:aws:logs:us-east-1:1:log-group:x")
    async with connect(bidi_faults={"echo": BidiFaults(model_error=fault)}) as (_, client):
        stream = await client.open("echo")
        assert stream.status == 424
        document = await stream.error()
        assert document["XAmznErrorType"] == document["_header"] == "ModelError"
        assert document["OriginalStatusCode"] == 503
        assert document["OriginalMessage"] == "container is warming up"
        assert document["LogStreamArn"] == "arn:aws:logs:us-east-1:1:log-group:x"
        assert document["ErrorCode"] == "ModelError"
        assert "container is warming up" in document["Message"]


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        (BidiFaults(stream_error_after=3), ModelStreamError, "ModelInvocationTimeExceeded"),
        (BidiFaults(stream_error_after=3, stream_error_code="StreamBroken"), ModelStreamError,
         "StreamBroken"),
        (BidiFaults(stream_error_after=3, stream_error="InternalStreamFailure"),
         InternalStreamFailure, None),
    ],
)  # fmt: skip
async def test_mid_stream_errors_after_n_parts(
    connect: Connect, fault: BidiFaults, error: type[StreamError], code: str | None
) -> None:
    async with connect(bidi_models=MODELS, bidi_faults={"ticker": fault}) as (emu, client):
        stream = await client.open("ticker")
        got = [await stream.next_part() for _ in range(3)]
        assert [p.text for p in got if p] == ["tick 0", "tick 1", "tick 2"]
        with pytest.raises(error) as caught:
            await stream.next_part()
        if code is not None:
            assert isinstance(caught.value, ModelStreamError)
            assert caught.value.error_code == code
        assert stream.ended  # END_STREAM after the exception event
        assert emu.bidi_records[-1].outcome == "fault:stream_error_after"
        assert emu.bidi_records[-1].model_cancelled


async def test_reset_after_n_parts(connect: Connect) -> None:
    async with connect(bidi_models=MODELS, bidi_faults={"ticker": BidiFaults(reset_after=2)}) as (
        emu,
        client,
    ):
        stream = await client.open("ticker")
        assert (await stream.next_part(), await stream.next_part()) == (
            BidiPart.of("tick 0"),
            BidiPart.of("tick 1"),
        )
        with pytest.raises(Reset) as caught:
            await stream.next_part()
        assert caught.value.error_code == ErrorCodes.INTERNAL_ERROR
        assert emu.bidi_records[-1].outcome == "fault:reset_after"


async def test_goaway_after_n_parts(connect: Connect) -> None:
    async with connect(bidi_models=MODELS, bidi_faults={"ticker": BidiFaults(goaway_after=2)}) as (
        emu,
        client,
    ):
        stream = await client.open("ticker")
        assert await stream.next_part() == BidiPart.of("tick 0")
        assert await stream.next_part() == BidiPart.of("tick 1")
        with pytest.raises(Reset, match=r"GOAWAY|connection lost"):
            await stream.next_part()
        await asyncio.wait_for(client.closed.wait(), 2)
        assert client.terminated is not None
        assert client.terminated.error_code == ErrorCodes.NO_ERROR
        assert emu.bidi_records[-1].outcome == "fault:goaway_after"


async def test_stall_after_n_parts(connect: Connect) -> None:
    fault = BidiFaults(stall_after=1, stall_seconds=0.4)
    async with connect(bidi_models=MODELS, bidi_faults={"ticker": fault}) as (_, client):
        stream = await client.open("ticker")
        await stream.next_part()
        started = time.monotonic()
        await stream.next_part()
        assert time.monotonic() - started >= 0.35
        assert len(await stream.parts()) == 8


async def test_maximum_session_length(connect: Connect) -> None:
    fault = BidiFaults(max_session_seconds=0.3)
    async with connect(bidi_faults={"echo": fault}) as (emu, client):
        stream = await client.open("echo")
        await stream.send_part("still here")
        assert await stream.next_part() == BidiPart.of("still here")
        started = time.monotonic()
        with pytest.raises(ModelStreamError) as caught:
            await asyncio.wait_for(stream.next_part(), 2)
        assert caught.value.error_code == "ModelInvocationTimeExceeded"
        assert "0.3 seconds" in caught.value.message
        assert time.monotonic() - started < 1.0
        assert emu.bidi_records[-1].outcome == "fault:max_session_seconds"
        assert emu.bidi_records[-1].model_cancelled


@pytest.mark.parametrize("size", [101, 200_000])
async def test_maximum_part_size(connect: Connect, size: int) -> None:
    async with connect(bidi_faults={"echo": BidiFaults(max_part_bytes=100)}) as (emu, client):
        stream = await client.open("echo")
        await stream.send_part(b"x" * 100)
        assert await stream.next_part() == BidiPart(b"x" * 100)
        sending = asyncio.create_task(stream.send_part(b"y" * size))
        with pytest.raises(StreamError) as caught:
            await asyncio.wait_for(stream.next_part(), 5)
        assert caught.value.code == "InputValidationError"
        assert "100" in caught.value.message
        sending.cancel()
        assert emu.bidi_records[-1].outcome == "fault:max_part_bytes"


async def test_a_failing_model_is_a_model_stream_error(connect: Connect) -> None:
    async def broken(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[str]:
        yield "first"
        raise RuntimeError("the GPU caught fire")

    async with connect(bidi_models={"broken": broken}) as (emu, client):
        stream = await client.open("broken")
        assert await stream.next_part() == BidiPart.of("first")
        with pytest.raises(ModelStreamError, match="GPU caught fire") as caught:
            await stream.next_part()
        assert caught.value.error_code == "StreamBroken"
        assert emu.bidi_records[-1].outcome == "error"


async def test_a_model_yielding_junk_is_a_model_stream_error(connect: Connect) -> None:
    async def junk(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[object]:
        yield 42

    async with connect(bidi_models={"junk": junk}) as (_, client):
        stream = await client.open("junk")
        with pytest.raises(ModelStreamError, match="yielded"):
            await stream.next_part()


def test_faults_are_checked() -> None:
    with pytest.raises(ValueError, match="negative"):
        BidiFaults(reset_after=-1)
    with pytest.raises(ValueError, match="500 or 503"):
        BidiFaults(error_status=502)
    with pytest.raises(ValueError, match="stream_error"):
        BidiFaults(stream_error="Nope")
    with pytest.raises(ValueError, match="positive"):
        BidiFaults(max_session_seconds=0)


async def test_faults_can_change_while_running(connect: Connect) -> None:
    async with connect() as (emu, client):
        emu.set_bidi_faults("echo", BidiFaults(throttle_first=1))
        assert (await client.open("echo")).status == 400
        assert (await client.open("echo")).status == 200
        emu.set_bidi_faults("echo", BidiFaults(throttle_first=1))  # the count starts again
        assert (await client.open("echo")).status == 400
        emu.set_bidi_faults("echo", None)
        assert (await client.open("echo")).status == 200
        with pytest.raises(TypeError):
            emu.set_bidi_faults("echo", object())  # type: ignore[arg-type]


async def test_the_error_body_is_json_with_a_request_id(connect: Connect) -> None:
    async with connect(bidi_faults={"echo": BidiFaults(throttle_first=1)}) as (_, client):
        stream = await client.open("echo")
        body = json.loads(await stream.body())
        assert body["Message"] == body["message"] == "Rate exceeded"
        assert stream.headers["x-amzn-requestid"]
        assert stream.headers["content-type"] == "application/json"


def test_every_bidi_fault_outcome_names_a_bidi_faults_field() -> None:
    import ast
    import dataclasses
    from pathlib import Path

    import asyncsagemaker.emulator

    fields = {item.name for item in dataclasses.fields(BidiFaults)}
    found = set()
    for path in Path(asyncsagemaker.emulator.__file__).parent.glob("_bidi*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and str(node.value).startswith("fault:"):
                found.add(str(node.value).removeprefix("fault:"))
    assert found and found <= fields
    record = asyncsagemaker.emulator.BidiRecord("id", "echo", {}, 0.0)
    assert record.outcome == "pending"
