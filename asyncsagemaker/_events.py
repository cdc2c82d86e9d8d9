"""The events both streams share: exception and error events, written and read.

A response stream (HTTP/1.1) and a bidirectional stream's output (HTTP/2) carry the
same ``ModelStreamError`` / ``InternalStreamFailure`` exception events and the same
generic ``:message-type: error`` events (docs/protocol.md §3.4).  Stdlib only.
"""

from __future__ import annotations

import json

from .errors import InternalStreamFailure, ModelStreamError, StreamError
from .eventstream import Headers, encode_headers, frame

__all__ = [
    "encode_error_event",
    "encode_exception_event",
    "exception_from_event",
    "stream_fault_event",
]

_FAULT_MESSAGES = {
    "ModelInvocationTimeExceeded": "Model invocation time exceeded",
    "StreamBroken": "Stream broken",
}


def encode_exception_event(
    exception_type: str, message: str, error_code: str | None = None
) -> bytes:
    """An exception event (``ModelStreamError``, ``InternalStreamFailure``): JSON payload."""
    document = {"Message": message}
    if error_code is not None:
        document["ErrorCode"] = error_code
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(encode_headers(headers), json.dumps(document, separators=(",", ":")).encode())


def encode_error_event(error_code: str, error_message: str) -> bytes:
    """A generic ``:message-type error`` event: the code and text as headers, no payload."""
    headers = {
        ":message-type": "error",
        ":error-code": error_code,
        ":error-message": error_message,
    }
    return frame(encode_headers(headers))


def exception_from_event(headers: Headers, payload: bytes) -> StreamError:
    """The typed error an ``exception`` or ``error`` message stands for.

    ``ModelStreamError`` keeps its ``ErrorCode``; ``InternalStreamFailure`` is its
    own type; any other exception type or error code is a :class:`StreamError`
    with that ``code``.
    """
    if headers.get(":message-type") == "error":
        code = str(headers.get(":error-code", ""))
        return StreamError(str(headers.get(":error-message", "")) or code, code=code)
    kind = str(headers.get(":exception-type", ""))
    document: object = None
    if payload:
        try:
            document = json.loads(payload)
        except ValueError:
            document = None
    fields = document if isinstance(document, dict) else {}
    text = fields.get("Message") or fields.get("message") or payload.decode("utf-8", "replace")
    if kind == "ModelStreamError":
        error_code = fields.get("ErrorCode")
        return ModelStreamError(
            str(text), error_code=None if error_code is None else str(error_code)
        )
    if kind == "InternalStreamFailure":
        return InternalStreamFailure(str(text))
    return StreamError(str(text), code=kind)


def stream_fault_event(stream_error: str, error_code: str) -> bytes:
    """The exception event an emulator fault ends a stream with, worded as the service."""
    if stream_error == "InternalStreamFailure":
        return encode_exception_event("InternalStreamFailure", "Internal stream failure")
    message = _FAULT_MESSAGES.get(error_code, "Model stream error")
    return encode_exception_event("ModelStreamError", message, error_code)
