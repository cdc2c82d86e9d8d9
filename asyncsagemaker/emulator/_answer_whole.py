"""``InvokeEndpoint``'s answer: the model's whole body, with the session it opened or closed.

A stateful model opens or closes a session by its answer; the session table
checks the id and gives the header to send back.  An id the service would not
accept is the model failing (424 ``ModelError``).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ._faults import Faults
from ._models import model_failed
from ._parts import collect
from ._sessions import SessionError, SessionTable
from ._types import Invocation, ModelResponse, RequestRecord

__all__ = ["answer_headers", "answer_whole"]


def answer_headers(answer: ModelResponse, inv: Invocation) -> dict[str, str]:
    """The headers of every model answer, whole or streamed, in the service's order."""
    headers = {
        "x-amzn-RequestId": inv.request_id,
        "x-Amzn-Invoked-Production-Variant": inv.variant,
    }
    if answer.custom_attributes is not None:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = answer.custom_attributes
    return headers


async def answer_whole(
    answer: ModelResponse,
    inv: Invocation,
    record: RequestRecord,
    faults: Faults | None,
    sessions: SessionTable,
) -> web.Response:
    """200 with the whole body, after the stall the endpoint's faults ask for."""
    if faults is not None and faults.stall_seconds > 0:
        await asyncio.sleep(faults.stall_seconds)
    body = answer.body
    if not isinstance(body, bytes):
        body = await collect(body)
    headers = answer_headers(answer, inv)
    headers["Content-Type"] = answer.content_type or "application/json"
    headers.update(_session_headers(answer, inv.endpoint_name, sessions))
    record.status = 200
    record.outcome = "ok"
    return web.Response(status=200, body=body, headers=headers)


def _session_headers(
    answer: ModelResponse, endpoint: str, sessions: SessionTable
) -> dict[str, str]:
    """The session the answer opened or closed, as headers; the table remembers it."""
    headers: dict[str, str] = {}
    try:
        if answer.new_session_id is not None:
            opened = sessions.open(endpoint, answer.new_session_id)
            headers["X-Amzn-SageMaker-New-Session-Id"] = opened
        if answer.closed_session_id is not None:
            closed = sessions.close(endpoint, answer.closed_session_id)
            headers["X-Amzn-SageMaker-Closed-Session-Id"] = closed
    except SessionError as exc:
        raise model_failed(endpoint, str(exc)) from None
    return headers
