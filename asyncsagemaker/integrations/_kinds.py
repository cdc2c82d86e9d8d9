"""What kind of failure one of our errors is, in the words every framework's errors share.

The frameworks sort model failures alike (LangChain's ``ModelError`` family, LiteLLM's
OpenAI-style exceptions by status, Strands' throttling and context overflow): a rate
limit, a request the model refuses, input too long for its context, a timeout...
Each integration maps a :class:`Kind` to its framework's class; this module is the
one place that decides the kind of each of our errors, so the three never disagree.

The service's words decide where it says what happened: a ``ModelError`` carries the
container's own status (``OriginalStatusCode``), so a container that refused the
request (400, 422) is an invalid request and one that crashed is a model failure; a
message about the context length (vLLM's, TGI's, LMI's wording) is a context overflow
wherever it comes from.
"""

from __future__ import annotations

import enum
import re

from ..errors import (
    ClientClosedError,
    ConfigurationError,
    CredentialsError,
    DecodeError,
    InternalStreamFailure,
    ModelError,
    ModelNotReadyException,
    ModelOutputError,
    ModelStreamError,
    NetworkError,
    ParamValidationError,
    SageMakerError,
    SageMakerTimeoutError,
    ServiceError,
    StreamError,
    ThrottlingException,
    ValidationError,
)

__all__ = ["Kind", "error_code", "kind_of"]


class Kind(enum.Enum):
    """A kind of failure, as frameworks tell them apart."""

    RATE_LIMIT = "rate_limit"  # throttled, or the model still loading (429): retry later
    INVALID = "invalid"  # refused as it stands (400): retrying will not help
    CONTEXT_OVERFLOW = "context_overflow"  # the input is too long for the model's context
    AUTHENTICATION = "authentication"  # no credentials, or not accepted (401)
    PERMISSION = "permission"  # the identity may not call this (403)
    NOT_FOUND = "not_found"  # (404)
    TIMEOUT = "timeout"
    CONNECTION = "connection"  # the network failed, before or during the answer
    SERVER = "server"  # SageMaker itself failed (5xx)
    MODEL = "model"  # the container behind SageMaker failed: a gateway's upstream (502)
    STREAM = "stream"  # the model failed after its answer started (ModelStreamError...)


#: How servers say the input is longer than the model's context (vLLM, TGI, LMI,
#: OpenAI-compatible servers; the phrases Strands and LiteLLM match too).
_OVERFLOW = re.compile(
    r"context[ _]length|maximum context|context window|max_model_len|max model len"
    r"|too many tokens|prompt is too long|input is too long|input too long"
    r"|`inputs` tokens \+ `max_new_tokens` must be|`inputs` must have less than"
    r"|exceed(?:s|ed)? (?:the )?(?:customer )?model(?:'s)? maximum",
    re.IGNORECASE,
)


def kind_of(exc: SageMakerError) -> Kind | None:
    """The kind of ``exc``; ``None`` for misuse of the API (raised as it is)."""
    if isinstance(exc, (ThrottlingException, ModelNotReadyException)):
        return Kind.RATE_LIMIT
    if isinstance(exc, ModelError):
        return _container_kind(exc)
    if isinstance(exc, ServiceError):
        return _overflow_or(exc, _status_kind(exc))
    if isinstance(exc, ModelOutputError):
        return _overflow_or(exc, Kind.STREAM)
    return next((kind for kinds, kind in _LOCAL if isinstance(exc, kinds)), None)


#: Errors raised here rather than answered by the service, first match wins; anything
#: else (UsageError, StreamConsumedError, SessionError) is the caller's to fix.
_LOCAL: tuple[tuple[type[SageMakerError] | tuple[type[SageMakerError], ...], Kind], ...] = (
    ((ParamValidationError, ConfigurationError), Kind.INVALID),
    (CredentialsError, Kind.AUTHENTICATION),
    (SageMakerTimeoutError, Kind.TIMEOUT),
    (NetworkError, Kind.CONNECTION),  # StreamInterruptedError included
    (InternalStreamFailure, Kind.SERVER),
    (StreamError, Kind.STREAM),  # ModelStreamError, ProtocolError
    (DecodeError, Kind.MODEL),  # the model's answer is not what it should be
    (ClientClosedError, Kind.CONNECTION),
)


def error_code(exc: SageMakerError) -> str | None:
    """The service's code for ``exc`` (``ModelStreamError``'s ``ErrorCode`` first)."""
    if isinstance(exc, ModelStreamError) and exc.error_code:
        return exc.error_code
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) and code else None


def _container_kind(exc: ModelError) -> Kind:
    """A ``ModelError`` by the container's own status: refused, throttled or failed."""
    status = exc.original_status_code
    if status == 429:
        return Kind.RATE_LIMIT
    if status == 408:
        return Kind.TIMEOUT
    if status is not None and 400 <= status < 500:
        return _overflow_or(exc, Kind.INVALID)
    return _overflow_or(exc, Kind.MODEL)


def _status_kind(exc: ServiceError) -> Kind:
    if isinstance(exc, ValidationError):
        return Kind.INVALID
    kind = _BY_STATUS.get(exc.status_code)
    if kind is not None:
        return kind
    return Kind.SERVER if exc.status_code >= 500 else Kind.INVALID


_BY_STATUS = {
    400: Kind.INVALID,
    401: Kind.AUTHENTICATION,
    403: Kind.PERMISSION,
    404: Kind.NOT_FOUND,
    408: Kind.TIMEOUT,
    429: Kind.RATE_LIMIT,
}


def _overflow_or(exc: SageMakerError, kind: Kind) -> Kind:
    texts = [str(exc), str(getattr(exc, "original_message", "") or "")]
    payload = getattr(exc, "payload", None)
    if payload is not None:
        texts.append(str(payload))
    return Kind.CONTEXT_OVERFLOW if any(_OVERFLOW.search(text) for text in texts) else kind
