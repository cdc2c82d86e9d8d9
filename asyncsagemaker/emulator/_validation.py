"""The service's input constraints, checked on what was received.

botocore checks only required members and minimum lengths (docs/protocol.md §2.3), so the
maximum lengths, patterns and the body size are the server's job.  Messages use
the Coral wording: ``1 validation error detected: Value 'x' at 'member' failed to
satisfy constraint: ...``, with the value hidden for sensitive members.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ._replies import ServiceReply
from ._types import ASYNC, INVOKE, STREAM

__all__ = ["MAX_ASYNC_BODY", "MAX_BODY", "Member", "check_body_size", "read_members"]

MAX_BODY = 6 * 1024 * 1024
MAX_ASYNC_BODY = 128_000

_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$"
_PRINTABLE = r"\A\S[\x20-\x7e]*\Z"
_COMPONENT = r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?$"
_ASCII = r"\A[\x00-\x7f]*\Z"
_VISIBLE = r"\A[\x20-\x7e]*\Z"


@dataclass(frozen=True)
class Member:
    """One header-bound input member with its model constraints."""

    attribute: str  # Invocation field (or async-only name)
    header: str  # lower-case wire name
    wire_name: str  # the member name in validation messages
    max_length: int
    pattern: str | None = None
    min_length: int = 0
    sensitive: bool = False


def _common(accept_header: str, content_header: str) -> list[Member]:
    return [
        Member("content_type", content_header, "contentType", 1024, _ASCII),
        Member("accept", accept_header, "accept", 1024, _ASCII),
        Member("custom_attributes", "x-amzn-sagemaker-custom-attributes", "customAttributes",
               1024, _VISIBLE, sensitive=True),
        Member("inference_id", "x-amzn-sagemaker-inference-id", "inferenceId", 64, _PRINTABLE, 1),
    ]  # fmt: skip


_ROUTED = [
    Member("target_variant", "x-amzn-sagemaker-target-variant", "targetVariant", 63, _NAME),
    Member("target_container_hostname", "x-amzn-sagemaker-target-container-hostname",
           "targetContainerHostname", 63, _NAME),
    Member("inference_component_name", "x-amzn-sagemaker-inference-component",
           "inferenceComponentName", 63, _COMPONENT),
    Member("prefix_aware_id", "x-amzn-sagemaker-prefix-aware-id", "prefixAwareId", 64,
           _PRINTABLE, 1),
]  # fmt: skip

MEMBERS: dict[str, list[Member]] = {
    INVOKE: [
        *_common("accept", "content-type"),
        *_ROUTED,
        Member("target_model", "x-amzn-sagemaker-target-model", "targetModel", 1024, _PRINTABLE, 1),
        Member("enable_explanations", "x-amzn-sagemaker-enable-explanations",
               "enableExplanations", 64, None, 1),
        Member("session_id", "x-amzn-sagemaker-session-id", "sessionId", 256,
               r"^(NEW_SESSION)$|^[a-zA-Z0-9](-*[a-zA-Z0-9])*$"),
    ],
    STREAM: [
        *_common("x-amzn-sagemaker-accept", "content-type"),
        *_ROUTED,
        Member("session_id", "x-amzn-sagemaker-session-id", "sessionId", 256, _NAME),
    ],
    ASYNC: [
        *_common("x-amzn-sagemaker-accept", "x-amzn-sagemaker-content-type"),
        Member("input_location", "x-amzn-sagemaker-inputlocation", "inputLocation", 1024,
               r"^(https|s3)://([^/]+)/?(.*)$", 1),
        Member("output_path_extension", "x-amzn-sagemaker-s3outputpathextension",
               "s3OutputPathExtension", 512, r"^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+$", 1),
        Member("filename", "x-amzn-sagemaker-filename", "filename", 32,
               r"^(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9-_\.]*$", 1),
        Member("request_ttl_seconds", "x-amzn-sagemaker-requestttlseconds", "requestTTLSeconds",
               5, r"^[0-9]+$", 1),
        Member("invocation_timeout_seconds", "x-amzn-sagemaker-invocationtimeoutseconds",
               "invocationTimeoutSeconds", 4, r"^[0-9]+$", 1),
    ],
}  # fmt: skip

_RANGES = {"request_ttl_seconds": (60, 21600), "invocation_timeout_seconds": (1, 3600)}
_COMPILED: dict[str, re.Pattern[str]] = {}


def _pattern(text: str) -> re.Pattern[str]:
    compiled = _COMPILED.get(text)
    if compiled is None:
        compiled = _COMPILED[text] = re.compile(text)
    return compiled


def _describe(member: Member, value: str, constraint: str) -> str:
    if member.sensitive:
        return f"Value at '{member.wire_name}' failed to satisfy constraint: {constraint}"
    return f"Value '{value}' at '{member.wire_name}' failed to satisfy constraint: {constraint}"


def _violations(member: Member, value: str) -> list[str]:
    found = []
    if len(value) > member.max_length:
        constraint = f"Member must have length less than or equal to {member.max_length}"
        found.append(_describe(member, value, constraint))
    if len(value) < member.min_length:
        constraint = f"Member must have length greater than or equal to {member.min_length}"
        found.append(_describe(member, value, constraint))
    if member.pattern and not _pattern(member.pattern).search(value):
        constraint = f"Member must satisfy regular expression pattern: {member.pattern}"
        found.append(_describe(member, value, constraint))
    bounds = _RANGES.get(member.attribute)
    if bounds and value.isdigit() and not bounds[0] <= int(value) <= bounds[1]:
        low, high = bounds
        found.append(_describe(member, value, f"Member must have value between {low} and {high}"))
    return found


def endpoint_name_violations(name: str) -> list[str]:
    """Constraint failures of an endpoint (or variant) name."""
    member = Member("endpoint_name", "", "endpointName", 63, _NAME)
    return _violations(member, name)


def raise_if_any(problems: list[str]) -> None:
    """A ValidationError listing every problem, as Coral reports them."""
    if problems:
        noun = "error" if len(problems) == 1 else "errors"
        raise ServiceReply.validation(
            f"{len(problems)} validation {noun} detected: " + "; ".join(problems)
        )


def read_members(
    operation: str, endpoint_name: str, headers: Mapping[str, str]
) -> dict[str, str | None]:
    """The operation's members from ``headers`` (lower-case names), checked; others ignored."""
    problems = endpoint_name_violations(endpoint_name)
    values: dict[str, str | None] = {}
    for member in MEMBERS[operation]:
        value = headers.get(member.header)
        values[member.attribute] = value
        if value is not None:
            problems.extend(_violations(member, value))
    raise_if_any(problems)
    return values


def check_body_size(operation: str, size: int) -> None:
    """The body size limit: 6 MiB, or 128,000 bytes for an inline async body."""
    limit = MAX_ASYNC_BODY if operation == ASYNC else MAX_BODY
    if size > limit:
        raise_if_any(
            [
                "Value at 'body' failed to satisfy constraint: "
                f"Member must have length less than or equal to {limit}"
            ]
        )
