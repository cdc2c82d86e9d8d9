"""A rogue HTTP/2 server for the transport's hardening tests: h2 on asyncio streams, told
what to do wrong.

It answers every request with ``200`` and then misbehaves as asked: it grants a huge
flow-control window and stops reading its socket (so the client's TCP send buffer
fills while HTTP/2 says it may send), or floods PINGs and SETTINGS without reading
the answers.  ``accepted`` counts connections, ``received`` the bytes it read.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.settings

HUGE_WINDOW = 2**31 - 1


@dataclass
class Rogue:
    """What the server does after the response headers; ``url`` once it runs."""

    stop_reading: bool = False  # after the response headers: never read the socket again
    flood: bytes = b""  # after the response headers: this frame, written over and over
    flood_bytes: int = 0  # how much of it at most
    go: asyncio.Event = field(default_factory=asyncio.Event)  # the flood starts when set
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    accepted: int = 0
    received: int = 0
    flooded: int = 0  # bytes of the flood written
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        if self.stop_reading and sock is not None:  # fill the client's buffers sooner
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: HUGE_WINDOW},
        )
        conn.initiate_connection()
        conn.increment_flow_control_window(HUGE_WINDOW - 65_535)
        writer.write(conn.data_to_send())
        try:
            while True:
                data = await reader.read(65_536)
                if not data:
                    return
                self.received += len(data)
                answered = False
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        conn.send_headers(
                            event.stream_id,
                            [(":status", "200"), ("x-amzn-requestid", "rogue-1")],
                        )
                        answered = True
                writer.write(conn.data_to_send())
                if answered and self.stop_reading:
                    await self._stopped.wait()  # holds the socket, reads nothing
                    return
                if answered and self.flood:
                    await self._flood(writer)
                    await self._stopped.wait()
                    return
        except (ConnectionError, OSError):
            return
        finally:
            writer.close()

    async def _flood(self, writer: asyncio.StreamWriter) -> None:
        """Write the flood frame until ``flood_bytes`` or the socket gives up."""
        await _first(self.go, self._stopped)
        chunk = self.flood * max(1, 65_536 // len(self.flood))
        stopped = self._stopped
        while self.flooded < self.flood_bytes and not (writer.is_closing() or stopped.is_set()):
            writer.write(chunk)
            self.flooded += len(chunk)
            try:
                await asyncio.wait_for(writer.drain(), 5)
            except (ConnectionError, OSError, asyncio.TimeoutError):
                return

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Rogue]:
        server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            server.close()
            self._stopped.set()
            self.go.set()
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def _first(*events: asyncio.Event) -> None:
    """Wait until one of ``events`` is set."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def ping_frame(ack: bool = False) -> bytes:
    """One PING frame (8 bytes of opaque data), as a flood repeats it."""
    return b"\x00\x00\x08\x06" + (b"\x01" if ack else b"\x00") + b"\x00\x00\x00\x00" + b"ping0000"


def settings_frame() -> bytes:
    """One SETTINGS frame (no parameters): each one asks for an ACK."""
    return b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
