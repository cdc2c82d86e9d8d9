"""Batch output: one JSON line per finished row, written whole, and read back to resume.

Each row is one ``write()`` of one complete line to a file opened for appending, so
a process that dies (Ctrl-C, SIGTERM, a crash, SIGKILL) leaves whole rows behind and
at most one torn last line (a machine that loses power may tear the last line too).
Reading the file back, the rows found are done, successes and errors alike; a torn
tail is cut off before anything new is appended, and its row is sent again.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

from .._redact import redact
from ..errors import ParamValidationError, SageMakerError
from ..formats import Usage
from ._call import RowResult

__all__ = ["DoneRows", "RowWriter", "error_record", "read_done", "row_record"]


class DoneRows:
    """What an earlier run left in the output: the line numbers done, and what was cut."""

    def __init__(self) -> None:
        self.lines: set[int] = set()
        self.torn_bytes = 0  # a last line without its newline, cut off
        self.unreadable: list[int] = []  # output lines (1-based) that are not rows
        self.size = 0  # bytes kept

    @property
    def highest(self) -> int:
        return max(self.lines, default=0)


def read_done(path: Path) -> DoneRows:
    """The rows already in ``path`` (nothing if it does not exist); blocking."""
    done = DoneRows()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return done
    except OSError as exc:  # a directory, no permission...
        raise ParamValidationError(f"cannot read the output {path}: {exc.strerror}") from None
    end = data.rfind(b"\n") + 1
    done.torn_bytes = len(data) - end
    done.size = end
    for number, raw in enumerate(data[:end].splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
            line = row["line"]
        except (ValueError, TypeError, KeyError):
            done.unreadable.append(number)
            continue
        if isinstance(line, int) and not isinstance(line, bool) and line > 0:
            done.lines.add(line)
        else:
            done.unreadable.append(number)
    return done


class RowWriter:
    """Appends rows to the output, each as a single write of one whole line.

    ``keep`` is how many bytes of an existing file to keep (what :func:`read_done`
    found whole); ``None`` starts the file afresh.
    """

    def __init__(self, path: Path, keep: int | None) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
        self._fd = os.open(path, flags, 0o644)
        try:
            self._regular = stat.S_ISREG(os.fstat(self._fd).st_mode)  # not /dev/null, a pipe
            if self._regular:
                os.truncate(self._fd, keep or 0)
        except BaseException:
            os.close(self._fd)
            raise

    def write(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False, separators=(", ", ": ")) + "\n").encode()
        view = memoryview(data)
        while view:  # a regular file takes it in one write; a full disk may not
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        """Flush to disk and close (rows already written stay either way)."""
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        try:
            if self._regular:
                os.fsync(fd)
        finally:
            os.close(fd)


def error_record(error: SageMakerError) -> dict[str, Any]:
    """``{"type", "message", "request_id"}`` of a row's error."""
    message = redact(str(error))  # our errors are masked already; a row is written to disk
    return {"type": type(error).__name__, "message": message, "request_id": error.request_id}


def row_record(line: int, ident: Any, result: RowResult) -> dict[str, Any]:
    """The output line of a finished row: ``line``, ``error``, then the answer."""
    record: dict[str, Any] = {"line": line}
    if ident is not None:
        record["id"] = ident
    error = result.error
    record["error"] = None if error is None else error_record(error)
    record["attempts"] = result.attempts
    record["latency"] = round(result.latency, 4)
    if error is not None:
        return record
    record["request_id"] = result.request_id
    generation = result.generation
    if generation is not None:
        record["text"] = generation.text
        record["finish_reason"] = generation.finish_reason
        record["usage"] = usage_record(generation.usage)
        if result.time_to_first_token is not None:
            record["time_to_first_token"] = round(result.time_to_first_token, 4)
        return record
    record.update(_output(result.output or b"", result.content_type))
    return record


def usage_record(usage: Usage | None) -> dict[str, int | None] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _output(body: bytes, content_type: str | None) -> dict[str, Any]:
    """A whole answer: its JSON value when it is JSON, else its text, else base64."""
    if content_type is not None and "json" in content_type:
        try:
            return {"output": json.loads(body), "content_type": content_type}
        except ValueError:
            pass
    try:
        return {"output": body.decode("utf-8"), "content_type": content_type}
    except UnicodeDecodeError:
        encoded = base64.b64encode(body).decode("ascii")
        return {"output_base64": encoded, "content_type": content_type}
