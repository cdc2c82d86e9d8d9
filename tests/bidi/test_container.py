"""``container:URL`` on the HTTP/2 listener: the stream bridged to a real aiohttp WebSocket.

UTF8 parts are text frames and BINARY parts binary frames; PARTIAL parts are
non-final fragments (aiohttp reassembles them into one message); the
ModelInvocationPath and ModelQueryString pick the WebSocket URL; a container that
cannot be reached, or will not upgrade, is a 424 before the stream.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import struct
from collections.abc import AsyncIterator

import pytest
from aiohttp import WSMsgType, web

from asyncsagemaker._bidi.events import BidiPart
from asyncsagemaker.errors import ModelStreamError
from tests._support import serving
from tests.bidi.conftest import Connect

pytestmark = pytest.mark.anyio


class Container:
    """A bring-your-own container: a WebSocket that echoes each message with a prefix.

    A text message ``close:<code>`` makes it close with that code; after the client's
    Close it still sends ``bye`` before closing (it has ``autoclose`` off).
    """

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes | str]] = []
        self.requests: list[tuple[str, str]] = []
        self.closed_by_client = asyncio.Event()

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        self.requests.append((request.path, request.query_string))
        ws = web.WebSocketResponse(autoclose=False)
        await ws.prepare(request)
        while True:  # not ``async for``: it stops at CLOSE, before the goodbye below
            message = await ws.receive()
            if message.type == WSMsgType.TEXT:
                self.messages.append(("text", message.data))
                if message.data.startswith("close:"):
                    await ws.close(code=int(message.data[6:]))
                    break
                await ws.send_str(f"echo:{message.data}")
            elif message.type == WSMsgType.BINARY:
                self.messages.append(("binary", message.data))
                await ws.send_bytes(b"echo:" + message.data)
            elif message.type == WSMsgType.CLOSE:
                self.closed_by_client.set()
                await ws.send_str("bye")
                await ws.close()
                break
            else:
                break
        return ws

    async def plain(self, request: web.Request) -> web.Response:
        return web.Response(status=404, text="no socket here")


@pytest.fixture
async def container() -> AsyncIterator[tuple[Container, str]]:
    state = Container()
    app = web.Application()
    app.router.add_get("/invocations-bidirectional-stream", state.websocket)
    app.router.add_get("/v1/listen", state.websocket)
    app.router.add_get("/plain", state.plain)
    async with serving(app) as url:
        yield state, url


async def test_text_and_binary_frames_both_ways(
    connect: Connect, container: tuple[Container, str]
) -> None:
    state, url = container
    async with connect(models={"byoc": f"container:{url}"}) as (emu, client):
        stream = await client.open("byoc")
        assert stream.status == 200
        await stream.send_part("hello")
        assert await stream.next_part() == BidiPart(b"echo:hello", "UTF8", "COMPLETE")
        await stream.send_part(b"\x00\x01\x02")
        assert await stream.next_part() == BidiPart(b"echo:\x00\x01\x02", "BINARY", "COMPLETE")
        await stream.send_part(BidiPart(b"hel", "UTF8", "PARTIAL"))
        await stream.send_part(BidiPart(b"lo again", "UTF8", "COMPLETE"))
        assert await stream.next_part() == BidiPart.of("echo:hello again")
        await stream.end_input()
        # Our Close goes to the container, which still answers before closing.
        assert await stream.parts() == [BidiPart.of("bye")]
        assert state.closed_by_client.is_set()
        assert state.messages == [
            ("text", "hello"),
            ("binary", b"\x00\x01\x02"),
            ("text", "hello again"),  # two fragments, one message
        ]
        assert state.requests == [("/invocations-bidirectional-stream", "")]
        assert emu.bidi_records[-1].outcome == "ok"


async def test_a_fragmented_message_can_change_type(
    connect: Connect, container: tuple[Container, str]
) -> None:
    state, url = container
    async with connect(bidi_models={"byoc": f"container:{url}"}) as (_, client):
        stream = await client.open("byoc")
        await stream.send_part(BidiPart(b"half a text", "UTF8", "PARTIAL"))
        await stream.send_part(BidiPart(b"\xff", "BINARY", "COMPLETE"))
        assert await stream.next_part() == BidiPart.of("echo:half a text")
        assert await stream.next_part() == BidiPart.of(b"echo:\xff")
        await stream.end_input()
        await stream.parts()
        assert state.messages == [("text", "half a text"), ("binary", b"\xff")]


async def test_path_and_query_are_forwarded(
    connect: Connect, container: tuple[Container, str]
) -> None:
    state, url = container
    headers = {
        "x-amzn-sagemaker-model-invocation-path": "v1/listen",
        "x-amzn-sagemaker-model-query-string": "model=nova-3&language=en",
    }
    async with connect(bidi_models={"byoc": f"container:{url}"}) as (_, client):
        stream = await client.open("byoc", headers=headers)
        await stream.send_part("hi")
        assert await stream.next_part() == BidiPart.of("echo:hi")
        await stream.end_input()
        await stream.parts()
        assert state.requests == [("/v1/listen", "model=nova-3&language=en")]


@pytest.mark.parametrize(("code", "clean"), [(1000, True), (1011, False)])
async def test_the_container_closing_first(
    connect: Connect, container: tuple[Container, str], code: int, clean: bool
) -> None:
    _, url = container
    async with connect(bidi_models={"byoc": f"container:{url}"}) as (emu, client):
        stream = await client.open("byoc")
        await stream.send_part(f"close:{code}")
        if clean:
            assert await stream.parts() == []
            assert emu.bidi_records[-1].outcome == "ok"
        else:
            with pytest.raises(ModelStreamError, match="code 1011") as caught:
                await stream.next_part()
            assert caught.value.error_code == "StreamBroken"


async def test_an_unreachable_container_is_a_424(connect: Connect) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with connect(bidi_models={"byoc": f"container:http://127.0.0.1:{port}"}) as (emu, c):
        stream = await c.open("byoc")
        assert stream.status == 424
        body = await stream.error()
        assert body["_header"] == body["XAmznErrorType"] == "ModelError"
        assert "Failed to connect to the model container" in body["Message"]
        assert body["LogStreamArn"].startswith("arn:aws:logs:")
        assert emu.bidi_records[-1].status == 424


async def test_a_container_refusing_the_websocket_is_a_424(
    connect: Connect, container: tuple[Container, str]
) -> None:
    _, url = container
    headers = {"x-amzn-sagemaker-model-invocation-path": "plain"}
    async with connect(bidi_models={"byoc": f"container:{url}"}) as (_, client):
        stream = await client.open("byoc", headers=headers)
        assert stream.status == 424
        body = await stream.error()
        assert body["OriginalStatusCode"] == 404
        assert body["OriginalMessage"] == "no socket here"


async def test_container_fragments_come_back_as_partial_parts(connect: Connect) -> None:
    """A container sending a message in fragments: each fragment is one part."""
    sent_close = asyncio.Event()

    async def raw_container(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        key = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
                   if line.lower().startswith("sec-websocket-key"))  # fmt: skip
        accept = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        ).decode()
        writer.write(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        writer.write(b"\x01\x03one" + b"\x00\x03two" + b"\x80\x05three")  # text in 3 fragments
        writer.write(b"\x89\x00")  # a ping: the bridge must answer it
        writer.write(b"\x82\x02\xca\xfe")  # one whole binary message
        writer.write(b"\x88\x02" + struct.pack("!H", 1000))
        sent_close.set()
        await writer.drain()
        pong = await reader.readexactly(2)
        assert pong[0] == 0x8A  # PONG, masked, empty
        await reader.read()
        writer.close()

    server = await asyncio.start_server(raw_container, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with connect(bidi_models={"raw": f"container:http://127.0.0.1:{port}"}) as (_, c):
            stream = await c.open("raw")
            assert await stream.parts() == [
                BidiPart(b"one", "UTF8", "PARTIAL"),
                BidiPart(b"two", "UTF8", "PARTIAL"),
                BidiPart(b"three", "UTF8", "COMPLETE"),
                BidiPart(b"\xca\xfe", "BINARY", "COMPLETE"),
            ]
    finally:
        server.close()
