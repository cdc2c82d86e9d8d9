"""The keywords of a chat call, sorted: members of the operation go to the call, the rest
are model parameters for the body."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .errors import ParamValidationError

__all__ = ["refuse_built", "sampling", "split_chat_arguments"]


def sampling(
    max_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
    stop: str | Sequence[str] | None,
) -> dict[str, Any]:
    """The sampling keywords every chat method names, for ``formats.chat_body``."""
    return {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "stop": stop}


def refuse_built(kwargs: dict[str, Any]) -> None:
    """Refuse the keywords a chat call sets itself: ``body`` and ``stream``."""
    if "body" in kwargs:
        raise ParamValidationError(
            "a chat call builds the body from messages; use invoke_endpoint for a body of your own"
        )
    if "stream" in kwargs:
        raise ParamValidationError(
            "stream is the method's to choose: chat_stream() streams, chat() does not"
        )


def split_chat_arguments(
    kwargs: dict[str, Any], call_members: Iterable[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(call keywords, model parameters)``: the operation's members (``session_id``,
    ``inference_component_name``...) are the call's, everything else the body's.

    ``body`` is the one member a chat call builds itself, so it is refused here, and
    so is ``stream``, which the method chooses (``chat_stream`` streams, ``chat`` not).
    """
    members = set(call_members)
    refuse_built(kwargs)
    call = {key: value for key, value in kwargs.items() if key in members}
    model = {key: value for key, value in kwargs.items() if key not in members}
    return call, model
