"""What a model generated, as typed values: events, usage, finish reasons, the final result.

Stdlib only (it sits beside the sans-IO formats).  :class:`GenerationEvent` is one
generated piece (answer text, reasoning, tool-call fragments), or one record that
carries the end of a generation (a finish reason, token usage);
``GenerationAccumulator`` (``_accumulator``) folds events into a :class:`Generation`
per choice.

Every field holds what the server sent and nothing more: no format invents a usage
figure or a finish reason its server does not send.  Where the figures come from:

* TGI ``/generate_stream``: the final event's ``details`` (``finish_reason``,
  ``generated_tokens`` and, since TGI 2.3, ``input_length``).  ``total_tokens`` is
  never sent, so it stays ``None``.
* LMI rolling batch: the last line's ``details`` when the request asked for
  ``details: true`` (``finish_reason``, ``generated_tokens``; the vLLM-based async
  handler adds ``input_length``); its ``3p_stream``: the first line's
  ``prompt_token_count`` and the last line's ``generation_token_count`` and
  ``stop_reason``.
* OpenAI-style streams (vLLM, SGLang, TGI's Messages API, LMI's chat schema): each
  choice's ``finish_reason``, and a record's ``usage`` object (the last chunk, with
  empty ``choices``, when the request set ``stream_options.include_usage``; the last
  chunk of each prompt in TGI's completions).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, cast

from .._stats import StreamStats
from ._tools import ToolCall, ToolCallDelta

__all__ = ["Generation", "GenerationEvent", "Usage"]

#: Finish reasons of TGI and LMI, in the words of the OpenAI API (which every other
#: value already uses, so those pass through unchanged).
_FINISH_REASONS = {"eos_token": "stop", "stop_sequence": "stop"}


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one generation, each ``None`` when the server did not send it."""

    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class GenerationEvent:
    """One generated piece of a stream, or one record that ends it.

    ``text`` is the piece of the answer (``""`` for a record that carries only the end,
    reasoning or tool calls); ``special`` marks a special token such as ``</s>``, which
    is never part of the generated text.  ``finish_reason`` is normalised to
    ``"stop"``, ``"length"``, ``"error"`` or another string the server sent
    (``"tool_calls"``...), the server's own word kept in ``raw_finish_reason``;
    ``usage`` is set on the record that carried it; ``raw`` is the decoded record
    itself.  ``choice`` is the index of the choice the piece belongs to (0 for the
    formats that have one); ``reasoning`` the piece of the model's reasoning, kept
    apart from ``text``; ``tool_calls`` the fragments of tool calls the record carried.
    """

    text: str
    token_id: int | None
    logprob: float | None
    special: bool
    finish_reason: str | None
    raw_finish_reason: str | None
    usage: Usage | None
    raw: Any = dataclasses.field(hash=False)
    choice: int = 0
    reasoning: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Generation:
    """The result of a whole generation (one choice of it).

    ``text`` is the non-special texts of ``events`` joined; ``finish_reason`` and
    ``usage`` are the last ones the events carried (``finish_reason`` is ``None``
    when the stream was closed before its end); ``stats`` is the stream's timing,
    when it came from a stream; ``request_id`` the call's, when it came from one.
    ``index`` is the choice's index, ``reasoning`` its reasoning text joined, and
    ``tool_calls`` the calls assembled from its fragments, in index order.
    """

    text: str
    finish_reason: str | None
    usage: Usage | None
    events: tuple[GenerationEvent, ...]
    stats: StreamStats | None = None
    raw_finish_reason: str | None = None
    request_id: str | None = None
    index: int = 0
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


# --- for the formats: building events fast, reading what servers send -----------------


class _Piece:
    """A mutable twin of :class:`GenerationEvent` (same slots, same order).

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``,
    which costs about four times a plain slot assignment; one event per token makes
    that the largest cost of decoding.  This twin fills the slots directly, then
    becomes a :class:`GenerationEvent` (the layouts are identical, so Python allows
    the change of class) that is as frozen as any other.
    """

    __slots__ = tuple(field.name for field in dataclasses.fields(GenerationEvent))

    def __init__(
        self,
        text: str,
        token_id: int | None,
        logprob: float | None,
        special: bool,
        raw: Any,
        choice: int = 0,
        reasoning: str = "",
        tool_calls: tuple[ToolCallDelta, ...] = (),
    ) -> None:
        self.text = text
        self.token_id = token_id
        self.logprob = logprob
        self.special = special
        self.finish_reason = None
        self.raw_finish_reason = None
        self.usage = None
        self.raw = raw
        self.choice = choice
        self.reasoning = reasoning
        self.tool_calls = tool_calls
        self.__class__ = GenerationEvent  # type: ignore[assignment]


class _PieceMaker(Protocol):
    def __call__(
        self,
        text: str,
        token_id: int | None,
        logprob: float | None,
        special: bool,
        raw: Any,
        choice: int = 0,
        reasoning: str = "",
        tool_calls: tuple[ToolCallDelta, ...] = (),
    ) -> GenerationEvent: ...


#: Builds a :class:`GenerationEvent` without finish reason or usage, fast:
#: ``piece(text, token_id, logprob, special, raw[, choice, reasoning, tool_calls])``.
piece = cast(_PieceMaker, _Piece)


def ending(
    event: GenerationEvent | None,
    raw_finish: Any,
    usage: Usage | None,
    raw: Any,
    choice: int = 0,
) -> GenerationEvent | None:
    """``event`` (or an empty one of ``choice``) with the finish reason and usage a record
    carried; ``event`` itself when the record carried neither."""
    finish = finish_reason(raw_finish)
    if finish is None and usage is None:
        return event
    if event is None:
        event = piece("", None, None, False, raw, choice)
    changes: dict[str, Any] = {}
    if finish is not None:
        changes.update(finish_reason=finish, raw_finish_reason=raw_finish)
    if usage is not None:
        changes["usage"] = usage
    return dataclasses.replace(event, **changes)


def end_record(
    out: list[GenerationEvent],
    start: int,
    raw_finish: Any,
    usage: Usage | None,
    record: Any,
    choice: int = 0,
) -> None:
    """Put a record's finish reason and usage on its last event in ``out[start:]``.

    A record that gave no event (an empty final delta, a usage-only chunk) gets an
    empty one of ``choice``; a record that carries neither changes nothing.
    """
    last = out[-1] if len(out) > start else None
    ended = ending(last, raw_finish, usage, record, choice)
    if ended is None or ended is last:
        return
    if last is None:
        out.append(ended)
    else:
        out[-1] = ended


def finish_reason(raw: Any) -> str | None:
    """A server's finish reason in the OpenAI vocabulary; None for no (or no usable) value."""
    if not isinstance(raw, str) or not raw:
        return None
    return _FINISH_REASONS.get(raw, raw)


def count(value: Any) -> int | None:
    """A token count as sent, or None (a bool, a negative number, a float are no count)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def number(value: Any) -> float | None:
    """A log-probability as sent, or None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def openai_usage(value: Any) -> Usage | None:
    """The ``usage`` object of an OpenAI-style record, or None if it has no count."""
    if not isinstance(value, dict):
        return None
    usage = Usage(
        count(value.get("prompt_tokens")),
        count(value.get("completion_tokens")),
        count(value.get("total_tokens")),
    )
    return None if usage == _NO_USAGE else usage


def details_usage(details: dict[str, Any]) -> Usage | None:
    """The counts in a TGI/LMI ``details`` object, or None if it has none.

    ``generated_tokens`` is the completion; the prompt is ``input_length`` (TGI 2.3+,
    LMI's vLLM handler) or ``prompt_tokens`` (LMI's legacy formatter).  Neither server
    sends a total.
    """
    prompt = count(details.get("input_length"))
    if prompt is None:
        prompt = count(details.get("prompt_tokens"))
    usage = Usage(prompt, count(details.get("generated_tokens")), None)
    return None if usage == _NO_USAGE else usage


_NO_USAGE = Usage(None, None, None)
