"""A small HTTP ``CONNECT`` proxy for the tests (asyncio, 127.0.0.1) that counts its tunnels.

It reads one request head, checks ``Proxy-Authorization`` when told to, connects
to the target and answers ``200``, then copies bytes both ways until either side
closes.  ``tunnels`` lists the ``host:port`` of every tunnel it opened,
``refused`` the status of every request it refused.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class ConnectProxy:
    credentials: tuple[str, str] | None = None  # (user, password) it insists on
    url: str = ""
    tunnels: list[str] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    def url_with(self, user: str, password: str) -> str:
        return self.url.replace("http://", f"http://{user}:{password}@")

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            if method != "CONNECT":
                return await self._refuse(writer, 405, "Method Not Allowed")
            if self.credentials is not None:
                token = base64.b64encode(":".join(self.credentials).encode()).decode()
                if fields.get("Proxy-Authorization") != f"Basic {token}":
                    return await self._refuse(writer, 407, "Proxy Authentication Required")
            host, _, port = target.rpartition(":")
            try:
                up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
            except OSError:
                return await self._refuse(writer, 502, "Bad Gateway")
            self._writers.add(up_writer)
            self.tunnels.append(target)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()

    async def _refuse(self, writer: asyncio.StreamWriter, status: int, reason: str) -> None:
        self.refused.append(status)
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ConnectProxy]:
        server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            yield self
        finally:
            server.close()
            for writer in self._writers:  # ends every pipe (cancelling would log noise)
                writer.transport.abort()
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 5)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until ``source`` ends, then close ``sink``."""
    try:
        while data := await source.read(65_536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        sink.close()
