"""Fault injection for bidirectional streams, per endpoint: refusals before the stream, and
what can break it once it runs.

Request-level faults are consumed in a fixed order per endpoint, as for
:class:`~asyncsagemaker.emulator.Faults`: throttling first, then errors, then the
model error, so ``BidiFaults(throttle_first=1, error_first=1)`` gives throttle,
error, ok.  Stream faults count the parts the emulator has sent on that stream.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ._faults import ModelErrorFault, model_error_reply
from ._replies import ServiceReply

__all__ = ["BidiFaults", "bidi_error_reply"]

_ERRORS = {
    500: ("InternalServerError", "An internal error occurred."),
    503: ("ServiceUnavailableError", "The service is unavailable. Try again later."),
}
_STREAM_ERRORS = ("ModelStreamError", "InternalStreamFailure")


@dataclass(frozen=True)
class BidiFaults:
    """Faults for one endpoint's bidirectional streams (see docs/bidirectional.md).

    * ``throttle_first``: the first N streams get 400 ``ThrottlingException``.
    * ``error_first`` / ``error_status``: the next N get 500 ``InternalServerError``
      or 503 ``ServiceUnavailableError``.
    * ``model_error``: every stream gets 424 ``ModelError`` with these fields.
    * ``stream_error_after``: after N parts the stream ends with a ``stream_error``
      event (``ModelStreamError`` with ``stream_error_code``, or
      ``InternalStreamFailure``).
    * ``reset_after``: after N parts the emulator sends RST_STREAM(INTERNAL_ERROR).
    * ``goaway_after``: after N parts it sends GOAWAY and closes the connection.
    * ``stall_seconds`` / ``stall_after``: after N parts, nothing is sent for that long.
    * ``max_session_seconds``: a stream still open after that long ends with
      ``ModelStreamError`` (``ModelInvocationTimeExceeded``).
    * ``max_part_bytes``: a larger input part ends the stream with an
      ``InputValidationError`` error event.
    """

    throttle_first: int = 0
    error_first: int = 0
    error_status: int = 503
    model_error: ModelErrorFault | None = None
    stream_error_after: int | None = None
    stream_error: str = "ModelStreamError"
    stream_error_code: str = "ModelInvocationTimeExceeded"
    reset_after: int | None = None
    goaway_after: int | None = None
    stall_seconds: float = 0.0
    stall_after: int = 0
    max_session_seconds: float | None = None
    max_part_bytes: int | None = None

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"BidiFaults.{item.name} must not be negative, got {value!r}")
        if self.error_status not in _ERRORS:
            raise ValueError("BidiFaults.error_status must be 500 or 503")
        if self.stream_error not in _STREAM_ERRORS:
            raise ValueError(f"BidiFaults.stream_error must be one of {', '.join(_STREAM_ERRORS)}")
        if self.max_session_seconds == 0:
            raise ValueError("BidiFaults.max_session_seconds must be positive (or None)")


def bidi_error_reply(faults: BidiFaults, endpoint: str, served: int) -> ServiceReply | None:
    """The refusal for the stream numbered ``served`` (0-based) on ``endpoint``, if any."""
    if served < faults.throttle_first:
        # Not in the service model: clients see it as an unmodeled error.
        return ServiceReply(
            400, "ThrottlingException", "Rate exceeded", outcome="fault:throttle_first"
        )
    served -= faults.throttle_first
    if served < faults.error_first:
        code, message = _ERRORS[faults.error_status]
        return ServiceReply(
            faults.error_status,
            code,
            message,
            extra={"ErrorCode": code},
            outcome="fault:error_first",
        )
    if faults.model_error is not None:
        return model_error_reply(endpoint, faults.model_error, outcome="fault:model_error")
    return None
