"""TGI and LMI records: a ``token``, ``outputs``, the final ``generated_text``, LMI's 3p."""

from __future__ import annotations

from typing import Any

from ..errors import FormatError, ModelOutputError
from ._generation import Usage, count, details_usage, end_record, number, piece
from ._records import _is_three_p, _preview

__all__ = ["TokenRecords"]


class TokenRecords:
    """Reads the records of the ``tgi`` and ``lmi`` formats, one by one.

    ``out`` receives texts (``events`` false) or events.  ``done`` turns true on the
    record that ends the generation (a ``generated_text``, a 3p ``stop_reason``).
    """

    __slots__ = ("done", "format", "prompt_tokens", "yielded")

    def __init__(self, format: str) -> None:
        self.format = format
        self.done = False
        self.yielded = False  # some non-empty, non-special text was produced
        self.prompt_tokens: int | None = None  # LMI 3p: sent on the first line only

    def read(self, record: dict[str, Any], out: list[Any], events: bool) -> None:
        details = record.get("details")
        if isinstance(details, dict) and details.get("finish_reason") == "error":
            raise _error_line(record)
        start = len(out)
        token = record.get("token")
        found = isinstance(token, dict)
        if isinstance(token, dict):
            self._token(token, record, out, events)
        outputs = record.get("outputs")
        if outputs is not None:
            found = self._outputs(outputs, record, out, events) or found
        generated = record.get("generated_text")
        if isinstance(generated, str):
            self._generated(generated, found, record, out, events)
        elif not found:
            self._three_p(record, out, events)
            return
        if events and isinstance(details, dict):
            end_record(out, start, details.get("finish_reason"), details_usage(details), record)

    def _token(self, token: dict[str, Any], record: Any, out: list[Any], events: bool) -> None:
        text = token.get("text")
        if not isinstance(text, str):
            text = ""
        special = bool(token.get("special") or token.get("special_token"))
        if events:
            token_id = token.get("id")
            if type(token_id) is not int or token_id < 0:  # no bool, no -1 "no token"
                token_id = None
            logprob = token.get("logprob")
            if logprob is None:
                logprob = token.get("log_prob")  # LMI's spelling
            if type(logprob) is not float:
                logprob = number(logprob)
            out.append(piece(text, token_id, logprob, special, record))
        elif text and not special:
            out.append(text)
        if text and not special:
            self.yielded = True

    def _outputs(self, outputs: Any, record: Any, out: list[Any], events: bool) -> bool:
        """LMI's dynamic batch ``{"outputs": [...]}`` (or one string); False if not that."""
        if isinstance(outputs, str):
            outputs = [outputs]
        if not isinstance(outputs, list):
            return False
        for text in outputs:
            if isinstance(text, str) and text:
                out.append(piece(text, None, None, False, record) if events else text)
                self.yielded = True
        return True

    def _generated(
        self, generated: str, found: bool, record: Any, out: list[Any], events: bool
    ) -> None:
        """The final record: after streamed tokens a summary, alone the whole answer."""
        if not found and not self.yielded and generated:
            out.append(piece(generated, None, None, False, record) if events else generated)
            self.yielded = True
        self.done = True

    def _three_p(self, record: dict[str, Any], out: list[Any], events: bool) -> None:
        """An LMI ``3p_stream`` line: ``{"body": {"generation", "prompt_token_count",
        "generation_token_count", "stop_reason"}, "metering": {...}}``."""
        if not _is_three_p(record):
            raise FormatError(
                f"a {self.format} record needs 'token', 'outputs', 'generated_text' "
                f"or 'error': {_preview(record)}"
            )
        body = record["body"]
        text = body.get("generation")
        if not isinstance(text, str):
            text = ""
        prompt = count(body.get("prompt_token_count"))
        if prompt is not None:
            self.prompt_tokens = prompt
        start = len(out)
        if text:
            out.append(piece(text, None, None, False, record) if events else text)
            self.yielded = True
        stop = body.get("stop_reason")
        if stop is None:
            return
        self.done = True
        if events:
            usage = Usage(self.prompt_tokens, count(body.get("generation_token_count")), None)
            no_usage = usage == Usage(None, None, None)
            end_record(out, start, stop, None if no_usage else usage, record)


def _error_line(record: dict[str, Any]) -> ModelOutputError:
    """LMI's rolling-batch error line (``details.finish_reason: "error"``), with the server's
    ``token.error_msg`` as the message when it sent one."""
    token = record.get("token")
    message = token.get("error_msg") if isinstance(token, dict) else None
    if not isinstance(message, str) or not message:
        message = "the model stopped with finish_reason 'error' during generation"
    return ModelOutputError(message, error_type="finish_reason", payload=record)
