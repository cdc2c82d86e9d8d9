"""Batch input: one request per JSON line, read as the batch command and Ray both read it.

A line is one of three forms (see docs/batch.md):

* a request object with ``"body"``: ``{"body": ..., "custom_attributes": "...", ...}``;
  its other keys are members of the call, in snake_case;
* a chat object with ``"messages"``: the OpenAI-style Messages body is built from it
  (``max_tokens``, ``temperature``, ``top_p``, ``stop`` and any other key that is not
  a member of the call go into the body, as ``client.chat_stream`` does);
* any other JSON value: the body itself, sent as written (``application/json``).

``"id"`` in a request or chat object is the caller's own, copied to the output row and
never sent.  A line that cannot be sent is a :class:`~asyncsagemaker.errors.ParamValidationError`
naming what is wrong, before anything is sent.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ..errors import ParamValidationError, SageMakerError
from ..formats import chat_body

__all__ = ["STREAM_MEMBERS", "WHOLE_MEMBERS", "BatchRequest", "parse_line", "parse_request"]

#: The members of ``InvokeEndpointWithResponseStream`` a line may set (snake_case).
STREAM_MEMBERS = frozenset(
    {
        "content_type",
        "accept",
        "custom_attributes",
        "target_variant",
        "target_container_hostname",
        "inference_id",
        "inference_component_name",
        "session_id",
        "prefix_aware_id",
    }
)
#: The members of ``InvokeEndpoint`` a line may set: the streaming call's and two more.
WHOLE_MEMBERS = STREAM_MEMBERS | {"target_model", "enable_explanations"}
_JSON = "application/json"


@dataclasses.dataclass(frozen=True, slots=True)
class BatchRequest:
    """One request, ready for the client: the body, the call's members, the kind."""

    body: Any
    call: dict[str, str]
    chat: bool = False  # an OpenAI-style Messages body: answers are read as "openai"
    id: Any = None


def parse_line(text: str | bytes, *, stream: bool) -> BatchRequest | None:
    """The request of one input line; None for a blank line; ParamValidationError if bad."""
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ParamValidationError(f"not a JSON value: {exc}") from None
    except RecursionError:
        raise ParamValidationError("not a JSON value: nested too deeply") from None
    if isinstance(value, dict) and ("body" in value or "messages" in value):
        return parse_request(value, stream=stream)
    # A bare body goes out as the bytes of the line (no second encoding).
    raw = text.strip().encode() if isinstance(text, str) else text.strip()
    return BatchRequest(raw, {"content_type": _JSON})


def parse_request(value: dict[str, Any], *, stream: bool) -> BatchRequest:
    """A request or chat object (a parsed line, or a row of a dataset) as a request."""
    fields = {key: item for key, item in value.items() if item is not None}
    ident = fields.pop("id", None)
    members = STREAM_MEMBERS if stream else WHOLE_MEMBERS
    if "messages" in fields:
        if "body" in fields:
            raise ParamValidationError('a line has "body" or "messages", not both')
        messages = fields.pop("messages")
        call = {key: fields.pop(key) for key in list(fields) if key in members}
        _check_members(call)
        try:
            body = chat_body(messages, stream=stream, **fields)
        except TypeError as exc:  # a key chat_body takes, given twice (stream, include_usage)
            raise ParamValidationError(str(exc)) from None
        except SageMakerError as exc:
            raise ParamValidationError(str(exc)) from None
        return BatchRequest(body, call, chat=True, id=ident)
    if "body" not in fields:
        raise ParamValidationError('a request object needs "body" (or "messages")')
    body = fields.pop("body")
    unknown = sorted(set(fields) - members)
    if unknown:
        where = " with --stream" if stream and set(unknown) <= WHOLE_MEMBERS else ""
        raise ParamValidationError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
            f"{where}; a request object takes body, id and {', '.join(sorted(members))}"
        )
    _check_members(fields)
    return BatchRequest(body, fields, id=ident)


def _check_members(call: dict[str, Any]) -> None:
    for key, item in call.items():
        if not isinstance(item, str):
            raise ParamValidationError(f"{key} must be a string, not {type(item).__name__}")
