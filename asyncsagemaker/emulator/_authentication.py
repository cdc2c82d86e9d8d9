"""Authentication steps: how a route checks who is calling, chosen per route in ``_routes``.

A step gets the request as received (method, raw path, headers in order), its
whole body and the emulator's settings, and raises ``ServiceReply`` to refuse.
SageMaker Runtime's routes use SigV4; a route family with another scheme (a
bearer token, say) brings its own step in a module of its own and names it in
its row of the route table, so the pipeline never changes for it.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Protocol, TypeAlias

from aiohttp import web

from ._replies import ServiceReply
from ._sigv4 import verify

__all__ = ["AuthSettings", "Authenticate", "refuse", "sigv4"]


class AuthSettings(Protocol):
    """What the steps check against, read per request so that a change applies at once."""

    @property
    def credentials(self) -> Mapping[str, str] | None: ...

    @property
    def region(self) -> str:
        """The region the emulator stands for: a bearer token must be scoped to it."""
        ...

    @property
    def clock(self) -> Callable[[], float]:
        """The emulator's clock (``time.time``, unless a test moves it)."""
        ...


Authenticate: TypeAlias = Callable[[web.Request, bytes, AuthSettings], None]


def sigv4(request: web.Request, body: bytes, settings: AuthSettings) -> None:
    """SageMaker Runtime's check: SigV4 over the request exactly as received."""
    headers = list(request.headers.items())
    now = datetime.datetime.fromtimestamp(settings.clock(), datetime.timezone.utc)
    verify(request.method, request.raw_path, headers, body, settings.credentials, now)


def refuse(request: web.Request, body: bytes, settings: AuthSettings) -> None:
    """The step of a path no route knows: nobody gets in (the pipeline answers 404 first)."""
    raise ServiceReply(404, "UnknownOperationException", "Unknown operation")
