"""The exception tree of asyncsagemaker.

Every error the SDK raises is a :class:`SageMakerError`, so one ``except`` catches
them all.  The branches follow *when* something went wrong, because that decides
what a caller can do about it:

* :class:`ParamValidationError`: the call was refused before anything was sent.
* :class:`ServiceError`: the service answered with an error before the stream
  started; nothing was generated, so it may be safe to try again.
* :class:`StreamError`: the stream failed after it started; parts may already
  have been handed out and a generation cannot be resumed.
* :class:`SageMakerTimeoutError` / :class:`NetworkError`: also the built-in
  ``TimeoutError`` / ``ConnectionError``, so generic handlers keep working.
* :class:`DecodeError`: the model's output is not what a view expected (a bad JSON
  line, an error record from the model server, an unknown token format).

This module is stdlib only (and the stdlib :mod:`._redact`): the sans-IO codec raises
:class:`ProtocolError`.
"""

from __future__ import annotations

from typing import Any

from ._redact import redact

__all__ = [
    "CertificateError",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectTimeoutError",
    "CredentialsError",
    "DeadlineExceededError",
    "DecodeError",
    "EventTooLargeError",
    "FormatError",
    "InternalDependencyException",
    "InternalFailure",
    "InternalStreamFailure",
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
    "SageMakerError",
    "SageMakerTimeoutError",
    "ServiceError",
    "ServiceUnavailable",
    "SessionClosedError",
    "SessionError",
    "StreamConsumedError",
    "StreamError",
    "StreamInterruptedError",
    "ThrottlingException",
    "UsageError",
    "ValidationError",
]


class SageMakerError(Exception):
    """Base class of every error raised by asyncsagemaker.

    ``request_id`` is the service's ``x-amzn-RequestId`` of the call the error
    belongs to, when one was known (every error raised from a stream has it).
    Messages never show a session token, signature or access key id, even when the
    service quotes them back (a 403 quoting the canonical request): they are
    masked when the error is made.
    """

    request_id: str | None = None

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(arg) if isinstance(arg, str) else arg for arg in args))


# --- before anything is sent -------------------------------------------------------


class ParamValidationError(SageMakerError, ValueError):
    """An argument was refused before any request was sent."""


class ConfigurationError(SageMakerError, ValueError):
    """The client cannot be configured as asked (no region, FIPS with a custom URL...)."""


class CredentialsError(SageMakerError):
    """No credentials could be found or refreshed through botocore's provider chain."""


class ClientClosedError(SageMakerError, RuntimeError):
    """The client was used after ``close()``."""


class UsageError(SageMakerError, TypeError):
    """The API was used in a way that cannot work; the message says what to write instead.

    For example ``async for`` over ``client.invoke_endpoint_with_response_stream(...)``
    itself, without ``await`` or ``async with`` first.
    """


class StreamConsumedError(SageMakerError, RuntimeError):
    """A response stream was iterated a second time; its parts can be read only once."""


class SessionError(SageMakerError):
    """A stateful session could not be opened or closed as the model was asked to.

    ``session_id`` is the session's id when one is known; ``response`` the
    ``InvokeEndpointResponse`` whose headers did not say what was expected (the
    model's answer is in it, nothing is lost).
    """

    def __init__(
        self, message: str, *, session_id: str | None = None, response: Any = None
    ) -> None:
        super().__init__(message)
        self.session_id = session_id
        self.response = response
        self.request_id = getattr(response, "request_id", None)


class SessionClosedError(SessionError, RuntimeError):
    """A stateful session was used after it was closed or after it expired."""


# --- the service answered with an error -------------------------------------------


class ServiceError(SageMakerError):
    """The service answered with an error before any part of the response.

    ``code`` is the service's error code (``x-amzn-ErrorType``), ``message`` its text,
    ``status_code`` the HTTP status, ``request_id`` the ``x-amzn-RequestId`` to quote
    to AWS support.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status_code: int = 0,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message: str = self.args[0]  # as masked
        self.code = code
        self.status_code = status_code
        self.request_id = request_id

    def __str__(self) -> str:
        text = f"{self.code or 'ServiceError'} (HTTP {self.status_code}): {self.message}"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text


class ValidationError(ServiceError):
    """The service refused the request's parameters (HTTP 400); retrying will not help."""


class ModelError(ServiceError):
    """The model container answered with an error (HTTP 424).

    ``original_status_code`` and ``original_message`` are what the container said;
    ``log_stream_arn`` points at its CloudWatch logs.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "ModelError",
        status_code: int = 424,
        request_id: str | None = None,
        original_status_code: int | None = None,
        original_message: str | None = None,
        log_stream_arn: str | None = None,
    ) -> None:
        super().__init__(message, code=code, status_code=status_code, request_id=request_id)
        self.original_status_code = original_status_code
        self.original_message = (
            redact(original_message) if isinstance(original_message, str) else original_message
        )
        self.log_stream_arn = log_stream_arn


class ModelNotReadyException(ServiceError):
    """The model is still loading or being provisioned (HTTP 429)."""


class InternalFailure(ServiceError):
    """The service failed internally (HTTP 500)."""


class ServiceUnavailable(ServiceError):
    """The service is unavailable (HTTP 503)."""


class InternalDependencyException(ServiceError):
    """An internal dependency of the service failed (HTTP 530)."""


class ThrottlingException(ServiceError):
    """The request was throttled; it is retried with backoff before this is raised."""


# --- the stream failed after it started --------------------------------------------


class StreamError(SageMakerError):
    """The response stream failed after it started.

    Parts before the failure were already handed out; the generation cannot be
    resumed, so this is never retried.  ``code`` is the in-stream exception or
    error code when the service sent one.
    """

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.message: str = self.args[0]  # as masked
        self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


class ModelStreamError(StreamError):
    """The model failed while streaming; ``error_code`` is e.g. ``ModelInvocationTimeExceeded``."""

    def __init__(self, message: str, *, error_code: str | None = None) -> None:
        super().__init__(message, code="ModelStreamError")
        self.error_code = error_code

    def __str__(self) -> str:
        suffix = f" [{self.error_code}]" if self.error_code else ""
        return f"ModelStreamError{suffix}: {self.message}"


class InternalStreamFailure(StreamError):
    """The service failed while streaming."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="InternalStreamFailure")


class ProtocolError(StreamError):
    """The bytes on the wire are not a valid event stream.

    A checksum mismatch, inconsistent lengths, an unknown header type, a message
    over the size limit, or a connection closed in the middle of a message.
    """


# --- time and network -------------------------------------------------------------


class SageMakerTimeoutError(SageMakerError, TimeoutError):
    """A timeout expired; also a built-in ``TimeoutError``."""


class ConnectTimeoutError(SageMakerTimeoutError):
    """No connection could be made within ``connect_timeout``."""


class ReadTimeoutError(SageMakerTimeoutError):
    """Nothing arrived for ``read_timeout`` seconds (before the response or between parts)."""


class DeadlineExceededError(SageMakerTimeoutError):
    """The whole call took longer than its ``total_timeout``."""


class NetworkError(SageMakerError, ConnectionError):
    """The connection failed or was reset; also a built-in ``ConnectionError``."""


class CertificateError(NetworkError):
    """The server's TLS certificate was not accepted (never retried: it would fail again).

    The message names the problem (expired, self-signed, wrong host name...).  For a
    private CA, give its bundle with ``AWS_CA_BUNDLE`` or ``ca_bundle`` in the profile.
    """


class StreamInterruptedError(StreamError, NetworkError):
    """The connection was lost after the stream started, between two messages.

    Both a :class:`StreamError` (parts were handed out; never retried) and a
    :class:`NetworkError` (a built-in ``ConnectionError``).
    """


# --- decoding the model's output (codecs and token formats) -----------------------


class DecodeError(SageMakerError, ValueError):
    """The bytes of a response cannot be decoded as the asked-for format."""


class JSONLineError(DecodeError):
    """A line of a JSON-lines stream is not valid JSON.

    ``line`` is the offending text and ``line_number`` its 1-based position in
    the stream (blank lines count), so the bad record can be found and logged.
    """

    def __init__(self, message: str, *, line: str, line_number: int) -> None:
        super().__init__(message)
        self.line = line
        self.line_number = line_number


class LineTooLongError(DecodeError):
    """A line grew past the decoder's limit before its line break arrived.

    Raised instead of buffering without bound; ``limit`` is the limit in bytes.
    """

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class EventTooLargeError(DecodeError):
    """The ``data`` of one Server-Sent Event grew past the decoder's limit."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class ModelOutputError(DecodeError, StreamError):
    """The model server reported an error inside the stream (after HTTP 200).

    ``message`` is its text; ``error_type`` and ``code`` are what the server gave
    (TGI's ``error_type``, an OpenAI error's ``type`` and ``code``), ``payload``
    the whole decoded record.  Also a :class:`StreamError`: the stream failed
    after it started, so ``except StreamError`` catches it too.
    """

    code: Any  # the server's own value: a string, a number (an HTTP status), or None

    def __init__(
        self,
        message: str,
        *,
        error_type: str | None = None,
        code: Any = None,
        payload: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = self.args[0]  # as masked
        self.error_type = error_type
        self.code = code
        self.payload = payload

    def __str__(self) -> str:
        kind = f" [{self.error_type}]" if self.error_type else ""
        return f"the model server reported an error{kind}: {self.message}"


class FormatError(DecodeError):
    """The stream is not in the expected (or any recognised) token format."""
