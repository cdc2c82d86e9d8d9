"""The hooks a call tells its telemetry, and the observer that does nothing.

A call asks the client's telemetry (:mod:`.front`) for an :class:`Observer` and
calls its hooks where the call goes: ``sending()`` per attempt,
``attempt_succeeded()`` / ``attempt_failed()`` from the retry loop, ``on_part`` per
part of a stream (``None`` when off, so a part costs one comparison), and one hook
for the end of the call: ``failed()``, ``ended()``, ``generation()`` or
``stream_ended()``.  Hooks receive values (an error, a generation, a request id),
never the objects of the call, so telemetry cannot reach into a stream.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from ..formats import Generation

__all__ = ["NO_OBSERVER", "Observer", "lambda_trace_header"]

_TRACE_ID_SAFE = "-=;:+&[]{}\"',"  # what botocore leaves unquoted in X-Amzn-Trace-Id


def lambda_trace_header() -> str | None:
    """The ``X-Amzn-Trace-Id`` value botocore would send now, or None outside Lambda.

    botocore's rule (``add_recursion_detection_header``): only when both
    ``AWS_LAMBDA_FUNCTION_NAME`` and ``_X_AMZN_TRACE_ID`` are set, the latter quoted.
    """
    trace_id = os.environ.get("_X_AMZN_TRACE_ID")
    if trace_id and "AWS_LAMBDA_FUNCTION_NAME" in os.environ:
        return quote(trace_id, safe=_TRACE_ID_SAFE)
    return None


class Observer:
    """What a call tells its telemetry; this base class does nothing (telemetry off)."""

    __slots__ = ()

    #: Called once per part of a stream when set; ``None`` keeps the part loop bare.
    on_part: Callable[[], None] | None = None

    def sending(self, attempt: int, url: str, headers: dict[str, str]) -> None:
        """Attempt number ``attempt`` is about to go to ``url`` with these signed headers."""

    def attempt_succeeded(self, status: int, request_id: str | None) -> None:
        """The attempt's answer is a 2xx response."""

    def attempt_failed(self, error: BaseException) -> None:
        """The attempt failed (another may follow)."""

    def failed(self, error: BaseException) -> None:
        """The call failed (or was cancelled): nothing more follows."""

    def ended(self) -> None:
        """A whole-answer call returned its answer."""

    def generation(self, generation: Generation) -> None:
        """A whole-answer chat call returned this generation."""

    #: Whether :meth:`stream_ended` wants to be told: a stream computes the values it
    #: passes only then, so a stream costs nothing more while telemetry is off.
    watches_streams: bool = False

    def stream_ended(
        self,
        failure: BaseException | None,
        generation: Generation | None,
        request_id: str | None,
    ) -> None:
        """A stream of either kind is over: read to its end, closed early, or failed.

        ``failure`` is the error it raised (``None`` if none), ``generation`` what its
        token views decoded (``None`` when none was read), ``request_id`` the
        service's.  Told again when closed again; only the first time counts.
        """


#: The observer of every call while telemetry is off.
NO_OBSERVER = Observer()
