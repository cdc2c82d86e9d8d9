"""``client.invoke_endpoint_with_bidirectional_stream`` against the emulator, h2c and TLS.

Echo, interleaving, volume, multiplexing, backpressure both ways, leaving early
(break, exception, cancellation: the model sees RST_STREAM within a second),
``input=``, and what a second ``async with`` or a ``send`` after the end does.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asyncsagemaker import BidiPart, DuplexStream, SageMakerRuntime, UsageError
from asyncsagemaker.emulator import BidiFaults, BidiInvocation, Emulator
from tests._support import BOTH_LOOPS
from tests.bidi.conftest import ClientRig

pytestmark = pytest.mark.anyio


async def wait_for_record(emu: Emulator, outcome: str, timeout: float = 1.0) -> float:
    """Seconds until the last record has ``outcome`` (fails after ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if emu.bidi_records and emu.bidi_records[-1].outcome == outcome:
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    raise AssertionError(f"record outcome {emu.bidi_records[-1].outcome!r}, wanted {outcome!r}")


@BOTH_LOOPS
async def test_echo(rig: ClientRig) -> None:
    async with rig() as (emu, client):
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
            assert isinstance(duplex, DuplexStream)
            assert duplex.invoked_production_variant == "AllTraffic"
            assert duplex.request_id == emu.bidi_records[-1].request_id
            await duplex.send(b"\x00\x01")
            await duplex.send("hello")
            await duplex.send(b"more", completion_state="PARTIAL")
            await duplex.send(BidiPart(b"x", "UTF8", "PARTIAL"), padding="pad")
            await duplex.end_input()
            parts = [part async for part in duplex]
        assert parts == [
            BidiPart(b"\x00\x01", "BINARY", "COMPLETE"),
            BidiPart(b"hello", "UTF8", "COMPLETE"),
            BidiPart(b"more", "BINARY", "PARTIAL"),
            BidiPart(b"x", "UTF8", "PARTIAL"),
        ]
        assert parts[1].text == "hello"
        record = emu.bidi_records[-1]
        assert (record.outcome, record.signatures_checked) == ("ok", 5)


async def test_a_part_comes_back_before_end_input(rig: ClientRig) -> None:
    async with rig() as (_, client):
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
            for word in ("one", "two", "three"):
                await duplex.send(word)
                part = await asyncio.wait_for(duplex.__anext__(), 5)
                assert part.text == word
            await duplex.end_input()
            assert [p async for p in duplex] == []


@BOTH_LOOPS
async def test_send_and_receive_from_two_tasks_a_thousand_parts_each_way(rig: ClientRig) -> None:
    async with rig() as (emu, client):
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:

            async def sender() -> None:
                for index in range(1000):
                    await duplex.send(index.to_bytes(4, "big") * 100)
                await duplex.end_input()

            task = asyncio.create_task(sender())
            received = [int.from_bytes(p.data[:4], "big") async for p in duplex]
            await task
        assert received == list(range(1000))
        assert emu.bidi_records[-1].parts_received == 1000


async def test_eight_concurrent_streams_share_one_connection(rig: ClientRig) -> None:
    async with rig() as (emu, client):

        async def talk(index: int) -> list[str]:
            async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
                for n in range(25):
                    await duplex.send(f"{index}/{n}")
                await duplex.end_input()
                return [p.text async for p in duplex]

        results = await asyncio.wait_for(asyncio.gather(*(talk(i) for i in range(8))), 20)
        assert results == [[f"{i}/{n}" for n in range(25)] for i in range(8)]
        side = client._bidi
        assert side is not None and side.transport is not None
        (origin,) = side.transport._pools
        assert len(side.transport.connections(origin)) == 1
        assert [r.outcome for r in emu.bidi_records] == ["ok"] * 8


async def test_a_stalled_reader_bounds_memory_and_stops_the_model(rig: ClientRig) -> None:
    produced = 0

    async def firehose(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[bytes]:
        nonlocal produced
        while True:
            produced += 1
            yield b"z" * 4096

    async with rig(bidi_models={"firehose": firehose}) as (emu, client):
        async with client.invoke_endpoint_with_bidirectional_stream("firehose") as duplex:
            await asyncio.sleep(0.5)  # not reading
            assert duplex._stream.buffered <= 65_535
            assert emu.bidi_records[-1].bytes_sent <= 65_535
            assert produced <= 65_535 // 4096 + 2
            count = 0
            async for _ in duplex:
                count += 1
                if count == 100:
                    break
            assert produced >= 100
        await wait_for_record(emu, "client_reset")


async def test_send_blocks_while_the_model_does_not_read(rig: ClientRig) -> None:
    release = asyncio.Event()

    async def deaf(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[BidiPart]:
        await release.wait()
        async for part in parts:
            yield part

    async with rig(bidi_models={"deaf": deaf}) as (_, client):
        async with client.invoke_endpoint_with_bidirectional_stream("deaf") as duplex:
            sent = 0

            async def sender() -> None:
                nonlocal sent
                for _ in range(100):
                    await duplex.send(b"s" * 4096)
                    sent += 1
                await duplex.end_input()

            task = asyncio.create_task(sender())
            await asyncio.sleep(0.5)
            assert not task.done()
            assert sent <= 65_535 // 4096 + 1  # blocked on the window
            release.set()
            parts = [p async for p in duplex]
            await task
            assert len(parts) == 100


@pytest.mark.parametrize("how", ["break", "exception", "cancel", "exit_unread"])
async def test_leaving_early_resets_the_stream_within_a_second(rig: ClientRig, how: str) -> None:
    stopped = asyncio.Event()

    async def chatty(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[str]:
        try:
            while True:
                yield "blah"
                await asyncio.sleep(0.01)
        finally:
            stopped.set()

    async with rig(bidi_models={"chatty": chatty}) as (emu, client):

        async def use() -> None:
            async with client.invoke_endpoint_with_bidirectional_stream("chatty") as duplex:
                if how == "exit_unread":
                    return
                async for _ in duplex:
                    if how == "break":
                        break
                    if how == "exception":
                        raise KeyError("consumer failed")
                    await asyncio.sleep(3600)  # cancelled here

        left = time.monotonic()
        if how == "exception":
            with pytest.raises(KeyError):
                await use()
        elif how == "cancel":
            task = asyncio.create_task(use())
            await asyncio.sleep(0.2)
            left = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            await use()
        await asyncio.wait_for(stopped.wait(), 1.0)
        assert time.monotonic() - left < 1.0
        await wait_for_record(emu, "client_reset")
        assert emu.bidi_records[-1].model_cancelled
        assert emu.bidi_records[-1].reset_code == 8  # RST_STREAM(CANCEL)


async def test_input_is_pumped_by_the_stream(rig: ClientRig) -> None:
    async def words() -> AsyncIterator[str | bytes]:
        for word in ("alpha", b"\x01", "gamma"):
            yield word
            await asyncio.sleep(0)

    async with rig() as (_, client):
        call = client.invoke_endpoint_with_bidirectional_stream("echo", input=words())
        async with call as duplex:
            parts = [p async for p in duplex]
    assert parts == [BidiPart.of("alpha"), BidiPart.of(b"\x01"), BidiPart.of("gamma")]


async def test_a_failing_input_iterator_surfaces(rig: ClientRig) -> None:
    async def broken() -> AsyncIterator[str]:
        yield "first"
        raise ValueError("microphone unplugged")

    async with rig() as (emu, client):
        with pytest.raises(ValueError, match="microphone unplugged"):
            async with client.invoke_endpoint_with_bidirectional_stream(
                "echo", input=broken()
            ) as d:
                async for _ in d:
                    pass
        await wait_for_record(emu, "client_reset")


async def test_misuse_is_a_usage_error(rig: ClientRig) -> None:
    async with rig() as (_, client):
        call = client.invoke_endpoint_with_bidirectional_stream("echo")
        with pytest.raises(UsageError, match="async with"):
            await call
        async with call as duplex:
            await duplex.end_input()
            await duplex.end_input()  # again: a no-op
            with pytest.raises(UsageError, match="after end_input"):
                await duplex.send("late")
        with pytest.raises(UsageError, match="entered once"):
            async with call:
                pass


async def test_the_demo_model_streams_replies(rig: ClientRig) -> None:
    async with rig() as (_, client):
        async with client.invoke_endpoint_with_bidirectional_stream("demo") as duplex:
            await duplex.send("What is the weather like?")
            reply = []
            async for part in duplex:
                reply.append(part)
                if part.completion_state == "COMPLETE":
                    break
            assert len(reply) > 2 and all(p.data_type == "UTF8" for p in reply)


async def test_closing_the_client_ends_open_streams(rig: ClientRig) -> None:
    from asyncsagemaker import StreamInterruptedError

    async with rig() as (_, client):
        assert isinstance(client, SageMakerRuntime)
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
            await duplex.send("x")
            assert (await duplex.__anext__()).text == "x"
            await client.close()
            with pytest.raises(StreamInterruptedError):
                await duplex.__anext__()


async def test_the_sdk_headers_tell_one_call_s_attempts_apart(rig: ClientRig) -> None:
    faults = {"echo": BidiFaults(throttle_first=1)}
    async with rig(bidi_faults=faults) as (emu, client):
        for _ in range(2):
            async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
                await duplex.end_input()
                assert [part async for part in duplex] == []
    first, retried, second = (record.headers for record in emu.bidi_records)
    for headers in (first, retried, second):
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
            headers["amz-sdk-invocation-id"],
        )
        assert headers["user-agent"].startswith("asyncsagemaker/")
    assert first["amz-sdk-request"] == "attempt=1; max=3"
    assert retried["amz-sdk-request"] == "attempt=2; max=3"
    assert first["amz-sdk-invocation-id"] == retried["amz-sdk-invocation-id"]
    assert second["amz-sdk-request"] == "attempt=1; max=3"
    assert second["amz-sdk-invocation-id"] != first["amz-sdk-invocation-id"]
    assert "amz-sdk-request" not in first["authorization"]  # sent unsigned, as botocore does


async def test_a_stream_that_waited_for_its_connection_is_signed_when_written(
    rig: ClientRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that takes longer than the service's clock window to be made: the
    stream's request is signed again once it has one, and its events chain from that."""
    import asyncsagemaker.emulator._sigv4 as emulator_sigv4
    from asyncsagemaker._transports.http2 import H2Transport

    monkeypatch.setattr(emulator_sigv4, "MAX_SKEW", datetime.timedelta(seconds=2))
    connect = H2Transport._connect

    async def slow_connect(self: H2Transport, origin: str) -> Any:
        await asyncio.sleep(3.5)  # past the (shortened) window, as a stalled handshake
        return await connect(self, origin)

    monkeypatch.setattr(H2Transport, "_connect", slow_connect)
    async with rig() as (emu, client):
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
            await duplex.send("signed late")
            await duplex.end_input()
            parts = [part async for part in duplex]
        assert parts == [BidiPart(b"signed late", "UTF8", "COMPLETE")]
        assert emu.bidi_records[-1].outcome == "ok"
