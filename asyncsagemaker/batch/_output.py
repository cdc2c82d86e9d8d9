"""Batch output: one JSON line per finished row, written whole, and read back to resume.

Each row is one ``write()`` of one complete line to a file opened for appending, so
a process that dies (Ctrl-C, SIGTERM, a crash, SIGKILL) leaves whole rows behind and
at most one torn last line (a machine that loses power may tear the last line too).
Reading the file back, the rows found are done: the successes, and the errors too
when they are kept (``keep_errors``); otherwise the error rows are taken out of the
file (rewritten beside it and renamed over it, so a crash leaves the old file or the
new one, whole) and their lines are sent again.  A torn tail is cut off before
anything new is appended, and its row is sent again.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from .._redact import redact
from ..errors import ParamValidationError, SageMakerError
from ..formats import Usage
from ._call import RowResult

__all__ = ["DoneRows", "RowWriter", "drop_error_rows", "error_record", "read_done", "row_record"]


class DoneRows:
    """What an earlier run left in the output: the line numbers done, and what was cut."""

    def __init__(self) -> None:
        self.lines: set[int] = set()  # done: not sent again
        self.error_lines: set[int] = set()  # lines whose only rows are errors
        self.error_spans: list[tuple[int, int]] = []  # byte ranges of the error rows
        self.kept_errors = 0  # error rows left in the output (and counted done)
        self.torn_bytes = 0  # a last line without its newline, cut off
        self.unreadable: list[int] = []  # output lines (1-based) that are not rows
        self.size = 0  # bytes kept
        self.highest = 0  # the highest input line any row is for (errors included)


def read_done(path: Path, *, keep_errors: bool = True) -> DoneRows:
    """The rows already in ``path`` (nothing if it does not exist); blocking.

    With ``keep_errors`` the error rows are done too; without, their lines are not
    (:func:`drop_error_rows` then takes them out of the file).
    """
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
    succeeded: set[int] = set()
    start = number = 0
    while start < end:
        stop = data.index(b"\n", start) + 1
        number += 1
        line, failed = _row_of(data[start:stop])
        if line is None:
            if data[start:stop].strip():
                done.unreadable.append(number)
        elif failed:
            done.error_lines.add(line)
            done.error_spans.append((start, stop))
        else:
            succeeded.add(line)
        start = stop
    done.highest = max(done.error_lines | succeeded, default=0)
    done.error_lines -= succeeded
    if keep_errors:
        done.lines = succeeded | done.error_lines
        done.kept_errors = len(done.error_lines)
        done.error_spans = []
    else:
        done.lines = succeeded
    return done


def _row_of(raw: bytes) -> tuple[int | None, bool]:
    """A row's input line number and whether it is an error row; None if not a row."""
    if not raw.strip():
        return None, False
    try:
        row = json.loads(raw)
        line = row["line"]
        failed = row.get("error") is not None
    except (ValueError, TypeError, KeyError, RecursionError):  # not a row, or nested too deeply
        return None, False
    if isinstance(line, int) and not isinstance(line, bool) and line > 0:
        return line, failed
    return None, False


def drop_error_rows(path: Path, done: DoneRows) -> None:
    """Take the error rows :func:`read_done` found out of ``path``; blocking.

    The rows kept are written to a file beside it, flushed, and renamed over it: a
    crash in between leaves the old file whole.  ``done.size`` becomes the new size.
    """
    if not done.error_spans:
        return
    spans, done.error_spans = done.error_spans, []
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        data = path.read_bytes()[: done.size]
        kept = bytearray()
        start = 0
        for begin, stop in spans:
            kept += data[start:begin]
            start = stop
        kept += data[start:]
        with temporary.open("wb") as file:
            file.write(kept)
            file.flush()
            os.fsync(file.fileno())
        shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ParamValidationError(
            f"cannot take the error rows out of the output {path}: {exc.strerror} "
            "(keep them with keep_errors=True, --keep-errors)"
        ) from None
    done.size = len(kept)
    done.torn_bytes = 0


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
        except (ValueError, RecursionError):  # not JSON, or nested too deeply to read
            pass
    try:
        return {"output": body.decode("utf-8"), "content_type": content_type}
    except UnicodeDecodeError:
        encoded = base64.b64encode(body).decode("ascii")
        return {"output_base64": encoded, "content_type": content_type}
