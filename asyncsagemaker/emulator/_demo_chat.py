"""The demo's chat answers in each server's dialect: text, reasoning and tool calls.

``Emulator(dialect=...)`` (``asyncsagemaker emulate --dialect``) picks the server whose
chat stream the ``demo`` model imitates, so an agent loop can be tested against the
dialect it will meet (docs/streaming-formats.md has the table and its sources):

``default``
    The demo's own shapes (as before this option existed): the role on the first
    delta, an empty last delta with the finish reason; tool calls and reasoning as
    vLLM 0.16+ sends them.
``vllm`` / ``vllm-0.11`` / ``vllm-0.10``
    vLLM's OpenAI server: a role-only first chunk, tool calls named on their first
    fragment (no ``arguments`` there), a last ``{"content": ""}`` delta with the
    finish reason.  Reasoning in ``reasoning`` (0.16+), in both ``reasoning`` and
    ``reasoning_content`` with ``"reasoning_content": null`` on every other delta
    (0.11.1 to 0.15), or in ``reasoning_content`` (up to 0.11.0).
``sglang``
    Every delta key present (``null`` when unused), ``"usage": null`` on every chunk,
    bare hex ids, ``call_`` tool ids, ``"arguments": ""`` on a call's first fragment,
    the finish reason in a chunk of its own; reasoning in ``reasoning_content``.
``tgi``
    TGI 3.2+'s Messages API: ``object`` first, ``id: ""``, ``system_fingerprint``,
    ``"usage": null``, the role on every delta, tool calls with the id ``"0"`` on every
    fragment and no finish reason (TGI sends none in tool mode); no reasoning field
    (the thinking is text, between ``<think>`` tags).
``lmi``
    LMI's vLLM async mode: vLLM 0.16's chunks as JSON lines, ``[DONE]`` an empty line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

__all__ = [
    "DIALECTS",
    "ChatTurn",
    "DemoCall",
    "Dialect",
    "call_id",
    "chat_stream",
    "chat_whole",
    "check_dialect",
]

#: The chat dialects the demo model speaks.
Dialect = Literal["default", "vllm", "vllm-0.11", "vllm-0.10", "sglang", "tgi", "lmi"]
DIALECTS: tuple[Dialect, ...] = get_args(Dialect)

_MODEL = "demo"
_EOS_ID = 151645  # what SGLang reports as matched_stop (Qwen's end of turn)
_TGI_VERSION = "3.3.7-native"
_Chunk = dict[str, Any]


def check_dialect(dialect: str) -> Dialect:
    """``dialect`` if the demo speaks it, else ValueError listing the ones it does."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}: use one of {', '.join(DIALECTS)}")
    return dialect


@dataclass(frozen=True)
class DemoCall:
    """A tool call the demo makes: its id, function name and argument pieces."""

    id: str
    name: str
    pieces: tuple[str, ...]

    @property
    def arguments(self) -> str:
        return "".join(self.pieces)


@dataclass(frozen=True)
class ChatTurn:
    """What one chat answer holds, as the dialects render it."""

    tokens: list[str]  # answer tokens
    reasoning: tuple[str, ...]  # reasoning tokens
    call: DemoCall | None
    finish: str  # in OpenAI's words: stop, length, tool_calls
    usage: dict[str, int]
    include_usage: bool
    sglang_reasoning_tokens: int = 0
    model: str = _MODEL  # the request's ``model``, as a server serving that model says


def _sse(chunk: _Chunk) -> bytes:
    return f"data: {json.dumps(chunk, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


class _Default:
    """The demo's own shapes; the base the other dialects change."""

    reasoning_keys: tuple[str, ...] = ("reasoning",)

    def __init__(self, turn: ChatTurn) -> None:
        self.turn = turn

    # --- the stream ---

    def stream(self) -> list[bytes]:
        deltas = self.deltas()
        parts = [self.chunk(delta) for delta in deltas]
        if deltas and self.finish_on_last():
            parts[-1] = self.chunk(deltas[-1], self.turn.finish)
        else:
            parts += [self.chunk(delta, finish) for delta, finish in self.endings()]
        if self.turn.include_usage:
            parts.append(self.encode(self.usage_chunk()))
        return parts + self.done()

    def deltas(self) -> list[_Chunk]:
        turn = self.turn
        deltas = [self.reasoning_delta(piece) for piece in turn.reasoning]
        if turn.call is not None:
            deltas += self.tool_deltas(turn.call)
        else:
            deltas += [self.content_delta(token) for token in turn.tokens]
        return self.with_role(deltas)

    def with_role(self, deltas: list[_Chunk]) -> list[_Chunk]:
        first = deltas[0] if deltas else self.content_delta("")
        return [{"role": "assistant", **first}, *deltas[1:]]

    def reasoning_delta(self, piece: str) -> _Chunk:
        return dict.fromkeys(self.reasoning_keys, piece)

    def content_delta(self, text: str) -> _Chunk:
        return {"content": text}

    def tool_deltas(self, call: DemoCall) -> list[_Chunk]:
        """The call named in a fragment of its own (no arguments), then its pieces."""
        first = {"id": call.id, "type": "function", "index": 0, "function": {"name": call.name}}
        pieces = [{"index": 0, "function": {"arguments": piece}} for piece in call.pieces]
        return [self.tools_delta(fragment) for fragment in [first, *pieces]]

    def tools_delta(self, fragment: _Chunk) -> _Chunk:
        return {"tool_calls": [fragment]}

    def endings(self) -> list[tuple[_Chunk, str]]:
        return [({}, self.turn.finish)]

    def finish_on_last(self) -> bool:
        """The finish reason rides on the last token's chunk (else chunks of its own)."""
        return False

    def chunk(self, delta: _Chunk, finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self.encode(self.envelope([choice]))

    def envelope(self, choices: list[_Chunk], kind: str = "chat.completion.chunk") -> _Chunk:
        return {
            "id": "chatcmpl-1",
            "object": kind,
            "created": 0,
            "model": self.turn.model,
            "choices": choices,
        }

    def usage_chunk(self) -> _Chunk:
        return {**self.envelope([]), "usage": self.turn.usage}

    def encode(self, chunk: _Chunk) -> bytes:
        return _sse(chunk)

    def done(self) -> list[bytes]:
        return [b"data: [DONE]\n\n"]

    # --- the whole answer ---

    def whole(self) -> _Chunk:
        choice = {
            "index": 0,
            "message": self.message(),
            "logprobs": None,
            "finish_reason": self.turn.finish,
        }
        return {**self.envelope([choice], "chat.completion"), "usage": self.turn.usage}

    def message(self) -> _Chunk:
        turn = self.turn
        message: _Chunk = {
            "role": "assistant",
            "content": None if turn.call else "".join(turn.tokens),
        }
        if turn.call is not None:
            message["tool_calls"] = [self.whole_call(turn.call)]
        if turn.reasoning:
            message.update(dict.fromkeys(self.reasoning_keys, "".join(turn.reasoning)))
        return message

    def whole_call(self, call: DemoCall) -> _Chunk:
        function = {"name": call.name, "arguments": call.arguments}
        return {"id": call.id, "type": "function", "function": function}


class _Vllm(_Default):
    """vLLM 0.16+ (``reasoning``)."""

    def with_role(self, deltas: list[_Chunk]) -> list[_Chunk]:
        return [{"role": "assistant", "content": ""}, *deltas]

    def endings(self) -> list[tuple[_Chunk, str]]:
        return [(self.content_delta(""), self.turn.finish)]

    def chunk(self, delta: _Chunk, finish: str | None = None) -> bytes:
        choice: _Chunk = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        if finish is not None:
            choice["stop_reason"] = None
        if "role" not in delta:
            choice["token_ids"] = None
        return self.encode(self.envelope([choice]))

    def envelope(self, choices: list[_Chunk], kind: str = "chat.completion.chunk") -> _Chunk:
        return {**super().envelope(choices, kind), "id": "chatcmpl-a3f09c51d2e84b67"}

    def usage_chunk(self) -> _Chunk:
        usage = self.turn.usage
        order = ("prompt_tokens", "total_tokens", "completion_tokens")
        return {**self.envelope([]), "usage": {key: usage[key] for key in order}}

    def message(self) -> _Chunk:
        message = {
            "role": "assistant",
            "content": None if self.turn.call else "".join(self.turn.tokens),
            "refusal": None,
            "annotations": None,
            "audio": None,
            "function_call": None,
            "tool_calls": [self.whole_call(self.turn.call)] if self.turn.call else [],
        }
        reasoning = "".join(self.turn.reasoning) or None
        return {**message, **dict.fromkeys(self.reasoning_keys, reasoning)}


class _Vllm011(_Vllm):
    """vLLM 0.11.1 to 0.15: ``reasoning`` copied to ``reasoning_content`` on every delta."""

    reasoning_keys = ("reasoning", "reasoning_content")

    def with_role(self, deltas: list[_Chunk]) -> list[_Chunk]:
        return [{"role": "assistant", "content": "", "reasoning_content": None}, *deltas]

    def content_delta(self, text: str) -> _Chunk:
        return {"content": text, "reasoning_content": None}

    def tools_delta(self, fragment: _Chunk) -> _Chunk:
        return {"tool_calls": [fragment], "reasoning_content": None}


class _Vllm010(_Vllm):
    """vLLM up to 0.11.0: ``reasoning_content``."""

    reasoning_keys = ("reasoning_content",)


class _Lmi(_Vllm):
    """LMI's async (vLLM) mode: vLLM's chunks as JSON lines, ``[DONE]`` an empty line."""

    def encode(self, chunk: _Chunk) -> bytes:
        return json.dumps(chunk, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    def done(self) -> list[bytes]:
        return [b"\n"]


class _Sglang(_Default):
    """SGLang 0.5: every key, nulls included; a chunk of its own for the finish reason."""

    reasoning_keys = ("reasoning_content",)

    def full(self, **fields: Any) -> _Chunk:
        return {
            "role": None,
            "content": None,
            "reasoning_content": None,
            "tool_calls": None,
            **fields,
        }

    def with_role(self, deltas: list[_Chunk]) -> list[_Chunk]:
        return [self.full(role="assistant", content=""), *deltas]

    def reasoning_delta(self, piece: str) -> _Chunk:
        return self.full(reasoning_content=piece)

    def content_delta(self, text: str) -> _Chunk:
        return self.full(content=text)

    def tool_deltas(self, call: DemoCall) -> list[_Chunk]:
        """The call named with ``"arguments": ""``, then its pieces (id and name null)."""
        function = {"name": call.name, "arguments": ""}
        first = {"id": call.id, "index": 0, "type": "function", "function": function}
        pieces = [
            {"id": None, "index": 0, "type": "function", "function": {"name": None, "arguments": p}}
            for p in call.pieces
        ]
        return [self.full(tool_calls=[fragment]) for fragment in [first, *pieces]]

    def endings(self) -> list[tuple[_Chunk, str]]:
        return [(self.full(), self.turn.finish)]

    def chunk(self, delta: _Chunk, finish: str | None = None) -> bytes:
        matched = _EOS_ID if finish in ("stop", "tool_calls") else None
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self.encode(self.envelope([{**choice, "matched_stop": matched}]))

    def envelope(self, choices: list[_Chunk], kind: str = "chat.completion.chunk") -> _Chunk:
        chunk = {**super().envelope(choices, kind), "id": "0a1b2c3d4e5f46578899aabbccddeeff"}
        return {**chunk, "usage": None}

    def usage_chunk(self) -> _Chunk:
        usage = self.turn.usage
        return {
            **self.envelope([]),
            "usage": {
                "prompt_tokens": usage["prompt_tokens"],
                "total_tokens": usage["total_tokens"],
                "completion_tokens": usage["completion_tokens"],
                "prompt_tokens_details": None,
                "reasoning_tokens": self.turn.sglang_reasoning_tokens,
            },
        }

    def message(self) -> _Chunk:
        turn = self.turn
        return {
            "role": "assistant",
            "content": None if turn.call else "".join(turn.tokens),
            "reasoning_content": "".join(turn.reasoning) or None,
            "tool_calls": [self.whole_call(turn.call)] if turn.call else None,
        }


class _Tgi(_Default):
    """TGI 3.2+'s Messages API."""

    def deltas(self) -> list[_Chunk]:
        turn = self.turn
        if turn.call is not None:
            return [{"role": "assistant", **delta} for delta in self.tool_deltas(turn.call)]
        thinking = ["<think>", *turn.reasoning, "</think>"] if turn.reasoning else []
        return [{"role": "assistant", "content": text} for text in [*thinking, *turn.tokens]]

    def tool_deltas(self, call: DemoCall) -> list[_Chunk]:
        """The same id on every fragment; the name with the first piece only."""
        return [
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name if i == 0 else None, "arguments": piece},
                    }
                ]
            }
            for i, piece in enumerate(call.pieces)
        ]

    def endings(self) -> list[tuple[_Chunk, str]]:
        if self.turn.call is not None:
            return []  # TGI swallows the end token in tool mode: no finish reason
        return [({"role": "assistant", "content": ""}, self.turn.finish)]  # the end token

    def finish_on_last(self) -> bool:
        return self.turn.call is None and self.turn.finish == "length"  # no end token

    def envelope(self, choices: list[_Chunk], kind: str = "chat.completion.chunk") -> _Chunk:
        return {
            "object": kind,
            "id": "",
            "created": 0,
            "model": self.turn.model,
            "system_fingerprint": _TGI_VERSION,
            "choices": choices,
            "usage": None,
        }

    def usage_chunk(self) -> _Chunk:
        return {**self.envelope([]), "usage": self.turn.usage}

    def whole(self) -> _Chunk:
        answer = super().whole()
        if self.turn.call is not None:
            answer["choices"][0]["finish_reason"] = "stop"  # TGI never says tool_calls
        return answer

    def message(self) -> _Chunk:
        turn = self.turn
        if turn.call is not None:
            call = self.whole_call(turn.call)
            call["function"] = {"description": None, **call["function"]}
            return {"role": "assistant", "tool_calls": [call]}
        thinking = f"<think>{''.join(turn.reasoning)}</think>" if turn.reasoning else ""
        return {"role": "assistant", "content": thinking + "".join(turn.tokens)}


_WRITERS: dict[str, Callable[[ChatTurn], _Default]] = {
    "default": _Default,
    "vllm": _Vllm,
    "vllm-0.11": _Vllm011,
    "vllm-0.10": _Vllm010,
    "sglang": _Sglang,
    "tgi": _Tgi,
    "lmi": _Lmi,
}


def chat_stream(dialect: str, turn: ChatTurn) -> list[bytes]:
    """The parts of a streamed chat answer in ``dialect``."""
    return _WRITERS[dialect](turn).stream()


def chat_whole(dialect: str, turn: ChatTurn) -> _Chunk:
    """The whole ``chat.completion`` in ``dialect``."""
    return _WRITERS[dialect](turn).whole()


def call_id(dialect: str, name: str, arguments: str, messages: list[dict[str, Any]]) -> str:
    """The id of the demo's call, in the style of ``dialect`` (deterministic)."""
    if dialect == "tgi":
        # TGI numbers calls: one more than the highest numeric id of the history, else 0
        numbers = [
            int(call["id"])
            for message in messages
            for call in message.get("tool_calls") or []
            if isinstance(call, dict) and isinstance(call.get("id"), str) and call["id"].isdigit()
        ]
        return str(max(numbers) + 1) if numbers else "0"
    prefix, size = ("call_", 24) if dialect == "sglang" else ("chatcmpl-tool-", 32)
    return prefix + hashlib.sha256(f"{name}\0{arguments}".encode()).hexdigest()[:size]
