"""``GenerationAccumulator``: events folded into one :class:`Generation` per choice."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._stats import StreamStats
from ._generation import Generation, GenerationEvent, Usage
from ._tools import ToolCalls

__all__ = ["GenerationAccumulator"]


class _Choice:
    """What one choice has gathered so far."""

    __slots__ = ("events", "finish", "reasoning", "texts", "tools", "usage", "usage_at")

    def __init__(self) -> None:
        self.events: list[GenerationEvent] = []
        self.texts: list[str] = []
        self.reasoning: list[str] = []
        self.tools: ToolCalls | None = None
        self.finish: GenerationEvent | None = None
        self.usage: Usage | None = None
        self.usage_at = -1  # when the usage came, in the order of all usages


class GenerationAccumulator:
    """Builds a :class:`Generation` per choice from events handed in one by one (sans-IO).

    Usage belongs to the choice whose record carried it; a usage-only record (an
    OpenAI chunk with no choices) belongs to the whole request and counts for every
    choice.  Each choice reports the last usage that applies to it.
    """

    __slots__ = ("_choices", "_first", "_shared", "_shared_at", "_usages")

    def __init__(self) -> None:
        self._first = _Choice()
        self._choices: dict[int, _Choice] = {0: self._first}
        self._shared: Usage | None = None
        self._shared_at = -1
        self._usages = 0

    def add(self, event: GenerationEvent) -> None:
        """Take one event, in stream order."""
        choice = self._first if not event.choice else self._choice(event.choice)
        choice.events.append(event)
        if event.text and not event.special:
            choice.texts.append(event.text)
        if (
            event.reasoning
            or event.tool_calls
            or event.finish_reason is not None
            or event.usage is not None
        ):
            self._note(choice, event)

    def extend(self, events: Iterable[GenerationEvent]) -> None:
        """Take several events, in stream order."""
        for event in events:
            self.add(event)

    @property
    def text(self) -> str:
        """The generated text of choice 0 so far."""
        return "".join(self._first.texts)

    def result(
        self,
        stats: StreamStats | None = None,
        *,
        closed_early: bool = False,
        request_id: str | None = None,
    ) -> Generation:
        """The generation of choice 0 so far.

        ``closed_early=True`` says the reader stopped before the end of the stream:
        the finish reason is then ``None`` (the end was not read), whatever was seen.
        """
        return self._generation(0, self._first, stats, closed_early, request_id)

    def results(
        self,
        stats: StreamStats | None = None,
        *,
        closed_early: bool = False,
        request_id: str | None = None,
    ) -> tuple[Generation, ...]:
        """One generation per choice index seen (0 always), in index order."""
        return tuple(
            self._generation(index, choice, stats, closed_early, request_id)
            for index, choice in sorted(self._choices.items())
        )

    def _choice(self, index: int) -> _Choice:
        choice = self._choices.get(index)
        if choice is None:
            choice = self._choices[index] = _Choice()
        return choice

    def _note(self, choice: _Choice, event: GenerationEvent) -> None:
        """The rarer fields of an event: reasoning, tool calls, finish reason, usage."""
        if event.reasoning:
            choice.reasoning.append(event.reasoning)
        if event.tool_calls:
            if choice.tools is None:
                choice.tools = ToolCalls()
            choice.tools.add(event.tool_calls)
        if event.finish_reason is not None:
            choice.finish = event
        if event.usage is not None:
            self._usages += 1
            if _whole_request(event.raw):
                self._shared, self._shared_at = event.usage, self._usages
            else:
                choice.usage, choice.usage_at = event.usage, self._usages

    def _generation(
        self,
        index: int,
        choice: _Choice,
        stats: StreamStats | None,
        closed_early: bool,
        request_id: str | None,
    ) -> Generation:
        finish = None if closed_early else choice.finish
        usage = choice.usage if choice.usage_at > self._shared_at else self._shared
        return Generation(
            "".join(choice.texts),
            finish.finish_reason if finish is not None else None,
            usage,
            tuple(choice.events),
            stats,
            finish.raw_finish_reason if finish is not None else None,
            request_id,
            index,
            "".join(choice.reasoning),
            choice.tools.result() if choice.tools is not None else (),
        )


def _whole_request(raw: Any) -> bool:
    """True for a record that carries no choice (an OpenAI usage-only chunk), or is not
    an OpenAI chunk at all (TGI, LMI: one choice, so the same thing)."""
    return not (isinstance(raw, dict) and raw.get("choices"))
