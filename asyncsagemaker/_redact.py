"""The one redaction of secrets, used wherever text leaves the SDK: errors, logs, rows, spans.

What a request carries that must never be shown again: the session token
(``X-Amz-Security-Token``), the access key id and signature of ``Authorization`` (or
of a presigned URL's ``X-Amz-Credential`` / ``X-Amz-Signature``), whatever form the
text quoting them takes: a header line, a canonical request that a 403 quotes back
(``x-amz-security-token:<token>``), a Python ``repr`` of a header mapping or of
h2's header tuples, a query string.  :func:`redact` replaces each value with
``***`` and keeps the name, so the text still says what was there.  The secret
access key never goes on the wire; it can only appear where a caller put it.

Stdlib only: the error tree imports it (every message of ours is redacted where the
error is made), and so do the transports (causes, HTTP/2 header logs), telemetry,
batch rows and the emulator.  None of it runs on the path of a call that succeeds.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "SECRET_HEADERS", "redact", "redact_headers", "redact_library_logs"]

MASK = "***"

#: Headers whose whole value is secret (lower case).
SECRET_HEADERS = frozenset({"authorization", "x-amz-security-token"})

# name, then what may stand between a name and its value in any of the forms above:
# ": ", "=", "': '", "'=b'", "', '" (a tuple), quotes; then the value itself.
_BETWEEN = r"""['"]?\s*[:=,]\s*b?['"]?"""
_PATTERN = re.compile(
    rf"(?i)(?P<token>x-amz-security-token{_BETWEEN})[A-Za-z0-9+/=%_-]+"
    rf"|(?P<signature>(?:x-amz-)?signature{_BETWEEN})[0-9a-f]{{16,}}"
    rf"|(?P<credential>(?:x-amz-)?credential{_BETWEEN})[A-Za-z0-9]{{8,128}}(?=/|%2F)"
)
_CHEAP = re.compile(r"(?i)security-token|signature|credential")


def _mask(match: re.Match[str]) -> str:
    return (match["token"] or match["signature"] or match["credential"]) + MASK


def redact(text: str) -> str:
    """``text`` with every session token, signature and access key id in it masked."""
    if not _CHEAP.search(text):  # most text names none of them
        return text
    return _PATTERN.sub(_mask, text)


def redact_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``headers`` with secret values masked (``Authorization``, the token)."""
    return {
        name: MASK if str(name).lower() in SECRET_HEADERS else _redact_value(value)
        for name, value in headers.items()
    }


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class _Redacting(logging.Filter):
    """Masks secrets in the DEBUG records of libraries our calls drive.

    hpack logs every header it encodes or decodes ("Adding b'x-amz-security-token'=b'...'
    to the header table", "Decoded ('x-amz-security-token', '...')") and the raw
    (Huffman-coded, so not readable but decodable) header blocks, shown here by size
    only; botocore's parser logs the error bodies we hand it, and a 403 quotes the
    canonical request, token included.  The filter changes those records only; the
    loggers' levels, handlers and propagation stay the user's.  It runs only for
    records that are logged, so not at all unless DEBUG is on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args and record.name.startswith("hpack"):
            record.args = tuple(_shown(arg) for arg in args)
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def _shown(arg: Any) -> Any:
    """A header block (bytes that are not text) as its size; anything else as it is."""
    if isinstance(arg, (bytes, bytearray, memoryview)):
        data = bytes(arg)
        if not data.isascii() or not data.decode("ascii").isprintable():
            return f"<{len(data)} bytes>"
    return arg


_FILTER = _Redacting("asyncsagemaker.redact")
#: The loggers that may see a request's headers or a 403 quoting them.  A filter
#: applies to the records of its own logger only, so each is named.
_LIBRARY_LOGGERS = ("hpack.hpack", "hpack.table", "h2.connection", "h2.stream", "botocore.parsers")


def redact_library_logs() -> None:
    """Install the filter on those libraries' loggers (idempotent).

    Called when a client resolves its settings, and when an HTTP/2 transport or the
    emulator's HTTP/2 listener is made: a filter on those loggers alone, so a user's
    own logging set-up is left as it is.
    """
    for name in _LIBRARY_LOGGERS:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
