"""SageMaker's OpenAI-compatible route: its paths, keywords, answers and errors.

``POST /endpoints/{endpoint}[/inference-components/{ic}]/openai/v1/chat/completions``
(docs/protocol.md §8) takes the Chat Completions body and returns the container's
answer as it is: a ``chat.completion``, or Server-Sent Events of
``chat.completion.chunk`` objects, not event-stream frames.  It is authenticated with
a bearer token (``_auth.bearer``) instead of SigV4, and has no place for the
``X-Amzn-SageMaker-*`` members of ``InvokeEndpoint``: the inference component is a
path segment, the rest is refused before sending.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from . import errors
from ._chat import refuse_built
from .errors import ParamValidationError, ServiceError

__all__ = [
    "OPERATION",
    "ROUTES",
    "ROUTE_ANSWER",
    "base_path",
    "chat_path",
    "check_route",
    "parse_route_error",
    "route_arguments",
]

#: The routes a chat call can take: SageMaker's own API, or the OpenAI-compatible one.
ROUTES = ("invoke", "openai")
#: The name telemetry and logs give a call of this route (no service model names it).
OPERATION = "ChatCompletions"
#: The service model's patterns for the two names in the path (protocol.md §2.2).
_ENDPOINT = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")
_COMPONENT = re.compile(r"[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?")
_MAX_NAME = 63
_ERROR_CLASSES: dict[str, type[ServiceError]] = {
    name: cls
    for name, cls in vars(errors).items()
    if isinstance(cls, type) and issubclass(cls, ServiceError) and cls is not ServiceError
}
#: OpenAI-style error codes the front door was seen to send (docs/protocol.md §8.4).
_OPENAI_CODES: dict[str, type[ServiceError]] = {
    "validation_error": errors.ValidationError,
    "model_error": errors.ModelError,
}
_STATUS_CLASSES: dict[int, type[ServiceError]] = {
    424: errors.ModelError,
    429: errors.ThrottlingException,
    500: errors.InternalFailure,
    503: errors.ServiceUnavailable,
    530: errors.InternalDependencyException,
}


def check_route(route: object) -> str:
    """``route`` if it is one of :data:`ROUTES`, else ParamValidationError."""
    if isinstance(route, str) and route in ROUTES:
        return route
    raise ParamValidationError(
        f"unknown route {route!r}: use 'invoke' (InvokeEndpoint, SigV4) or 'openai' "
        "(the OpenAI-compatible Chat Completions route, a bearer token)"
    )


def _checked(name: object, what: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(name, str) or not name:
        raise ParamValidationError(f"{what} must be a non-empty str, not {name!r}")
    if len(name) > _MAX_NAME or not pattern.fullmatch(name):
        raise ParamValidationError(
            f"{what} {name!r} is not a name SageMaker accepts: up to {_MAX_NAME} letters, "
            f"digits and '-' ({pattern.pattern})"
        )
    return name


def base_path(endpoint_name: str, inference_component: str | None = None) -> str:
    """``/endpoints/{endpoint}[/inference-components/{ic}]/openai/v1``: the OpenAI SDK's base."""
    endpoint = _checked(endpoint_name, "endpoint_name", _ENDPOINT)
    path = f"/endpoints/{quote(endpoint, safe='')}"
    if inference_component is not None:
        component = _checked(inference_component, "inference_component_name", _COMPONENT)
        path += f"/inference-components/{quote(component, safe='')}"
    return path + "/openai/v1"


def chat_path(endpoint_name: str, inference_component: str | None = None) -> str:
    """The path of a Chat Completions request on the route."""
    return base_path(endpoint_name, inference_component) + "/chat/completions"


def route_arguments(
    kwargs: Mapping[str, Any], invoke_members: Iterable[str]
) -> tuple[str | None, dict[str, Any]]:
    """``(inference component, model parameters)`` of a chat call on the route.

    ``inference_component_name`` becomes a path segment; the other members of
    ``InvokeEndpoint`` (``target_variant``, ``session_id``, ``custom_attributes``...)
    have no place on this route and are refused, by name.  Every other keyword is
    a model parameter in the body, as on the invoke route.
    """
    if not kwargs:
        return None, {}
    refuse_built(dict(kwargs))
    members = set(invoke_members) - {"body"}
    refused = sorted(
        key
        for key, value in kwargs.items()
        if key in members and key != "inference_component_name" and value is not None
    )
    if refused:
        raise ParamValidationError(
            f"route='openai' has no place for {', '.join(refused)}: only "
            "inference_component_name (a path segment) and model parameters are sent there"
        )
    component = kwargs.get("inference_component_name")
    model = {key: value for key, value in kwargs.items() if key not in members}
    return component, model


class _RouteAnswer:
    """What a stream of the route knows from its headers (``ResponseStream``'s metadata)."""

    __slots__ = ()

    @staticmethod
    def response_attributes(headers: Mapping[str, str]) -> dict[str, str | None]:
        return {
            "content_type": headers.get("Content-Type"),
            "invoked_production_variant": headers.get("x-Amzn-Invoked-Production-Variant"),
            "custom_attributes": None,
        }


ROUTE_ANSWER = _RouteAnswer()


def parse_route_error(status: int, headers: Mapping[str, str], body: bytes) -> ServiceError:
    """The typed error of a refusal on the route, from any of the shapes it may take.

    An OpenAI-style ``{"error": {"message", "type", "code"}}`` (the front door, and
    OpenAI-compatible servers), vLLM's ``{"object": "error", "message", ...}``, TGI's
    ``{"error": "...", "error_type": ...}`` or AWS's ``{"message": ...}`` with
    ``x-amzn-ErrorType``.  The class comes from the AWS code, else the OpenAI code,
    else the status; a refused token says why when the service did (§8.5).
    """
    message, code = _message_and_code(body)
    header = headers.get("x-amzn-ErrorType") or headers.get("x-amzn-errortype") or ""
    aws_code = header.split(":", 1)[0].rsplit("#", 1)[-1]
    code = aws_code or code or str(status)
    cls = (
        _ERROR_CLASSES.get(code)
        or _OPENAI_CODES.get(code)
        or _STATUS_CLASSES.get(status)
        or (errors.ValidationError if status == 400 else ServiceError)
    )
    if status in (401, 403):
        message = _token_hint(message, code)
    request_id = headers.get("x-amzn-RequestId") or headers.get("x-request-id")
    if cls is errors.ThrottlingException and code not in _ERROR_CLASSES:
        code = "TooManyRequestsException"  # a throttling code: retried as throttling
    return cls(message or f"HTTP {status}", code=code, status_code=status, request_id=request_id)


def _message_and_code(body: bytes) -> tuple[str, str]:
    try:
        document = json.loads(body) if body else None
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return (text[:500] if not text.startswith("<") else ""), ""
    if not isinstance(document, dict):
        return "", ""
    error = document.get("error")
    source: Mapping[str, Any] = error if isinstance(error, dict) else document
    message = source.get("message") or source.get("Message")
    if message is None and isinstance(error, str):
        message = error  # TGI: {"error": "...", "error_type": "..."}
    code = source.get("code")
    if not isinstance(code, str) or not code:
        code = source.get("type") or document.get("error_type") or document.get("__type") or ""
    return (message if isinstance(message, str) else ""), (code if isinstance(code, str) else "")


_HINTS = (
    (("expired",), "the bearer token expired: the next call makes a new one"),
    (
        ("region",),
        "the bearer token is for another region than the endpoint's: the client signs "
        "for its own region_name",
    ),
    (
        ("not authorized", "accessdenied", "access denied", "permission"),
        "the identity lacks a permission: the route needs both sagemaker:CallWithBearerToken "
        "(on '*') and sagemaker:InvokeEndpoint",
    ),
)


def _token_hint(message: str, code: str) -> str:
    """A refused token's message, with what it means when the service said which."""
    said = f"{code} {message}".lower()
    for words, hint in _HINTS:
        if any(word in said for word in words):
            return f"{message} ({hint})" if message else hint
    return message
