"""``StreamStats``: how a stream went, in numbers (stdlib only, so every layer can hold one)."""

from __future__ import annotations

import dataclasses

__all__ = ["StreamStats"]


@dataclasses.dataclass(frozen=True)
class StreamStats:
    """Timing of one stream, in seconds from the moment the request was sent."""

    time_to_first_part: float | None
    parts: int
    bytes: int
    duration: float | None
