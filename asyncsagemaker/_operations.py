"""Requests and responses as botocore's ``sagemaker-runtime`` service model says.

Parameter names, required members, header names, constraints, the URI template
and error codes all come from the model (read once per process), so a member
AWS adds shows up here with the botocore that knows it.  On top of botocore's
checks (which skip ``max`` and ``pattern``) this module refuses, before sending,
what the service would refuse anyway: bad endpoint names, header values with
CR/LF or non-visible ASCII, oversized custom attributes or bodies, unknown
keyword arguments (with a did-you-mean hint).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from botocore import xform_name
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser
from botocore.utils import percent_encode

from . import errors
from .errors import ParamValidationError, ServiceError

__all__ = [
    "Member",
    "Operation",
    "PreparedRequest",
    "load_operations",
]

_VISIBLE_ASCII = re.compile(r"[\x20-\x7e]*")
# Java regex classes the model's patterns use, in Python's dialect (bracketed first).
_JAVA_TO_PYTHON = (
    (r"[\p{ASCII}]", r"[\x00-\x7f]"),
    (r"\p{ASCII}", r"[\x00-\x7f]"),
    (r"[\p{Print}]", r"[\x20-\x7e]"),
    (r"\p{Print}", r"[\x20-\x7e]"),
    (r"\z", r"\Z"),
)
_LAYOUT_CACHE_SIZE = 512
_ERROR_CLASSES: dict[str, type[ServiceError]] = {
    name: cls
    for name, cls in vars(errors).items()
    if isinstance(cls, type) and issubclass(cls, ServiceError) and cls is not ServiceError
}


def _python_pattern(java: str) -> re.Pattern[str]:
    """Compile a model pattern; ``\\p{ASCII}`` etc. are Java classes Python lacks."""
    for java_text, python_text in _JAVA_TO_PYTHON:
        java = java.replace(java_text, python_text)
    return re.compile(java)


#: ``NEW_SESSION`` where the model refuses it: only ``InvokeEndpoint`` opens a session.
_NEW_SESSION_ELSEWHERE = (
    "session_id='NEW_SESSION' opens a stateful session, and only invoke_endpoint can open "
    "one (SageMaker takes NEW_SESSION on InvokeEndpoint only): open it with "
    "client.invoke_endpoint(..., session_id='NEW_SESSION') and pass the id it returns "
    "(new_session_id), or use client.session(...), which does both"
)


@dataclasses.dataclass(frozen=True)
class Member:
    """One input member: where it goes on the wire and what it may hold."""

    name: str  # the model's name, e.g. "ContentType"
    kwarg: str  # our keyword argument, e.g. "content_type"
    location: str  # "uri", "header" or "payload"
    wire_name: str  # the header name or URI label
    type_name: str  # "string", "blob", "integer"
    required: bool
    min: int | None
    max: int | None
    pattern: re.Pattern[str] | None

    def check(self, value: Any) -> None:
        """Raise ParamValidationError if the service would refuse ``value``."""
        if self.type_name == "integer":
            self._check_integer(value)
            return
        if self.type_name == "string" and not isinstance(value, str):
            raise ParamValidationError(f"{self._label} must be a str, not {type(value).__name__}")
        self._check_size(len(value))
        if self.location == "header" and not _VISIBLE_ASCII.fullmatch(value):
            bad = next(ch for ch in value if not " " <= ch <= "~")
            raise ParamValidationError(
                f"{self._label} may hold only visible ASCII characters and spaces; found {bad!r}"
            )
        if self.pattern is not None and not self.pattern.fullmatch(value):
            if self.name == "SessionId" and value == "NEW_SESSION":
                raise ParamValidationError(_NEW_SESSION_ELSEWHERE)
            raise ParamValidationError(
                f"{self._label} {value!r} does not match the service's pattern "
                f"{self.pattern.pattern}"
            )

    @property
    def _label(self) -> str:
        return f"{self.kwarg} ({self.name})"

    def _check_integer(self, value: Any) -> None:
        label = self._label
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamValidationError(f"{label} must be an int, not {type(value).__name__}")
        if self.min is not None and value < self.min:
            raise ParamValidationError(f"{label} must be >= {self.min}, got {value}")
        if self.max is not None and value > self.max:
            raise ParamValidationError(f"{label} must be <= {self.max}, got {value}")

    def _check_size(self, size: int) -> None:
        """A string's characters or a blob's bytes against the model's bounds."""
        unit = "bytes" if self.type_name == "blob" else "characters"
        if self.min is not None and size < self.min:
            raise ParamValidationError(f"{self._label} must be at least {self.min} {unit}")
        if self.max is not None and size > self.max:
            raise ParamValidationError(
                f"{self._label} is {size} {unit}; the service accepts at most {self.max}"
            )


class PreparedRequest(NamedTuple):
    """What goes on the wire: the path (already percent-encoded), headers, body.

    ``headers`` may be shared with other requests of the same arguments: read it,
    copy it to add to it.
    """

    path: str
    headers: Mapping[str, str]
    body: bytes


#: Members our calls name that older service models lack: (operation, keyword) ->
#: (member, the first botocore release whose model has it).  A call on an older
#: botocore is refused with the release to upgrade to.
NEWER_MEMBERS: Mapping[tuple[str, str], tuple[str, str]] = {
    ("InvokeEndpoint", "prefix_aware_id"): ("PrefixAwareId", "1.43.68"),
    ("InvokeEndpointWithResponseStream", "prefix_aware_id"): ("PrefixAwareId", "1.43.68"),
    ("InvokeEndpointAsync", "body"): ("Body", "1.43.29"),
}


@dataclasses.dataclass(frozen=True)
class Operation:
    """One operation of the service, with its members indexed by keyword argument."""

    name: str
    method: str
    uri_template: str
    success_status: int
    members: Mapping[str, Member]
    response_headers: tuple[tuple[str, str], ...]  # (lower-case header, attribute)
    model: Any  # botocore.model.OperationModel, for error parsing
    payload: str | None = None  # the keyword argument that is the HTTP body
    _layouts: dict[tuple[Any, ...], tuple[str, Mapping[str, str]]] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )

    @functools.cached_property
    def kwargs(self) -> frozenset[str]:
        """The keyword arguments a call takes (not the endpoint name), read once."""
        return frozenset(m.kwarg for m in self.members.values() if m.location != "uri")

    def prepare(self, endpoint_name: str, params: Mapping[str, Any]) -> PreparedRequest:
        """Validate the call's arguments (``None`` meaning not given) and lay them out.

        The path and headers of arguments seen before are reused (a service calls
        the same endpoint with the same options over and over); the body is
        checked every time.
        """
        payload = self.payload
        value = params.get(payload) if payload else None
        if value is None:
            member = self.members.get(payload) if payload else None
            if member is not None and member.required:
                raise ParamValidationError(f"{member.kwarg} ({member.name}) is required")
            body, json_body = b"", False
        else:
            body, json_body = _body_bytes(value)
        others = [item for item in params.items() if item[1] is not None and item[0] != payload]
        # Types are part of the key: True == 1 == 1.0, but only 1 is a valid int.
        key = (endpoint_name, json_body, *[(name, type(v), v) for name, v in others])
        try:
            path, headers = self._layouts[key]
        except KeyError:
            path, headers = self._layout(endpoint_name, others, json_body)
            if len(self._layouts) < _LAYOUT_CACHE_SIZE:
                self._layouts[key] = (path, headers)
        except TypeError:  # an unhashable value: validate it, it will be refused
            path, headers = self._layout(endpoint_name, others, json_body)
        if value is not None:
            self.members[str(payload)].check(body)
        return PreparedRequest(path, headers, body)

    def _layout(
        self, endpoint_name: str, params: list[tuple[str, Any]], json_body: bool
    ) -> tuple[str, Mapping[str, str]]:
        """Check every argument but the body; return the path and headers they make.

        A body serialised to JSON gets ``application/json`` unless a content type
        was given.
        """
        members = self.members
        for key, _ in params:
            if key not in members or members[key].location == "uri":
                raise ParamValidationError(self._unknown_message(key))
        label = members.get("endpoint_name")
        if label is None:  # every operation of this service has one
            raise ParamValidationError(f"{self.name} has no endpoint name in the model")
        if not endpoint_name:
            raise ParamValidationError("endpoint_name is required and must not be empty")
        label.check(endpoint_name)
        path = self.uri_template.replace(
            "{" + label.wire_name + "}", percent_encode(endpoint_name, safe="-._~")
        )
        headers: dict[str, str] = {}
        given = {key for key, value in params if value is not None}
        for key, value in params:
            if value is None:
                continue
            member = members[key]
            member.check(value)
            headers[member.wire_name] = _header_text(value)
        for member in members.values():
            if (
                member.required
                and member.location not in ("uri", "payload")
                and member.kwarg not in given
            ):
                raise ParamValidationError(f"{member.kwarg} ({member.name}) is required")
        if json_body and "content_type" in members:
            headers.setdefault(members["content_type"].wire_name, "application/json")
        return path, headers

    def _unknown_message(self, key: str) -> str:
        valid = sorted(self.kwargs)
        hint = ""
        snake = xform_name(key)
        newer = NEWER_MEMBERS.get((self.name, key))
        if newer is not None:
            import botocore

            hint = (
                f"; the service model of botocore {botocore.__version__} has no "
                f"{newer[0]}: it came with botocore {newer[1]} (pip install -U botocore)"
            )
        elif snake != key and snake in valid:
            hint = f"; did you mean {snake}= (keyword arguments are snake_case)?"
        else:
            import difflib  # a refusal's hint only

            close = difflib.get_close_matches(key, valid, n=1)
            if close:
                hint = f"; did you mean {close[0]}=?"
        return (
            f"unexpected keyword argument {key!r} for {self.name}{hint} (valid: {', '.join(valid)})"
        )

    def _code_for_status(self, status: int) -> str | None:
        """The operation's only modeled error with this HTTP status, if exactly one."""
        names = [
            shape.name
            for shape in self.model.error_shapes
            if shape.metadata.get("error", {}).get("httpStatusCode") == status
        ]
        return names[0] if len(names) == 1 else None

    def response_attributes(self, headers: Mapping[str, str]) -> dict[str, str | None]:
        """Output members bound to response headers, by attribute name."""
        return {attr: headers.get(header) for header, attr in self.response_headers}

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ServiceError:
        """The typed error for a non-2xx response, parsed by botocore's own parser."""
        response = {"status_code": status, "headers": HeadersDict(headers), "body": body}
        parser = _error_parser()
        try:
            parsed = parser.parse(response, self.model.output_shape)
        except Exception:  # a body botocore cannot read (null, a list, bad UTF-8...)
            parsed = {}
        code = parsed.get("Error", {}).get("Code") or str(status)
        if not isinstance(code, str):
            code = str(status)
        if code == str(status):
            # botocore gives up on empty or HTML bodies of 5xx answers; the error-type
            # header, else the model's one error shape with this status, still tells.
            code = _code_from_header(headers) or self._code_for_status(status) or code
        error_shape = self.model.service_model.shape_for_error_code(code)
        if error_shape is not None:
            # modeled fields of the wrong type: keep the code and the status
            with contextlib.suppress(Exception):
                parsed.update(parser.parse(response, error_shape))
        message = str(parsed.get("Error", {}).get("Message") or parsed.get("Message") or "")
        request_id = headers.get("x-amzn-RequestId") or parsed.get("ResponseMetadata", {}).get(
            "RequestId"
        )
        cls = _ERROR_CLASSES.get(code, ServiceError)
        if cls is errors.ModelError:
            return errors.ModelError(
                message,
                code=code,
                status_code=status,
                request_id=request_id,
                original_status_code=parsed.get("OriginalStatusCode"),
                original_message=parsed.get("OriginalMessage"),
                log_stream_arn=parsed.get("LogStreamArn"),
            )
        return cls(
            message or f"HTTP {status}", code=code, status_code=status, request_id=request_id
        )


def _header_text(value: Any) -> str:
    """The wire text of a checked value; a str or int subclass (an Enum) sends its value."""
    if isinstance(value, str):
        return str.__str__(value)
    return int.__repr__(value)


@functools.cache
def _error_parser() -> Any:
    """botocore's rest-json parser, made once: as botocore's clients do, one serves every
    call (a parser refers to itself, so one per error was garbage for the GC)."""
    return create_parser("rest-json")


def _code_from_header(headers: Mapping[str, str]) -> str | None:
    raw = headers.get("x-amzn-ErrorType") or headers.get("x-amzn-errortype")
    if not raw:
        return None
    return raw.split(":", 1)[0].rsplit("#", 1)[-1] or None


def _body_bytes(value: Any) -> tuple[bytes, bool]:
    """``body`` as bytes; True when it was serialised to JSON."""
    if isinstance(value, bytes):
        return value, False
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value), False
    if isinstance(value, str):
        return _utf8(value, "body"), False
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:  # NaN or Infinity: not JSON, and no server can read it
        raise ParamValidationError(f"body cannot be sent as JSON: {exc}") from None
    except (TypeError, RecursionError) as exc:
        raise ParamValidationError(
            f"body must be bytes, str or JSON-serialisable; {type(value).__name__} is not: {exc}"
        ) from None
    return _utf8(text, "body (as JSON)"), True


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate, e.g. from a bad decode upstream
        bad = text[exc.start : exc.end]
        raise ParamValidationError(
            f"{what} cannot be encoded as UTF-8: {bad!r} at index {exc.start} is a lone surrogate"
        ) from None


def _member(name: str, shape: Any, required: bool, payload_name: str | None) -> Member:
    serialization = shape.serialization
    if name == payload_name:
        location, wire_name = "payload", name
    else:
        location = serialization.get("location", "body")
        wire_name = serialization.get("name", name)
    metadata = shape.metadata
    pattern = metadata.get("pattern")
    return Member(
        name=name,
        kwarg=xform_name(name),
        location=location,
        wire_name=wire_name,
        type_name=shape.type_name,
        required=required,
        min=metadata.get("min"),
        max=metadata.get("max"),
        pattern=_python_pattern(pattern) if pattern and shape.type_name == "string" else None,
    )


def load_operations(service_model: Any) -> dict[str, Operation]:
    """Index every operation of a botocore ``ServiceModel`` by its model name."""
    operations: dict[str, Operation] = {}
    for op_name in service_model.operation_names:
        model = service_model.operation_model(op_name)
        shape = model.input_shape
        payload_name = shape.serialization.get("payload")
        required = set(shape.required_members)
        members = {}
        for name, member_shape in shape.members.items():
            member = _member(name, member_shape, name in required, payload_name)
            members[member.kwarg] = member
        output = model.output_shape
        response_headers = tuple(
            (member_shape.serialization["name"].lower(), xform_name(name))
            for name, member_shape in (output.members.items() if output else ())
            if member_shape.serialization.get("location") == "header"
        )
        operations[op_name] = Operation(
            name=op_name,
            method=model.http["method"],
            uri_template=model.http["requestUri"],
            success_status=int(model.http.get("responseCode", 200)),
            members=members,
            response_headers=response_headers,
            model=model,
            payload=next((m.kwarg for m in members.values() if m.location == "payload"), None),
        )
    return operations
