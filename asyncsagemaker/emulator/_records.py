"""The emulator's request records: the newest ones, in a ring of fixed size.

An emulator that runs for hours must not keep every request it saw, so
``Emulator.records`` is a :class:`RecordRing`: a read-only sequence of the
newest ``maxlen`` :class:`RequestRecord` objects, oldest first, that also caps how
much of each request body is kept.  Any listener of the emulator (the HTTP/1.1
server, or one for another protocol) records through the same ring:

    record = RequestRecord(request_id=..., operation=..., endpoint_name=...,
                           headers=..., started=time.monotonic())
    ring.append(record)            # the oldest record falls out when full
    ring.add_body(record, chunk)   # as often as body bytes arrive

A listener may append a subclass of :class:`RequestRecord` with fields of its own,
or keep a ring of records of another type (the HTTP/2 listener's ``BidiRecord``):
the ring is generic, only ``add_body`` needs a ``RequestRecord``.
Appending and reading are safe from different threads (tests read the records of
an emulator that runs on a background thread).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar, overload

from ._types import RequestRecord

__all__ = ["DEFAULT_BODY_LIMIT", "DEFAULT_MAX_RECORDS", "RecordRing"]

R = TypeVar("R")

DEFAULT_MAX_RECORDS = 256
DEFAULT_BODY_LIMIT = 64 * 1024


class RecordRing(Sequence[R], Generic[R]):
    """The newest ``maxlen`` records, oldest first, each body kept up to ``body_limit`` bytes.

    ``body_limit=None`` keeps whole bodies (up to the service's 6 MiB each).
    Index it, iterate it, take ``len()`` or compare it with a list; iteration
    works on a snapshot, so records appended meanwhile do not disturb it.
    """

    def __init__(
        self, maxlen: int = DEFAULT_MAX_RECORDS, body_limit: int | None = DEFAULT_BODY_LIMIT
    ) -> None:
        if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1:
            raise ValueError(f"max_records must be an int >= 1, got {maxlen!r}")
        if body_limit is not None and (
            isinstance(body_limit, bool) or not isinstance(body_limit, int) or body_limit < 0
        ):
            raise ValueError(f"record_body_limit must be an int >= 0 or None, got {body_limit!r}")
        self._records: deque[R] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._body_limit = body_limit
        self._dropped = 0

    @property
    def maxlen(self) -> int:
        """How many records are kept."""
        maxlen = self._records.maxlen
        assert maxlen is not None
        return maxlen

    @property
    def body_limit(self) -> int | None:
        """How many bytes of each request body are kept (``None``: all)."""
        return self._body_limit

    @property
    def dropped(self) -> int:
        """How many records fell out of the ring since it was made or cleared."""
        return self._dropped

    def append(self, record: R) -> None:
        """Keep ``record`` as the newest; the oldest falls out when the ring is full."""
        with self._lock:
            if len(self._records) == self.maxlen:
                self._dropped += 1
            self._records.append(record)

    def add_body(self: RecordRing[RequestRecord], record: RequestRecord, data: bytes) -> None:
        """Count ``data`` as received body bytes of ``record``; keep what the limit allows."""
        record.body_size += len(data)
        room = len(data) if self._body_limit is None else self._body_limit - len(record.body)
        if room > 0 and data:
            record.body += data[:room]

    def clear(self) -> None:
        """Forget every record (the count of dropped records too)."""
        with self._lock:
            self._records.clear()
            self._dropped = 0

    def _snapshot(self) -> list[R]:
        with self._lock:
            return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> R: ...

    @overload
    def __getitem__(self, index: slice) -> list[R]: ...

    def __getitem__(self, index: int | slice) -> R | list[R]:
        if isinstance(index, slice):
            return self._snapshot()[index]
        with self._lock:
            return self._records[index]

    def __iter__(self) -> Iterator[R]:
        return iter(self._snapshot())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (RecordRing, list, tuple)):
            return self._snapshot() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by content

    def __repr__(self) -> str:
        return f"RecordRing(maxlen={self.maxlen}, records={self._snapshot()!r})"
