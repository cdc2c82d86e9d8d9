"""The HTTP/1.1 transport on aiohttp: the only client module that imports aiohttp.

:class:`AiohttpTransport` sends a signed :class:`~.base.Request` and returns a
:class:`~.base.RawResponse` once the headers are in; the body is read chunk by chunk
through :class:`_Body`.  Everything aiohttp, asyncio, the OS or the TLS layer can
raise goes through one error map, :data:`ERRORS` (aiohttp's rows, then the generic
rows of :mod:`.error_map`), into our error tree, so nothing else ever leaves the seam.

Timeouts, as ``_deadline`` describes them: ``connect_timeout`` is aiohttp's
``sock_connect``; ``read_timeout`` is aiohttp's ``sock_read`` while waiting for the
response headers, then (from the first chunk of the body on) our watchdog, which
re-arms no timer per read.  Two aiohttp behaviours are handled here on purpose:

* aiohttp restarts its read timer on every chunk received; after the headers we set
  the connection's ``read_timeout`` to ``None`` and let the watchdog keep the time.
* When the C parser finds a malformed chunked encoding mid-body it fails the
  connection but never the body reader, so a read would wait forever.  While a body
  is read, the connection's failure is passed on to the body reader as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import socket
import ssl
import time
from typing import Any

import aiohttp
import yarl
from aiohttp.http_exceptions import HttpProcessingError

from .._deadline import Deadline, Sweeper, Watchdog
from ..errors import (
    ClientClosedError,
    ConnectTimeoutError,
    NetworkError,
    ReadTimeoutError,
    SageMakerError,
)
from .base import RESIGN_AFTER, ChunkedBody, RawResponse, Request, refresh
from .error_map import BODY, GENERIC_ROWS, REQUEST, ErrorMap, Row, certificate_error, describe

__all__ = ["ERRORS", "AiohttpTransport", "map_errors", "translate"]

_SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")
_URL_CACHE_SIZE = 256
_YIELD_EVERY = 32  # reads between two bare turns of the event loop (see _Body.read_chunk)


def _certificate(exc: aiohttp.ClientConnectorCertificateError, during: str) -> SageMakerError:
    problem = getattr(exc.certificate_error, "verify_message", None) or exc.certificate_error
    return certificate_error(problem, f"{exc.host}:{exc.port}")


#: aiohttp's exceptions, most specific first; then what any socket code raises.
_AIOHTTP_ROWS: tuple[Row, ...] = (
    (aiohttp.ClientConnectorCertificateError, _certificate),
    (
        aiohttp.ConnectionTimeoutError,
        lambda e, during: ConnectTimeoutError(f"could not connect within connect_timeout: {e}"),
    ),
    (
        aiohttp.ServerTimeoutError,
        lambda e, during: ReadTimeoutError(
            f"no data for read_timeout during {during}: {describe(e)}"
        ),
    ),
    (
        aiohttp.ClientConnectorError,
        lambda e, during: NetworkError(f"could not connect to {e.host}:{e.port}: {e.os_error}"),
    ),
    (
        aiohttp.ServerDisconnectedError,
        lambda e, during: NetworkError(f"the server closed the connection during {during}"),
    ),
    (
        aiohttp.ClientPayloadError,
        lambda e, during: NetworkError(
            f"the response body was cut off or malformed: {describe(e)}"
        ),
    ),
    (
        # aiohttp's parser errors; while reading the headers it wraps them as a
        # ClientResponseError (we never ask it to raise for a status)
        (HttpProcessingError, aiohttp.ClientResponseError),
        lambda e, during: NetworkError(
            f"the server's answer is not valid HTTP/1.1 ({during}): {describe(e)}"
        ),
    ),
    (aiohttp.ClientError, lambda e, during: NetworkError(f"{describe(e)} (during {during})")),
)

#: The HTTP/1.1 transport's error map (``tests/client/test_error_map.py``: a row each).
ERRORS = ErrorMap(
    _AIOHTTP_ROWS + GENERIC_ROWS, when_closed=(aiohttp.ClientError, OSError, RuntimeError)
)
translate = ERRORS.translate
map_errors = ERRORS.mapped


#: The request this task is sending while it may wait for a pooled connection (aiohttp
#: copies the headers it is given, so the request class finds the request here).
_SENDING: contextvars.ContextVar[Request | None] = contextvars.ContextVar(
    "asyncsagemaker_sending", default=None
)


class _SignedWhenWritten(aiohttp.ClientRequest):
    """aiohttp's request, signed again when it is about to be written, if it waited.

    aiohttp makes the request (headers copied) before it waits for a pooled
    connection; ``send`` runs once it has one.  A request that waited longer than
    ``RESIGN_AFTER`` goes out with a signature of now (``base.refresh``): one that
    waited past the service's 5-minute window would be refused.  The transport hands
    the request over (``_SENDING``) only when the pool is full, so a call that cannot
    wait costs nothing here.
    """

    def send(self, conn: Any) -> Any:
        request = _SENDING.get()
        if (
            request is not None
            and time.monotonic() - request.signed_at > RESIGN_AFTER  # it waited
            and request.headers.get("Authorization") == self.headers.get("Authorization")
            and refresh(request)
        ):
            self.headers.update(request.headers)
        return super().send(conn)


def _keepalive_socket(addr_info: Any) -> socket.socket:
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=kind, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock


class AiohttpTransport:
    """A pool of HTTP/1.1 connections (per client), on aiohttp.

    ``max_connections`` bounds connections, hence concurrent streams (others wait
    for one, within their total_timeout).  ``ssl_context`` (a CA bundle) and
    ``proxy`` apply to every request.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        tcp_keepalive: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        proxy: str | None = None,
    ) -> None:
        self._max_connections = max_connections
        # read_timeout is the watchdog's, headers included: aiohttp's per-chunk timer
        # (sock_read) would cost two timers a call
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout)
        self._tcp_keepalive = tcp_keepalive
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._proxy = proxy
        self._session: aiohttp.ClientSession | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop of the session
        self._sweeper: Sweeper | None = None
        self._urls: dict[str, yarl.URL] = {}
        self._closed = False
        self._in_flight = 0  # requests sent whose body is not done: connections in use

    @property
    def closed(self) -> bool:
        return self._closed

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("this client was closed; create a new one")
        self.loop = asyncio.get_running_loop()
        self._sweeper = Sweeper.of(self.loop)
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            socket_factory=_keepalive_socket if self._tcp_keepalive else None,
            ssl=self._ssl,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=False,
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            request_class=_SignedWhenWritten,
        )
        return self._session

    def _url(self, text: str) -> yarl.URL:
        url = self._urls.get(text)
        if url is None:  # yarl parses; the same few endpoints are called over and over
            url = yarl.URL(text, encoded=True)
            if len(self._urls) < _URL_CACHE_SIZE:
                self._urls[text] = url
        return url

    async def send(self, request: Request, deadline: Deadline) -> RawResponse:
        session = self._session or self._open()
        watchdog = deadline.watchdog(task=asyncio.current_task(), sweeper=self._sweeper)
        if watchdog is not None:
            watchdog.waiting_since = watchdog.started  # waiting for the response headers
        # The pool is full: this request may wait for a connection, and must then be
        # signed again when it is written (_SignedWhenWritten).  Only a pool wait can
        # outlast the service's window; a connection is made within connect_timeout.
        limit = self._max_connections
        self._in_flight += 1
        sending = _SENDING.set(request) if limit and self._in_flight > limit else None
        answered = False
        try:
            response = await session.request(
                request.method,
                self._url(request.url),
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
                proxy=self._proxy,
            )
            answered = True
        except asyncio.CancelledError:
            if watchdog is None:
                raise
            watchdog.stop()
            if watchdog.fired is None:
                raise  # cancelled from outside
            _uncancel()  # the watchdog's own cancellation: its error instead
            raise watchdog.fired from None
        except Exception as exc:
            if watchdog is not None:
                watchdog.stop()
            raise translate(exc, during=REQUEST, closed=self._closed) from exc
        finally:
            if not answered:
                self._in_flight -= 1  # else when its body is done (_Body._finish)
            if sending is not None:
                _SENDING.reset(sending)  # nothing (the body) kept past the request
        if watchdog is not None:
            watchdog.waiting_since = None
        return RawResponse(response.status, response.headers, _Body(response, watchdog, self))

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()


def _uncancel() -> None:
    """Take back a cancellation of our own, so that structured concurrency (3.11+) is not
    told the task was cancelled from outside."""
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):
        task.uncancel()


class _Body(ChunkedBody):
    """A response body read through aiohttp, under the call's watchdog."""

    __slots__ = (
        "_content",
        "_done",
        "_loop",
        "_protocol",
        "_reads",
        "_response",
        "_transport",
        "_watchdog",
    )

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        watchdog: Watchdog | None,
        transport: AiohttpTransport,
    ) -> None:
        self._response = response
        self._content = response.content
        self._transport = transport
        self._done = False
        self._reads = 0  # reads since the loop was last given a bare turn
        loop = transport.loop
        assert loop is not None  # the session (and so the loop) exists once a request was sent
        self._loop = loop
        self._watchdog = watchdog
        if watchdog is not None:
            watchdog.fail = self._fail
        connection = response.connection
        self._protocol: Any = None
        protocol: Any = connection.protocol if connection is not None else None
        if protocol is not None:
            protocol.set_exception = self._protocol_failed
            self._protocol = protocol

    def _protocol_failed(self, exc: BaseException, *args: Any) -> None:
        """The connection failed: fail the body reader too (see the module docstring)."""
        protocol = self._protocol
        type(protocol).set_exception(protocol, exc, *args)
        if self._content.exception() is None:
            self._content.set_exception(exc)

    def _fail(self, error: SageMakerError) -> None:
        if self._content.exception() is None:
            self._content.set_exception(error)

    async def read_chunk(self) -> bytes:
        self._reads += 1
        try:
            if self._reads >= _YIELD_EVERY:
                # One bare turn of the loop now and then.  While data keeps coming, a
                # read may never truly wait (the data is there, or its waiter is done
                # when checked), and anyio delivers a cancellation only to a task that
                # waits: a relay whose client left would read the whole answer.
                self._reads = 0
                await asyncio.sleep(0)
            watchdog = self._watchdog
            if watchdog is None:
                return await self._content.readany()
            watchdog.waiting_since = self._loop.time()
            try:
                return await self._content.readany()  # at once if data or the end is there
            finally:
                watchdog.waiting_since = None
        except Exception as exc:
            raise translate(exc, during=BODY, closed=self._transport.closed) from exc

    def _finish(self) -> None:
        self._done = True
        self._transport._in_flight -= 1  # its connection is free again
        if self._watchdog is not None:
            self._watchdog.stop()
        protocol = self._protocol
        if protocol is not None:
            self._protocol = None
            with contextlib.suppress(AttributeError):
                del protocol.set_exception  # the connection may serve another request

    def release(self) -> None:
        if not self._done:
            self._finish()
            self._response.release()

    def abort(self) -> None:
        if not self._done:
            self._finish()
            self._response.close()
