"""The bidirectional operation as the "SageMaker Runtime HTTP2" service model defines it.

botocore does not carry this service, so what the client and the emulator need of
its model is written down here once: the request path, the header-bound members
with their constraints, and the errors it answers before the stream starts.
Stdlib and the error tree only.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ..errors import (
    InternalFailure,
    ModelError,
    ParamValidationError,
    ServiceError,
    ServiceUnavailable,
    ThrottlingException,
    ValidationError,
)

__all__ = [
    "MEMBERS",
    "OPERATION",
    "BidiMember",
    "check_members",
    "parse_error",
    "request_path",
]

OPERATION: Final = "InvokeEndpointWithBidirectionalStream"
_NAME: Final = r"[a-zA-Z0-9](-*[a-zA-Z0-9])*"


@dataclass(frozen=True)
class BidiMember:
    """A header-bound request member: its keyword, wire header, model name and limits."""

    attribute: str
    header: str
    model_name: str  # the service model's member name
    max_length: int
    pattern: str  # matched against the whole value


MEMBERS: Final = (
    BidiMember("target_variant", "X-Amzn-SageMaker-Target-Variant", "TargetVariant", 63, _NAME),
    BidiMember("model_invocation_path", "X-Amzn-SageMaker-Model-Invocation-Path",
               "ModelInvocationPath", 100, r"[A-Za-z0-9\-._]+(?:/[A-Za-z0-9\-._]+)*"),
    BidiMember("model_query_string", "X-Amzn-SageMaker-Model-Query-String", "ModelQueryString",
               2048, r"[a-zA-Z0-9][A-Za-z0-9_-]*=(?:[A-Za-z0-9._~\-]|%[0-9A-Fa-f]{2})+"
                     r"(?:&[a-zA-Z0-9][A-Za-z0-9_-]*=(?:[A-Za-z0-9._~\-]|%[0-9A-Fa-f]{2})+)*"),
)  # fmt: skip
ENDPOINT_NAME: Final = BidiMember("endpoint_name", "", "EndpointName", 63, _NAME)
_COMPILED: Final = {m.attribute: re.compile(m.pattern) for m in (*MEMBERS, ENDPOINT_NAME)}


def violation(member: BidiMember, value: str) -> str | None:
    """What is wrong with ``value`` for ``member``, or None."""
    if len(value) > member.max_length:
        return f"must be at most {member.max_length} characters, not {len(value)}"
    if not _COMPILED[member.attribute].fullmatch(value):
        return f"must match the pattern {member.pattern}"
    return None


def check_members(endpoint_name: object, values: Mapping[str, object]) -> dict[str, str]:
    """The members' headers, each value checked; ParamValidationError names every fault."""
    problems = []
    if not isinstance(endpoint_name, str) or not endpoint_name:
        problems.append(f"endpoint_name must be a non-empty str, not {endpoint_name!r}")
    elif (fault := violation(ENDPOINT_NAME, endpoint_name)) is not None:
        problems.append(f"endpoint_name {endpoint_name!r} {fault}")
    headers: dict[str, str] = {}
    for member in MEMBERS:
        value = values.get(member.attribute)
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(f"{member.attribute} must be a str, not {type(value).__name__}")
        elif (fault := violation(member, value)) is not None:
            problems.append(f"{member.attribute} {value!r} {fault}")
        else:
            headers[member.header] = value
    if problems:
        raise ParamValidationError("; ".join(problems))
    return headers


def request_path(endpoint_name: str) -> str:
    """The request path (the endpoint name, already checked, needs no escaping but gets it)."""
    return (
        f"/endpoints/{urllib.parse.quote(endpoint_name, safe='')}/invocations-bidirectional-stream"
    )


_ERRORS: Final[Mapping[str, type[ServiceError]]] = {
    "InputValidationError": ValidationError,
    "ModelError": ModelError,
    "InternalServerError": InternalFailure,
    "ServiceUnavailableError": ServiceUnavailable,
    "ThrottlingException": ThrottlingException,
    "ThrottledException": ThrottlingException,
    "TooManyRequestsException": ThrottlingException,
}
_BY_STATUS: Final[Mapping[int, type[ServiceError]]] = {
    424: ModelError,
    429: ThrottlingException,
    500: InternalFailure,
    503: ServiceUnavailable,
}


def _error_type(headers: Mapping[str, str], document: Mapping[str, object]) -> str:
    """The error's name from ``x-amzn-errortype`` (cut at ':'; after a '#'), or the body."""
    raw = (
        headers.get("x-amzn-errortype")
        or document.get("XAmznErrorType")
        or document.get("__type")
        or document.get("code")
        or ""
    )
    text = str(raw).split(":", 1)[0]
    return text.rsplit("#", 1)[-1]


def parse_error(status: int, headers: Mapping[str, str], body: bytes) -> ServiceError:
    """The typed error of a refusal before the stream (``headers`` with lower-case names)."""
    try:
        loaded = json.loads(body) if body else {}
    except ValueError:
        loaded = {}
    document: Mapping[str, object] = loaded if isinstance(loaded, dict) else {}
    code = _error_type(headers, document)
    text = document.get("Message") or document.get("message") or body.decode("utf-8", "replace")
    message = str(text) or f"HTTP {status}"
    request_id = headers.get("x-amzn-requestid")
    kind = _ERRORS.get(code) or _BY_STATUS.get(status) or ServiceError
    if kind is ModelError:
        original = document.get("OriginalStatusCode")
        return ModelError(
            message,
            code=code or "ModelError",
            status_code=status,
            request_id=request_id,
            original_status_code=original if isinstance(original, int) else None,
            original_message=_text(document.get("OriginalMessage")),
            log_stream_arn=_text(document.get("LogStreamArn")),
        )
    return kind(message, code=code, status_code=status, request_id=request_id)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
