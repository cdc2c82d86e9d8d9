"""Our generation events as Strands' stream events (Bedrock ConverseStream's shapes).

Reasoning and text stream as they arrive, each a content block of its own (a change
of kind closes the open block).  Tool calls come after the answer, one ``toolUse``
block each, from the calls our client assembled from their fragments: Strands reads
a block's input only at ``contentBlockStop`` anyway, and a call whose fragments
interleave with another's, or whose name comes late, still arrives whole (Strands'
own OpenAI provider buffers them the same way).  Then ``messageStop`` with the stop
reason in Strands' words, and ``metadata`` with the usage and the stream's timing.
"""

from __future__ import annotations

from typing import Any

from ..._stats import StreamStats
from ...errors import FormatError
from ...formats import Generation, GenerationEvent

__all__ = ["Blocks", "metadata"]

_STOP_REASONS = {
    "tool_calls": "tool_use",
    "length": "max_tokens",
    "content_filter": "content_filtered",
}

Event = dict[str, Any]


class Blocks:
    """The content blocks of one answer (choice 0), opened and closed as they come."""

    def __init__(self) -> None:
        self._open: str | None = None  # "text" or "reasoning"

    def feed(self, event: GenerationEvent) -> list[Event]:
        if event.choice != 0:
            return []
        out: list[Event] = []
        if event.reasoning:
            out += self._switch("reasoning")
            delta = {"reasoningContent": {"text": event.reasoning}}
            out.append({"contentBlockDelta": {"delta": delta}})
        if event.text and not event.special:
            out += self._switch("text")
            out.append({"contentBlockDelta": {"delta": {"text": event.text}}})
        return out

    def finish(self, final: Generation) -> list[Event]:
        """Close the open block; the tool calls; ``messageStop``."""
        out = self._switch(None)
        for number, call in enumerate(final.tool_calls):
            if not call.name:
                raise FormatError(f"the model's tool call {number} has no function name")
            start = {"toolUse": {"name": call.name, "toolUseId": call.id or f"tooluse_{number}"}}
            out.append({"contentBlockStart": {"start": start}})
            delta = {"toolUse": {"input": call.arguments}}
            out.append({"contentBlockDelta": {"delta": delta}})
            out.append({"contentBlockStop": {}})
        out.append({"messageStop": {"stopReason": stop_reason(final)}})
        return out

    def _switch(self, kind: str | None) -> list[Event]:
        if kind == self._open:
            return []
        out: list[Event] = []
        if self._open is not None:
            out.append({"contentBlockStop": {}})
        if kind is not None:
            out.append({"contentBlockStart": {"start": {}}})
        self._open = kind
        return out


def stop_reason(final: Generation) -> str:
    if final.tool_calls and final.finish_reason in (None, "stop", "tool_calls"):
        return "tool_use"  # TGI sends no finish reason after a call
    return _STOP_REASONS.get(final.finish_reason or "", "end_turn")


def metadata(final: Generation, stats: StreamStats | None) -> Event:
    """Usage (0 for what the server did not send) and the timing in milliseconds."""
    usage = final.usage
    prompt = (usage.prompt_tokens if usage else None) or 0
    completion = (usage.completion_tokens if usage else None) or 0
    total = usage.total_tokens if usage and usage.total_tokens is not None else prompt + completion
    metrics: dict[str, int] = {"latencyMs": 0}
    if stats is not None:
        if stats.duration is not None:
            metrics["latencyMs"] = round(stats.duration * 1000)
        if stats.time_to_first_part is not None:
            metrics["timeToFirstByteMs"] = round(stats.time_to_first_part * 1000)
    usage_event = {"inputTokens": prompt, "outputTokens": completion, "totalTokens": total}
    return {"metadata": {"usage": usage_event, "metrics": metrics}}
