"""The extra keywords of a chat call, sorted: members of the operation (to the call) and
the rest (model parameters for the body); the ones every chat method names are
gathered by ``formats``' ``chat_options``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import ParamValidationError

__all__ = ["refuse_built", "split_chat_arguments"]


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
    if not kwargs:
        return {}, {}
    members = set(call_members)
    refuse_built(kwargs)
    call = {key: value for key, value in kwargs.items() if key in members}
    model = {key: value for key, value in kwargs.items() if key not in members}
    return call, model
