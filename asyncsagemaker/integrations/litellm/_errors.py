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
* the **container** failed (``ModelError``, 424, with a 5xx of its own), or the model
  failed mid-stream (``ModelStreamError``): ``BadGatewayError`` (502).  SageMaker is a
  gateway here and its upstream, the model server, failed: that is what 502 means, and
  what LiteLLM's retries and fallbacks should see (a 424 has no class, and a 4xx
  would mark a model crash as the caller's mistake).

Each carries our message (the service's code, status and request id in it), our code
as ``code`` (``ModelStreamError``'s ``ErrorCode`` first), and our error as
``__cause__``.  Raised mid-stream, LiteLLM itself wraps the 429 and 5xx ones in its
``MidStreamFallbackError`` (``original_exception`` is ours-as-LiteLLM's).
"""

from __future__ import annotations

import httpx
from litellm import exceptions as lite

from ...errors import SageMakerError, ServiceError
from .._kinds import Kind, error_code, kind_of

__all__ = ["PROVIDER", "as_litellm"]

PROVIDER = "asyncsagemaker"


def as_litellm(exc: SageMakerError, model: str) -> Exception:
    """The LiteLLM exception for ``exc`` (``exc`` itself for misuse of the API)."""
    kind = kind_of(exc)
    if kind is None:
        return exc
    message, provider = str(exc), PROVIDER
    raised: Exception
    if kind is Kind.RATE_LIMIT:
        raised = lite.RateLimitError(message=message, llm_provider=provider, model=model)
    elif kind is Kind.INVALID:
        raised = lite.BadRequestError(message=message, model=model, llm_provider=provider)
    elif kind is Kind.CONTEXT_OVERFLOW:
        raised = lite.ContextWindowExceededError(
            message=message, model=model, llm_provider=provider
        )
    elif kind is Kind.AUTHENTICATION:
        raised = lite.AuthenticationError(message=message, llm_provider=provider, model=model)
    elif kind is Kind.PERMISSION:
        raised = lite.PermissionDeniedError(
            message=message, llm_provider=provider, model=model, response=_response(403)
        )
    elif kind is Kind.NOT_FOUND:
        raised = lite.NotFoundError(message=message, model=model, llm_provider=provider)
    elif kind is Kind.TIMEOUT:
        raised = lite.Timeout(message=message, model=model, llm_provider=provider)
    elif kind is Kind.CONNECTION:
        raised = lite.APIConnectionError(message=message, llm_provider=provider, model=model)
    elif kind is Kind.SERVER and isinstance(exc, ServiceError) and exc.status_code == 503:
        raised = lite.ServiceUnavailableError(message=message, llm_provider=provider, model=model)
    elif kind is Kind.SERVER:
        raised = lite.InternalServerError(message=message, llm_provider=provider, model=model)
    else:  # Kind.MODEL, Kind.STREAM: the container behind the gateway failed
        raised = lite.BadGatewayError(message=message, llm_provider=provider, model=model)
    raised.code = error_code(exc)  # openai's APIError has one
    return raised


def _response(status: int) -> httpx.Response:
    """The response a class needs to be made (LiteLLM's 403 requires one)."""
    return httpx.Response(status, request=httpx.Request("POST", "https://sagemaker.invalid/"))
