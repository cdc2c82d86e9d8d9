"""The service's input constraints, checked on what was received.

botocore checks only required members and minimum lengths (docs/protocol.md §2.3), so the
maximum lengths, patterns and the body size are the server's job.  The table is
written out here, not read from botocore, so that the emulator stays an
independent check of the client; ``tests/emulator/test_validation_table.py``
holds it to botocore's service model (names, headers, lengths, patterns).  Messages use
the Coral wording: ``1 validation error detected: Value 'x' at 'member' failed to
satisfy constraint: ...``, with the value hidden for sensitive members.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ._replies import ServiceReply
from ._types import ASYNC, CHAT_COMPLETIONS, INVOKE, STREAM

__all__ = [
    "ENDPOINT_NAME",
    "MAX_ASYNC_BODY",
    "MAX_BODY",
    "MEMBERS",
    "READ_LIMIT",
    "Member",
    "chat_stream_flag",
    "check_body_size",
    "read_members",
]

MAX_BODY = 6 * 1024 * 1024
MAX_ASYNC_BODY = 128_000
READ_LIMIT = 2 * MAX_BODY  # a body beyond this is refused without reading the rest

# The service model's patterns as written (Java dialect): messages quote them so.
_NAME = "^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
_NAME_ANCHORED = "^[a-zA-Z0-9](-*[a-zA-Z0-9])*$"
_ASCII = r"\p{ASCII}*"
_PRINTABLE = r"\A\S[\p{Print}]*\z"
_COMPONENT = r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?$"
# Java classes Python's re lacks, as ranges; \z is Python's \Z.
_JAVA_CLASSES = {"ASCII": r"\x00-\x7f", "Print": r"\x20-\x7e"}
_JAVA_CLASS = re.compile(r"\[\\p\{(\w+)\}\]|\\p\{(\w+)\}")
_VISIBLE = re.compile(r"[\x20-\x7e]*")


@dataclass(frozen=True)
class Member:
    """One header-bound input member with the constraints of the service model.

    ``attribute`` is botocore's snake_case name for ``name`` (``xform_name``), the
    :class:`Invocation` field where there is one.  ``min``/``max`` bound the
    length of a string, or the value of an ``integer`` member.  ``visible`` is
    the API reference's rule for custom attributes (visible US-ASCII), stricter
    than the model's pattern.
    """

    name: str  # the model's member name, e.g. "S3OutputPathExtension"
    attribute: str  # e.g. "s3_output_path_extension"
    header: str  # lower-case wire name
    max: int
    min: int = 0
    pattern: str | None = None
    sensitive: bool = False
    integer: bool = False
    visible: bool = False

    @property
    def wire_name(self) -> str:
        """The member as validation messages name it (``s3OutputPathExtension``)."""
        return self.name[:1].lower() + self.name[1:]


ENDPOINT_NAME = Member("EndpointName", "endpoint_name", "", 63, pattern=_NAME)


def _common(accept_header: str, content_header: str) -> list[Member]:
    return [
        Member("ContentType", "content_type", content_header, 1024, pattern=_ASCII),
        Member("Accept", "accept", accept_header, 1024, pattern=_ASCII),
        Member("CustomAttributes", "custom_attributes", "x-amzn-sagemaker-custom-attributes",
               1024, pattern=_ASCII, sensitive=True, visible=True),
        Member("InferenceId", "inference_id", "x-amzn-sagemaker-inference-id", 64, 1, _PRINTABLE),
    ]  # fmt: skip


def _routed(session_pattern: str) -> list[Member]:
    return [
        Member("TargetVariant", "target_variant", "x-amzn-sagemaker-target-variant", 63,
               pattern=_NAME),
        Member("TargetContainerHostname", "target_container_hostname",
               "x-amzn-sagemaker-target-container-hostname", 63, pattern=_NAME),
        Member("InferenceComponentName", "inference_component_name",
               "x-amzn-sagemaker-inference-component", 63, pattern=_COMPONENT),
        Member("SessionId", "session_id", "x-amzn-sagemaker-session-id", 256,
               pattern=session_pattern),
        Member("PrefixAwareId", "prefix_aware_id", "x-amzn-sagemaker-prefix-aware-id", 64, 1,
               _PRINTABLE),
    ]  # fmt: skip


MEMBERS: dict[str, list[Member]] = {
    INVOKE: [
        *_common("accept", "content-type"),
        *_routed(f"^(NEW_SESSION)$|{_NAME_ANCHORED}"),
        Member("TargetModel", "target_model", "x-amzn-sagemaker-target-model", 1024, 1,
               _PRINTABLE),
        Member("EnableExplanations", "enable_explanations",
               "x-amzn-sagemaker-enable-explanations", 64, 1, ".*"),
    ],
    STREAM: [
        *_common("x-amzn-sagemaker-accept", "content-type"),
        *_routed(_NAME_ANCHORED),
    ],
    CHAT_COMPLETIONS: [],  # no members: the component is a path segment (see read_members)
    ASYNC: [
        *_common("x-amzn-sagemaker-accept", "x-amzn-sagemaker-content-type"),
        Member("InputLocation", "input_location", "x-amzn-sagemaker-inputlocation", 1024, 1,
               "^(https|s3)://([^/]+)/?(.*)$"),
        Member("S3OutputPathExtension", "s3_output_path_extension",
               "x-amzn-sagemaker-s3outputpathextension", 512, 1,
               "^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+$"),
        Member("Filename", "filename", "x-amzn-sagemaker-filename", 32, 1,
               r"^(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9-_\.]*$"),
        Member("RequestTTLSeconds", "request_ttl_seconds", "x-amzn-sagemaker-requestttlseconds",
               21600, 60, integer=True),
        Member("InvocationTimeoutSeconds", "invocation_timeout_seconds",
               "x-amzn-sagemaker-invocationtimeoutseconds", 3600, 1, integer=True),
    ],
}  # fmt: skip


@functools.cache
def _compiled(java: str) -> re.Pattern[str]:
    """A model pattern in Python's dialect."""

    def python_class(match: re.Match[str]) -> str:
        return f"[{_JAVA_CLASSES[match[1] or match[2]]}]"

    return re.compile(_JAVA_CLASS.sub(python_class, java).replace(r"\z", r"\Z"))


def _describe(member: Member, value: str, constraint: str) -> str:
    if member.sensitive:
        return f"Value at '{member.wire_name}' failed to satisfy constraint: {constraint}"
    return f"Value '{value}' at '{member.wire_name}' failed to satisfy constraint: {constraint}"


def _integerviolations(member: Member, value: str) -> list[str]:
    if not value.isascii() or not value.isdigit():
        constraint = "Member must be an integer"
    elif int(value) < member.min:
        constraint = f"Member must have value greater than or equal to {member.min}"
    elif int(value) > member.max:
        constraint = f"Member must have value less than or equal to {member.max}"
    else:
        return []
    return [_describe(member, value, constraint)]


def violations(member: Member, value: str) -> list[str]:
    if member.integer:
        return _integerviolations(member, value)
    found = []
    if len(value) > member.max:
        constraint = f"Member must have length less than or equal to {member.max}"
        found.append(_describe(member, value, constraint))
    if len(value) < member.min:
        constraint = f"Member must have length greater than or equal to {member.min}"
        found.append(_describe(member, value, constraint))
    if member.pattern and not _compiled(member.pattern).fullmatch(value):
        constraint = f"Member must satisfy regular expression pattern: {member.pattern}"
        found.append(_describe(member, value, constraint))
    elif member.visible and not _VISIBLE.fullmatch(value):
        constraint = "Member must consist of visible US-ASCII characters"
        found.append(_describe(member, value, constraint))
    return found


def endpoint_name_violations(name: str) -> list[str]:
    """Constraint failures of an endpoint (or variant) name."""
    return violations(ENDPOINT_NAME, name)


def raise_if_any(problems: list[str]) -> None:
    """A ValidationError listing every problem, as Coral reports them."""
    if problems:
        noun = "error" if len(problems) == 1 else "errors"
        raise ServiceReply.validation(
            f"{len(problems)} validation {noun} detected: " + "; ".join(problems)
        )


_COMPONENT_MEMBER = next(m for m in MEMBERS[STREAM] if m.name == "InferenceComponentName")


def read_members(
    operation: str,
    endpoint_name: str,
    headers: Mapping[str, str],
    component: str | None = None,
) -> dict[str, str | None]:
    """The operation's members from ``headers`` (lower-case names), checked; others ignored.

    On the OpenAI-compatible route the inference component comes from the path
    (``component``); the header that names it on the other routes is refused there.
    """
    problems = endpoint_name_violations(endpoint_name)
    if operation == CHAT_COMPLETIONS:
        if _COMPONENT_MEMBER.header in headers:
            raise ServiceReply.validation(
                "The X-Amzn-SageMaker-Inference-Component header is not accepted on the "
                "OpenAI-compatible route: name the inference component in the path, "
                "/endpoints/{endpoint}/inference-components/{component}/openai/v1/..."
            )
        if component is not None:
            problems.extend(violations(_COMPONENT_MEMBER, component))
        raise_if_any(problems)
        return {"inference_component_name": component}
    values: dict[str, str | None] = {}
    for member in MEMBERS[operation]:
        value = headers.get(member.header)
        values[member.attribute] = value
        if value is not None:
            problems.extend(violations(member, value))
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


def chat_stream_flag(body: bytes) -> bool:
    """Whether a Chat Completions body asks to stream; 400 unless it is one (JSON with messages).

    What an OpenAI-compatible container answers to anything else; the emulator says
    it before the model runs.
    """
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("messages"), list):
        raise ServiceReply.validation(
            "The body of a Chat Completions request must be a JSON object with a 'messages' list."
        )
    return document.get("stream") is True
