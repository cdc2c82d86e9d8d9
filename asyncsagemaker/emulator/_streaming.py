"""Writing a response stream: one event-stream frame per part, with stream faults.

Every write is followed by a drain, so a client that stops reading stops the
loop here, which stops pulling from the model: memory stays bounded by the
socket buffers.  A failed write means the client went away; the caller closes
the model's iterator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from .._events import encode_exception_event, stream_fault_event
from ..eventstream import encode_headers, frame
from ._faults import Faults
from ._types import Outcome, RequestRecord

__all__ = ["PAYLOAD_PART_HEADERS", "StreamSender", "exception_frame"]

# Header order as in docs/protocol.md §3.5: event type, content type, message type.
PAYLOAD_PART_HEADERS = encode_headers(
    {
        ":event-type": "PayloadPart",
        ":content-type": "application/octet-stream",
        ":message-type": "event",
    }
)
_NO_FAULTS = Faults()


#: A ``ModelStreamError`` / ``InternalStreamFailure`` exception frame.
exception_frame = encode_exception_event


def _corrupt(data: bytes) -> bytes:
    """The same frame with its message CRC inverted."""
    return data[:-4] + bytes(b ^ 0xFF for b in data[-4:])


def _as_bytes(part: object) -> bytes:
    if isinstance(part, (bytes, bytearray, memoryview)):
        return bytes(part)
    raise TypeError(f"a model's parts must be bytes, not {type(part).__name__}")


class StreamSender:
    """Sends a model's parts as frames on a prepared chunked response."""

    def __init__(
        self,
        request: web.Request,
        response: web.StreamResponse,
        writer: AbstractStreamWriter,
        faults: Faults | None,
        record: RequestRecord,
    ) -> None:
        self._request = request
        self._response = response
        self._writer = writer
        self._faults = faults or _NO_FAULTS
        self._record = record

    async def _send(self, data: bytes, final_outcome: Outcome | None = None) -> None:
        """Write and drain; a last frame records its outcome first, so that a client
        that has seen the end always finds the record's outcome final."""
        if final_outcome is not None:
            self._record.outcome = final_outcome
        if self._faults.byte_writes:
            for index in range(len(data)):
                await self._response.write(data[index : index + 1])
                await self._writer.drain()
        else:
            await self._response.write(data)
            await self._writer.drain()

    def _drop(self, outcome: Outcome) -> None:
        self._record.outcome = outcome
        transport = self._request.transport
        if transport is not None:
            transport.close()

    async def run(self, parts: AsyncIterator[bytes]) -> Outcome:
        """Send every part, applying the faults; return the record's outcome.

        Raises ``ConnectionError`` when a write fails (the client went away).
        """
        faults = self._faults
        sent = 0
        stalled = False
        outcome: Outcome = "ok"
        while True:
            if faults.stall_seconds > 0 and not stalled and sent == faults.stall_after:
                stalled = True
                await asyncio.sleep(faults.stall_seconds)
            if faults.stream_error_after == sent:
                await self._send(
                    stream_fault_event(faults.stream_error, faults.stream_error_code),
                    "fault:stream_error_after",
                )
                return "fault:stream_error_after"
            if faults.drop_after == sent:
                self._drop("fault:drop_after")
                return "fault:drop_after"
            forced = sent in (faults.drop_mid_frame_after, faults.corrupt_crc_after)
            try:
                payload: bytes | None = _as_bytes(await parts.__anext__())
            except StopAsyncIteration:
                if not forced:
                    return outcome
                payload = None  # the fault still fires, on an empty extra part
            except Exception as exc:
                message = f"Model stream broken: {type(exc).__name__}: {exc}"
                frame_ = exception_frame("ModelStreamError", message, "StreamBroken")
                await self._send(frame_, "error")
                return "error"
            data = frame(PAYLOAD_PART_HEADERS, payload or b"")
            if faults.drop_mid_frame_after == sent:
                await self._send(data[: len(data) // 2])
                self._drop("fault:drop_mid_frame_after")
                return "fault:drop_mid_frame_after"
            if faults.corrupt_crc_after == sent:
                data = _corrupt(data)
                outcome = "fault:corrupt_crc_after"
            await self._send(data)
            sent += 1
            self._record.parts_sent = sent
            if payload is None:
                return outcome
