"""Our generations as LangChain's messages: chunks while streaming, one message whole.

What langchain-core (and its standard tests) expect of a chat model's stream:

* the answer's text as ``content``; the reasoning kept out of it, in
  ``additional_kwargs["reasoning_content"]`` (the convention of ChatDeepSeek, Ollama,
  Groq, xAI, which langchain-core turns into a ``reasoning`` content block);
* tool calls as ``tool_call_chunks`` merged by ``index``: the id and name once, on
  the first fragment of each call (servers that repeat them, TGI's ``"0"`` on every
  fragment, would otherwise be concatenated into ``"000"``), and the index moved past
  the reasoning and text blocks already sent, because ``output_version="v1"`` numbers
  those blocks itself from 0 and a tool call at index 0 would be merged into them;
* the usage and the model's name on exactly one chunk, the last, marked
  ``chunk_position="last"`` (strings in ``response_metadata`` are concatenated when
  chunks are added, and usage would be counted twice).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import invalid_tool_call, tool_call, tool_call_chunk

from ...errors import FormatError
from ...formats import Generation, GenerationEvent, ToolCall, Usage

__all__ = ["ChunkMaker", "message_of"]


class ChunkMaker:
    """The chunks of one streamed answer (choice 0), event by event."""

    def __init__(self, model_name: str) -> None:
        self._model_name = model_name  # what the server names, once it has
        self._named = False
        self._reasoning = False
        self._text = False
        self._offset: int | None = None
        self._started: set[int] = set()

    def chunks(self, event: GenerationEvent) -> list[AIMessageChunk]:
        if event.choice != 0:
            return []
        if not self._named:
            named = _model_of(event.raw)
            if named is not None:
                self._model_name, self._named = named, True
        out: list[AIMessageChunk] = []
        if event.reasoning:
            self._reasoning = True
            out.append(
                AIMessageChunk(content="", additional_kwargs={"reasoning_content": event.reasoning})
            )
        if event.text and not event.special:
            self._text = True
            out.append(AIMessageChunk(content=event.text))
        if event.tool_calls:
            out.append(self._tool_chunk(event))
        return out

    def _tool_chunk(self, event: GenerationEvent) -> AIMessageChunk:
        """Tool-call fragments; the name and id in a call's first fragment only."""
        if self._offset is None:  # calls are indexed after the reasoning and text blocks
            self._offset = int(self._reasoning) + int(self._text)
        fragments = []
        for delta in event.tool_calls:
            first = delta.index not in self._started
            self._started.add(delta.index)
            fragments.append(
                tool_call_chunk(
                    name=delta.name if first else None,
                    args=delta.arguments,
                    id=delta.id if first else None,
                    index=self._offset + delta.index,
                )
            )
        return AIMessageChunk(content="", tool_call_chunks=fragments)

    def last(self, final: Generation, metadata: Mapping[str, Any]) -> AIMessageChunk:
        """The closing chunk: finish reason, the model's name, the usage."""
        usage = usage_metadata(final.usage)
        response_metadata = {
            "model_name": self._model_name,
            "finish_reason": finish_reason(final),
            **metadata,
        }
        if usage is None:
            return AIMessageChunk(
                content="", response_metadata=response_metadata, chunk_position="last"
            )
        return AIMessageChunk(
            content="",
            usage_metadata=usage,
            response_metadata=response_metadata,
            chunk_position="last",
        )


def message_of(generation: Generation, model_name: str, metadata: Mapping[str, Any]) -> AIMessage:
    """A whole answer as one ``AIMessage``."""
    model_name = next(
        (name for event in generation.events if (name := _model_of(event.raw))), model_name
    )
    calls: list[Any] = []
    invalid: list[Any] = []
    for call in generation.tool_calls:
        parsed = _arguments(call)
        if isinstance(parsed, dict):
            calls.append(tool_call(name=call.name or "", args=parsed, id=call.id))
        else:
            invalid.append(
                invalid_tool_call(
                    name=call.name, args=call.arguments, id=call.id, error=str(parsed)
                )
            )
    extra = {"reasoning_content": generation.reasoning} if generation.reasoning else {}
    response_metadata = {
        "model_name": model_name,
        "finish_reason": finish_reason(generation),
        **metadata,
    }
    usage = usage_metadata(generation.usage)
    return AIMessage(
        content=generation.text,
        additional_kwargs=extra,
        tool_calls=calls,
        invalid_tool_calls=invalid,
        response_metadata=response_metadata,
        **({} if usage is None else {"usage_metadata": usage}),
    )


def _arguments(call: ToolCall) -> Any:
    """The call's arguments (a dict when they are a JSON object), or the reason they are not."""
    try:
        parsed = call.parse_arguments()
    except FormatError as exc:
        return exc
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        return FormatError(f"the arguments of {call.name} are not a JSON object: {call.arguments}")
    return parsed


def usage_metadata(usage: Usage | None) -> UsageMetadata | None:
    """The counts the server sent; a total it did not send is the sum (TGI sends none)."""
    if usage is None:
        return None
    prompt = usage.prompt_tokens or 0
    completion = usage.completion_tokens or 0
    total = usage.total_tokens if usage.total_tokens is not None else prompt + completion
    counts = {"input_tokens": prompt, "output_tokens": completion, "total_tokens": total}
    return cast(UsageMetadata, counts)


def finish_reason(generation: Generation) -> str | None:
    """The finish reason; ``"tool_calls"`` after calls when the server sent none (TGI)."""
    if generation.finish_reason is None and generation.tool_calls:
        return "tool_calls"
    return generation.finish_reason


def _model_of(raw: Any) -> str | None:
    name = raw.get("model") if isinstance(raw, dict) else None
    return name if isinstance(name, str) and name else None
