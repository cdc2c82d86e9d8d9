"""Results of the non-streaming calls: ``invoke_endpoint`` and ``invoke_endpoint_async``."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = ["AsyncInferenceResponse", "InvokeEndpointResponse"]


@dataclasses.dataclass(frozen=True)
class InvokeEndpointResponse:
    """The model's whole answer, with the service's response metadata.

    ``new_session_id`` is the id of the stateful session this answer opened (the
    service sends ``<id>; Expires=<UTC time>``; the id alone is kept here, as the next
    call's ``session_id`` wants it), and ``new_session_expires_at`` its expiry (a
    timezone-aware UTC ``datetime``; ``None`` when no expiry was given).  A header not
    in that form is kept as sent, with no expiry.
    """

    body: bytes
    content_type: str | None
    invoked_production_variant: str | None
    custom_attributes: str | None
    new_session_id: str | None
    closed_session_id: str | None
    request_id: str | None
    status_code: int
    headers: Mapping[str, str] = dataclasses.field(repr=False)
    new_session_expires_at: datetime | None = None

    def text(self, encoding: str = "utf-8") -> str:
        """The body decoded as text (UTF-8 unless told otherwise)."""
        return self.body.decode(encoding)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclasses.dataclass(frozen=True)
class AsyncInferenceResponse:
    """An accepted asynchronous inference: where its output or failure will appear."""

    inference_id: str | None
    output_location: str | None
    failure_location: str | None
    request_id: str | None
    status_code: int
    headers: Mapping[str, str] = dataclasses.field(repr=False)
