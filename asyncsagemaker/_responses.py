"""Results of the non-streaming calls: ``invoke_endpoint`` and ``invoke_endpoint_async``."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["AsyncInferenceResponse", "InvokeEndpointResponse"]


@dataclasses.dataclass(frozen=True)
class InvokeEndpointResponse:
    """The model's whole answer, with the service's response metadata."""

    body: bytes
    content_type: str | None
    invoked_production_variant: str | None
    custom_attributes: str | None
    new_session_id: str | None
    closed_session_id: str | None
    request_id: str | None
    status_code: int
    headers: Mapping[str, str] = dataclasses.field(repr=False)

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
