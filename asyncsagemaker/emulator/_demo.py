"""The ``demo`` model: a small deterministic text generator that streams like real servers.

The answer depends on the prompt (same prompt, same answer) and contains
multi-byte UTF-8 ("café", "crème brûlée", emoji) so that clients are exercised on
characters split across parts.  Each token goes out as one part, in the wire
format of a common model server:

* ``tgi``: Hugging Face TGI server-sent events, a final special ``</s>`` token
  carrying ``generated_text``;
* ``lmi``: DJL LMI JSON lines, the last line carrying ``generated_text``;
* ``vllm-chat`` / ``vllm-completions``: OpenAI-style SSE chunks and ``[DONE]``;
* ``text``: the bare token text.

The format is chosen by the custom attribute ``format=<name>``, else an accept of
``application/jsonlines`` (lmi), else the body's shape (``messages``: vllm-chat,
``prompt``: vllm-completions, anything else: tgi).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from ..formats import WIRE_FORMATS
from ._types import Invocation, ModelResponse

__all__ = ["FORMATS", "DemoModel", "demo_answer"]

FORMATS = WIRE_FORMATS
_CONTENT_TYPES = {
    "tgi": "text/event-stream",
    "lmi": "application/jsonlines",
    "vllm-chat": "text/event-stream",
    "vllm-completions": "text/event-stream",
    "text": "text/plain; charset=utf-8",
}
_OPENERS = ("Sure!", "Good question.", "Here is a thought.", "Happy to help.")
_MIDDLES = (
    "A café by the harbour serves crème brûlée 🍮 at noon.",
    "The naïve robot 🤖 counted {n} stars before the soufflé rose.",
    "In Zürich a jalapeño ☕ costs exactly {n} coins, über cheap.",
    "Every piñata holds {n} sweets, and the déjà vu is free 🎉.",
)
_CLOSERS = ("That is all for now.", "Hope this helps!", "Ask me anything else.")
_TOKEN = re.compile(r"\s*\S+")
_LOGPROB = -0.5


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def demo_answer(prompt: str) -> str:
    """The deterministic answer to ``prompt``."""
    digest = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).digest()
    words = prompt.split()
    quoted = " ".join(words[:5]) + ("…" if len(words) > 5 else "") if words else "nothing"
    middle = _MIDDLES[digest[1] % len(_MIDDLES)].format(n=digest[2] % 90 + 10)
    return (
        f'{_OPENERS[digest[0] % len(_OPENERS)]} You said "{quoted}". {middle} '
        f"{_CLOSERS[digest[3] % len(_CLOSERS)]}"
    )


def _token_id(token: str) -> int:
    return zlib.crc32(token.encode("utf-8")) % 32000 + 3


@dataclass(frozen=True)
class _Request:
    format: str
    prompt: str
    max_tokens: int | None


def _parse(inv: Invocation) -> _Request:
    text = inv.body.decode("utf-8", "replace")
    try:
        document: Any = json.loads(text)
    except ValueError:
        document = None
    prompt, shape, limit = text, "tgi", None
    if isinstance(document, dict):
        parameters = document.get("parameters")
        if isinstance(parameters, dict):
            limit = parameters.get("max_new_tokens")
        if "messages" in document:
            shape, prompt = "vllm-chat", _last_message(document["messages"])
            limit = document.get("max_tokens", document.get("max_completion_tokens", limit))
        elif "prompt" in document:
            shape, prompt = "vllm-completions", _first_text(document["prompt"])
            limit = document.get("max_tokens", limit)
        elif "inputs" in document:
            prompt = _first_text(document["inputs"])
    elif isinstance(document, str):
        prompt = document
    chosen = _attribute_format(inv.custom_attributes)
    if chosen is None and inv.accept and "application/jsonlines" in inv.accept:
        chosen = "lmi"
    max_tokens = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
    return _Request(chosen or shape, prompt, max_tokens)


def _attribute_format(attributes: str | None) -> str | None:
    for item in re.split(r"[;,]", attributes or ""):
        key, _, value = item.partition("=")
        if key.strip() == "format" and value.strip() in FORMATS:
            return value.strip()
    return None


def _first_text(value: Any) -> str:
    if isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else json.dumps(value)


def _last_message(messages: Any) -> str:
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role", "user") == "user":
                content = message.get("content")
                if isinstance(content, list):
                    return " ".join(
                        part.get("text", "") for part in content if isinstance(part, dict)
                    )
                return content if isinstance(content, str) else ""
    return ""


def _tgi(tokens: list[str], full: str) -> list[bytes]:
    parts = []
    for token in tokens:
        event = {
            "token": {"id": _token_id(token), "text": token, "logprob": _LOGPROB, "special": False},
            "generated_text": None,
            "details": None,
        }
        parts.append(f"data:{_dumps(event)}\n\n")
    last = {
        "token": {"id": 2, "text": "</s>", "logprob": _LOGPROB, "special": True},
        "generated_text": full,
        "details": None,
    }
    parts.append(f"data:{_dumps(last)}\n\n")
    return [part.encode() for part in parts]


def _lmi(tokens: list[str], full: str) -> list[bytes]:
    parts = []
    for index, token in enumerate(tokens):
        line = {
            "token": {"id": _token_id(token), "text": token, "log_prob": _LOGPROB},
            "generated_text": full if index == len(tokens) - 1 else None,
            "details": None,
        }
        parts.append(f"{_dumps(line)}\n".encode())
    return parts


def _sse(chunk: dict[str, Any]) -> bytes:
    return f"data: {_dumps(chunk)}\n\n".encode()


def _chat_chunk(delta: dict[str, str], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "demo",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _vllm_chat(tokens: list[str], full: str) -> list[bytes]:
    parts = []
    for index, token in enumerate(tokens):
        delta = {"role": "assistant", "content": token} if index == 0 else {"content": token}
        parts.append(_sse(_chat_chunk(delta, None)))
    parts.append(_sse(_chat_chunk({}, "stop")))
    parts.append(b"data: [DONE]\n\n")
    return parts


def _vllm_completions(tokens: list[str], full: str) -> list[bytes]:
    parts = []
    for token in tokens:
        choice = {"index": 0, "text": token, "finish_reason": None}
        chunk = {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 0,
            "model": "demo",
            "choices": [choice],
        }
        parts.append(_sse(chunk))
    parts.append(b"data: [DONE]\n\n")
    return parts


def _text(tokens: list[str], full: str) -> list[bytes]:
    return [token.encode() for token in tokens]


_RENDERERS: dict[str, Callable[[list[str], str], list[bytes]]] = {
    "tgi": _tgi,
    "lmi": _lmi,
    "vllm-chat": _vllm_chat,
    "vllm-completions": _vllm_completions,
    "text": _text,
}


class DemoModel:
    """The built-in ``demo`` endpoint; ``token_delay`` seconds pass between parts."""

    def __init__(self, token_delay: float) -> None:
        self.token_delay = token_delay

    async def __call__(self, inv: Invocation) -> ModelResponse:
        request = _parse(inv)
        tokens = _TOKEN.findall(demo_answer(request.prompt))
        if request.max_tokens is not None:
            tokens = tokens[: max(request.max_tokens, 0)]
        full = "".join(tokens)
        if not inv.streaming:
            body = _dumps([{"generated_text": full}]).encode()
            return ModelResponse(body, content_type="application/json")
        parts = _RENDERERS[request.format](tokens, full)
        return ModelResponse(self._paced(parts), content_type=_CONTENT_TYPES[request.format])

    async def _paced(self, parts: list[bytes]) -> AsyncIterator[bytes]:
        for index, part in enumerate(parts):
            if index and self.token_delay > 0:
                await asyncio.sleep(self.token_delay)
            yield part
