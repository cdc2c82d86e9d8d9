"""examples/voice_relay.py on a real uvicorn, a real aiohttp WebSocket client as the browser,
and the emulator's HTTP/2 listener as SageMaker: both directions at once, the browser
leaving resets the upstream stream, a failing stream reaches the browser."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from asyncsagemaker.emulator import (
    BidiFaults,
    BidiHandler,
    BidiInvocation,
    BidiPart,
    BidiRecord,
    Emulator,
    run_in_thread,
)
from tests.examples._support import AKID, SECRET, load_example
from tests.examples.test_fastapi_sse import serve

example = load_example("voice_relay")
pytestmark = pytest.mark.anyio


async def slow_echo(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[BidiPart]:
    """Echoes each part; ``talk forever`` makes it talk until cancelled, ``bye`` ends it."""
    async for part in parts:
        if part.data == b"bye":
            return
        yield part
        if part.data == b"talk forever":
            while True:
                await asyncio.sleep(0.05)
                yield BidiPart.of("...")


async def settled(emulator: Emulator) -> BidiRecord:
    """The last stream's record once the stream is over (within a second)."""
    for _ in range(100):
        if emulator.bidi_records[-1].ended is not None:
            break
        await asyncio.sleep(0.01)
    return emulator.bidi_records[-1]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    models: dict[str, BidiHandler | str] = {"voice": slow_echo, "demo": "demo"}
    emu = Emulator(bidi_port=0, bidi_models=models, credentials={AKID: SECRET}, token_delay=0)
    with run_in_thread(emu) as running:
        yield running


@pytest.fixture
def relay_url(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("SAGEMAKER_ENDPOINT", "voice")
    monkeypatch.setenv("SAGEMAKER_BIDI_ENDPOINT_URL", emulator.bidi_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AKID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    example.app.state.settings = None
    with serve(example.app) as base:
        yield base.replace("http://", "ws://") + "/relay"


async def test_both_directions_at_once(relay_url: str, emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(relay_url) as ws:
        await ws.send_str("hello")
        assert (await ws.receive(timeout=5)).data == "hello"
        await ws.send_bytes(b"\x00\x01audio")
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.BINARY and message.data == b"\x00\x01audio"
        await ws.send_str("caf\u00e9")
        assert (await ws.receive(timeout=5)).data == "caf\u00e9"
    record = await settled(emulator)
    assert (record.parts_received, record.parts_sent) == (3, 3)
    assert record.outcome == "client_reset"  # the browser left: the stream was reset


async def test_the_browser_leaving_resets_the_upstream_stream(
    relay_url: str, emulator: Emulator
) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(relay_url)
        await ws.send_str("talk forever")
        assert (await ws.receive(timeout=5)).data == "talk forever"
        assert (await ws.receive(timeout=5)).data == "..."  # the model is still talking
        await ws.close()
    record = await settled(emulator)
    assert record.outcome == "client_reset"
    assert record.model_cancelled


async def test_a_failing_stream_reaches_the_browser(relay_url: str, emulator: Emulator) -> None:
    emulator.set_bidi_faults("voice", BidiFaults(stream_error_after=1))
    async with aiohttp.ClientSession() as session, session.ws_connect(relay_url) as ws:
        await ws.send_str("one")
        assert (await ws.receive(timeout=5)).data == "one"
        failure = json.loads((await ws.receive(timeout=5)).data)
        assert failure["error"] == "ModelStreamError"
        closing = await ws.receive(timeout=5)
        assert closing.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1011


async def test_the_model_ending_closes_the_websocket_normally(
    relay_url: str, emulator: Emulator
) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(relay_url) as ws:
        await ws.send_str("x")
        assert (await ws.receive(timeout=5)).data == "x"
        await ws.send_str("bye")
        assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1000
    assert (await settled(emulator)).outcome == "ok"


async def test_the_session_limit_reaches_the_browser(relay_url: str, emulator: Emulator) -> None:
    emulator.set_bidi_faults("voice", BidiFaults(max_session_seconds=0.2))
    async with aiohttp.ClientSession() as session, session.ws_connect(relay_url) as ws:
        await ws.send_str("x")
        assert (await ws.receive(timeout=5)).data == "x"
        failure = json.loads((await ws.receive(timeout=5)).data)
        assert failure["error"] == "ModelStreamError"
        assert "maximum length" in failure["message"]
