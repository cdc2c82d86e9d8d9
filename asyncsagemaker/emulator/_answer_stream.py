"""``InvokeEndpointWithResponseStream``'s answer: 200 at once, then a frame per part.

The frames, and the stream faults, are ``_streaming.StreamSender``'s; this is the
response around them: its headers, the end, and a client that went away (an
outcome, not an error).  The model's iterator is closed whatever happens.
"""

from __future__ import annotations

from aiohttp import web

from ._answer_whole import answer_headers
from ._faults import Faults
from ._models import model_failed
from ._parts import as_parts, close_parts
from ._streaming import StreamSender
from ._types import Invocation, ModelResponse, RequestRecord

__all__ = ["answer_stream"]

_DROPPED = ("fault:drop_after", "fault:drop_mid_frame_after")  # no end chunk on purpose


async def answer_stream(
    request: web.Request,
    answer: ModelResponse,
    inv: Invocation,
    record: RequestRecord,
    faults: Faults | None,
) -> web.StreamResponse:
    """Send the model's parts as an event stream; the record's outcome says how it ended."""
    if answer.new_session_id is not None or answer.closed_session_id is not None:
        await close_parts(answer.body)
        raise model_failed(
            inv.endpoint_name,
            "a streamed answer cannot open or close a session: "
            "InvokeEndpointWithResponseStream has no session headers",
        )
    headers = answer_headers(answer, inv)
    headers["X-Amzn-SageMaker-Content-Type"] = answer.content_type or "application/json"
    headers["Content-Type"] = "application/vnd.amazon.eventstream"
    response = web.StreamResponse(status=200, headers=headers)
    response.enable_chunked_encoding()
    parts = as_parts(answer.body)
    try:
        writer = await response.prepare(request)
        assert writer is not None  # a fresh response always gets a writer
        record.status = 200
        outcome = await StreamSender(request, response, writer, faults, record).run(parts)
        record.outcome = outcome  # final before the client can see the end
        if outcome not in _DROPPED:
            await response.write_eof()
    except ConnectionError:
        record.outcome = "client_disconnected"
    finally:
        await close_parts(parts)
    return response
