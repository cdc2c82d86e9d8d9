"""asyncsagemaker: the asyncio-native SDK for Amazon SageMaker Runtime streaming.

The public names are chosen here.  The errors are imported at once (stdlib only);
the client and what it needs (aiohttp, botocore) on first use, so that importing
the package, its sans-IO codecs or its pytest plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._version import __version__
from .errors import (
    CertificateError,
    ClientClosedError,
    ConfigurationError,
    ConnectTimeoutError,
    CredentialsError,
    DeadlineExceededError,
    DecodeError,
    EventTooLargeError,
    FormatError,
    InternalDependencyException,
    InternalFailure,
    InternalStreamFailure,
    JSONLineError,
    LineTooLongError,
    ModelError,
    ModelNotReadyException,
    ModelOutputError,
    ModelStreamError,
    NetworkError,
    ParamValidationError,
    ProtocolError,
    ReadTimeoutError,
    SageMakerError,
    SageMakerTimeoutError,
    ServiceError,
    ServiceUnavailable,
    SessionClosedError,
    SessionError,
    StreamConsumedError,
    StreamError,
    StreamInterruptedError,
    ThrottlingException,
    UsageError,
    ValidationError,
)

if TYPE_CHECKING:
    from ._bidi.call import DuplexCall, DuplexStream
    from ._bidi.events import BidiPart
    from ._client import SageMakerRuntime
    from ._config import Config
    from ._responses import AsyncInferenceResponse, InvokeEndpointResponse
    from ._sessions import StatefulSession
    from ._stats import StreamStats
    from ._stream import ResponseStream
    from ._stream_call import StreamCall
    from .formats import ToolCall, ToolCallDelta

_HOMES = {
    "BidiPart": "._bidi.events",
    "DuplexCall": "._bidi.call",
    "DuplexStream": "._bidi.call",
    "SageMakerRuntime": "._client",
    "Config": "._config",
    "AsyncInferenceResponse": "._responses",
    "InvokeEndpointResponse": "._responses",
    "StreamStats": "._stats",
    "ResponseStream": "._stream",
    "StatefulSession": "._sessions",
    "StreamCall": "._stream_call",
    "ToolCall": ".formats",
    "ToolCallDelta": ".formats",
}

__all__ = [
    "AsyncInferenceResponse",
    "BidiPart",
    "CertificateError",
    "ClientClosedError",
    "Config",
    "ConfigurationError",
    "ConnectTimeoutError",
    "CredentialsError",
    "DeadlineExceededError",
    "DecodeError",
    "DuplexCall",
    "DuplexStream",
    "EventTooLargeError",
    "FormatError",
    "InternalDependencyException",
    "InternalFailure",
    "InternalStreamFailure",
    "InvokeEndpointResponse",
    "JSONLineError",
    "LineTooLongError",
    "ModelError",
    "ModelNotReadyException",
    "ModelOutputError",
    "ModelStreamError",
    "NetworkError",
    "ParamValidationError",
    "ProtocolError",
    "ReadTimeoutError",
    "ResponseStream",
    "SageMakerError",
    "SageMakerRuntime",
    "SageMakerTimeoutError",
    "ServiceError",
    "ServiceUnavailable",
    "SessionClosedError",
    "SessionError",
    "StatefulSession",
    "StreamCall",
    "StreamConsumedError",
    "StreamError",
    "StreamInterruptedError",
    "StreamStats",
    "ThrottlingException",
    "ToolCall",
    "ToolCallDelta",
    "UsageError",
    "ValidationError",
    "__version__",
]


__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
