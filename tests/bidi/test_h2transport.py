"""The HTTP/2 transport on its own: keepalive PINGs, the peer's stream limit, the seam's send."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import h2.config
import h2.connection
import h2.events
import pytest

from asyncsagemaker._deadline import Deadline
from asyncsagemaker._transports.base import Request
from asyncsagemaker._transports.http2 import H2Transport
from asyncsagemaker.emulator import BidiInvocation, BidiPart, Emulator
from asyncsagemaker.errors import StreamInterruptedError

pytestmark = pytest.mark.anyio
PATH = "/endpoints/{}/invocations-bidirectional-stream"
SCOPE = "Credential=A/20250101/us-east-1/sagemaker/aws4_request"
SIGNED = {  # well formed; the emulator checks no signature without credentials
    "authorization": f"AWS4-HMAC-SHA256 {SCOPE}, SignedHeaders=host, Signature={'0' * 64}",
    "x-amz-date": "20250101T000000Z",
}


async def deaf_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers one request with 200, then never reads again: PINGs go unanswered."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    while True:
        data = await reader.read(65536)
        if not data:
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                conn.send_headers(event.stream_id, [(":status", "200")])
                writer.write(conn.data_to_send())
                await asyncio.sleep(30)
                return
        writer.write(conn.data_to_send())


async def test_a_peer_that_stops_answering_pings_fails_the_stream() -> None:
    server = await asyncio.start_server(deaf_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = H2Transport(keepalive=0.1)
    try:
        request = Request("POST", f"http://127.0.0.1:{port}/x", {}, b"")
        stream = await transport.open(request, Deadline())
        assert stream.status == 200
        with pytest.raises(StreamInterruptedError, match="keepalive PING"):
            await asyncio.wait_for(stream.read_chunk(), 5)
    finally:
        await transport.aclose()
        server.close()


async def test_answered_pings_keep_an_idle_stream_alive() -> None:
    async with Emulator(bidi_port=0) as emu:
        transport = H2Transport(keepalive=0.05)
        try:
            url = emu.bidi_url + PATH.format("echo")
            stream = await transport.open(Request("POST", url, SIGNED, b""), Deadline())
            assert stream.status == 200
            await asyncio.sleep(0.4)  # several PING rounds
            assert stream.error is None
            assert len(transport.connections(emu.bidi_url)) == 1
        finally:
            await transport.aclose()


async def test_streams_beyond_the_peers_limit_open_another_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncsagemaker.emulator._h2server as server

    monkeypatch.setattr(server, "MAX_CONCURRENT_STREAMS", 2)
    release = asyncio.Event()

    async def hold(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[str]:
        await release.wait()
        yield "done"

    async with Emulator(bidi_port=0, bidi_models={"hold": hold}) as emu:
        transport = H2Transport()
        try:
            url = emu.bidi_url + PATH.format("hold")
            streams = [
                await transport.open(Request("POST", url, SIGNED, b""), Deadline())
                for _ in range(5)
            ]
            assert [s.status for s in streams] == [200] * 5
            assert len(transport.connections(emu.bidi_url)) == 3  # 2 + 2 + 1
            release.set()
        finally:
            await transport.aclose()


async def test_the_seam_send_sends_a_whole_body() -> None:
    async with Emulator(bidi_port=0) as emu:
        transport = H2Transport()
        try:
            response = await transport.send(
                Request("POST", emu.bidi_url + "/ping", SIGNED, b"body"), Deadline()
            )
            assert response.status == 404  # not an operation: the emulator says so
            assert b"UnknownOperationException" in await response.body.read_all()
        finally:
            await transport.aclose()
