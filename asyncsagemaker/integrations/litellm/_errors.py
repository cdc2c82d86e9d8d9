"""Our errors as LiteLLM's exception classes, chosen by what happened (never a blanket 503).

LiteLLM's router, proxy and fallbacks act on its classes and their HTTP status: a
``RateLimitError`` (429) cools the deployment down and retries, a ``BadRequestError``
(400) is the caller's to fix, 5xx errors are retried or fall back.  So each of our
errors becomes the class of its kind (``_kinds``):

* throttled, or the model still loading: ``RateLimitError`` (429);
* refused by SageMaker or by the container (400, 422): ``BadRequestError``; input
  too long for the context: ``ContextWindowExceededError``;
* credentials: ``AuthenticationError`` (401), ``PermissionDeniedError`` (403);
  ``NotFoundError`` (404);
* timeouts: ``Timeout`` (408); the network: ``APIConnectionError``;
* SageMaker's own failures: ``ServiceUnavailableError`` for its 503,
  ``InternalServerError`` (500) for the rest;
* the **container** failed (``ModelError``, with a 5xx of its own): ``APIError`` with
  SageMaker's status for it, 424 (LiteLLM has no class of that name; a container that
  refused the request, 4xx of its own, is a ``BadRequestError`` above);
* the model failed mid-stream (``ModelStreamError``, inside a 200 answer), or its
  answer cannot be read: ``BadGatewayError`` (502).  SageMaker is a gateway here and
  its upstream, the model server, failed after answering; LiteLLM wraps a 5xx raised
  mid-stream in its ``MidStreamFallbackError``, which is what its router's mid-stream
  fallbacks act on.

Each carries our message (the service's code, status and request id in it), our code
as ``code`` (``ModelStreamError``'s ``ErrorCode`` first), and our error as
``__cause__``.  Raised mid-stream, LiteLLM itself wraps the 429 and 5xx ones in its
``MidStreamFallbackError`` (``original_exception`` is ours-as-LiteLLM's).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import httpx
import openai
from litellm import exceptions as lite

from ...errors import ModelError, SageMakerError, ServiceError
from .._kinds import Kind, error_code, kind_of

__all__ = ["PROVIDER", "as_litellm"]

PROVIDER = "asyncsagemaker"


def as_litellm(exc: SageMakerError, model: str) -> Exception:
    """The LiteLLM exception for ``exc`` (``exc`` itself for misuse of the API)."""
    kind = kind_of(exc)
    if kind is None:
        return exc
    made: Callable[..., openai.APIError]
    if kind is Kind.SERVER and isinstance(exc, ServiceError) and exc.status_code == 503:
        made = lite.ServiceUnavailableError
    elif kind is Kind.MODEL and isinstance(exc, ModelError):
        made = _status(exc.status_code)
    else:
        made = _CLASSES[kind]
    raised = made(message=str(exc), llm_provider=PROVIDER, model=model)
    raised.code = error_code(exc)  # openai's APIError has one
    return raised


def _status(status: int) -> Callable[..., openai.APIError]:
    """``APIError`` with ``status`` (for statuses LiteLLM has no class of)."""
    return functools.partial(lite.APIError, status)


def _permission_denied(**fields: Any) -> openai.APIError:
    """LiteLLM's 403 requires a response to be made."""
    return lite.PermissionDeniedError(**fields, response=_response(403))


_CLASSES: dict[Kind, Callable[..., openai.APIError]] = {
    Kind.RATE_LIMIT: lite.RateLimitError,
    Kind.INVALID: lite.BadRequestError,
    Kind.CONTEXT_OVERFLOW: lite.ContextWindowExceededError,
    Kind.AUTHENTICATION: lite.AuthenticationError,
    Kind.PERMISSION: _permission_denied,
    Kind.NOT_FOUND: lite.NotFoundError,
    Kind.TIMEOUT: lite.Timeout,
    Kind.CONNECTION: lite.APIConnectionError,
    Kind.SERVER: lite.InternalServerError,
    # the container behind the gateway failed mid-answer, or its answer is unreadable
    Kind.MODEL: lite.BadGatewayError,
    Kind.STREAM: lite.BadGatewayError,
}


def _response(status: int) -> httpx.Response:
    """The response a class needs to be made (LiteLLM's 403 requires one)."""
    return httpx.Response(status, request=httpx.Request("POST", "https://sagemaker.invalid/"))
