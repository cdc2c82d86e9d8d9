"""OpenAI-style chunks (vLLM, SGLang, TGI's Messages API, LMI): every choice's delta.

A chunk's ``choices`` each carry an ``index`` and a ``delta`` (chat) or a ``text``
(completions): the answer text (``content``), reasoning (``reasoning``, vLLM 0.11.1+;
``reasoning_content``, vLLM up to 0.15 and SGLang; vLLM 0.11.1 to 0.15 send both with
the same text, read once), tool-call fragments (``tool_calls``) and a
``finish_reason``.  The chunk's ``usage`` belongs to its choice, or to the whole
request when the chunk has none.
"""

from __future__ import annotations

from typing import Any

from ..errors import FormatError
from ._generation import GenerationEvent, end_record, number, openai_usage, piece
from ._records import _preview
from ._tools import ToolCallDelta, tool_call_deltas

__all__ = ["ChoiceRecords"]


class ChoiceRecords:
    """Reads the chunks of the ``vllm-chat``, ``vllm-completions`` and ``openai`` formats.

    The text form (``events`` false) gives choice 0's answer text only; the event form
    an event per choice that carried text, reasoning, tool calls or an ending.
    """

    __slots__ = ("_chat", "_completion", "_format", "_tool_ids")

    done = False  # an OpenAI stream ends with [DONE], which the transport sees

    def __init__(self, format: str) -> None:
        self._format = format
        self._chat = format != "vllm-completions"
        self._completion = format != "vllm-chat"
        self._tool_ids: dict[int, dict[str, int]] | None = None  # per choice: id -> index

    def read(self, record: dict[str, Any], out: list[Any], events: bool) -> None:
        """One chunk into ``out``: choice 0's texts, or every choice's events.

        The event form's loop is here, not in a method of its own: one call less per
        token on the path every streamed token takes.
        """
        choices = record.get("choices")
        if type(choices) is not list:
            choices = self._without_choices(record)
        if not events:
            self._texts(choices, record, out)
            return
        start = len(out)
        index = 0
        for choice in choices:
            if type(choice) is not dict:
                continue
            index, delta, text = self._parts(choice, record)
            reasoning: str = ""
            tools: tuple[ToolCallDelta, ...] = ()
            if delta is not None and (not text or len(delta) > 1):
                reasoning, tools = self._extras(delta, index)
            mark = len(out)
            if text or reasoning or tools:
                logprobs = choice.get("logprobs")
                logprob = None if logprobs is None else _logprob_of(logprobs)
                out.append(piece(text, None, logprob, False, record, index, reasoning, tools))
            raw_finish = choice.get("finish_reason")
            if raw_finish is not None:
                end_record(out, mark, raw_finish, None, record, index)
        usage = record.get("usage")
        if usage is not None:
            _put_usage(out, start, usage, record, index if len(choices) == 1 else 0)

    def _without_choices(self, record: dict[str, Any]) -> list[Any]:
        """A usage-only chunk whose ``choices`` are null or left out (vLLM), or an error."""
        if record.get("choices") is not None or not isinstance(record.get("usage"), dict):
            raise FormatError(f"a {self._format} chunk needs a 'choices' list: {_preview(record)}")
        return []

    def _texts(self, choices: list[Any], record: dict[str, Any], out: list[str]) -> None:
        for choice in choices:
            if type(choice) is not dict:
                continue
            index, delta, text = self._parts(choice, record)
            if delta is not None and (not text or len(delta) > 1):
                self._extras(delta, index)  # checked as the event form checks them
            if text and not index:
                out.append(text)

    def _parts(self, choice: dict[str, Any], record: Any) -> tuple[int, dict[str, Any] | None, str]:
        """A choice's index, its delta (None for a completion) and its answer text."""
        index = choice.get("index", 0)
        if type(index) is not int or index < 0:
            raise FormatError(f"a choice's 'index' must be a non-negative int: {_preview(record)}")
        delta = choice.get("delta")
        if delta is None and not self._completion:
            raise FormatError(f"a vllm-chat chunk has no 'delta': {_preview(record)}")
        if self._chat and type(delta) is dict:
            text = delta.get("content")
        else:
            delta = None
            text = choice.get("text")
            if text is None and not self._chat:
                raise FormatError(f"a vllm-completions chunk has no 'text': {_preview(record)}")
        return index, delta, text if type(text) is str else ""

    def _extras(self, delta: dict[str, Any], index: int) -> tuple[str, tuple[ToolCallDelta, ...]]:
        """A delta's reasoning and tool-call fragments."""
        reasoning = delta.get("reasoning")
        if type(reasoning) is not str or not reasoning:
            reasoning = delta.get("reasoning_content")
            if type(reasoning) is not str:
                reasoning = ""
        calls = delta.get("tool_calls")
        if not calls:
            return reasoning, ()
        if self._tool_ids is None:
            self._tool_ids = {}
        ids = self._tool_ids.get(index)
        if ids is None:
            ids = self._tool_ids[index] = {}
        return reasoning, tool_call_deltas(calls, ids)


def _put_usage(out: list[GenerationEvent], start: int, usage: Any, record: Any, owner: int) -> None:
    """A chunk's usage on its last event (one of choice ``owner``'s if it gave none)."""
    end_record(out, start, None, openai_usage(usage), record, owner)


def _logprob_of(logprobs: Any) -> float | None:
    """The log-probability of a one-token chunk from its ``logprobs``.

    OpenAI chat (``{"content": [{"logprob": ...}]}``), LMI's chat stream (the same in
    a one-element list) or completions (``{"token_logprobs": [...]}``); None when the
    chunk carries more than one token (the raw record has them).
    """
    if isinstance(logprobs, list) and len(logprobs) == 1:
        logprobs = logprobs[0]
    if not isinstance(logprobs, dict):
        return None
    content = logprobs.get("content")
    if isinstance(content, list):
        if len(content) == 1 and isinstance(content[0], dict):
            return number(content[0].get("logprob"))
        return None
    token_logprobs = logprobs.get("token_logprobs")
    if isinstance(token_logprobs, list) and len(token_logprobs) == 1:
        return number(token_logprobs[0])
    return None
