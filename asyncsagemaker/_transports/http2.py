"""The HTTP/2 transport, on h2 (sans-IO) and asyncio streams: full duplex, one stream per call.

The second transport behind the seam of :mod:`.base`, for the bidirectional call:
:meth:`H2Transport.open` sends a request's headers, returns an :class:`H2Stream`
once the response headers arrived, and leaves the request body open, so that the
caller sends while it reads.  Its rules:

* **Connections.** ``https://``: TLS with ALPN ``h2`` (a server that does not
  choose ``h2`` is a ConfigurationError, never retried); ``http://``: cleartext
  h2c with prior knowledge.  One connection per origin carries concurrent streams up to
  the peer's ``MAX_CONCURRENT_STREAMS``; more streams open another connection.
  After a GOAWAY a connection takes no new stream, so new calls go to a new one.
  A PING every ``keepalive`` seconds finds a dead peer (no answer within the next
  interval fails its streams).
* **Flow control.** :meth:`H2Stream.send` never sends beyond the peer's window, it
  waits for ``WINDOW_UPDATE``; received DATA is handed back to the peer's window
  only when :meth:`H2Stream.read_chunk` takes it (that is the consumer's
  backpressure on the model).  The connection window is large, so a stalled
  stream never blocks the others.
* **Errors.** Socket, TLS and timeout failures go through the generic rows of
  :mod:`.error_map` (:data:`_ERRORS`); the HTTP/2 events of their own are mapped
  here: RST_STREAM is a :class:`~.errors.StreamError` naming its
  error code, GOAWAY and a lost connection a
  :class:`~.errors.StreamInterruptedError`.
* **Deadlines.** Up to the response headers, the caller's ``Deadline.scope()``
  holds; ``connect_timeout`` bounds the connection, ``read_timeout`` the wait for
  the headers.  Afterwards the total deadline applies (a silent duplex stream is
  normal), through one watchdog timer per stream, to every wait of the stream:
  for data, for window, and for the socket.  A send blocked on the socket (the
  TCP send buffer full: the peer stopped reading although its window is open)
  also ends after ``read_timeout`` without a byte leaving, and takes the
  connection down with it, since every stream on it shares that socket.
* **What the peer makes us queue is bounded.**  h2 answers PING and SETTINGS by
  itself; a peer that floods them and never reads the answers would grow our
  write buffer without limit.  More than :data:`MAX_PENDING_REPLIES` such
  answers not yet taken by the socket close the connection, as nghttp2 does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import urllib.parse
from collections import deque
from typing import Final

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes
from hpack import NeverIndexedHeaderTuple

from .._deadline import Deadline, Sweeper, Watchdog
from .._redact import SECRET_HEADERS, redact_library_logs
from ..errors import (
    ClientClosedError,
    ConfigurationError,
    ConnectTimeoutError,
    NetworkError,
    ReadTimeoutError,
    SageMakerError,
    StreamError,
    StreamInterruptedError,
)
from .base import ChunkedBody, RawResponse, Request, refresh
from .error_map import GENERIC_ROWS, REQUEST, ErrorMap
from .tunnel import open_tunnel

__all__ = ["CONNECTION_WINDOW", "MAX_PENDING_REPLIES", "H2Stream", "H2Transport"]

#: Socket, TLS and timeout failures; HTTP/2's own events are mapped where they arrive.
_ERRORS = ErrorMap(GENERIC_ROWS)

#: The connection's receive window: room for many streams' windows at once.
CONNECTION_WINDOW: Final = 16 * 1024 * 1024
_READ_SIZE: Final = 65_536
_DEFAULT_WINDOW: Final = 65_535
#: Frames h2 queued by itself in answer to the peer (PING and SETTINGS ACKs, RST_STREAMs)
#: that the socket has not taken yet; past this the peer floods us and reads nothing.
#: nghttp2 allows 1,000 pending PING/SETTINGS ACKs (``NGHTTP2_DEFAULT_MAX_OBQ_FLOOD_ITEM``
#: in lib/nghttp2_session.h, checked in ``nghttp2_session_add_ping`` and on each SETTINGS
#: received) and then fails the session with ``NGHTTP2_ERR_FLOODED``; we count every
#: answer h2 queues on its own against the same 1,000, after each read of the socket
#: (so at most the answers to one read's frames, 64 KiB, come on top).
MAX_PENDING_REPLIES: Final = 1000
_FRAME_HEADER: Final = 9
_CLOSE_GRACE: Final = 2.0  # seconds a closing connection may take to flush before abort


def _code_name(code: int | None) -> str:
    if code is None:
        return "NO_ERROR"
    try:
        return ErrorCodes(code).name
    except ValueError:
        return f"error {code}"


def _header(name: str, value: str) -> tuple[str, str] | NeverIndexedHeaderTuple:
    """A request header for h2; a secret one never indexed (RFC 7541, 7.1.3).

    Never indexed, the value stays out of HPACK's compression table (and hpack's
    own logs show it as redacted); the filter of :func:`~.._redact.redact_library_logs`
    masks the rest.
    """
    return NeverIndexedHeaderTuple(name, value) if name in SECRET_HEADERS else (name, value)


class H2Stream(ChunkedBody):
    """One HTTP/2 stream of a call: response headers, DATA both ways, reset.

    Also the :class:`~.base.BodySource` of its response: ``read_chunk`` takes the
    next DATA (acknowledging it), ``abort`` resets the stream with CANCEL.
    """

    def __init__(self, connection: _Connection, stream_id: int) -> None:
        self._connection = connection
        self.stream_id = stream_id
        self.status = 0
        self.headers: dict[str, str] = {}
        self._responded = asyncio.Event()
        self._chunks: deque[tuple[bytes, int]] = deque()
        self._buffered = 0
        self._readable = asyncio.Event()
        self.ended = False  # the peer sent END_STREAM
        self.input_closed = False  # we sent END_STREAM, or the peer asked us to stop
        self._error: SageMakerError | None = None
        self._failed: asyncio.Future[None] | None = None  # made by a send that must wait
        self._watchdog: Watchdog | None = None
        self._loop = asyncio.get_running_loop()

    @property
    def buffered(self) -> int:
        """Bytes received and not read yet (at most the stream's window)."""
        return self._buffered

    @property
    def error(self) -> SageMakerError | None:
        """Why the stream failed, once it did."""
        return self._error

    def watch(self, deadline: Deadline) -> None:
        """Keep the call's total deadline while the stream runs (no idle limit)."""
        if deadline.at is not None and self._watchdog is None:
            self._watchdog = Watchdog(
                Sweeper.of(self._loop), None, deadline.at, self._fail_by_deadline
            )

    def _fail_by_deadline(self, error: SageMakerError) -> None:
        self.fail(error)
        self._connection.reset(self, ErrorCodes.CANCEL)

    async def response(self, read_timeout: float | None) -> None:
        """Wait for the response headers (``read_timeout`` at most)."""
        try:
            if read_timeout is None:
                await self._responded.wait()
            else:
                await asyncio.wait_for(self._responded.wait(), read_timeout)
        except asyncio.TimeoutError:
            self.fail(
                ReadTimeoutError(f"no response headers within read_timeout ({read_timeout:g} s)")
            )
            self._connection.reset(self, ErrorCodes.CANCEL)
        if self._error is not None and not self.status:
            raise self._error

    async def send(self, data: bytes, end_stream: bool = False) -> None:
        """Send ``data`` within the peer's window (waits for it to open)."""
        await self._connection.send(self, data, end_stream)
        if end_stream:
            self.input_closed = True

    async def read_chunk(self) -> bytes:
        while not self._chunks:
            if self.ended:
                return b""
            if self._error is not None:
                raise self._error
            self._readable.clear()
            await self._readable.wait()
        data, size = self._chunks.popleft()
        self._buffered -= len(data)
        self._connection.acknowledge(self.stream_id, size)
        return data

    @property
    def body(self) -> H2Stream:
        """The stream is its response's body (the seam's :class:`~.base.Answer`)."""
        return self

    def release(self) -> None:
        """The response was read to its end.

        After a refusal (not 2xx) nothing more can be sent: a request body still
        open is reset.  An accepted duplex stream may go on sending after its output
        ended, so its request side is left to the caller.
        """
        if self.input_closed or 200 <= self.status < 300:
            self._finish()
        else:
            self.reset(ErrorCodes.CANCEL)

    def abort(self) -> None:
        """Reset the stream with CANCEL (unless it is over already)."""
        self.reset(ErrorCodes.CANCEL)

    def reset(self, error_code: int = ErrorCodes.CANCEL) -> None:
        if self._error is None and not (self.ended and self.input_closed):
            self.fail(StreamError("the stream was cancelled by this client", code="CANCEL"))
            self._connection.reset(self, error_code)
        self._finish()

    def _finish(self) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None
        self._connection.forget(self)

    # -- fed by the connection ----------------------------------------------------------

    def fail(self, error: SageMakerError) -> None:
        if self._error is None:
            self._error = error
        self._readable.set()
        self._responded.set()
        failed = self._failed
        if failed is not None and not failed.done():
            failed.set_result(None)

    def failure(self) -> asyncio.Future[None]:
        """Done once the stream failed: what a send waiting on the socket also waits for."""
        if self._failed is None:
            self._failed = self._loop.create_future()
            if self._error is not None:
                self._failed.set_result(None)
        return self._failed

    def _received(self, data: bytes, size: int) -> None:
        self._chunks.append((data, size))
        self._buffered += len(data)
        self._readable.set()

    def _ended(self) -> None:
        self.ended = True
        self._readable.set()
        if self.input_closed:
            self._finish()


class _Connection:
    """One HTTP/2 connection: h2's state, the socket, its reader and keepalive tasks."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        origin: str,
        keepalive: float | None,
        write_timeout: float | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.origin = origin
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.h2 = h2.connection.H2Connection(config=config)
        self.streams: dict[int, H2Stream] = {}
        self._window = asyncio.Event()
        self.usable = True  # takes new streams (no GOAWAY, not lost)
        self._lost: SageMakerError | None = None
        self._pinged = False
        self._write_timeout = write_timeout
        self._written = 0  # bytes handed to the socket's transport, ever
        self._draining: asyncio.Task[None] | None = None  # one drain, shared by blocked sends
        self._replies: deque[tuple[int, int]] = deque()  # (end offset, frames) not yet sent
        self._pending_replies = 0
        try:
            self._low_water = int(writer.transport.get_write_buffer_limits()[0])
        except (AttributeError, NotImplementedError):
            self._low_water = 0
        loop = asyncio.get_running_loop()
        self.h2.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.ENABLE_PUSH: 0}
        )
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(CONNECTION_WINDOW - _DEFAULT_WINDOW)
        self._flush()
        self._reading = loop.create_task(self._read())
        self._keepalive = loop.create_task(self._ping(keepalive)) if keepalive else None

    @property
    def has_room(self) -> bool:
        limit = self.h2.remote_settings.max_concurrent_streams
        return self.usable and len(self.streams) < limit

    def _flush(self) -> None:
        data = self.h2.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)
            self._written += len(data)

    def open(self, request: Request) -> H2Stream:
        parts = urllib.parse.urlsplit(request.url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = [
            (":method", request.method),
            (":scheme", parts.scheme),
            (":authority", parts.netloc),
            (":path", target or "/"),
            *(_header(k.lower(), v) for k, v in request.headers.items() if k.lower() != "host"),
        ]
        try:
            stream_id = self.h2.get_next_available_stream_id()
            self.h2.send_headers(stream_id, headers)
        except h2.exceptions.H2Error as exc:
            self.usable = False
            raise NetworkError(
                f"HTTP/2 connection to {self.origin} refused a stream: {exc}"
            ) from None
        stream = H2Stream(self, stream_id)
        self.streams[stream_id] = stream
        self._flush()
        return stream

    async def send(self, stream: H2Stream, data: bytes, end_stream: bool) -> None:
        view = memoryview(data)
        h2c = self.h2
        while True:
            if stream.error is not None:
                raise stream.error
            if stream.input_closed:
                raise StreamError(
                    "the service closed the input side of the stream", code="NO_ERROR"
                )
            try:
                window = h2c.local_flow_control_window(stream.stream_id)
                size = min(window, h2c.max_outbound_frame_size, len(view))
                if size <= 0 and view:
                    event = self._window
                    await event.wait()
                    continue
                last = end_stream and size == len(view)
                h2c.send_data(stream.stream_id, bytes(view[:size]), end_stream=last)
            except h2.exceptions.StreamClosedError:
                raise stream.error or StreamError(
                    "the service closed the input side of the stream", code="NO_ERROR"
                ) from None
            except h2.exceptions.ProtocolError as exc:
                raise stream.error or StreamInterruptedError(
                    f"the HTTP/2 connection cannot send any more: {exc}"
                ) from None
            self._flush()
            view = view[size:]
            await self._drain(stream)
            if not view:
                return

    async def _drain(self, stream: H2Stream) -> None:
        """Wait until the socket took what was written (asyncio's flow control).

        Usually at once: below the transport's low mark, ``drain()`` never waits.
        Above it the peer may read slowly or not at all, so the wait also ends when
        the stream fails (its deadline, a reset, the connection lost), and after
        ``read_timeout`` without a byte leaving.
        """
        if self._writer.transport.get_write_buffer_size() > self._low_water:
            await self._drain_slowly(stream)
        else:
            try:
                await self._writer.drain()
            except (ConnectionError, OSError, RuntimeError) as exc:
                self._lose(StreamInterruptedError(f"the HTTP/2 connection was lost: {exc}"))
        if stream.error is not None:
            raise stream.error

    async def _drain_slowly(self, stream: H2Stream) -> None:
        draining = self._draining
        if draining is None or draining.done():
            draining = asyncio.get_running_loop().create_task(self._writer.drain())
            draining.add_done_callback(_retrieve)
            self._draining = draining
        failed = stream.failure()
        transport = self._writer.transport
        sent = self._written - transport.get_write_buffer_size()
        while not (draining.done() or failed.done()):
            await asyncio.wait(
                (draining, failed), timeout=self._write_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if draining.done() or failed.done():
                break
            now = self._written - transport.get_write_buffer_size()
            if now > sent:  # the peer reads, slowly: wait again
                sent = now
                continue
            self._lose(
                ReadTimeoutError(
                    "the service stopped reading: nothing could be written to the HTTP/2 "
                    f"connection for read_timeout ({self._write_timeout:g} s)"
                ),
                grace=0.0,
            )
        if draining.done() and not draining.cancelled() and draining.exception() is not None:
            self._lose(
                StreamInterruptedError(f"the HTTP/2 connection was lost: {draining.exception()}")
            )

    def acknowledge(self, stream_id: int, size: int) -> None:
        if size and self._lost is None:
            with contextlib.suppress(h2.exceptions.H2Error):
                self.h2.acknowledge_received_data(size, stream_id)
                self._flush()

    def reset(self, stream: H2Stream, error_code: int) -> None:
        if self._lost is None:
            with contextlib.suppress(h2.exceptions.H2Error):
                self.h2.reset_stream(stream.stream_id, error_code)
                self._flush()
        self._wake()

    def forget(self, stream: H2Stream) -> None:
        self.streams.pop(stream.stream_id, None)

    def _wake(self) -> None:
        self._window.set()
        self._window = asyncio.Event()

    def _lose(self, error: SageMakerError, *, grace: float = _CLOSE_GRACE) -> None:
        """Fail every stream with ``error`` and close the socket.

        What is still queued for the peer gets ``grace`` seconds to leave: a peer
        that reads nothing would otherwise hold the socket (and its buffer) forever.
        """
        self.usable = False
        if self._lost is None:
            self._lost = error
        for stream in list(self.streams.values()):
            stream.fail(error)
        self.streams.clear()
        self._wake()
        transport = self._writer.transport
        self._writer.close()
        if transport.get_write_buffer_size():
            if grace > 0:
                asyncio.get_running_loop().call_later(grace, transport.abort)
            else:
                transport.abort()

    async def _ping(self, interval: float) -> None:
        while self._lost is None:
            await asyncio.sleep(interval)
            if self._pinged:  # the last PING went unanswered for a whole interval
                self._lose(StreamInterruptedError(
                    f"the service did not answer a keepalive PING within {interval:g} s"
                ))  # fmt: skip
                return
            with contextlib.suppress(h2.exceptions.H2Error):
                self.h2.ping(b"asmkping")
                self._pinged = True
                self._flush()

    async def _read(self) -> None:
        try:
            first = True
            while True:
                data = await self._reader.read(_READ_SIZE)
                if not data:
                    break
                if first:
                    first = False
                    refusal = _not_http2(self.origin, data)
                    if refusal is not None:
                        self._lose(refusal, grace=0.0)
                        return
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError as exc:
                    self._flush()
                    self._lose(
                        StreamInterruptedError(f"HTTP/2 protocol error from the service: {exc}")
                    )
                    return
                replies = self.h2.data_to_send()
                if replies and self._flooded(replies):
                    return
                for event in events:
                    self._dispatch(event)
                self._flush()
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            self._lose(StreamInterruptedError(f"the HTTP/2 connection was lost: {exc}"))
            return
        except asyncio.CancelledError:
            self._lose(StreamInterruptedError("the HTTP/2 connection was closed"))
            raise
        self._lose(StreamInterruptedError("the service closed the HTTP/2 connection"))

    def _flooded(self, replies: bytes) -> bool:
        """Write what h2 answered by itself; True (and the connection lost) past the bound.

        An answer counts as pending until the socket took every byte up to its end
        (bytes written so far, less those the transport still holds).
        """
        if self._writer.is_closing():
            return False
        self._writer.write(replies)
        self._written += len(replies)
        pending = self._replies
        frames = _frame_count(replies)
        pending.append((self._written, frames))
        self._pending_replies += frames
        sent = self._written - self._writer.transport.get_write_buffer_size()
        while pending and pending[0][0] <= sent:
            self._pending_replies -= pending.popleft()[1]
        if self._pending_replies <= MAX_PENDING_REPLIES:
            return False
        self._lose(
            StreamInterruptedError(
                f"the service flooded the HTTP/2 connection: more than {MAX_PENDING_REPLIES} "
                "answers to its PING and SETTINGS frames wait for it to read them, so the "
                "connection was closed"
            ),
            grace=0.0,
        )
        return True

    def _dispatch(self, event: h2.events.Event) -> None:
        stream = self.streams.get(getattr(event, "stream_id", 0) or 0)
        if isinstance(event, h2.events.ResponseReceived):
            if stream is not None:
                stream.headers = {str(k): str(v) for k, v in event.headers or ()}
                stream.status = int(stream.headers.get(":status", "0"))
                stream._responded.set()
        elif isinstance(event, h2.events.DataReceived):
            size = event.flow_controlled_length or 0
            if stream is None:
                self.acknowledge(event.stream_id or 0, size)
            else:
                stream._received(event.data or b"", size)
        elif isinstance(event, h2.events.StreamEnded):
            if stream is not None:
                stream._ended()
        elif isinstance(event, h2.events.StreamReset):
            if stream is not None:
                self._peer_reset(stream, int(event.error_code or 0))
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self._wake()
        elif isinstance(event, h2.events.PingAckReceived):
            self._pinged = False
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._goaway(event)

    def _peer_reset(self, stream: H2Stream, code: int) -> None:
        if code == ErrorCodes.NO_ERROR and stream.ended:
            # The response is complete and the service asks us to stop sending (RFC 9113, 8.1).
            stream.input_closed = True
            self.forget(stream)
        else:
            stream.fail(StreamError(
                f"the service reset the stream (HTTP/2 {_code_name(code)})", code=_code_name(code)
            ))  # fmt: skip
            self.forget(stream)
        self._wake()

    def _goaway(self, event: h2.events.ConnectionTerminated) -> None:
        """No new streams here; h2 takes no more frames either, so open streams are lost."""
        self.usable = False
        code = _code_name(event.error_code)
        last = event.last_stream_id or 0
        for stream in list(self.streams.values()):
            if stream.stream_id > last:
                stream.fail(NetworkError(
                    f"the service refused the stream with GOAWAY ({code}) before processing it"
                ))  # fmt: skip
            else:
                stream.fail(
                    StreamInterruptedError(f"the service closed the connection (GOAWAY, {code})")
                )
        self._lose(StreamInterruptedError(f"the service closed the connection (GOAWAY, {code})"))

    async def close(self) -> None:
        if self._lost is None:
            with contextlib.suppress(h2.exceptions.H2Error):
                self.h2.close_connection()
                self._flush()
        self._lose(StreamInterruptedError("the client was closed"), grace=0.0)
        tasks = [t for t in (self._reading, self._keepalive) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 2.0)


class H2Transport:
    """A pool of HTTP/2 connections per client, for bidirectional streams.

    ``ca_bundle`` is the CA file to trust for ``https://`` (the client's, from
    ``AWS_CA_BUNDLE`` or the profile); the TLS context is this transport's own,
    so that its ALPN ``h2`` never reaches the HTTP/1.1 pool's connections.
    ``proxy`` (an ``http://`` URL) carries every connection through its ``CONNECT``
    tunnel (:mod:`.tunnel`), TLS and ALPN inside it, as the HTTP/1.1 transport
    honours ``HTTP(S)_PROXY`` and ``NO_PROXY``.
    """

    def __init__(
        self,
        *,
        ca_bundle: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        keepalive: float | None = 30.0,
        proxy: str | None = None,
    ) -> None:
        self._ca_bundle = ca_bundle
        self._proxy = proxy
        self._ssl = ssl_context
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._keepalive = keepalive
        self._pools: dict[str, list[_Connection]] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        self._closed = False
        redact_library_logs()  # hpack logs every header at DEBUG: the token is masked

    @property
    def closed(self) -> bool:
        return self._closed

    def connections(self, origin: str) -> list[_Connection]:
        """The open connections to ``origin`` (``scheme://host:port``), for tests and stats."""
        return [c for c in self._pools.get(origin, []) if c.usable]

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            context = ssl.create_default_context(cafile=self._ca_bundle)
            context.set_alpn_protocols(["h2"])
            self._ssl = context
        return self._ssl

    async def open(
        self, request: Request, deadline: Deadline, *, end_stream: bool = False
    ) -> H2Stream:
        """Send ``request`` (its body stays open unless ``end_stream``); return once the
        response headers came."""
        if self._closed:
            raise ClientClosedError("this client was closed; create a new one")
        origin = _origin(request.url)
        connection = await self._connection(origin, deadline)
        refresh(request)  # signed when written: the wait for a connection may be long
        stream = connection.open(request)
        if request.body or end_stream:
            try:
                await stream.send(request.body, end_stream=end_stream)
            except StreamError:
                if not stream.status:  # no answer explains it: the failure is the news
                    raise
        await stream.response(self._read_timeout)
        stream.watch(deadline)
        return stream

    async def send(self, request: Request, deadline: Deadline) -> RawResponse:
        """The seam's ``send``: the whole request, then the response as a body source."""
        stream = await self.open(request, deadline, end_stream=True)
        return RawResponse(stream.status, stream.headers, stream)

    async def _connection(self, origin: str, deadline: Deadline) -> _Connection:
        pool = self._pools.setdefault(origin, [])
        for connection in pool:
            if connection.has_room:
                return connection
        lock = self._opening.setdefault(origin, asyncio.Lock())
        async with lock:
            pool[:] = [c for c in pool if c.usable]
            for connection in pool:  # opened by another caller meanwhile
                if connection.has_room:
                    return connection
            connection = await self._connect(origin)
            pool.append(connection)
            return connection

    async def _connect(self, origin: str) -> _Connection:
        parts = urllib.parse.urlsplit(origin)
        host = parts.hostname or ""
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        context = self._tls() if tls else None
        try:
            if self._proxy:
                opening = open_tunnel(
                    self._proxy, host, port, ssl_context=context, limit=_READ_SIZE
                )
            else:
                opening = asyncio.open_connection(host, port, ssl=context, limit=_READ_SIZE)
            if self._connect_timeout is None:
                reader, writer = await opening
            else:
                reader, writer = await asyncio.wait_for(opening, self._connect_timeout)
        except SageMakerError:
            raise
        except asyncio.TimeoutError:
            raise ConnectTimeoutError(
                f"could not connect to {origin} within connect_timeout "
                f"({self._connect_timeout:g} s)"
            ) from None
        except Exception as exc:
            raise _ERRORS.translate(exc, during=REQUEST, closed=self._closed) from exc
        if tls:
            chosen = writer.get_extra_info("ssl_object").selected_alpn_protocol()
            if chosen != "h2":
                writer.close()
                raise ConfigurationError(
                    f"{origin} did not negotiate HTTP/2 over TLS (ALPN chose {chosen!r}); "
                    "bidirectional streams need an HTTP/2 endpoint (port 8443 on AWS)"
                )
        return _Connection(reader, writer, origin, self._keepalive, self._read_timeout)

    async def aclose(self) -> None:
        self._closed = True
        pools, self._pools = self._pools, {}
        await asyncio.gather(
            *(c.close() for pool in pools.values() for c in pool), return_exceptions=True
        )


def _retrieve(task: asyncio.Task[None]) -> None:
    """Take a shared drain's outcome, so that one nobody waits for any more is no warning."""
    if not task.cancelled():
        task.exception()


def _frame_count(data: bytes) -> int:
    """How many HTTP/2 frames ``data`` (whole frames, as h2 writes them) holds."""
    count = offset = 0
    while offset + _FRAME_HEADER <= len(data):
        offset += _FRAME_HEADER + int.from_bytes(data[offset : offset + 3], "big")
        count += 1
    return count


def _not_http2(origin: str, data: bytes) -> ConfigurationError | None:
    """The refusal when the server's first bytes are not HTTP/2's (an HTTP/1.x answer)."""
    if data.startswith(b"HTTP/"):
        status = data.split(b"\r\n", 1)[0][:100].decode("latin-1")
        said = f"it answered {status!r} in HTTP/1.x"
    elif len(data) > 3 and data[3] != 0x4:  # a server's first frame is its SETTINGS
        said = "its first bytes are not an HTTP/2 SETTINGS frame"
    else:
        return None
    return ConfigurationError(
        f"{origin} does not speak HTTP/2: {said}. Bidirectional streams need an HTTP/2 "
        "endpoint (port 8443 on AWS; the emulator's bidi_url, not its url)"
    )


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NetworkError(f"cannot open an HTTP/2 stream to {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}"
