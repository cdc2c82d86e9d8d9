"""A local SageMaker Runtime: the service's wire protocol on 127.0.0.1.

Serves ``InvokeEndpoint``, ``InvokeEndpointWithResponseStream`` and
``InvokeEndpointAsync`` byte-compatibly with botocore, checks SigV4 signatures,
runs built-in models, your own async handlers or a local model container, and
injects faults on demand.  See docs/emulator.md.
"""

from __future__ import annotations

from ._background import run_in_thread
from ._faults import Faults, ModelErrorFault
from ._server import Emulator
from ._types import Handler, Invocation, ModelResponse, RequestRecord

__all__ = [
    "Emulator",
    "Faults",
    "Handler",
    "Invocation",
    "ModelErrorFault",
    "ModelResponse",
    "RequestRecord",
    "run_in_thread",
]
