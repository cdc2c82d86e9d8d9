"""Our errors as Strands' exceptions, and still ours.

Strands acts on two kinds of model failure: a ``ModelThrottledException`` is retried by
the agent with backoff (its ``ModelRetryStrategy``); a ``ContextWindowOverflowException``
makes its conversation manager shorten the history and try again.  Any other failure
its event loop reports as an ``EventLoopException`` (whose ``original_exception`` is what
failed), and lets an ``EventLoopException`` raised inside it bubble up as it is.

So each error of ours leaves ``stream`` as a class that is both ours and the Strands
class of its kind (as LangChain's integration does with LangChain's classes): a
throttled call is our ``ThrottlingException`` *and* ``ModelThrottledException``; a
model failing mid-stream is our ``ModelStreamError`` (its ``error_code`` included) *and*
``EventLoopException``, with ``original_exception`` our error as raised.  ``except``
either family works; ours is ``__cause__`` too.  Misuse of the API (``kind_of`` is
``None``) leaves as it is.
"""

from __future__ import annotations

from strands.types.exceptions import (
    ContextWindowOverflowException,
    EventLoopException,
    ModelThrottledException,
)

from ...errors import SageMakerError
from .._kinds import Kind, kind_of

__all__ = ["as_strands"]


def as_strands(exc: SageMakerError) -> SageMakerError:
    """``exc`` as an instance of a class that is its own and Strands' (a copy, whose
    ``__cause__`` the caller sets); ``exc`` itself when it is misuse of the API."""
    kind = kind_of(exc)
    if kind is None:
        return exc
    theirs: type[Exception]
    if kind is Kind.RATE_LIMIT:
        theirs = ModelThrottledException
    elif kind is Kind.CONTEXT_OVERFLOW:
        theirs = ContextWindowOverflowException
    else:
        theirs = EventLoopException
    both = _both(type(exc), theirs)
    copy = both.__new__(both)
    copy.__dict__.update(exc.__dict__)
    copy.args = exc.args
    # what each Strands class's own __init__ would have set
    if theirs is ModelThrottledException:
        copy.__dict__.setdefault("message", str(exc))  # ours keep their own
    elif theirs is EventLoopException:
        copy.__dict__.update(original_exception=exc, request_state={})
    return copy


_MADE: dict[tuple[type[SageMakerError], type[Exception]], type[SageMakerError]] = {}


def _both(ours: type[SageMakerError], theirs: type[Exception]) -> type[SageMakerError]:
    """The class that is both (made once): named as ours, in this module."""
    made = _MADE.get((ours, theirs))
    if made is None:
        namespace = {"__module__": __name__, "__doc__": ours.__doc__}
        made = _MADE.setdefault((ours, theirs), type(ours.__name__, (ours, theirs), namespace))
    return made
