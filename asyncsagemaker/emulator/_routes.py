"""The HTTP/1.1 route table: a raw request path to its endpoint, operation and authentication.

Each row is a family of paths of one API dialect: a pattern on the raw path
(still percent-encoded; group ``name`` is the endpoint, group ``op`` the
operation, an optional group ``ic`` an inference component), the operations its
``op`` names, the authentication step every request of the family goes through,
and how its refusals are written.  Two rows: SageMaker Runtime's own API (SigV4,
AWS's error bodies) and the OpenAI-compatible route (a bearer token, OpenAI's error
envelope; docs/protocol.md §8).  A path that a family matches but whose
``op`` it does not know still names its endpoint (the record says which endpoint
was asked for); the pipeline answers 404 for it.  Serving another dialect is
adding a row here, with its authentication step in a module of its own (and its
operations' answers in the pipeline's table of answers).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ._authentication import Authenticate, refuse, sigv4
from ._bearer import bearer
from ._replies import Render, render, render_openai
from ._types import ASYNC, CHAT_COMPLETIONS, INVOKE, STREAM

__all__ = ["ROUTES", "Route", "RouteFamily", "find_route", "is_health_check"]


@dataclass(frozen=True)
class RouteFamily:
    """The paths of one API dialect, their operations, and how their callers are checked."""

    pattern: re.Pattern[str]
    operations: Mapping[str, str]
    authenticate: Authenticate
    render: Render = render


@dataclass(frozen=True)
class Route:
    """Where a path leads; ``operation`` is empty when no family knows it (then 404)."""

    endpoint_name: str = ""
    operation: str = ""
    authenticate: Authenticate = refuse
    render: Render = render
    component: str | None = None  # the inference component named in the path


ROUTES: tuple[RouteFamily, ...] = (
    RouteFamily(  # SageMaker Runtime's own API, signed with SigV4
        re.compile(r"^/endpoints/(?P<name>[^/]*)/(?P<op>[a-z-]+)$"),
        MappingProxyType(
            {
                "invocations": INVOKE,
                "invocations-response-stream": STREAM,
                "async-invocations": ASYNC,
            }
        ),
        sigv4,
    ),
    RouteFamily(  # the OpenAI-compatible route, with a bearer token
        re.compile(
            r"^/endpoints/(?P<name>[^/]*)(?:/inference-components/(?P<ic>[^/]*))?"
            r"/openai/v1/(?P<op>[a-z/_-]+)$"
        ),
        MappingProxyType({"chat/completions": CHAT_COMPLETIONS}),
        bearer,
        render_openai,
    ),
)
_NOWHERE = Route()


def is_health_check(method: str, path: str) -> bool:
    """``GET /ping`` (or ``HEAD``): answered 200 and not recorded, for scripts that wait."""
    return path == "/ping" and method in ("GET", "HEAD")


def find_route(path: str) -> Route:
    """The route of a raw path (without its query), first matching family first."""
    for family in ROUTES:
        match = family.pattern.match(path)
        if match is not None:
            operation = family.operations.get(match["op"], "")
            name = urllib.parse.unquote(match["name"])
            component = match.groupdict().get("ic")
            if component is not None:
                component = urllib.parse.unquote(component)
            return Route(name, operation, family.authenticate, family.render, component)
    return _NOWHERE
