"""Flow control both ways, and what a client's reset or disconnect does to the model.

Backpressure must be real: a client that stops reading stops the model (the
emulator never buffers more than the client's window), and a model that stops
reading makes the client's window reach 0, so its sender waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from h2.errors import ErrorCodes

from asyncsagemaker._bidi.events import BidiPart
from asyncsagemaker.emulator import BidiInvocation, Emulator
from asyncsagemaker.emulator._h2server import STREAM_WINDOW
from tests.bidi._h2client import H2TestClient
from tests.bidi.conftest import Connect

pytestmark = pytest.mark.anyio
PART = 1024


async def wait_until(condition: object, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_a_stalled_reader_stops_the_model(connect: Connect) -> None:
    produced = 0

    async def firehose(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[bytes]:
        nonlocal produced
        for _ in range(10_000):
            produced += 1
            yield b"x" * PART

    async with connect(bidi_models={"firehose": firehose}) as (emu, client):
        stream = await client.open("firehose")
        await asyncio.sleep(0.5)  # the client reads nothing meanwhile
        record = emu.bidi_records[-1]
        # Only what fits the client's 64 KiB window went out; the model waits in send().
        assert record.bytes_sent <= STREAM_WINDOW
        assert produced <= STREAM_WINDOW // PART + 2
        assert stream.buffered <= STREAM_WINDOW
        first = produced
        await asyncio.sleep(0.3)
        assert produced == first  # still stalled, not creeping
        for _ in range(200):  # reading opens the window again, and the model goes on
            assert await asyncio.wait_for(stream.next_part(), 5) is not None
        assert produced > first
        stream.reset()


async def test_a_stalled_model_closes_the_clients_window(connect: Connect) -> None:
    release = asyncio.Event()

    async def slow(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[BidiPart]:
        await release.wait()
        async for part in parts:
            yield part

    async with connect(bidi_models={"slow": slow}) as (_, client):
        stream = await client.open("slow")
        sent = 0

        async def send() -> None:
            nonlocal sent
            for index in range(200):
                await stream.send_part(BidiPart(index.to_bytes(2, "big") * (PART // 2)))
                sent += 1
            await stream.end_input()

        sender = asyncio.create_task(send())
        await wait_until(lambda: stream.window() == 0)
        await asyncio.sleep(0.2)
        assert not sender.done()  # the client is blocked on the window
        assert sent < STREAM_WINDOW // PART + 1
        release.set()
        parts = await asyncio.wait_for(stream.parts(), 10)
        await sender
        assert [int.from_bytes(p.data[:2], "big") for p in parts] == list(range(200))


@pytest.mark.parametrize("how", ["reset", "disconnect"])
async def test_a_client_leaving_cancels_the_model_within_a_second(
    connect: Connect, how: str
) -> None:
    cancelled = asyncio.Event()

    async def forever(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[str]:
        yield "started"
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        yield "never"

    async with connect(bidi_models={"forever": forever}) as (emu, client):
        stream = await client.open("forever")
        assert await stream.next_part() == BidiPart.of("started")
        left = time.monotonic()
        if how == "reset":
            stream.reset(ErrorCodes.CANCEL)
        else:
            await client.close()
        await asyncio.wait_for(cancelled.wait(), 1.0)
        record = emu.bidi_records[-1]
        await wait_until(lambda: record.ended is not None, 1.0)
        assert record.ended is not None and record.ended - left < 1.0
        assert record.model_cancelled
        if how == "reset":
            assert (record.outcome, record.reset_code) == ("client_reset", ErrorCodes.CANCEL)
        else:
            assert record.outcome == "client_disconnected"


async def test_a_reset_while_the_model_reads_cancels_it(connect: Connect) -> None:
    async with connect() as (emu, client):
        stream = await client.open("echo")
        await stream.send_part("hi")
        assert await stream.next_part() == BidiPart.of("hi")
        stream.reset()
        record = emu.bidi_records[-1]
        await wait_until(lambda: record.ended is not None, 1.0)
        assert record.outcome == "client_reset"
        assert record.model_cancelled


async def test_output_ends_first_then_the_open_input_is_reset_without_error(
    connect: Connect,
) -> None:
    async def greet(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[str]:
        yield "hello and goodbye"

    async with connect(bidi_models={"greet": greet}) as (emu, client):
        stream = await client.open("greet")
        assert await stream.parts() == [BidiPart.of("hello and goodbye")]
        await wait_until(lambda: stream.reset_code is not None)
        assert stream.reset_code == ErrorCodes.NO_ERROR  # RFC 9113 8.1: stop sending
        assert emu.bidi_records[-1].outcome == "ok"


async def test_client_goaway_then_data_is_tolerated() -> None:
    """Like the JS SDK: GOAWAY, then DATA on the stream; the server closes quietly."""
    async with Emulator(bidi_port=0) as emu:
        client = await H2TestClient.connect(emu.bidi_url)
        stream = await client.open("echo")
        await stream.send_part("one")
        assert await stream.next_part() == BidiPart.of("one")
        client.conn.close_connection()
        client.flush()
        # h2 refuses to send after its own GOAWAY: write a DATA frame by hand.
        frame = b"\x00\x00\x01\x00\x00" + stream.stream_id.to_bytes(4, "big") + b"x"
        client._writer.write(frame)
        await asyncio.wait_for(client.closed.wait(), 2)
        record = emu.bidi_records[-1]
        await wait_until(lambda: record.ended is not None)
        assert record.outcome == "client_disconnected"
        await client.close()
        # and the listener still serves new connections
        again = await H2TestClient.connect(emu.bidi_url)
        stream = await again.open("echo")
        await stream.send_part("two")
        await stream.end_input()
        assert await stream.parts() == [BidiPart.of("two")]
        await again.close()
