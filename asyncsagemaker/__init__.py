"""asyncsagemaker: the asyncio-native SDK for Amazon SageMaker Runtime response streaming."""

from __future__ import annotations

from ._version import __version__
from .client import SageMakerRuntime
from .config import Config
from .errors import (
    ClientClosedError,
    ConfigurationError,
    ConnectTimeoutError,
    CredentialsError,
    DeadlineExceededError,
    InternalDependencyException,
    InternalFailure,
    InternalStreamFailure,
    ModelError,
    ModelNotReadyException,
    ModelStreamError,
    NetworkError,
    ParamValidationError,
    ProtocolError,
    ReadTimeoutError,
    SageMakerError,
    SageMakerTimeoutError,
    ServiceError,
    ServiceUnavailable,
    StreamConsumedError,
    StreamError,
    StreamInterruptedError,
    ThrottlingException,
    ValidationError,
)
from .responses import AsyncInferenceResponse, InvokeEndpointResponse
from .stream import ResponseStream, StreamCall, StreamStats

__all__ = [
    "AsyncInferenceResponse",
    "ClientClosedError",
    "Config",
    "ConfigurationError",
    "ConnectTimeoutError",
    "CredentialsError",
    "DeadlineExceededError",
    "InternalDependencyException",
    "InternalFailure",
    "InternalStreamFailure",
    "InvokeEndpointResponse",
    "ModelError",
    "ModelNotReadyException",
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
    "StreamCall",
    "StreamConsumedError",
    "StreamError",
    "StreamInterruptedError",
    "StreamStats",
    "ThrottlingException",
    "ValidationError",
    "__version__",
]
