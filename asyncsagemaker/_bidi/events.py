"""Sans-IO events of the bidirectional stream: the part a user sends and receives, on the wire.

``InvokeEndpointWithBidirectionalStream`` carries one event type each way, the
``PayloadPart``: the bytes as the event payload, and ``DataType`` (``UTF8`` or
``BINARY``), ``CompletionState`` (``PARTIAL`` or ``COMPLETE``) and the padding
``P`` as string headers.  Output can also end in an exception event
(``ModelStreamError`` with an ``ErrorCode``, ``InternalStreamFailure``) or a
generic ``:message-type error`` event.  This module writes and reads those inner
messages; signing them into envelopes is :mod:`._event_signing`'s job.  Stdlib,
the event-stream codec and the error tree only, so the client and the emulator
share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from .._events import encode_error_event, encode_exception_event, exception_from_event
from ..errors import (
    DecodeError,
    ParamValidationError,
    ProtocolError,
)
from ..eventstream import Headers, Message, encode_headers, frame

__all__ = [
    "COMPLETION_STATES",
    "DATA_TYPES",
    "BidiPart",
    "CompletionState",
    "DataType",
    "encode_error_event",
    "encode_exception_event",
    "encode_payload_part",
    "exception_from_event",
    "parse_output_event",
    "parse_payload_part",
]

DataType: TypeAlias = Literal["UTF8", "BINARY"]
CompletionState: TypeAlias = Literal["PARTIAL", "COMPLETE"]
DATA_TYPES: Final = ("UTF8", "BINARY")
COMPLETION_STATES: Final = ("PARTIAL", "COMPLETE")
PAYLOAD_PART: Final = "PayloadPart"
_CONTENT_TYPE: Final = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class BidiPart:
    """One part of a bidirectional stream, either way.

    ``data`` is the raw payload; ``data_type`` tells the model (or the client)
    whether it is text (``UTF8``) or not (``BINARY``); ``completion_state``
    ``PARTIAL`` says more of the same message follows, ``COMPLETE`` ends it.  The
    service never merges parts: what one side sends as a part, the other gets as
    one part.
    """

    data: bytes
    data_type: DataType = "BINARY"
    completion_state: CompletionState = "COMPLETE"

    def __post_init__(self) -> None:
        if type(self.data) is not bytes:
            if not isinstance(self.data, (bytes, bytearray, memoryview)):
                raise ParamValidationError(
                    f"BidiPart.data must be bytes, not {type(self.data).__name__}"
                )
            object.__setattr__(self, "data", bytes(self.data))
        if self.data_type not in DATA_TYPES:
            raise ParamValidationError(
                f"BidiPart.data_type must be 'UTF8' or 'BINARY', not {self.data_type!r}"
            )
        if self.completion_state not in COMPLETION_STATES:
            raise ParamValidationError(
                "BidiPart.completion_state must be 'PARTIAL' or 'COMPLETE', "
                f"not {self.completion_state!r}"
            )

    @classmethod
    def of(
        cls,
        value: bytes | bytearray | memoryview | str | BidiPart,
        completion_state: CompletionState = "COMPLETE",
    ) -> BidiPart:
        """A part from text (``UTF8``), bytes (``BINARY``) or a part (returned as it is)."""
        if isinstance(value, BidiPart):
            return value
        if isinstance(value, str):
            return cls(value.encode("utf-8"), "UTF8", completion_state)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return cls(bytes(value), "BINARY", completion_state)
        raise ParamValidationError(
            f"a part must be str, bytes or BidiPart, not {type(value).__name__}"
        )

    @property
    def text(self) -> str:
        """``data`` decoded as UTF-8 (a PARTIAL part may end inside a character: join first)."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(
                f"the part's {len(self.data)} bytes are not valid UTF-8 ({exc.reason} at byte "
                f"{exc.start}); read .data, or join PARTIAL parts before decoding"
            ) from None


# --- PayloadPart inner messages ------------------------------------------------------


def _part_headers(
    data_type: str, completion_state: str, padding: str | None, payload: bool
) -> bytes:
    """The header block in the order the AWS Python SDK writes it."""
    headers: dict[str, str] = {
        ":message-type": "event",
        ":event-type": PAYLOAD_PART,
        "DataType": data_type,
        "CompletionState": completion_state,
    }
    if padding is not None:
        headers["P"] = padding
    if payload:
        headers[":content-type"] = _CONTENT_TYPE
    return encode_headers(headers)


_BLOCKS: Final = {
    (data_type, state, payload): _part_headers(data_type, state, None, payload)
    for data_type in DATA_TYPES
    for state in COMPLETION_STATES
    for payload in (True, False)
}


def encode_payload_part(part: BidiPart, padding: str | None = None) -> bytes:
    """The inner ``PayloadPart`` message for ``part``, byte for byte as the AWS Python SDK.

    ``padding`` is the ``P`` header: filler text a sender adds so that the sizes
    of messages do not reveal their content.  ``:content-type`` is written only
    for a non-empty payload, as that SDK does.
    """
    data = part.data
    if padding is None:
        block = _BLOCKS[part.data_type, part.completion_state, bool(data)]
    else:
        block = _part_headers(part.data_type, part.completion_state, padding, bool(data))
    return frame(block, data)


def _string_header(headers: Headers, name: str, default: str) -> str:
    value = headers.get(name, default)
    if not isinstance(value, str):
        raise ProtocolError(f"event header {name!r} must be a string, not {type(value).__name__}")
    return value


def _part_from(headers: Headers, payload: bytes) -> BidiPart:
    data_type = _string_header(headers, "DataType", "BINARY")
    state = _string_header(headers, "CompletionState", "COMPLETE")
    if data_type not in DATA_TYPES:
        raise ProtocolError(f"PayloadPart DataType must be UTF8 or BINARY, not {data_type!r}")
    if state not in COMPLETION_STATES:
        raise ProtocolError(
            f"PayloadPart CompletionState must be PARTIAL or COMPLETE, not {state!r}"
        )
    return BidiPart(payload, data_type, state)  # type: ignore[arg-type]  # checked above


def parse_payload_part(message: Message) -> BidiPart:
    """The part an input event carries; anything but a ``PayloadPart`` event is refused.

    An absent ``DataType`` means ``BINARY`` and an absent ``CompletionState``
    means ``COMPLETE``; ``P`` (padding) is dropped.
    """
    headers = message.headers
    message_type = _string_header(headers, ":message-type", "")
    event_type = _string_header(headers, ":event-type", "")
    if message_type != "event" or event_type != PAYLOAD_PART:
        raise ProtocolError(
            "an input event must be a PayloadPart event, not "
            f":message-type={message_type!r} :event-type={event_type!r}"
        )
    return _part_from(headers, message.payload)


# --- output events: parts and the errors that end a stream -------------------------


def parse_output_event(message: Message) -> BidiPart | None:
    """The part an output event carries, ``None`` for an event type this SDK does not know.

    An exception or error event raises its typed error (see
    :func:`exception_from_event`); a message of no known type is a
    :class:`~asyncsagemaker.errors.ProtocolError`.
    """
    headers = message.headers
    message_type = headers.get(":message-type")
    if message_type == "event":
        if headers.get(":event-type") != PAYLOAD_PART:
            return None  # a newer event type: skipped, as the AWS SDKs skip unknown members
        return _part_from(headers, message.payload)
    if message_type in ("exception", "error"):
        raise exception_from_event(headers, message.payload)
    raise ProtocolError(f"output message with unknown :message-type {message_type!r}")
