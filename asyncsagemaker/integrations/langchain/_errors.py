"""Our errors as LangChain's model errors, and still ours.

langchain-core 1.6 sorts provider failures into ``langchain_core.exceptions.ModelError``
subclasses (``ModelRateLimitError``, ``ContextOverflowError``, ``ModelAPIError``...),
and its convention is that an integration raises classes that inherit from both the
provider SDK's exception and LangChain's (langchain-openai's ``OpenAIRateLimitError``
is an ``openai.RateLimitError`` and a ``ModelRateLimitError``).  ChatSageMaker does
the same: a throttled call raises a class that is our ``ThrottlingException`` *and*
LangChain's ``ModelRateLimitError``, with every field of ours (``code``,
``status_code``, ``request_id``, ``error_code``...) and ours as ``__cause__``.  So
``except ThrottlingException``, ``except ModelRateLimitError`` and LangChain's retry
helpers (``is_retryable``) all work.
"""

from __future__ import annotations

from langchain_core import exceptions as lc

from ...errors import SageMakerError
from .._kinds import Kind, kind_of

__all__ = ["as_langchain"]

_CLASSES: dict[Kind, type[lc.ModelError]] = {
    Kind.RATE_LIMIT: lc.ModelRateLimitError,
    Kind.INVALID: lc.ModelInvalidRequestError,
    Kind.CONTEXT_OVERFLOW: lc.ContextOverflowError,
    Kind.AUTHENTICATION: lc.ModelAuthenticationError,
    Kind.PERMISSION: lc.ModelPermissionDeniedError,
    Kind.NOT_FOUND: lc.ModelNotFoundError,
    Kind.TIMEOUT: lc.ModelTimeoutError,
    Kind.CONNECTION: lc.ModelConnectionError,
    Kind.SERVER: lc.ModelAPIError,
    Kind.MODEL: lc.ModelAPIError,
    Kind.STREAM: lc.ModelAPIError,
}


def as_langchain(exc: SageMakerError) -> SageMakerError:
    """``exc`` as an instance of a class that is its own and LangChain's (a copy, whose
    ``__cause__`` the caller sets); ``exc`` itself when LangChain has no kind for it."""
    kind = kind_of(exc)
    if kind is None:
        return exc
    both = _both(type(exc), _CLASSES[kind])
    copy = both.__new__(both)
    copy.__dict__.update(exc.__dict__)
    copy.args = exc.args
    return copy


_MADE: dict[tuple[type[SageMakerError], type[lc.ModelError]], type[SageMakerError]] = {}


def _both(ours: type[SageMakerError], theirs: type[lc.ModelError]) -> type[SageMakerError]:
    """The class that is both (made once): named as ours, in this module."""
    made = _MADE.get((ours, theirs))
    if made is None:
        namespace = {"__module__": __name__, "__doc__": ours.__doc__}
        made = _MADE.setdefault((ours, theirs), type(ours.__name__, (ours, theirs), namespace))
    return made
