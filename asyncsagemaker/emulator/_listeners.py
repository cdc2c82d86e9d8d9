"""The emulator's listeners: the HTTP/1.1 site on aiohttp.web, and the HTTP/2 side.

The HTTP/1.1 site sends every path to one handler (the request pipeline routes
on the raw path itself, as the service does) and cancels a handler whose client
went away.  The two listeners stop together, the HTTP/2 side first.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web

from ._bidi import BidiServer
from ._validation import READ_LIMIT

__all__ = ["Listeners"]

RequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
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
