"""Server-side flow: a client that stops reading pauses the model; one that leaves is seen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import psutil
import pytest

from asyncsagemaker.emulator import Emulator, Invocation, RequestRecord
from tests._support import BOTH_LOOPS

from ._support import frames, path_for, post, sign, wait_until_async

pytestmark = pytest.mark.anyio
Start = Callable[..., Emulator]
PART = b"x" * (64 * 1024)
TOTAL_PARTS = 4000  # 250 MiB if it were all produced


class Producer:
    """A model that counts the parts it produced and whether it was closed."""

    def __init__(self, total: int, pause: float = 0.0) -> None:
        self.total = total
        self.pause = pause
        self.produced = 0
        self.closed = False

    async def __call__(self, inv: Invocation) -> AsyncIterator[bytes]:
        try:
            for _ in range(self.total):
                if self.pause:
                    await asyncio.sleep(self.pause)
                self.produced += 1
                yield PART if self.pause == 0 else b"tick"
        finally:
            self.closed = True


async def open_stream(session: aiohttp.ClientSession, emu: Emulator) -> aiohttp.ClientResponse:
    url = emu.url + path_for("m")
    return await post(session, url, b"{}", sign(url, b"{}", {}))


async def until_steady(read: Callable[[], int], quiet: float = 0.5, limit: float = 8.0) -> int:
    """The value once it stops changing for ``quiet`` seconds (or after ``limit``)."""
    deadline = time.monotonic() + limit
    last, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        value = read()
        if value != last:
            last, since = value, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return last


async def test_a_client_that_stops_reading_pauses_the_model(start: Start) -> None:
    producer = Producer(TOTAL_PARTS)
    emu = start(models={"m": producer})
    process = psutil.Process()
    rss_before = process.memory_info().rss
    async with aiohttp.ClientSession(read_bufsize=64 * 1024) as session:
        response = await open_stream(session, emu)
        assert response.status == 200
        paused_at = await until_steady(lambda: producer.produced)
        # Socket buffers and one part in flight, not the 250 MiB the model could make.
        assert paused_at < TOTAL_PARTS // 4
        grown = process.memory_info().rss - rss_before
        assert grown < 100 * 1024 * 1024
        # Reading again lets the model go on.
        await response.content.readexactly(8 * 1024 * 1024)
        assert await wait_until_async(lambda: producer.produced > paused_at)
        response.close()
    assert await wait_until_async(lambda: producer.closed)


def finished(record: RequestRecord) -> bool:
    return record.ended is not None


@BOTH_LOOPS
@pytest.mark.parametrize("pause", [0.02, 30.0], ids=["between-parts", "inside-a-long-await"])
async def test_a_client_that_leaves_is_recorded_and_the_model_closed(pause: float) -> None:
    """On the test's own loop (asyncio and uvloop), not in a thread."""
    producer = Producer(1000, pause=pause)
    async with Emulator(models={"m": producer}) as emu, aiohttp.ClientSession() as session:
        response = await open_stream(session, emu)
        assert response.status == 200
        if pause < 1:
            await response.content.readexactly(3 * len(frames_of_tick()))
        else:
            assert await wait_until_async(lambda: emu.records[-1].status == 200)
        response.close()  # closes the TCP connection mid-stream
        record = emu.records[-1]
        assert await wait_until_async(lambda: finished(record), timeout=5)
        assert record.outcome == "client_disconnected"
        assert await wait_until_async(lambda: producer.closed)
        assert producer.produced < 1000


def frames_of_tick() -> bytes:
    from asyncsagemaker.emulator._streaming import PAYLOAD_PART_HEADERS
    from asyncsagemaker.eventstream import frame

    data = frame(PAYLOAD_PART_HEADERS, b"tick")
    assert frames(data)[0].payload == b"tick"
    return data
