"""What a model generated, as typed values: events, usage, finish reasons, the final result.

Stdlib only (it sits beside the sans-IO formats).  :class:`GenerationEvent` is one
generated piece, or one record that carries the end of a generation (a finish reason,
token usage); :class:`GenerationAccumulator` folds events into a :class:`Generation`.

Every field holds what the server sent and nothing more: no format invents a usage
figure or a finish reason its server does not send.  Where the figures come from:

* TGI ``/generate_stream``: the final event's ``details`` (``finish_reason``,
  ``generated_tokens`` and, since TGI 2.3, ``input_length``).  ``total_tokens`` is
  never sent, so it stays ``None``.
* LMI rolling batch: the last line's ``details`` when the request asked for
  ``details: true`` (``finish_reason``, ``generated_tokens``; the vLLM-based async
  handler adds ``input_length``).
* OpenAI-style streams (vLLM, TGI's Messages API, LMI's chat schema): each choice's
  ``finish_reason``, and a record's ``usage`` object (the last chunk, with empty
  ``choices``, when the request set ``stream_options.include_usage``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, cast

from .._stats import StreamStats

__all__ = ["Generation", "GenerationAccumulator", "GenerationEvent", "Usage"]

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

    ``text`` is the piece (``""`` for a record that only carries the end);
    ``special`` marks a special token such as ``</s>``, which is never part of the
    generated text.  ``finish_reason`` is normalised to ``"stop"``, ``"length"``,
    ``"error"`` or another string the server sent (``"tool_calls"``...), the
    server's own word kept in ``raw_finish_reason``; ``usage`` is set on the record
    that carried it; ``raw`` is the decoded record itself.
    """

    text: str
    token_id: int | None
    logprob: float | None
    special: bool
    finish_reason: str | None
    raw_finish_reason: str | None
    usage: Usage | None
    raw: Any = dataclasses.field(hash=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Generation:
    """The result of a whole generation.

    ``text`` is the non-special texts of ``events`` joined; ``finish_reason`` and
    ``usage`` are the last ones the events carried (``finish_reason`` is ``None``
    when the stream was closed before its end); ``stats`` is the stream's timing,
    when it came from a stream; ``request_id`` the call's, when it came from one.
    """

    text: str
    finish_reason: str | None
    usage: Usage | None
    events: tuple[GenerationEvent, ...]
    stats: StreamStats | None = None
    raw_finish_reason: str | None = None
    request_id: str | None = None


class GenerationAccumulator:
    """Builds a :class:`Generation` from events handed in one by one (sans-IO)."""

    __slots__ = ("_events", "_finish", "_texts", "_usage")

    def __init__(self) -> None:
        self._events: list[GenerationEvent] = []
        self._texts: list[str] = []
        self._finish: GenerationEvent | None = None
        self._usage: Usage | None = None

    def add(self, event: GenerationEvent) -> None:
        """Take one event, in stream order."""
        self._events.append(event)
        if event.text and not event.special:
            self._texts.append(event.text)
        if event.finish_reason is not None:
            self._finish = event
        if event.usage is not None:
            self._usage = event.usage

    def extend(self, events: Iterable[GenerationEvent]) -> None:
        """Take several events, in stream order."""
        for event in events:
            self.add(event)

    @property
    def text(self) -> str:
        """The generated text so far."""
        return "".join(self._texts)

    def result(
        self,
        stats: StreamStats | None = None,
        *,
        closed_early: bool = False,
        request_id: str | None = None,
    ) -> Generation:
        """The generation so far.

        ``closed_early=True`` says the reader stopped before the end of the stream:
        the finish reason is then ``None`` (the end was not read), whatever was seen.
        """
        finish = None if closed_early else self._finish
        return Generation(
            self.text,
            finish.finish_reason if finish is not None else None,
            self._usage,
            tuple(self._events),
            stats,
            finish.raw_finish_reason if finish is not None else None,
            request_id,
        )


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
        self, text: str, token_id: int | None, logprob: float | None, special: bool, raw: Any
    ) -> None:
        self.text = text
        self.token_id = token_id
        self.logprob = logprob
        self.special = special
        self.finish_reason = None
        self.raw_finish_reason = None
        self.usage = None
        self.raw = raw
        self.__class__ = GenerationEvent  # type: ignore[assignment]


#: Builds a :class:`GenerationEvent` without finish reason or usage, fast:
#: ``piece(text, token_id, logprob, special, raw)``.
piece = cast(Callable[[str, "int | None", "float | None", bool, Any], GenerationEvent], _Piece)


def ending(
    event: GenerationEvent | None, raw_finish: Any, usage: Usage | None, raw: Any
) -> GenerationEvent | None:
    """``event`` (or an empty one) with the finish reason and usage a record carried.

    None when the record carried neither.
    """
    finish = finish_reason(raw_finish)
    if finish is None and usage is None:
        return event
    if event is None:
        event = piece("", None, None, False, raw)
    return dataclasses.replace(
        event,
        finish_reason=finish,
        raw_finish_reason=raw_finish if finish is not None else None,
        usage=usage,
    )


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
