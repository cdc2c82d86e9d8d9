"""Our errors as the two Strands acts on: throttling and an overflowing context.

A ``ModelThrottledException`` is retried by the agent with backoff (its
``ModelRetryStrategy``); a ``ContextWindowOverflowException`` makes its conversation
manager shorten the history and try again.  Both are raised as Strands' own
``OpenAIModel`` raises them, ``raise ModelThrottledException(str(e)) from e``, with our
error (its code, status and request id) as ``__cause__``.  Every other error of ours
leaves as it is, and the agent reports it as an ``EventLoopException`` whose
``original_exception`` (and ``__cause__``) it is.
"""

from __future__ import annotations

from strands.types.exceptions import ContextWindowOverflowException, ModelThrottledException

from ...errors import SageMakerError
from .._kinds import Kind, kind_of

__all__ = ["as_strands"]


def as_strands(exc: SageMakerError) -> Exception:
    """The exception to raise for ``exc`` (``exc`` itself unless Strands acts on its kind)."""
    kind = kind_of(exc)
    if kind is Kind.RATE_LIMIT:
        return ModelThrottledException(str(exc))
    if kind is Kind.CONTEXT_OVERFLOW:
        return ContextWindowOverflowException(str(exc))
    return exc
