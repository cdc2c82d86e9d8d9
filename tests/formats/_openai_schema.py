"""Strict checks of OpenAI chat objects against the schemas in tests/data/openai.

For any test that produces or records OpenAI-style output (the emulator's demo model,
the chat fixtures)::

    from tests.formats._openai_schema import assert_chat_chunk, assert_chat_completion

    assert_chat_chunk(json.loads(event.data))      # one streamed chunk
    assert_chat_completion(json.loads(body))       # a whole answer

Each raises ``AssertionError`` listing every violation with its JSON path;
``chat_chunk_errors`` / ``chat_completion_errors`` return them instead.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema
from referencing import Registry, Resource

from tests._support import DATA

SCHEMAS = DATA / "openai"
CHUNK = "chat-completion-chunk.schema.json"
COMPLETION = "chat-completion.schema.json"


@functools.cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    resources = []
    for path in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((path.name, Resource.from_contents(schema)))
    registry: Registry[Any] = Registry().with_resources(resources)
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _errors(name: str, obj: Any) -> list[str]:
    found = sorted(_validator(name).iter_errors(obj), key=lambda error: list(error.path))
    return [f"{error.json_path}: {error.message}" for error in found]


def chat_chunk_errors(obj: Any) -> list[str]:
    """What makes ``obj`` not a strict ``chat.completion.chunk`` (empty if nothing)."""
    return _errors(CHUNK, obj)


def chat_completion_errors(obj: Any) -> list[str]:
    """What makes ``obj`` not a strict ``chat.completion`` (empty if nothing)."""
    return _errors(COMPLETION, obj)


def assert_chat_chunk(obj: Any) -> None:
    """Fail, naming every violation, unless ``obj`` is a strict ``chat.completion.chunk``."""
    errors = chat_chunk_errors(obj)
    assert not errors, "not a chat.completion.chunk:\n  " + "\n  ".join(errors)


def assert_chat_completion(obj: Any) -> None:
    """Fail, naming every violation, unless ``obj`` is a strict ``chat.completion``."""
    errors = chat_completion_errors(obj)
    assert not errors, "not a chat.completion:\n  " + "\n  ".join(errors)
