"""A local SageMaker Runtime: the service's wire protocol on 127.0.0.1.

Serves ``InvokeEndpoint``, ``InvokeEndpointWithResponseStream`` and
``InvokeEndpointAsync`` byte-compatibly with botocore (and, on an HTTP/2 listener,
``InvokeEndpointWithBidirectionalStream``; see docs/bidirectional.md), checks SigV4 signatures,
runs built-in models, your own async handlers or a local model container, and
injects faults on demand.  See docs/emulator.md.

Names are imported on first use, so ``import asyncsagemaker.emulator`` (and the
CLI's ``--help``, and the pytest plugin) stay cheap until an emulator is made.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._background import run_in_thread
    from ._bidi_faults import BidiFaults
    from ._bidi_types import BidiHandler, BidiInvocation, BidiPart, BidiRecord
    from ._faults import Faults, ModelErrorFault
    from ._records import RecordRing
    from ._server import Emulator
    from ._types import OUTCOMES, Handler, Invocation, ModelResponse, Outcome, RequestRecord

__all__ = [
    "OUTCOMES",
    "BidiFaults",
    "BidiHandler",
    "BidiInvocation",
    "BidiPart",
    "BidiRecord",
    "Emulator",
    "Faults",
    "Handler",
    "Invocation",
    "ModelErrorFault",
    "ModelResponse",
    "Outcome",
    "RecordRing",
    "RequestRecord",
    "run_in_thread",
]

_HOMES = {
    "BidiFaults": "._bidi_faults",
    "BidiHandler": "._bidi_types",
    "BidiInvocation": "._bidi_types",
    "BidiPart": "._bidi_types",
    "BidiRecord": "._bidi_types",
    "OUTCOMES": "._types",
    "Emulator": "._server",
    "Faults": "._faults",
    "Handler": "._types",
    "Invocation": "._types",
    "ModelErrorFault": "._faults",
    "ModelResponse": "._types",
    "Outcome": "._types",
    "RecordRing": "._records",
    "RequestRecord": "._types",
    "run_in_thread": "._background",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
