"""What a model server's JSON record is: its format (schema) and the error it reports, if any."""

from __future__ import annotations

import json
from typing import Any

from ..errors import ModelOutputError

_PREVIEW = 120


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return repr(text) if len(text) <= _PREVIEW else repr(text[:_PREVIEW]) + "..."


def _error_of(record: dict[str, Any]) -> ModelOutputError | None:
    """The error a record reports, in TGI, LMI or OpenAI shape, if any."""
    error = record.get("error")
    if error is not None and error != "":
        if isinstance(error, dict):
            message = error.get("message")
            return ModelOutputError(
                message if isinstance(message, str) else json.dumps(error),
                error_type=error.get("type"),
                code=error.get("code"),
                payload=record,
            )
        return ModelOutputError(
            str(error),
            error_type=record.get("error_type"),
            code=record.get("code"),
            payload=record,
        )
    if record.get("object") == "error":  # older vLLM: the ErrorResponse itself
        message = record.get("message")
        return ModelOutputError(
            message if isinstance(message, str) else json.dumps(record),
            error_type=record.get("type"),
            code=record.get("code"),
            payload=record,
        )
    return None


def _schema_of(record: Any, transport: str) -> str | None:
    """Which format a first record belongs to, or None if it is no known shape."""
    if not isinstance(record, dict):
        return None
    kind = record.get("object")
    if "choices" in record or kind in ("chat.completion.chunk", "text_completion"):
        # the choice's shape first: TGI before 2.1 labels its chat chunks "text_completion"
        choices = record.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        if isinstance(first, dict):
            if "delta" in first:
                return "vllm-chat"
            if "text" in first:
                return "vllm-completions"
        if kind == "chat.completion.chunk":
            return "vllm-chat"
        if kind == "text_completion":
            return "vllm-completions"
        return "openai"
    token_object = "tgi" if transport == "sse" else "lmi"
    if "token" in record or "generated_text" in record or "outputs" in record:
        return token_object
    if "error" in record:
        return "openai" if isinstance(record["error"], dict) else token_object
    if kind == "error":
        return "openai"
    return None
