"""A model's answer body, bytes or an async iterator of parts, as the answer writers need it.

Whatever happens to the answer (sent, collected, refused, the client gone), the
model's iterator is closed, so a ``finally:`` in a generator model runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

__all__ = ["as_parts", "close_parts", "collect"]


def as_parts(body: bytes | AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The answer as parts: the model's own iterator, or bytes as one part (none if empty)."""
    if isinstance(body, bytes):
        return _single(body)
    return body


async def _single(body: bytes) -> AsyncIterator[bytes]:
    if body:
        yield body


async def close_parts(parts: Any) -> None:
    """Close the model's iterator, if it is one that can be closed."""
    close = getattr(parts, "aclose", None)
    if close is not None:
        await close()


async def collect(parts: AsyncIterator[bytes]) -> bytes:
    """Every part joined, for an answer that goes out whole; the iterator is closed."""
    try:
        return b"".join([bytes(part) async for part in parts])
    finally:
        await close_parts(parts)
