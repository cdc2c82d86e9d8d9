"""Error answers in the service's exact shape, raised anywhere and rendered in one place.

Every error carries ``x-amzn-ErrorType`` and a JSON body with both ``Message``
(the modeled member botocore copies to the top level) and ``message`` (what
botocore and Go read for ``Error.Message``), plus ``__type``.  The 502 fault is
the exception: an HTML page, as a load balancer in front of the service sends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeAlias

from aiohttp import web

from ._types import Outcome

__all__ = ["ACCOUNT_ID", "REGION", "Render", "ServiceReply", "render", "render_openai"]

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
# Coral services send the validation code with this suffix; clients must cut it at ':'.
_VALIDATE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.coral.validate/"

_HTML_PAGES = {
    502: "502 Bad Gateway",
    504: "504 Gateway Time-out",
}


class ServiceReply(Exception):
    """An error answer: raise it from any layer of the request pipeline."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
        outcome: Outcome = "error",
        close: bool = False,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}
        self.outcome = outcome
        self.close = close  # close the connection once the answer is written

    @classmethod
    def validation(cls, message: str) -> ServiceReply:
        return cls(400, "ValidationError", message)

    @classmethod
    def html(cls, status: int, outcome: Outcome) -> ServiceReply:
        """A bare HTML error page without an error code (502 from a load balancer)."""
        return cls(status, "", _HTML_PAGES.get(status, f"{status} Error"), outcome=outcome)


def render(reply: ServiceReply, request_id: str) -> web.Response:
    """The HTTP response for ``reply``; ``x-amzn-RequestId`` is always set."""
    headers = {"x-amzn-RequestId": request_id}
    if not reply.code:
        title = reply.message
        page = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
        )
        headers["Content-Type"] = "text/html"
        return web.Response(status=reply.status, body=page.encode(), headers=headers)
    suffix = _VALIDATE_SUFFIX if reply.code == "ValidationError" else ""
    headers["x-amzn-ErrorType"] = reply.code + suffix
    headers["Content-Type"] = "application/json"
    document: dict[str, Any] = {"__type": reply.code, "Message": reply.message}
    document.update(reply.extra)
    document["message"] = reply.message
    return web.Response(status=reply.status, body=json.dumps(document).encode(), headers=headers)


#: How a route family writes its refusals.
Render: TypeAlias = Callable[[ServiceReply, str], web.Response]

#: OpenAI error ``type`` words by status class, for the OpenAI-compatible route.
_OPENAI_CODES = {"ValidationError": "validation_error", "ModelError": "model_error"}


def render_openai(reply: ServiceReply, request_id: str) -> web.Response:
    """A refusal on the OpenAI-compatible route: OpenAI's error envelope (docs/emulator.md).

    ``{"error": {"message", "type", "code"}}`` as third parties saw the front door
    answer there, with ``x-amzn-ErrorType`` and ``x-amzn-RequestId`` as on every
    SageMaker answer; a load balancer's HTML page stays one.
    """
    if not reply.code:
        return render(reply, request_id)
    if reply.status in (401, 403):
        kind = "authentication_error"
    elif reply.code == "ModelError" or reply.status >= 500:
        kind = "server_error"
    else:
        kind = "invalid_request_error"
    error = {
        "message": reply.message,
        "type": kind,
        "code": _OPENAI_CODES.get(reply.code, reply.code),
    }
    headers = {
        "x-amzn-RequestId": request_id,
        "x-amzn-ErrorType": reply.code,
        "Content-Type": "application/json",
    }
    body = json.dumps({"error": error}).encode()
    return web.Response(status=reply.status, body=body, headers=headers)
