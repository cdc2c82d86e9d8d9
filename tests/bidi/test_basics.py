"""The HTTP/2 listener end to end: echo, demo, handlers, interleaving, volume, multiplexing.

Each test runs over h2c (prior knowledge) and over TLS with ALPN h2, signature
checks on, with the raw h2 client of tests/bidi/_h2client.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from asyncsagemaker._bidi.events import BidiPart
from asyncsagemaker.emulator import BidiInvocation
from asyncsagemaker.emulator._demo import demo_answer
from tests.bidi.conftest import Connect

pytestmark = pytest.mark.anyio


async def test_echo_keeps_data_type_and_completion_state(connect: Connect) -> None:
    async with connect() as (emu, client):
        stream = await client.open(
            "echo", headers={"x-amzn-sagemaker-target-variant": "AllTraffic"}
        )
        assert stream.status == 200
        assert stream.headers["content-type"] == "application/vnd.amazon.eventstream"
        assert stream.headers["x-amzn-invoked-production-variant"] == "AllTraffic"
        assert stream.headers["x-amzn-requestid"]
        sent = [
            BidiPart(b"hello ", "UTF8", "PARTIAL"),
            BidiPart(b"world", "UTF8", "COMPLETE"),
            BidiPart(b"\x00\xff" * 100, "BINARY", "PARTIAL"),
            BidiPart(b"", "BINARY", "COMPLETE"),
        ]
        for part in sent:
            await stream.send_part(part, padding="xx")
        await stream.end_input()
        assert await stream.parts() == sent
        record = emu.bidi_records[-1]
        assert (record.outcome, record.parts_received, record.parts_sent) == ("ok", 4, 4)
        assert record.signatures_checked == 5  # four parts and the end frame
        assert record.request_id == stream.headers["x-amzn-requestid"]
        assert not record.model_cancelled


async def test_a_part_comes_back_before_the_input_ends(connect: Connect) -> None:
    async with connect() as (_, client):
        stream = await client.open("echo")
        for text in ("one", "two", "three"):
            await stream.send_part(text)
            part = await asyncio.wait_for(stream.next_part(), 5)
            assert part == BidiPart.of(text)
        await stream.end_input()
        assert await stream.parts() == []


async def test_demo_answers_each_complete_message_with_a_streamed_reply(connect: Connect) -> None:
    async with connect() as (_, client):
        stream = await client.open("demo")
        await stream.send_part(BidiPart(b"Hello, ", "UTF8", "PARTIAL"))
        await stream.send_part(BidiPart("caf\u00e9 time".encode(), "UTF8", "COMPLETE"))
        reply = []
        while True:
            part = await asyncio.wait_for(stream.next_part(), 5)
            assert part is not None and part.data_type == "UTF8"
            reply.append(part)
            if part.completion_state == "COMPLETE":
                break
        assert len(reply) > 3
        assert all(p.completion_state == "PARTIAL" for p in reply[:-1])
        assert b"".join(p.data for p in reply).decode() == demo_answer("Hello, caf\u00e9 time")
        await stream.send_part(BidiPart(b"\x01" * 3200, "BINARY", "COMPLETE"))
        assert await asyncio.wait_for(stream.next_part(), 5) == BidiPart.of("received 3200 bytes")
        await stream.end_input()
        assert await stream.parts() == []


async def test_a_python_handler_gets_the_parts_and_the_members(connect: Connect) -> None:
    seen: list[BidiInvocation] = []

    async def shout(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[object]:
        seen.append(inv)
        count = 0
        async for part in parts:
            count += 1
            yield part.text.upper()  # str: a COMPLETE UTF8 part
        yield f"{count} parts".encode()  # bytes: a COMPLETE BINARY part

    headers = {
        "x-amzn-sagemaker-model-invocation-path": "v1/listen",
        "x-amzn-sagemaker-model-query-string": "model=nova-3&language=en",
    }
    async with connect(bidi_models={"shout": shout}) as (emu, client):
        stream = await client.open("shout", headers=headers)
        await stream.send_part("abc")
        await stream.send_part("d\u00e9f")
        await stream.end_input()
        assert await stream.parts() == [
            BidiPart.of("ABC"),
            BidiPart.of("D\u00c9F"),
            BidiPart.of(b"2 parts"),
        ]
        (inv,) = seen
        assert inv.endpoint_name == "shout"
        assert inv.model_invocation_path == "v1/listen"
        assert inv.model_query_string == "model=nova-3&language=en"
        assert inv.target_variant is None
        assert inv.variant == "AllTraffic"
        assert inv.request_id == emu.bidi_records[-1].request_id
        assert inv.headers[":authority"] == client.authority


async def test_a_thousand_parts_each_way(connect: Connect) -> None:
    async with connect() as (emu, client):
        stream = await client.open("echo")

        async def send() -> None:
            for index in range(1000):
                await stream.send_part(BidiPart(index.to_bytes(4, "big") * 64, "BINARY"))
            await stream.end_input()

        sender = asyncio.create_task(send())
        parts = await asyncio.wait_for(stream.parts(), 30)
        await sender
        assert [int.from_bytes(p.data[:4], "big") for p in parts] == list(range(1000))
        assert emu.bidi_records[-1].parts_received == 1000
        assert emu.bidi_records[-1].parts_sent == 1000


async def test_eight_concurrent_streams_share_one_connection(connect: Connect) -> None:
    async with connect() as (emu, client):
        streams = [await client.open("echo") for _ in range(8)]

        async def talk(index: int) -> list[BidiPart]:
            stream = streams[index]
            for n in range(20):
                await stream.send_part(f"{index}:{n}")
                await asyncio.sleep(0)
            await stream.end_input()
            return await stream.parts()

        results = await asyncio.wait_for(asyncio.gather(*(talk(i) for i in range(8))), 20)
        for index, parts in enumerate(results):
            assert [p.text for p in parts] == [f"{index}:{n}" for n in range(20)]
        assert len({s.stream_id for s in streams}) == 8
        assert [r.outcome for r in emu.bidi_records] == ["ok"] * 8


async def test_tls_negotiates_h2(connect: Connect, transport: str) -> None:
    async with connect() as (emu, client):
        assert emu.bidi_url.startswith("https://" if transport == "tls" else "http://")
        assert client.alpn == ("h2" if transport == "tls" else None)
