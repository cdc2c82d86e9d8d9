"""The emulator's listeners: the HTTP/1.1 site on aiohttp.web, and the HTTP/2 side.

The HTTP/1.1 site sends every path to one handler (the request pipeline routes
on the raw path itself, as the service does) and cancels a handler whose client
went away.  The two listeners stop together, the HTTP/2 side first.

A client that speaks HTTP/2 to the HTTP/1.1 port (a bidirectional stream sent to
``url`` instead of ``bidi_url``) gets aiohttp's 400, and the log one line saying
so instead of aiohttp's traceback (:class:`_Http2AtHttp1Port`).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, InvalidURLError

from ._bidi import BidiServer
from ._validation import READ_LIMIT

__all__ = ["Listeners"]

RequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Http2AtHttp1Port(logging.Filter):
    """aiohttp's "Error handling request" traceback for an HTTP/2 preface becomes one line.

    The preface starts ``PRI * HTTP/2.0``: llhttp (aiohttp's C parser) stops on it
    ("Pause on PRI/Upgrade"), the pure-Python parser refuses its target ``*``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError) and (
            "PRI" in str(error) or (isinstance(error, InvalidURLError) and error.message == "*")
        ):
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = (
                "emulator: a client from %s spoke HTTP/2 to the HTTP/1.1 listener (400); "
                "bidirectional streams go to the HTTP/2 listener (bidi_url)"
            )
            record.args = (peer,)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


#: aiohttp's server log for the HTTP/1.1 listener (aiohttp's own ``aiohttp.server`` is
#: left alone: other servers in the process use it).
_SERVER_LOG = logging.getLogger("asyncsagemaker.emulator.http")
_SERVER_LOG.addFilter(_Http2AtHttp1Port())


class Listeners:
    """Both listeners' lifetime: bound on start, released on close."""

    def __init__(self, handle: RequestHandler, bidi: BidiServer) -> None:
        self._handle = handle
        self._bidi = bidi
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        """True from a successful :meth:`start_http` until :meth:`close`."""
        return self._runner is not None

    async def start_http(self, host: str, port: int, ssl_context: ssl.SSLContext | None) -> int:
        """Bind the HTTP/1.1 site (``port=0``: a free port); the port bound."""
        app = web.Application(client_max_size=READ_LIMIT)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(
            app,
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=1.0,
            logger=_SERVER_LOG,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        return int(runner.addresses[0][1])

    async def start_bidi(self) -> None:
        """Open the HTTP/2 listener, if the emulator has one."""
        await self._bidi.start()

    async def close(self) -> None:
        """Stop both listeners; requests still running are cancelled."""
        runner, self._runner = self._runner, None
        await self._bidi.close()
        if runner is not None:
            await runner.cleanup()
