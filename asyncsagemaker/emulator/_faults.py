"""Fault injection: what can go wrong, configured per endpoint, never by a client header.

``Faults`` is a frozen description; ``FaultCounter`` holds the per-endpoint
request count that "the first N requests" refers to.  Request-level faults are
consumed in a fixed order: throttling first, then not-ready, then errors, so
``Faults(throttle_first=2, error_first=1)`` gives throttle, throttle, error, ok.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Generic, TypeVar

from ._replies import ACCOUNT_ID, REGION, ServiceReply
from ._types import Outcome

__all__ = ["ContainerError", "FaultCounter", "Faults", "ModelErrorFault", "parse_fault_option"]

_ERROR_STATUSES = {
    500: ("InternalFailure", "An internal failure occurred."),
    502: ("", ""),
    503: ("ServiceUnavailable", "The service is unavailable. Try again later."),
    530: ("InternalDependencyException", "An internal dependency failed."),
}
_STREAM_ERRORS = ("ModelStreamError", "InternalStreamFailure")


@dataclass(frozen=True)
class ModelErrorFault:
    """The model container answers with an error: the client gets 424 ``ModelError``."""

    original_status_code: int = 500
    original_message: str = "The model container returned an error."
    log_stream_arn: str | None = None


class ContainerError(Exception):
    """The model answered with an error status; becomes 424 ``ModelError``."""

    def __init__(self, fault: ModelErrorFault) -> None:
        super().__init__(fault.original_message)
        self.fault = fault


@dataclass(frozen=True)
class Faults:
    """Faults for one endpoint.  Counts ("first N", "after K parts") are per endpoint.

    See docs/emulator.md for the table of fields and what a client sees for each.
    """

    throttle_first: int = 0
    not_ready_first: int = 0
    error_first: int = 0
    error_status: int = 500
    model_error: ModelErrorFault | None = None
    stream_error_after: int | None = None
    stream_error: str = "ModelStreamError"
    stream_error_code: str = "ModelInvocationTimeExceeded"
    drop_after: int | None = None
    drop_mid_frame_after: int | None = None
    stall_seconds: float = 0.0
    stall_after: int = 0
    byte_writes: bool = False
    corrupt_crc_after: int | None = None

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"Faults.{item.name} must not be negative, got {value!r}")
        if self.error_status not in _ERROR_STATUSES:
            allowed = ", ".join(map(str, sorted(_ERROR_STATUSES)))
            raise ValueError(f"Faults.error_status must be one of {allowed}")
        if self.stream_error not in _STREAM_ERRORS:
            raise ValueError(f"Faults.stream_error must be one of {', '.join(_STREAM_ERRORS)}")


def error_reply(faults: Faults, endpoint: str, served: int) -> ServiceReply | None:
    """The request-level fault for the request numbered ``served`` (0-based), if any."""
    if served < faults.throttle_first:
        return ServiceReply(
            400, "ThrottlingException", "Rate exceeded", outcome="fault:throttle_first"
        )
    served -= faults.throttle_first
    if served < faults.not_ready_first:
        message = f"Model for endpoint {endpoint} is not ready yet. Try again later."
        return ServiceReply(429, "ModelNotReadyException", message, outcome="fault:not_ready_first")
    served -= faults.not_ready_first
    if served < faults.error_first:
        code, message = _ERROR_STATUSES[faults.error_status]
        if not code:
            return ServiceReply.html(faults.error_status, outcome="fault:error_first")
        return ServiceReply(faults.error_status, code, message, outcome="fault:error_first")
    if faults.model_error is not None:
        return model_error_reply(endpoint, faults.model_error, outcome="fault:model_error")
    return None


def model_error_reply(endpoint: str, fault: ModelErrorFault, outcome: Outcome) -> ServiceReply:
    """424 ``ModelError`` worded as the service words it."""
    status = fault.original_status_code
    kind = "client" if 400 <= status < 500 else "server"
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    message = (
        f"Received {kind} error ({status}) from primary with message "
        f'"{fault.original_message}". See https://{REGION}.console.aws.amazon.com/cloudwatch/'
        f"home?region={REGION}#logEventViewer:group={group} in account {ACCOUNT_ID} "
        "for more information."
    )
    arn = fault.log_stream_arn or f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{group}"
    extra = {
        "OriginalStatusCode": status,
        "OriginalMessage": fault.original_message,
        "LogStreamArn": arn,
    }
    return ServiceReply(424, "ModelError", message, extra=extra, outcome=outcome)


F = TypeVar("F")


class FaultTable(Generic[F]):
    """Faults per endpoint, with the request count that "the first N" refers to.

    ``kind`` is the faults class this table holds (``Faults`` for HTTP/1.1,
    ``BidiFaults`` for HTTP/2); setting an endpoint's faults restarts its count.
    Safe to change from another thread while the emulator runs.
    """

    def __init__(self, kind: type[F], faults: Mapping[str, F] | None = None) -> None:
        self._kind = kind
        self._faults: dict[str, F] = {}
        self.counter = FaultCounter()
        for endpoint, endpoint_faults in (faults or {}).items():
            self.set(endpoint, endpoint_faults)

    @property
    def mapping(self) -> Mapping[str, F]:
        """The faults in force, read-only."""
        return MappingProxyType(self._faults)

    def get(self, endpoint: str) -> F | None:
        return self._faults.get(endpoint)

    def set(self, endpoint: str, faults: F | None) -> None:
        """Set (or with ``None`` clear) an endpoint's faults and restart its request count."""
        if faults is not None and not isinstance(faults, self._kind):
            raise TypeError(
                f"faults must be a {self._kind.__name__} instance, not {type(faults).__name__}"
            )
        self.counter.reset(endpoint)
        if faults is None:
            self._faults.pop(endpoint, None)
        else:
            self._faults[endpoint] = faults


class FaultCounter:
    """Per-endpoint request numbers; thread-safe because tests set faults from other threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._served: dict[str, int] = {}

    def next(self, endpoint: str) -> int:
        with self._lock:
            number = self._served.get(endpoint, 0)
            self._served[endpoint] = number + 1
            return number

    def reset(self, endpoint: str | None = None) -> None:
        with self._lock:
            if endpoint is None:
                self._served.clear()
            else:
                self._served.pop(endpoint, None)


def parse_fault_option(text: str) -> tuple[str, Faults]:
    """Parse the CLI form ``ENDPOINT:key=value,key=value`` into an endpoint and its Faults.

    ``model_error=<status>`` takes the container's status code; booleans accept
    ``true/false/1/0/yes/no``.
    """
    endpoint, sep, settings = text.partition(":")
    if not sep or not endpoint:
        raise ValueError(f"fault {text!r}: expected ENDPOINT:key=value[,key=value...]")
    types = {item.name: item.type for item in dataclasses.fields(Faults)}
    values: dict[str, object] = {}
    for pair in filter(None, (p.strip() for p in settings.split(","))):
        key, eq, raw = pair.partition("=")
        key = key.strip()
        if not eq or key not in types:
            known = ", ".join(types)
            raise ValueError(f"fault {text!r}: unknown setting {pair!r} (known: {known})")
        values[key] = _convert(key, str(types[key]), raw.strip())
    return endpoint, Faults(**values)  # type: ignore[arg-type]


def _convert(key: str, type_name: str, raw: str) -> object:
    try:
        if key == "model_error":
            return ModelErrorFault(original_status_code=int(raw))
        if "bool" in type_name:
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return lowered in ("true", "1", "yes")
        if "float" in type_name:
            return float(raw)
        if "int" in type_name:
            return int(raw)
    except ValueError:
        raise ValueError(f"fault setting {key}: cannot read {raw!r} as {type_name}") from None
    return raw
