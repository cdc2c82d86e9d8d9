"""Public value types of the emulator's bidirectional streams: what a model gets, what is kept.

A bidirectional model is an async generator function ``model(invocation, parts)``:
``parts`` is an async iterator of the client's :class:`BidiPart`s as they arrive,
and whatever the model yields goes back to the client at once, so it can answer
before the input ends.  Apart from the server, so that a model module can import
them cheaply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeAlias

from .._bidi.events import BidiPart
from ._types import Outcome

__all__ = ["BIDI_RECORDS_KEPT", "BidiHandler", "BidiInvocation", "BidiPart", "BidiRecord"]

BIDI = "InvokeEndpointWithBidirectionalStream"
#: How many stream records ``Emulator.bidi_records`` keeps (the oldest are dropped).
BIDI_RECORDS_KEPT = 1000

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class BidiInvocation:
    """One bidirectional stream as the model sees it: the members, decoded and checked.

    ``headers`` holds every request header received, lower-case names, HTTP/2
    pseudo-headers (``:path``, ``:authority``) included.
    """

    endpoint_name: str
    target_variant: str | None = None
    model_invocation_path: str | None = None
    model_query_string: str | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    variant: str = "AllTraffic"
    request_id: str = ""


#: What a model may yield: a part, or text (a COMPLETE UTF8 part) or bytes (COMPLETE BINARY).
BidiOutput: TypeAlias = BidiPart | str | bytes
BidiHandler: TypeAlias = Callable[
    [BidiInvocation, AsyncIterator[BidiPart]], AsyncIterator[BidiOutput]
]


@dataclass
class BidiRecord:
    """What happened to one bidirectional stream, kept in ``Emulator.bidi_records``.

    Appended when the stream opens and updated as it goes.  ``outcome`` is
    ``"pending"``, then one of ``"ok"``, ``"error"`` (pre-stream refusal or a
    failing model), ``"fault:<BidiFaults field>"``, ``"bad_signature"``,
    ``"bad_input"``, ``"client_reset"`` (the client sent RST_STREAM; ``reset_code``
    is its error code), ``"client_disconnected"`` or ``"server_closed"``.
    ``model_cancelled`` is True when the model was stopped before it finished.
    ``signing_keys`` (with ``credentials=``) are the access key ids whose keys signed
    the request and then its events, in the order they came into use: a client whose
    credentials were refreshed mid-stream signs the later events with the new key.
    ``ended`` is ``time.monotonic()`` once the model and the stream are done.
    """

    request_id: str
    endpoint_name: str
    headers: dict[str, str] = field(repr=False)  # secrets: never in a repr
    started: float
    operation: str = BIDI
    status: int = 0
    variant: str | None = None
    parts_received: int = 0
    parts_sent: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0
    signatures_checked: int = 0
    signing_keys: list[str] = field(default_factory=list, repr=False)  # access key ids
    outcome: Outcome = "pending"
    error: str | None = None
    reset_code: int | None = None
    model_cancelled: bool = False
    ended: float | None = None
