"""The OpenAI-compatible route's answer: the container's own body, passed through.

The service sends the container's answer back as it is (docs/protocol.md §8.3):
the whole body (a ``chat.completion``), or for ``"stream": true`` each part the
model yields as a chunk of a plain HTTP body (Server-Sent Events), not an
event-stream frame.  Of the endpoint's faults, the request-level ones apply before
(the pipeline's admission), ``stall_seconds``/``stall_after`` and ``drop_after``
here; the others are about event-stream frames, which this route has none of.  A
model that fails after its answer started ends the stream with an SSE error event,
as OpenAI-compatible servers do.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from ._answer_whole import answer_headers
from ._faults import Faults
from ._models import model_failed
from ._parts import as_parts, close_parts, collect
from ._types import Invocation, ModelResponse, RequestRecord

__all__ = ["answer_openai"]

logger = logging.getLogger("asyncsagemaker.emulator")


async def answer_openai(
    request: web.Request,
    answer: ModelResponse,
    inv: Invocation,
    record: RequestRecord,
    faults: Faults | None,
) -> web.StreamResponse:
    """200 with the model's body, whole or streamed as it comes."""
    if answer.new_session_id is not None or answer.closed_session_id is not None:
        await close_parts(answer.body)
        raise model_failed(
            inv.endpoint_name, "the OpenAI-compatible route has no stateful sessions"
        )
    headers = answer_headers(answer, inv)
    if not inv.streaming:
        return await _whole(answer, headers, record, faults)
    headers["Content-Type"] = answer.content_type or "text/event-stream"
    response = web.StreamResponse(status=200, headers=headers)
    response.enable_chunked_encoding()
    parts = as_parts(answer.body)
    try:
        await response.prepare(request)
        record.status = 200
        if await _relay(request, response, parts, record, faults):
            record.outcome = "ok"  # final before the client can see the end
            await response.write_eof()
    except ConnectionError:
        record.outcome = "client_disconnected"
    except Exception as exc:  # the model failed after the answer started
        logger.info("emulator: model for %s raised %r mid-stream", inv.endpoint_name, exc)
        record.outcome = "error"
        await _write_error(response, f"{type(exc).__name__}: {exc}")
    finally:
        await close_parts(parts)
    return response


async def _whole(
    answer: ModelResponse, headers: dict[str, str], record: RequestRecord, faults: Faults | None
) -> web.Response:
    """The model's whole body, after the stall fault if one is due."""
    if faults is not None and faults.stall_seconds > 0:
        await asyncio.sleep(faults.stall_seconds)
    body = answer.body if isinstance(answer.body, bytes) else await collect(answer.body)
    headers["Content-Type"] = answer.content_type or "application/json"
    record.status = 200
    record.outcome = "ok"
    return web.Response(status=200, body=body, headers=headers)


async def _relay(
    request: web.Request,
    response: web.StreamResponse,
    parts: AsyncIterator[bytes],
    record: RequestRecord,
    faults: Faults | None,
) -> bool:
    """Write each part as it comes, with the stall and drop faults; False when dropped."""
    stall = faults.stall_seconds if faults is not None else 0.0  # once, where it is due
    stall_after = faults.stall_after if faults is not None else 0
    drop_after = faults.drop_after if faults is not None else None
    while True:  # the faults are due before the next part is asked for
        if stall > 0 and record.parts_sent == stall_after:
            await asyncio.sleep(stall)
            stall = 0.0
        if drop_after is not None and record.parts_sent >= drop_after:
            record.outcome = "fault:drop_after"
            if request.transport is not None:
                request.transport.close()  # no end chunk: the body is cut short
            return False
        try:
            part = await parts.__anext__()
        except StopAsyncIteration:
            return True
        if part:
            await response.write(part)
            record.parts_sent += 1


async def _write_error(response: web.StreamResponse, message: str) -> None:
    """An SSE error event, then the end: how an OpenAI-compatible server reports it mid-stream."""
    error = {"error": {"message": message, "type": "server_error", "code": 500}}
    try:
        await response.write(f"data: {json.dumps(error)}\n\n".encode())
        await response.write_eof()
    except ConnectionError:
        pass
