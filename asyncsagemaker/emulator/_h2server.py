"""A small HTTP/2 server on asyncio streams and h2 (sans-IO), for full-duplex request streams.

One reader task per connection feeds the socket's bytes to ``h2`` and routes the
events; every request stream gets its own handler task with an :class:`H2Stream`.
Flow control is real both ways, because that is what a client's backpressure is
tested against: received DATA is acknowledged (handed back to the peer's window)
only when the handler reads it, and :meth:`H2Stream.send` never sends more than the
peer's window allows, waiting for ``WINDOW_UPDATE`` when it is full.

A connection that is closing (GOAWAY sent or received) tolerates whatever the peer
still sends: some clients write DATA after GOAWAY, which h2 refuses as a protocol
error; that ends the connection quietly.  TLS connections must negotiate ``h2``
by ALPN when the client offers ALPN at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes

from .._redact import redact_library_logs

__all__ = ["CONNECTION_WINDOW", "STREAM_WINDOW", "H2Listener", "H2Stream", "StreamGone"]

logger = logging.getLogger("asyncsagemaker.emulator")

#: Bytes a client may send on one stream before the handler reads any (its window).
STREAM_WINDOW = 65_535
#: The connection's window: room for every stream's window, so a stalled stream
#: never blocks the others sharing its connection.
CONNECTION_WINDOW = 16 * 1024 * 1024
MAX_CONCURRENT_STREAMS = 128
_READ_SIZE = 65_536
_CLOSE_TIMEOUT = 5.0

Handler = Callable[["H2Stream"], Awaitable[None]]


class StreamGone(Exception):
    """The stream can no longer be used: reset by the peer, or its connection is gone."""

    def __init__(self, reason: str, error_code: int | None = None) -> None:
        super().__init__(reason if error_code is None else f"{reason} (error code {error_code})")
        self.reason = reason
        self.error_code = error_code


class H2Stream:
    """One request stream as a handler sees it: read DATA, send a response, reset.

    ``headers`` are the request's headers in the order received, pseudo-headers
    (``:method``, ``:path``, ``:authority``...) included, names lower case.
    """

    def __init__(self, connection: _Connection, stream_id: int, headers: list[tuple[str, str]]):
        self._connection = connection
        self.stream_id = stream_id
        self.headers = headers
        self._chunks: deque[tuple[bytes, int]] = deque()
        self._buffered = 0
        self._readable = asyncio.Event()
        self._input_ended = False
        self._output_ended = False
        self._responded = False
        self._gone: StreamGone | None = None
        self.reset_code: int | None = None  # the error code of the peer's RST_STREAM

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (lower case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def input_ended(self) -> bool:
        """True once the peer ended its side (END_STREAM) and every byte was read."""
        return self._input_ended and not self._chunks

    @property
    def output_ended(self) -> bool:
        """True once this side sent END_STREAM or reset the stream."""
        return self._output_ended

    @property
    def buffered(self) -> int:
        """Received DATA bytes the handler has not read yet (bounded by ``STREAM_WINDOW``)."""
        return self._buffered

    @property
    def gone(self) -> StreamGone | None:
        """Why the stream cannot be used any more, or None while it can."""
        return self._gone

    @property
    def tls(self) -> bool:
        return self._connection.tls

    async def read(self) -> bytes:
        """The next DATA bytes received, acknowledged now; ``b""`` after END_STREAM."""
        while not self._chunks:
            if self._gone is not None:
                raise self._gone
            if self._input_ended:
                return b""
            self._readable.clear()
            await self._readable.wait()
        data, size = self._chunks.popleft()
        self._buffered -= len(data)
        self._connection.acknowledge(self.stream_id, size)
        return data

    async def respond(
        self, status: int, headers: Iterable[tuple[str, str]] = (), end_stream: bool = False
    ) -> None:
        """Send the response headers (once)."""
        if self._responded:
            raise RuntimeError("the response headers were sent already")
        self._responded = True
        block = [(":status", str(status)), *((k.lower(), v) for k, v in headers)]
        connection = self._connection
        with connection.guard(self):
            connection.h2.send_headers(self.stream_id, block, end_stream=end_stream)
        if end_stream:
            self._output_ended = True
        await self._connection.drain(self)

    async def send(self, data: bytes, end_stream: bool = False) -> None:
        """Send ``data`` as DATA frames within the peer's flow-control window."""
        view = memoryview(data)
        connection = self._connection
        h2c = connection.h2
        while view or end_stream:
            with connection.guard(self):
                window = h2c.local_flow_control_window(self.stream_id)
            size = min(window, h2c.max_outbound_frame_size, len(view))
            if size <= 0 and view:
                await connection.wait_for_window(self)
                continue
            last = end_stream and size == len(view)
            with connection.guard(self):
                h2c.send_data(self.stream_id, bytes(view[:size]), end_stream=last)
            view = view[size:]
            if last:
                self._output_ended = True
                end_stream = False
            await connection.drain(self)

    async def end(self) -> None:
        """Send END_STREAM (no more response data)."""
        if not self._output_ended:
            self._output_ended = True
            connection = self._connection
            with connection.guard(self):
                connection.h2.end_stream(self.stream_id)
            await connection.drain(self)

    def reset(self, error_code: int = ErrorCodes.CANCEL) -> None:
        """Send RST_STREAM with ``error_code``; the stream is unusable afterwards."""
        if self._gone is None:
            self._output_ended = True
            self._connection.reset(self, error_code)

    async def close_connection(self, error_code: int = ErrorCodes.NO_ERROR) -> None:
        """Send GOAWAY and close the whole connection this stream is on."""
        await self._connection.go_away(error_code)

    # -- fed by the connection ------------------------------------------------------

    def _received(self, data: bytes, size: int) -> None:
        self._chunks.append((data, size))
        self._buffered += len(data)
        self._readable.set()

    def _ended(self) -> None:
        self._input_ended = True
        self._readable.set()

    def _lose(self, gone: StreamGone) -> None:
        if self._gone is None:
            self._gone = gone
        self._readable.set()


class _Connection:
    """One client connection: the h2 state machine, its socket, and its streams' tasks."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handler: Handler,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._handler = handler
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.h2 = h2.connection.H2Connection(config=config)
        self._streams: dict[int, H2Stream] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._window = asyncio.Event()
        self._drain_lock = asyncio.Lock()
        self._closing = False
        self._lost = False
        self.tls = writer.get_extra_info("ssl_object") is not None

    @contextlib.contextmanager
    def guard(self, stream: H2Stream) -> Iterator[None]:
        """Around h2 calls for ``stream``: h2's refusals become StreamGone; output is flushed."""
        if stream._gone is not None:
            raise stream._gone
        try:
            yield
        except h2.exceptions.StreamClosedError:
            gone = StreamGone("the stream was closed")
            stream._lose(gone)
            raise gone from None
        except h2.exceptions.ProtocolError as exc:
            gone = StreamGone(f"the connection cannot send: {exc}")
            stream._lose(gone)
            raise gone from None
        self._flush()

    def _flush(self) -> None:
        data = self.h2.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)

    async def drain(self, stream: H2Stream) -> None:
        async with self._drain_lock:
            try:
                await self._writer.drain()
            except (ConnectionError, RuntimeError) as exc:
                gone = StreamGone(f"the connection was lost: {exc}")
                stream._lose(gone)
                raise gone from None
        if stream._gone is not None:
            raise stream._gone

    async def wait_for_window(self, stream: H2Stream) -> None:
        event = self._window
        await event.wait()
        if stream._gone is not None:
            raise stream._gone

    def _wake_senders(self) -> None:
        self._window.set()
        self._window = asyncio.Event()

    def acknowledge(self, stream_id: int, size: int) -> None:
        if size and not self._lost:
            with contextlib.suppress(h2.exceptions.H2Error):
                self.h2.acknowledge_received_data(size, stream_id)
                self._flush()

    def reset(self, stream: H2Stream, error_code: int) -> None:
        with contextlib.suppress(h2.exceptions.H2Error):
            self.h2.reset_stream(stream.stream_id, error_code)
            self._flush()
        stream._lose(StreamGone("reset by the server", error_code))
        self._wake_senders()

    async def go_away(self, error_code: int) -> None:
        """GOAWAY for every stream, then close the socket: the fault of a dropped connection."""
        if not self._closing:
            self._closing = True
            with contextlib.suppress(h2.exceptions.H2Error):
                self.h2.close_connection(error_code, last_stream_id=max(self._streams, default=0))
                self._flush()
        self._close_socket("the server closed the connection (GOAWAY)")

    def _close_socket(self, reason: str) -> None:
        self._lost = True
        gone = StreamGone(reason)
        for stream in self._streams.values():
            stream._lose(gone)
        self._wake_senders()
        self._writer.close()

    # -- the reader loop --------------------------------------------------------------

    async def run(self) -> None:
        ssl_object = self._writer.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() not in (None, "h2"):
            protocol = ssl_object.selected_alpn_protocol()
            logger.info("emulator: HTTP/2 listener refused a connection with ALPN %r", protocol)
            self._writer.close()
            return
        h2c = self.h2
        h2c.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
            },
        )
        h2c.initiate_connection()
        h2c.increment_flow_control_window(CONNECTION_WINDOW - 65_535)
        self._flush()
        try:
            while not self._lost:
                data = await self._reader.read(_READ_SIZE)
                if not data:
                    break
                try:
                    events = h2c.receive_data(data)
                except h2.exceptions.ProtocolError as exc:
                    if not self._closing:
                        logger.info("emulator: HTTP/2 protocol error from the client: %s", exc)
                    self._flush()  # h2 queued its GOAWAY
                    break
                for event in events:
                    self._dispatch(event)
                self._flush()
        except (ConnectionError, OSError, ssl.SSLError):
            pass  # the client went away; its streams are lost below
        finally:
            await self._shutdown("the connection was lost")

    async def _shutdown(self, reason: str) -> None:
        if not self._lost:
            self._close_socket(reason)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(ConnectionError, OSError, ssl.SSLError, asyncio.TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), _CLOSE_TIMEOUT)

    async def close(self) -> None:
        """Server shutdown: GOAWAY, cancel the handlers, close the socket."""
        self._closing = True
        with contextlib.suppress(h2.exceptions.H2Error):
            self.h2.close_connection()
            self._flush()
        await self._shutdown("the server is shutting down")

    def _dispatch(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self._open(event)
        elif isinstance(event, h2.events.DataReceived):
            stream = self._streams.get(event.stream_id)
            data = event.data or b""
            size = event.flow_controlled_length or 0
            if stream is None or stream._gone is not None:
                self.acknowledge(event.stream_id, size)  # nobody reads it: hand it back
            else:
                stream._received(data, size)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                stream._ended()
        elif isinstance(event, h2.events.StreamReset):
            self._peer_reset(event)
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self._wake_senders()
        elif isinstance(event, h2.events.ConnectionTerminated):
            # h2 accepts nothing after a GOAWAY: the open streams cannot go on.
            self._closing = True
            self._close_socket("the client closed the connection (GOAWAY)")

    def _open(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id
        headers = [(str(k), str(v)) for k, v in event.headers or ()]
        stream = H2Stream(self, stream_id, headers)
        if event.stream_ended is not None:
            stream._ended()
        if self._closing:
            with contextlib.suppress(h2.exceptions.H2Error):
                self.h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        self._streams[stream_id] = stream
        task = asyncio.get_running_loop().create_task(self._serve(stream))
        self._tasks[stream_id] = task

    def _peer_reset(self, event: h2.events.StreamReset) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return
        code = int(event.error_code) if event.error_code is not None else 0
        stream.reset_code = code
        stream._output_ended = True
        stream._lose(StreamGone("reset by the client", code))
        self._wake_senders()
        task = self._tasks.get(event.stream_id)
        if task is not None:
            task.cancel()

    async def _serve(self, stream: H2Stream) -> None:
        try:
            await self._handler(stream)
            if stream._gone is None:
                await stream.end()
                if not stream._input_ended:
                    # The response is complete; the request need not be (RFC 9113, 8.1).
                    stream.reset(ErrorCodes.NO_ERROR)
        except StreamGone:
            pass
        except asyncio.CancelledError:
            pass  # reset by the client, or the connection went away
        except Exception:
            logger.exception("emulator: HTTP/2 handler failed on stream %d", stream.stream_id)
            stream.reset(ErrorCodes.INTERNAL_ERROR)
        finally:
            self._streams.pop(stream.stream_id, None)
            self._tasks.pop(stream.stream_id, None)


class H2Listener:
    """Accepts HTTP/2 connections (h2c with prior knowledge, or TLS with ALPN ``h2``)."""

    def __init__(
        self,
        handler: Handler,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._handler = handler
        self.host = host
        self.port = port
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._runs: set[asyncio.Task[None]] = set()
        redact_library_logs()  # hpack logs the headers it decodes at DEBUG: tokens masked

    async def start(self) -> None:
        if self._ssl is not None:
            # Offer h2 first; http/1.1 stays so that one context can serve both listeners.
            self._ssl.set_alpn_protocols(["h2", "http/1.1"])
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, ssl=self._ssl, limit=_READ_SIZE
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(reader, writer, self._handler)
        self._connections.add(connection)
        task = asyncio.current_task()
        if task is not None:
            self._runs.add(task)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
            if task is not None:
                self._runs.discard(task)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await asyncio.gather(*(c.close() for c in list(self._connections)), return_exceptions=True)
        if self._runs:
            await asyncio.wait(list(self._runs), timeout=5.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5.0)
