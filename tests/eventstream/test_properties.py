"""Property tests: our codec agrees with botocore's decoder and with itself.

Random messages with headers of all ten types and payloads from 0 B to 256 KiB are
encoded with ``encode`` (botocore has no encoder), concatenated, cut into random
chunks (down to one byte) and decoded by both ``Decoder`` and botocore's
``EventStreamBuffer``: the messages out must be the same.  Round trips check that
``encode`` and ``Decoder`` are exact inverses, value types included.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from botocore.eventstream import EventStreamBuffer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncsagemaker.eventstream import (
    Decoder,
    HeaderValue,
    Int8,
    Int16,
    Int32,
    Int64,
    Message,
    encode,
)

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
MS = dt.timedelta(milliseconds=1)
MIN_MS = (dt.datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // MS
MAX_MS = (dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - EPOCH) // MS

names = st.text(min_size=1, max_size=30).filter(lambda n: len(n.encode()) <= 255) | st.text(
    alphabet="abcdefghé-:", min_size=100, max_size=255
).filter(lambda n: len(n.encode()) <= 255)

timestamps = st.integers(MIN_MS, MAX_MS).map(lambda ms: EPOCH + ms * MS)
values: st.SearchStrategy[HeaderValue] = st.one_of(
    st.booleans(),
    st.integers(-(2**7), 2**7 - 1).map(Int8),
    st.integers(-(2**15), 2**15 - 1).map(Int16),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**31), 2**31 - 1).map(Int32),
    st.integers(-(2**63), 2**63 - 1).map(Int64),
    st.binary(max_size=300),
    st.text(max_size=100),
    timestamps,
    st.uuids(),
)
headers = st.dictionaries(names, values, max_size=12)


def _random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


payloads = st.one_of(
    st.binary(max_size=64),
    st.builds(_random_bytes, st.integers(0, 4096), st.integers(0, 2**32)),
    st.builds(_random_bytes, st.integers(0, 256 * 1024), st.integers(0, 2**32)),
)
messages = st.lists(st.tuples(headers, payloads), min_size=1, max_size=5)


@st.composite
def chunkings(draw: st.DrawFn, size: int) -> list[int]:
    """Cut points for ``size`` bytes: chunks of 1 byte up to all at once."""
    largest = draw(st.sampled_from([1, 2, 3, 7, 12, 13, 100, 4095, 4096, 65536, 1 << 22]))
    largest = max(largest, size // 500)  # keep botocore's quadratic buffer affordable
    rng = random.Random(draw(st.integers(0, 2**32)))
    cuts: list[int] = []
    pos = 0
    while pos < size:
        pos = min(size, pos + rng.randint(1, largest))
        cuts.append(pos)
    return cuts


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    starts = [0, *cuts[:-1]]
    return [data[a:b] for a, b in zip(starts, cuts, strict=True)]


def as_botocore(value: HeaderValue) -> tuple[str, Any]:
    """Our decoded value in botocore's representation (timestamps as ms, uuids as bytes)."""
    if isinstance(value, dt.datetime):
        return "int", (value - EPOCH) // MS
    if isinstance(value, uuid.UUID):
        return "bytes", value.bytes
    if isinstance(value, bool):
        return "bool", value
    if isinstance(value, int):
        return "int", int(value)
    return type(value).__name__, value


def ours(chunks: list[bytes]) -> list[Message]:
    decoder = Decoder()
    out: list[Message] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
        assert decoder.buffered < decoder._max  # never a whole message's worth held
    decoder.close()
    return out


def botocores(chunks: list[bytes]) -> list[tuple[list[tuple[str, str, Any]], bytes]]:
    buffer = EventStreamBuffer()
    out = []
    for chunk in chunks:
        buffer.add_data(chunk)
        for msg in buffer:
            items = [(name, type(v).__name__, v) for name, v in msg.headers.items()]
            out.append((items, msg.payload))
    return out


def normalised(msgs: list[Message]) -> list[tuple[list[tuple[str, str, Any]], bytes]]:
    return [([(name, *as_botocore(v)) for name, v in m.headers.items()], m.payload) for m in msgs]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), msgs=messages)
def test_decodes_like_botocore_in_any_chunking(
    data: st.DataObject, msgs: list[tuple[dict[str, HeaderValue], bytes]]
) -> None:
    stream = b"".join(encode(h, p) for h, p in msgs)
    chunks = split(stream, data.draw(chunkings(len(stream)), label="cuts"))

    decoded = ours(chunks)

    assert normalised(decoded) == botocores(chunks)
    assert [m.payload for m in decoded] == [p for _h, p in msgs]


def typed(headers: Any) -> list[tuple[str, type, HeaderValue]]:
    """Headers with each value's exact class: Int8(1), 1 and True are different here."""
    return [(name, type(value), value) for name, value in headers.items()]


def expected_typed(headers: dict[str, HeaderValue]) -> list[tuple[str, type, HeaderValue]]:
    out: list[tuple[str, type, HeaderValue]] = []
    for name, value in headers.items():
        if type(value) is Int32:  # an explicit int32 decodes as a plain int
            value = int(value)
        out.append((name, type(value), value))
    return out


@settings(max_examples=150, deadline=None)
@given(headers=headers, payload=st.binary(max_size=512))
def test_round_trip_keeps_values_and_types(headers: dict[str, HeaderValue], payload: bytes) -> None:
    data = encode(headers, payload)

    (msg,) = Decoder().feed(data)

    assert typed(msg.headers) == expected_typed(headers)
    assert msg.payload == payload
    assert encode(msg.headers, msg.payload) == data  # decoded messages re-encode exactly


@settings(max_examples=50, deadline=None)
@given(
    when=st.datetimes(
        min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    offset_minutes=st.integers(-23 * 60, 23 * 60),
)
def test_timestamps_round_trip_to_utc_milliseconds(when: dt.datetime, offset_minutes: int) -> None:
    local = when.astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes)))

    (msg,) = Decoder().feed(encode({"at": local}))

    decoded = msg.headers["at"]
    assert isinstance(decoded, dt.datetime)
    assert decoded.tzinfo is UTC
    assert decoded == when.replace(microsecond=when.microsecond // 1000 * 1000)


def test_one_byte_at_a_time_through_a_256_kib_message() -> None:
    payload = _random_bytes(256 * 1024, seed=1)
    data = encode({":event-type": "PayloadPart", "n": Int64(-1)}, payload) * 2
    decoder = Decoder(max_message_bytes=len(data) // 2)
    out: list[Message] = []
    for i in range(len(data)):
        out += decoder.feed(data[i : i + 1])
        assert decoder.buffered == (i + 1) % (len(data) // 2)
    decoder.close()
    assert [m.payload for m in out] == [payload, payload]
    assert [dict(m.headers) for m in out] == [{":event-type": "PayloadPart", "n": -1}] * 2
