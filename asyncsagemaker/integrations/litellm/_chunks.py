"""Our generations as LiteLLM's: streamed chunks, and the whole ``ModelResponse``.

A custom provider streams ``GenericStreamingChunk`` dicts (text, one tool-call fragment,
the finish reason and usage); reasoning has no place there, so its pieces go as
``ModelResponseStream`` deltas (``reasoning_content``), which LiteLLM passes through
since 1.89.  Each call's id and name ride on its first fragment only (TGI repeats its
id on every one).  The last chunk carries the finish reason and the usage the server
sent, exactly (LiteLLM would count a ``ModelResponseStream``'s usage itself).
"""

from __future__ import annotations

from typing import Any

from litellm.types.utils import (
    ChatCompletionMessageToolCall,
    Choices,
    Delta,
    Function,
    GenericStreamingChunk,
    Message,
    ModelResponse,
    ModelResponseStream,
    StreamingChoices,
)
from litellm.types.utils import Usage as LiteUsage

from ...formats import Generation, GenerationEvent, Usage

__all__ = ["StreamChunks", "model_response"]


class StreamChunks:
    """The chunks of one streamed answer (choice 0), event by event."""

    def __init__(self) -> None:
        self._started: set[int] = set()

    def chunks(self, event: GenerationEvent) -> list[GenericStreamingChunk | ModelResponseStream]:
        if event.choice != 0:
            return []
        out: list[GenericStreamingChunk | ModelResponseStream] = []
        if event.reasoning:
            delta = Delta(reasoning_content=event.reasoning)
            out.append(ModelResponseStream(choices=[StreamingChoices(index=0, delta=delta)]))
        if event.text and not event.special:
            out.append(_chunk(event.text))
        for fragment in event.tool_calls:
            first = fragment.index not in self._started
            self._started.add(fragment.index)
            function = {"name": fragment.name if first else None, "arguments": fragment.arguments}
            tool_use = {
                "id": fragment.id if first else None,
                "type": "function",
                "function": function,
                "index": fragment.index,
            }
            out.append(_chunk("", tool_use=tool_use))
        return out

    def last(self, final: Generation) -> GenericStreamingChunk:
        return _chunk("", finished=True, finish=finish_reason(final), usage=_usage(final.usage))


def _chunk(
    text: str,
    *,
    tool_use: dict[str, Any] | None = None,
    finished: bool = False,
    finish: str = "",
    usage: dict[str, int] | None = None,
) -> GenericStreamingChunk:
    chunk: dict[str, Any] = {
        "text": text,
        "tool_use": tool_use,
        "is_finished": finished,
        "finish_reason": finish,
        "usage": usage,
        "index": 0,
    }
    return chunk  # type: ignore[return-value]


def finish_reason(final: Generation) -> str:
    if final.tool_calls and final.finish_reason in (None, "stop"):
        return "tool_calls"  # TGI sends none after a call
    return final.finish_reason or "stop"


def _usage(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    prompt = usage.prompt_tokens or 0
    completion = usage.completion_tokens or 0
    total = usage.total_tokens if usage.total_tokens is not None else prompt + completion
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def model_response(generation: Generation, model: str) -> ModelResponse:
    """A whole answer: text, reasoning, tool calls, finish reason, usage."""
    calls = [
        ChatCompletionMessageToolCall(
            id=call.id or f"call_{number}",
            type="function",
            function=Function(name=call.name or "", arguments=call.arguments),
        )
        for number, call in enumerate(generation.tool_calls)
    ]
    message = Message(
        content=None if calls and not generation.text else generation.text,
        role="assistant",
        tool_calls=calls or None,
        reasoning_content=generation.reasoning or None,
    )
    counts = _usage(generation.usage)
    response = ModelResponse(
        choices=[Choices(index=0, message=message, finish_reason=finish_reason(generation))],
        model=model,
    )
    if counts is not None:
        response.usage = LiteUsage(  # type: ignore[attr-defined]  # set as LiteLLM's own do
            prompt_tokens=counts["prompt_tokens"],
            completion_tokens=counts["completion_tokens"],
            total_tokens=counts["total_tokens"],
        )
    return response
