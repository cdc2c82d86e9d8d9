"""The emulator's public value types: what a model receives, returns, and what is recorded.

They live apart from the server so that a model module can import them without
pulling in aiohttp.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, TypeAlias, get_args

__all__ = [
    "OUTCOMES",
    "Handler",
    "HandlerResult",
    "Invocation",
    "ModelResponse",
    "Outcome",
    "RequestRecord",
]

INVOKE = "InvokeEndpoint"
STREAM = "InvokeEndpointWithResponseStream"
ASYNC = "InvokeEndpointAsync"
#: The OpenAI-compatible route's Chat Completions (no service model names it: ours).
CHAT_COMPLETIONS = "ChatCompletions"
NEW_SESSION = "NEW_SESSION"  # the SessionId that asks the model to open a session

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class Invocation:
    """One request as the model sees it: the body and every API header, decoded.

    Members the operation does not define (``target_model`` on the streaming call,
    say) are ``None``, as the service strips them; ``headers`` still holds every
    header that was received, with lower-case names.  On the OpenAI-compatible route
    (``operation`` ``"ChatCompletions"``) ``stream`` is the body's ``"stream"`` and
    ``inference_component_name`` the path's component.
    """

    endpoint_name: str
    operation: str
    body: bytes
    content_type: str | None = None
    accept: str | None = None
    custom_attributes: str | None = None
    target_variant: str | None = None
    target_model: str | None = None
    target_container_hostname: str | None = None
    inference_id: str | None = None
    enable_explanations: str | None = None
    inference_component_name: str | None = None
    session_id: str | None = None
    prefix_aware_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    variant: str = "AllTraffic"
    request_id: str = ""
    stream: bool = False

    @property
    def streaming(self) -> bool:
        """True when the answer goes out part by part: ``InvokeEndpointWithResponseStream``,
        or a Chat Completions body with ``"stream": true``."""
        return self.operation == STREAM or (self.operation == CHAT_COMPLETIONS and self.stream)


@dataclass(frozen=True)
class ModelResponse:
    """A model's answer with response metadata.

    ``body`` is the whole answer or an async iterator of parts.  ``content_type``
    ``None`` means the default: the request's accept, else its content type, else
    ``application/json``.  ``new_session_id`` opens a stateful session (an id, or
    ``<id>; Expires=<UTC time>``; without an expiry the emulator's ``session_ttl``
    applies) and ``closed_session_id`` closes one; both only on ``InvokeEndpoint``.
    """

    body: bytes | AsyncIterator[bytes]
    content_type: str | None = None
    custom_attributes: str | None = None
    new_session_id: str | None = None
    closed_session_id: str | None = None


HandlerResult: TypeAlias = bytes | AsyncIterator[bytes] | ModelResponse
Handler: TypeAlias = Callable[
    [Invocation], Awaitable[HandlerResult] | AsyncIterator[bytes] | HandlerResult
]


#: What became of a request, as :attr:`RequestRecord.outcome` says.  ``"pending"`` while
#: the work goes on; ``"ok"``; ``"error"`` (refused, or the model failed);
#: ``"client_disconnected"``; ``"body_timeout"`` (headers came, the body did not);
#: ``"fault:<Faults field>"`` for an injected fault.
Outcome: TypeAlias = Literal[
    "pending",
    "ok",
    "error",
    "client_disconnected",
    "body_timeout",
    "fault:throttle_first",
    "fault:not_ready_first",
    "fault:error_first",
    "fault:model_error",
    "fault:stream_error_after",
    "fault:drop_after",
    "fault:drop_mid_frame_after",
    "fault:corrupt_crc_after",
    # bidirectional streams (BidiRecord) also end these ways
    "client_reset",
    "server_closed",
    "bad_signature",
    "bad_input",
    "fault:reset_after",
    "fault:goaway_after",
    "fault:max_session_seconds",
    "fault:max_part_bytes",
]
#: Every :data:`Outcome`, in the order of its definition.
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)


@dataclass
class RequestRecord:
    """What happened to one request, kept in ``Emulator.records`` for tests to inspect.

    Appended when the request arrives and updated as it goes: ``status`` when the
    response starts, ``parts_sent`` per part written, ``outcome`` and ``ended``
    (``time.monotonic()``) when the work for it stops, whatever the reason.
    ``body`` holds the first bytes of the request body (all of them unless the
    record ring caps it); ``body_size`` counts every byte received.
    """

    request_id: str
    operation: str
    endpoint_name: str
    headers: dict[str, str] = field(repr=False)  # secrets: never in a repr
    started: float
    body: bytes = b""
    body_size: int = 0
    status: int = 0
    parts_sent: int = 0
    outcome: Outcome = "pending"
    ended: float | None = None

    @property
    def body_truncated(self) -> bool:
        """True when ``body`` holds fewer bytes than were received."""
        return len(self.body) < self.body_size
