"""A minimal RFC 6455 WebSocket client, for bridging a stream to a model container.

Written here rather than taken from aiohttp because the bridge needs two things
aiohttp's client does not give: sending a message as several fragments (a
``PARTIAL`` part is a non-final fragment, a ``COMPLETE`` part the final one), and
reading fragments as they come (so a container's non-final fragment becomes a
``PARTIAL`` part).  It also half-closes: after our Close frame the container's
last messages are still read until its own Close.  Plain ``ws://`` only, no
extensions; the container runs next to the emulator.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import struct
import urllib.parse
from typing import Final

__all__ = ["WebSocket", "WebSocketRefused", "connect"]

_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0, 1, 2, 8, 9, 10
_MAX_HEAD = 64 * 1024
_MAX_BODY = 64 * 1024
MAX_FRAME = 16 * 1024 * 1024


class WebSocketRefused(Exception):
    """The container did not accept the WebSocket: ``status`` 0 means it was not reachable."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class WebSocketProtocolError(Exception):
    """The container sent something that is not valid WebSocket framing."""


class WebSocket:
    """An open client WebSocket: ``send`` fragments, ``receive`` fragments, half-close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._sending: int | None = None  # opcode of the message being sent in fragments
        self._receiving: int | None = None  # opcode of the message being received
        self._close_sent = False
        self.close_code: int | None = None  # the container's close code, once it closed
        self._write_lock = asyncio.Lock()

    async def _write(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        mask = os.urandom(4)
        size = len(payload)
        first = (0x80 if fin else 0) | opcode
        if size < 126:
            head = struct.pack("!BB", first, 0x80 | size)
        elif size < 65536:
            head = struct.pack("!BBH", first, 0x80 | 126, size)
        else:
            head = struct.pack("!BBQ", first, 0x80 | 127, size)
        async with self._write_lock:
            self._writer.write(head + mask + _masked(payload, mask))
            await self._writer.drain()

    async def send(self, data: bytes, text: bool, fin: bool) -> None:
        """Send one fragment of a text or binary message; ``fin`` ends the message."""
        if self._close_sent:
            raise ConnectionError("the WebSocket is closing")
        opcode = _TEXT if text else _BINARY
        if self._sending is not None and self._sending != opcode:
            await self._write(_CONTINUATION, b"", fin=True)  # a new type: end the open message
            self._sending = None
        await self._write(_CONTINUATION if self._sending is not None else opcode, data, fin)
        self._sending = None if fin else opcode

    async def close(self, code: int = 1000) -> None:
        """Send our Close frame; the container's remaining messages can still be received."""
        if not self._close_sent:
            if self._sending is not None:
                await self._write(_CONTINUATION, b"", fin=True)
                self._sending = None
            self._close_sent = True
            await self._write(_CLOSE, struct.pack("!H", code))

    async def receive(self) -> tuple[bool, bytes, bool] | None:
        """The next data fragment as ``(is_text, data, final)``; None once the container closed."""
        while True:
            opcode, fin, payload = await self._frame()
            if opcode == _PING:
                await self._write(_PONG, payload)
            elif opcode == _PONG:
                continue
            elif opcode == _CLOSE:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                if not self._close_sent:
                    with contextlib.suppress(ConnectionError):
                        await self.close(1000)
                return None
            else:
                if opcode == _CONTINUATION:
                    if self._receiving is None:
                        raise WebSocketProtocolError("a continuation frame without a message")
                    kind = self._receiving
                elif opcode in (_TEXT, _BINARY):
                    if self._receiving is not None:
                        raise WebSocketProtocolError("a new message inside a fragmented one")
                    kind = opcode
                else:
                    raise WebSocketProtocolError(f"unknown WebSocket opcode {opcode}")
                self._receiving = None if fin else kind
                return kind == _TEXT, payload, fin

    async def _frame(self) -> tuple[int, bool, bytes]:
        try:
            first, second = await self._reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self._reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self._reader.readexactly(8))
            if size > MAX_FRAME:
                raise WebSocketProtocolError(f"a frame of {size} bytes exceeds {MAX_FRAME}")
            mask = await self._reader.readexactly(4) if second & 0x80 else b""
            payload = await self._reader.readexactly(size)
        except asyncio.IncompleteReadError:
            raise ConnectionError(
                "the container closed the connection without a Close frame"
            ) from None
        return first & 0x0F, bool(first & 0x80), _masked(payload, mask) if mask else payload

    def abort(self) -> None:
        """Close the socket now."""
        self._writer.close()


async def connect(url: str, timeout: float = 5.0) -> WebSocket:
    """Open a WebSocket to ``url`` (``http://`` or ``ws://``); WebSocketRefused if it fails."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "ws") or not parts.hostname:
        raise WebSocketRefused(0, f"cannot bridge to {url!r}: only http:// containers")
    port = parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, port, limit=_MAX_HEAD), timeout
        )
    except (OSError, asyncio.TimeoutError) as exc:
        raise WebSocketRefused(0, f"could not connect to the container at {url}: {exc}") from None
    key = base64.b64encode(os.urandom(16)).decode()
    host = parts.netloc
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    try:
        writer.write(request.encode("latin-1"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status, headers = _parse_head(head)
        if status != 101:
            body = await _read_body(reader, headers, timeout)
            writer.close()
            raise WebSocketRefused(status, body or f"HTTP {status} instead of a WebSocket")
        expected = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            writer.close()
            raise WebSocketRefused(502, "the container answered with a wrong Sec-WebSocket-Accept")
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            ValueError) as exc:  # fmt: skip
        writer.close()
        raise WebSocketRefused(0, f"the container's WebSocket handshake failed: {exc!r}") from None
    return WebSocket(reader, writer)


def _masked(payload: bytes, mask: bytes) -> bytes:
    """``payload`` XOR the repeated 4-byte ``mask`` (RFC 6455, 5.3), in one big-int step."""
    size = len(payload)
    if not size:
        return b""
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP response: {lines[0]!r}")
    status = int(rest.split(" ", 1)[0])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str], timeout: float) -> str:
    length = min(int(headers.get("content-length", "0") or 0), _MAX_BODY)
    if not length:
        return ""
    with contextlib.suppress(asyncio.IncompleteReadError, asyncio.TimeoutError):
        return (await asyncio.wait_for(reader.readexactly(length), timeout)).decode(
            "utf-8", "replace"
        )
    return ""
