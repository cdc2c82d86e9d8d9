"""What a model server's JSON record is: its format (schema) and the error it reports, if any."""

from __future__ import annotations

import json
from typing import Any

from ..errors import ModelOutputError

_PREVIEW = 120


def _preview(value: Any) -> str:
    """A short, printable form of a record for error messages (never raises)."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            text = f"<a {type(value).__name__} nested too deeply to show>"
    return repr(text) if len(text) <= _PREVIEW else repr(text[:_PREVIEW]) + "..."


def _keys_of(record: Any) -> str:
    """What a record of no known shape holds, for the error that says so."""
    if isinstance(record, dict):
        keys = ", ".join(repr(key) for key in list(record)[:12])
        return f"an object with keys {keys}" if record else "an empty object"
    return f"a JSON {type(record).__name__}"


def _error_of(record: dict[str, Any]) -> ModelOutputError | None:
    """The error a record reports, in TGI, LMI or OpenAI shape, if any."""
    error = record.get("error")
    if error is not None and error != "":
        if isinstance(error, dict):
            return _error_object(error, record)
        return ModelOutputError(
            str(error),
            error_type=record.get("error_type"),
            code=record.get("code"),
            payload=record,
        )
    if record.get("object") == "error":  # older vLLM: the ErrorResponse itself
        return _error_object(record, record)
    return None


def _error_object(error: dict[str, Any], record: dict[str, Any]) -> ModelOutputError:
    """An error object: OpenAI's ``{message, type, code}``, or LMI 3p's ``{error_code,
    error_msg}`` (nested once more, ``{"error": {...}}``, in its whole answers)."""
    inner = error.get("error")
    if isinstance(inner, dict) and len(error) == 1:
        error = inner
    message = error.get("message", error.get("error_msg"))
    return ModelOutputError(
        message if isinstance(message, str) else json.dumps(error),
        error_type=error.get("type"),
        code=error.get("code", error.get("error_code")),
        payload=record,
    )


def _schema_of(record: Any, transport: str) -> str | None:
    """Which format a first record belongs to, or None if it is no known shape."""
    if not isinstance(record, dict):
        return None
    kind = record.get("object")
    if "choices" in record or kind in ("chat.completion.chunk", "text_completion"):
        return _openai_schema(record, kind)
    if _is_three_p(record):
        return "lmi"
    token_object = "tgi" if transport == "sse" else "lmi"
    if not _TOKEN_KEYS.isdisjoint(record):
        return token_object
    if "error" in record or kind == "error":
        return _error_schema(record, kind, token_object)
    return None


def _error_schema(record: dict[str, Any], kind: Any, token_object: str) -> str:
    """The format of a stream whose first record is an error: the shape of its server."""
    return "openai" if kind == "error" or isinstance(record["error"], dict) else token_object


_TOKEN_KEYS = frozenset(("token", "generated_text", "outputs"))


def _openai_schema(record: dict[str, Any], kind: Any) -> str:
    """The OpenAI format of a chunk: by its first choice's shape, else its label.

    The shape comes first because TGI before 2.1 labels its chat chunks
    ``text_completion``.
    """
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


def _is_three_p(record: dict[str, Any]) -> bool:
    """LMI's ``3p``/``3p_stream`` output: ``{"body": {"generation", ...}, "metering", ...}``."""
    body = record.get("body")
    return isinstance(body, dict) and "generation" in body
