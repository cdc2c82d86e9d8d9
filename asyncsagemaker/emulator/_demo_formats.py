"""What the ``demo`` model writes: one generation in the wire shapes of real model servers.

A :class:`Generation` is the model-independent result (tokens, why it ended,
token counts); the functions here render it as each server does, whole
(``InvokeEndpoint``) or part by part (the streaming call).  The shapes follow:

* TGI (``/invocations`` of Hugging Face Text Generation Inference, the SageMaker
  TGI container): whole ``[{"generated_text": ...}]``; streamed SSE events
  ``{"index", "token": {"id", "text", "logprob", "special"}, "generated_text",
  "details"}``.  ``details`` only when the request sets ``parameters.details``
  (``finish_reason`` ``length`` / ``eos_token``, ``generated_tokens``, ``seed``,
  and ``input_length`` when streamed, ``prefill``/``tokens`` when whole).  An
  answer that ends by itself ends with the special ``</s>`` token; one cut by
  ``max_new_tokens`` ends with its last ordinary token.
* LMI (DJL Serving rolling batch): whole ``{"generated_text": ...}``; streamed
  JSON lines ``{"token": {"id", "text", "log_prob"}}``, the last line adding
  ``generated_text`` and, when ``parameters.details`` is set, ``details``
  (``finish_reason``, ``generated_tokens``, ``inputs``).  The end-of-sequence
  token is a line of its own with empty text and ``special_token``.
* OpenAI / vLLM: whole ``chat.completion`` / ``text_completion`` objects with
  ``usage``; streamed ``chat.completion.chunk`` / ``text_completion`` chunks
  (the role in the first delta; ``finish_reason`` ``stop`` / ``length`` in the
  last choice), a ``"choices": []`` chunk carrying ``usage`` when
  ``stream_options.include_usage`` is true, then ``data: [DONE]``.  Chat answers
  (with their reasoning and tool calls) in the dialect of the server the emulator
  imitates: see ``_demo_chat``.
* text: the bare text.

Token counts use the demo's tokeniser (a token is optional whitespace and a run
of non-space characters).  The end-of-sequence token is a generated token, as on
real servers: it counts against the limit (an answer of n tokens ends by itself
only when the limit is above n) and in ``generated_tokens`` / ``completion_tokens``.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..formats import WireFormat
from ._demo_chat import ChatTurn, DemoCall, chat_stream, chat_whole

__all__ = [
    "STREAM_CONTENT_TYPES",
    "WHOLE_CONTENT_TYPES",
    "Generation",
    "count_tokens",
    "split_tokens",
    "stream_parts",
    "whole_body",
]

STREAM_CONTENT_TYPES: dict[WireFormat, str] = {
    "tgi": "text/event-stream",
    "lmi": "application/jsonlines",
    "vllm-chat": "text/event-stream",
    "vllm-completions": "text/event-stream",
    "text": "text/plain; charset=utf-8",
}
WHOLE_CONTENT_TYPES: dict[WireFormat, str] = {
    **dict.fromkeys(STREAM_CONTENT_TYPES, "application/json"),
    "text": "text/plain; charset=utf-8",
}
_TOKEN = re.compile(r"\s*\S+")
_LOGPROB = -0.5
_EOS_ID = 2
_MODEL = "demo"


def split_tokens(text: str) -> list[str]:
    """The demo's tokens of ``text``: optional whitespace and a run of non-space characters."""
    return _TOKEN.findall(text)


def count_tokens(text: str) -> int:
    """How many demo tokens ``text`` has (prompt lengths are counted so)."""
    return len(split_tokens(text))


def _token_id(token: str) -> int:
    return zlib.crc32(token.encode("utf-8")) % 32000 + 3


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Generation:
    """One answer: its tokens and how it ended, with what the request asked to see."""

    tokens: list[str]
    prompt: str
    prompt_tokens: int
    ended_by_itself: bool  # else cut by the token limit
    details: bool = False  # TGI/LMI ``parameters.details``
    include_usage: bool = False  # OpenAI ``stream_options.include_usage``
    reasoning: tuple[str, ...] = ()  # reasoning tokens, before the answer (chat)
    call: DemoCall | None = None  # a tool call instead of answer text (chat)
    dialect: str = "default"  # the chat dialect (see _demo_chat)
    model: str = _MODEL  # the model the chat request named

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def generated_tokens(self) -> int:
        """Tokens generated (reasoning and argument pieces too), the end-of-sequence token
        included when there was one."""
        pieces = len(self.call.pieces) if self.call is not None else 0
        generated = len(self.tokens) + len(self.reasoning) + pieces
        return generated + (1 if self.ended_by_itself else 0)

    @property
    def usage(self) -> dict[str, int]:
        completion = self.generated_tokens
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }

    def finish_reason(self, openai: bool) -> str:
        if not self.ended_by_itself:
            return "length"
        if self.call is not None:
            return "tool_calls"
        return "stop" if openai else "eos_token"

    def chat_turn(self) -> ChatTurn:
        return ChatTurn(
            self.tokens,
            self.reasoning,
            self.call,
            self.finish_reason(openai=True),
            self.usage,
            self.include_usage,
            len(self.reasoning),
            self.model,
        )


# --- TGI ---------------------------------------------------------------------------


def _tgi_token(text: str, special: bool = False) -> dict[str, Any]:
    token_id = _EOS_ID if special else _token_id(text)
    return {"id": token_id, "text": text, "logprob": _LOGPROB, "special": special}


def _tgi_tokens(gen: Generation) -> list[dict[str, Any]]:
    tokens = [_tgi_token(token) for token in gen.tokens]
    if gen.ended_by_itself:
        tokens.append(_tgi_token("</s>", special=True))
    return tokens


def _tgi_stream(gen: Generation) -> list[bytes]:
    tokens = _tgi_tokens(gen)
    parts = []
    for index, token in enumerate(tokens, start=1):
        last = index == len(tokens)
        details = None
        if last and gen.details:
            details = {
                "finish_reason": gen.finish_reason(openai=False),
                "generated_tokens": gen.generated_tokens,
                "seed": None,
                "input_length": gen.prompt_tokens,
            }
        event = {
            "index": index,
            "token": token,
            "generated_text": gen.text if last else None,
            "details": details,
        }
        parts.append(f"data:{_dumps(event)}\n\n".encode())
    return parts


def _tgi_whole(gen: Generation) -> Any:
    answer: dict[str, Any] = {"generated_text": gen.text}
    if gen.details:
        answer["details"] = {
            "finish_reason": gen.finish_reason(openai=False),
            "generated_tokens": gen.generated_tokens,
            "seed": None,
            "prefill": [],
            "tokens": _tgi_tokens(gen),
        }
    return [answer]


# --- LMI ---------------------------------------------------------------------------


def _lmi_tokens(gen: Generation) -> list[dict[str, Any]]:
    tokens: list[dict[str, Any]] = [
        {"id": _token_id(token), "text": token, "log_prob": _LOGPROB} for token in gen.tokens
    ]
    if gen.ended_by_itself:
        tokens.append({"id": _EOS_ID, "text": "", "log_prob": _LOGPROB, "special_token": True})
    return tokens


def _lmi_details(gen: Generation) -> dict[str, Any]:
    return {
        "finish_reason": gen.finish_reason(openai=False),
        "generated_tokens": gen.generated_tokens,
        "inputs": gen.prompt,
    }


def _lmi_stream(gen: Generation) -> list[bytes]:
    tokens = _lmi_tokens(gen)
    parts = []
    for index, token in enumerate(tokens, start=1):
        line: dict[str, Any] = {"token": token}
        if index == len(tokens):
            line["generated_text"] = gen.text
            if gen.details:
                line["details"] = _lmi_details(gen)
        parts.append(f"{_dumps(line)}\n".encode())
    return parts


def _lmi_whole(gen: Generation) -> Any:
    answer: dict[str, Any] = {"generated_text": gen.text}
    if gen.details:
        answer["details"] = {**_lmi_details(gen), "tokens": _lmi_tokens(gen)}
    return answer


# --- OpenAI / vLLM -----------------------------------------------------------------


def _sse(chunk: dict[str, Any]) -> bytes:
    return f"data: {_dumps(chunk)}\n\n".encode()


def _openai_object(kind: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
    prefix = "chatcmpl" if kind.startswith("chat.") else "cmpl"
    return {"id": f"{prefix}-1", "object": kind, "created": 0, "model": _MODEL, "choices": choices}


def _openai_end(gen: Generation, kind: str) -> list[bytes]:
    parts = []
    if gen.include_usage:
        parts.append(_sse({**_openai_object(kind, []), "usage": gen.usage}))
    parts.append(b"data: [DONE]\n\n")
    return parts


def _chat_stream(gen: Generation) -> list[bytes]:
    return chat_stream(gen.dialect, gen.chat_turn())


def _chat_whole(gen: Generation) -> Any:
    return chat_whole(gen.dialect, gen.chat_turn())


def _completion_choice(text: str, finish: str | None) -> dict[str, Any]:
    return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}


def _completions_stream(gen: Generation) -> list[bytes]:
    kind = "text_completion"
    texts = gen.tokens or [""]
    finish, last = gen.finish_reason(openai=True), len(texts) - 1
    parts = [
        _sse(_openai_object(kind, [_completion_choice(text, finish if i == last else None)]))
        for i, text in enumerate(texts)
    ]
    return parts + _openai_end(gen, kind)


def _completions_whole(gen: Generation) -> Any:
    choice = _completion_choice(gen.text, gen.finish_reason(openai=True))
    return {**_openai_object("text_completion", [choice]), "usage": gen.usage}


# --- text --------------------------------------------------------------------------


def _text_stream(gen: Generation) -> list[bytes]:
    return [token.encode() for token in gen.tokens]


_STREAMED: dict[WireFormat, Callable[[Generation], list[bytes]]] = {
    "tgi": _tgi_stream,
    "lmi": _lmi_stream,
    "vllm-chat": _chat_stream,
    "vllm-completions": _completions_stream,
    "text": _text_stream,
}
_WHOLE: dict[WireFormat, Callable[[Generation], Any]] = {
    "tgi": _tgi_whole,
    "lmi": _lmi_whole,
    "vllm-chat": _chat_whole,
    "vllm-completions": _completions_whole,
}


def stream_parts(format: WireFormat, gen: Generation) -> list[bytes]:
    """The parts of the streamed answer in ``format``, one token (or event) each."""
    return _STREAMED[format](gen)


def whole_body(format: WireFormat, gen: Generation) -> bytes:
    """The whole answer in ``format``, as ``InvokeEndpoint`` returns it."""
    if format == "text":
        return gen.text.encode()
    return _dumps(_WHOLE[format](gen)).encode()
