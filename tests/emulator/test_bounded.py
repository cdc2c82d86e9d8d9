"""A long-running emulator stays bounded: a ring of records, capped bodies, a body deadline."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import json
import os
import time
import typing
from collections.abc import Callable
from pathlib import Path

import aiohttp
import botocore.exceptions
import psutil
import pytest

import asyncsagemaker.emulator
from asyncsagemaker.emulator import OUTCOMES, Emulator, Faults, Invocation, RecordRing
from asyncsagemaker.emulator._types import RequestRecord

from ._support import boto3_client, path_for, sign, wait_until, wait_until_async

Start = Callable[..., Emulator]
MIB = 1024 * 1024


async def sink(inv: Invocation) -> bytes:
    return b"ok"


def test_records_keep_the_newest_in_order(start: Start) -> None:
    emu = start(models={"m": sink}, max_records=3)
    client = boto3_client(emu)
    for number in range(5):
        client.invoke_endpoint(EndpointName="m", Body=f"request {number}".encode())
    assert len(emu.records) == 3
    assert emu.records.dropped == 2
    assert [record.body for record in emu.records] == [b"request 2", b"request 3", b"request 4"]
    assert emu.records[-1].body == b"request 4"
    assert emu.records[0].body == b"request 2"
    assert [record.body for record in emu.records[1:]] == [b"request 3", b"request 4"]
    assert emu.records == list(emu.records)
    emu.records.clear()
    assert emu.records == []
    assert emu.records.dropped == 0


def test_bodies_are_kept_up_to_the_limit_and_counted_whole(start: Start) -> None:
    emu = start(models={"m": sink}, record_body_limit=10)
    client = boto3_client(emu)
    client.invoke_endpoint(EndpointName="m", Body=b"0123456789abcdef")
    client.invoke_endpoint(EndpointName="m", Body=b"short")
    long, short = emu.records
    assert (long.body, long.body_size, long.body_truncated) == (b"0123456789", 16, True)
    assert (short.body, short.body_size, short.body_truncated) == (b"short", 5, False)


def test_a_model_still_gets_the_whole_body(start: Start) -> None:
    received: list[int] = []

    async def count(inv: Invocation) -> bytes:
        received.append(len(inv.body))
        return inv.body[-4:]

    emu = start(models={"m": count}, record_body_limit=0)
    answer = boto3_client(emu).invoke_endpoint(EndpointName="m", Body=b"x" * 100_000 + b"tail")
    assert answer["Body"].read() == b"tail"
    assert received == [100_004]
    assert emu.records[-1].body == b"" and emu.records[-1].body_size == 100_004


def test_record_body_limit_none_keeps_whole_bodies(start: Start) -> None:
    emu = start(models={"m": sink}, record_body_limit=None)
    body = os.urandom(300_000)
    boto3_client(emu).invoke_endpoint(EndpointName="m", Body=body)
    assert emu.records[-1].body == body


def test_the_default_ring_and_cap() -> None:
    ring = Emulator().records
    assert isinstance(ring, RecordRing)
    assert (ring.maxlen, ring.body_limit) == (256, 64 * 1024)


def test_a_ring_used_by_another_listener() -> None:
    """The ring stands alone: any listener appends records and feeds bodies in pieces."""
    ring: RecordRing[RequestRecord] = RecordRing(maxlen=2, body_limit=5)
    records = [
        RequestRecord(request_id=str(n), operation="Op", endpoint_name="e", headers={}, started=0.0)
        for n in range(3)
    ]
    for record in records:
        ring.append(record)
        for piece in (b"abc", b"defg", b"h"):
            ring.add_body(record, piece)
    assert list(ring) == records[1:]
    assert ring.dropped == 1
    assert (records[2].body, records[2].body_size) == (b"abcde", 8)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_records": 0}, "max_records"),
        ({"max_records": 2.5}, "max_records"),
        ({"record_body_limit": -1}, "record_body_limit"),
        ({"body_timeout": 0}, "body_timeout"),
    ],
)
def test_bad_bounds_are_refused(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Emulator(**kwargs)  # type: ignore[arg-type]


def test_memory_stays_flat_under_many_large_requests(start: Start) -> None:
    """70 requests of 4 MiB with the default bounds: kept whole, they would be 280 MiB."""
    emu = start(models={"m": sink})
    client = boto3_client(emu)
    body = os.urandom(4 * MIB)
    process = psutil.Process()
    deadline = time.monotonic() + 60
    for _ in range(10):  # warm-up: buffers, allocator pools, the connection
        client.invoke_endpoint(EndpointName="m", Body=body)
    before = process.memory_info().rss
    for _ in range(60):
        assert client.invoke_endpoint(EndpointName="m", Body=body)["Body"].read() == b"ok"
        assert time.monotonic() < deadline
    grown = process.memory_info().rss - before
    assert grown < 48 * MIB, f"RSS grew by {grown / MIB:.1f} MiB"
    assert len(emu.records) == 70
    assert all(len(record.body) == 64 * 1024 for record in emu.records)
    assert emu.records[-1].body_size == 4 * MIB


# --- the body deadline ------------------------------------------------------------


async def read_answer(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in filter(None, lines):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers["content-length"]))
    return status_line.encode(), headers, body


@pytest.mark.anyio
@pytest.mark.parametrize(
    "framing",
    ["Content-Length: 100", "Transfer-Encoding: chunked"],
    ids=["content-length", "chunked"],
)
async def test_headers_then_nothing_gets_408_and_a_closed_connection(framing: str) -> None:
    async with Emulator(models={"m": sink}, body_timeout=0.3) as emu:
        reader, writer = await asyncio.open_connection(emu.host, emu.port)
        try:
            started = time.monotonic()
            writer.write(
                f"POST {path_for('m', 'invocations')} HTTP/1.1\r\nHost: {emu.host}:{emu.port}\r\n"
                f"{framing}\r\n\r\n".encode()
            )
            if "chunked" in framing:
                writer.write(b"5\r\nhello\r\n")  # one chunk, then silence
            await writer.drain()
            status, headers, body = await asyncio.wait_for(read_answer(reader), 5)
            waited = time.monotonic() - started
            assert status == b"HTTP/1.1 408 Request Timeout"
            assert headers["x-amzn-errortype"] == "RequestTimeoutException"
            assert headers["connection"] == "close"
            message = json.loads(body)["message"]
            assert "did not arrive within 0.3 seconds" in message
            assert 0.25 < waited < 3
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the emulator
        finally:
            writer.close()
        record = emu.records[-1]
        assert await wait_until_async(lambda: record.ended is not None)
        assert (record.status, record.outcome) == (408, "body_timeout")
        assert record.body_size == (5 if "chunked" in framing else 0)
        assert headers["x-amzn-requestid"] == record.request_id


@pytest.mark.anyio
async def test_a_slow_body_that_arrives_in_time_is_served() -> None:
    async with Emulator(models={"m": sink}, body_timeout=2) as emu:
        url = emu.url + path_for("m", "invocations")
        body = b"x" * 1000

        async def trickle() -> typing.AsyncIterator[bytes]:
            for start in range(0, len(body), 250):
                await asyncio.sleep(0.1)
                yield body[start : start + 250]

        headers = sign(url, body, {"Content-Length": str(len(body))})
        async with aiohttp.ClientSession() as session:
            response = await session.post(url, data=trickle(), headers=headers)
            async with response:
                assert response.status == 200
                assert await response.read() == b"ok"
        assert emu.records[-1].outcome == "ok"


def test_the_default_body_timeout() -> None:
    assert Emulator().body_timeout == 30.0
    assert Emulator(body_timeout=None).body_timeout is None


# --- outcomes, one type ------------------------------------------------------------


def test_fault_outcomes_name_faults_fields() -> None:
    """Each ``fault:`` outcome names a field of Faults (HTTP/1.1) or BidiFaults (HTTP/2)."""
    kinds = (Faults, asyncsagemaker.emulator.BidiFaults)
    fields = {item.name for kind in kinds for item in dataclasses.fields(kind)}
    faults = [outcome for outcome in OUTCOMES if outcome.startswith("fault:")]
    assert faults and all(outcome.removeprefix("fault:") in fields for outcome in faults)
    hints = typing.get_type_hints(RequestRecord)
    assert typing.get_args(hints["outcome"]) == OUTCOMES


def test_every_outcome_literal_in_the_emulator_is_an_outcome() -> None:
    """No outcome string is spelled outside the one Literal type (mypy checks the uses)."""
    package = Path(asyncsagemaker.emulator.__file__).parent
    found: set[object] = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            named = isinstance(node, ast.keyword) and node.arg in ("outcome", "final_outcome")
            if named and isinstance(value := getattr(node, "value", None), ast.Constant):
                found.add(value.value)
            if isinstance(node, ast.Constant) and str(node.value).startswith("fault:"):
                found.add(node.value)
    assert found and found <= set(OUTCOMES)


def test_outcomes_seen_by_a_client(start: Start) -> None:
    emu = start(models={"m": sink}, faults={"m": Faults(throttle_first=1)})
    client = boto3_client(emu)
    with pytest.raises(botocore.exceptions.ClientError, match="ThrottlingException"):
        client.invoke_endpoint(EndpointName="m", Body=b"x")
    client.invoke_endpoint(EndpointName="m", Body=b"x")
    assert wait_until(lambda: emu.records[-1].outcome == "ok")
    assert [record.outcome for record in emu.records] == ["fault:throttle_first", "ok"]
