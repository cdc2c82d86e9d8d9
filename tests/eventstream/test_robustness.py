"""Hostile input: the decoder fails only with ProtocolError, promptly, in bounded memory.

Random bytes, random preludes with valid checksums, random header blocks inside
valid frames and valid streams with one bit flipped are fed in random chunks.  The
decoder may accept or refuse them, but it never raises anything but
``ProtocolError``, never holds a whole ``max_message_bytes`` of input, and once it
has refused, it refuses everything after.
"""

from __future__ import annotations

import datetime as dt
import random
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncsagemaker.errors import ProtocolError
from asyncsagemaker.eventstream import (
    Decoder,
    Int8,
    Int16,
    Int64,
    Message,
    encode,
    encode_headers,
    frame,
)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
MAX_SIZES = st.sampled_from([16, 64, 1024, 64 * 1024])

pytestmark = pytest.mark.timeout(60)  # a hang fails the test instead of stalling the run


def feed_all(data: bytes, cuts: list[int], max_message_bytes: int) -> tuple[list[Message], bool]:
    """Feed ``data`` cut at ``cuts``; return the messages and whether it was refused."""
    decoder = Decoder(max_message_bytes=max_message_bytes)
    out: list[Message] = []
    start = 0
    for stop in [*cuts, len(data)]:
        chunk = data[start:stop]
        start = stop
        try:
            out += decoder.feed(chunk)
        except ProtocolError:
            assert decoder.failed
            assert decoder.buffered == 0
            with pytest.raises(ProtocolError):  # refused for good
                decoder.feed(chunk)
            with pytest.raises(ProtocolError):
                decoder.feed(b"")
            return out, True
        assert decoder.buffered < max_message_bytes
        assert decoder.buffered <= max_message_bytes + len(chunk)
    try:
        decoder.close()
    except ProtocolError:
        return out, True
    return out, False


def cuts_for(size: int, seed: int, largest: int) -> list[int]:
    rng = random.Random(seed)
    cuts: list[int] = []
    pos = 0
    while True:
        pos += rng.randint(1, largest)
        if pos >= size:
            return cuts
        cuts.append(pos)


chunk_limits = st.sampled_from([1, 3, 12, 13, 100, 5000, 1 << 20])


def prelude(total: int, headers_len: int) -> bytes:
    lengths = struct.pack("!II", total, headers_len)
    return lengths + struct.pack("!I", zlib.crc32(lengths))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=4096), seed=st.integers(0, 2**32), largest=chunk_limits)
def test_random_bytes(data: bytes, seed: int, largest: int) -> None:
    _out, refused = feed_all(data, cuts_for(len(data), seed, largest), 1024)
    assert refused or not data


@settings(max_examples=300, deadline=None)
@given(
    total=st.integers(0, 2**32 - 1) | st.integers(0, 300),
    headers_len=st.integers(0, 2**32 - 1) | st.integers(0, 300),
    tail=st.binary(max_size=600),
    seed=st.integers(0, 2**32),
    largest=chunk_limits,
    max_message_bytes=MAX_SIZES,
)
def test_random_preludes_with_valid_checksums(
    total: int, headers_len: int, tail: bytes, seed: int, largest: int, max_message_bytes: int
) -> None:
    data = prelude(total, headers_len) + tail
    _out, refused = feed_all(data, cuts_for(len(data), seed, largest), max_message_bytes)
    # Only a frame whose lengths fit and whose message checksum matches could pass,
    # and random tail bytes carry the right checksum with negligible probability.
    assert refused


some_headers = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.one_of(
        st.booleans(),
        st.integers(-(2**31), 2**31 - 1),
        st.integers(-(2**63), 2**63 - 1).map(Int64),
        st.integers(-128, 127).map(Int8),
        st.integers(-(2**15), 2**15 - 1).map(Int16),
        st.binary(max_size=20),
        st.text(max_size=20),
        st.uuids(),
        st.integers(0, 2**40).map(lambda ms: EPOCH + dt.timedelta(milliseconds=ms)),
    ),
    max_size=5,
)


@st.composite
def damaged_header_blocks(draw: st.DrawFn) -> bytes:
    """A valid header block with a few bytes overwritten, cut short or extended."""
    raw = bytearray(encode_headers(draw(some_headers)))
    for _ in range(draw(st.integers(0, 3))):
        if raw:
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(raw)))
    return bytes(raw[:cut] if draw(st.booleans()) else raw) + draw(st.binary(max_size=4))


@settings(max_examples=400, deadline=None)
@given(
    raw_headers=st.binary(max_size=200) | damaged_header_blocks(),
    payload=st.binary(max_size=50),
    seed=st.integers(0, 2**32),
    largest=chunk_limits,
)
def test_random_header_blocks_in_valid_frames(
    raw_headers: bytes, payload: bytes, seed: int, largest: int
) -> None:
    data = frame(raw_headers, payload)
    out, refused = feed_all(data, cuts_for(len(data), seed, largest), 1 << 20)
    if not refused:
        # Whatever the decoder accepts, it understood exactly: it re-encodes byte for byte.
        (msg,) = out
        assert encode(msg.headers, msg.payload) == data


def valid_stream(seed: int, count: int) -> tuple[bytes, list[bytes]]:
    rng = random.Random(seed)
    frames = [
        encode(
            {":event-type": "PayloadPart", "seq": i, "blob": rng.randbytes(rng.randint(0, 40))},
            rng.randbytes(rng.choice([0, 1, 16, 300, 5000])),
        )
        for i in range(count)
    ]
    return b"".join(frames), frames


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    count=st.integers(1, 6),
    flip=st.integers(0, 2**40),
    largest=chunk_limits,
)
def test_one_flipped_bit_is_always_caught(seed: int, count: int, flip: int, largest: int) -> None:
    data, frames = valid_stream(seed, count)
    bit = flip % (len(data) * 8)
    bad = bytearray(data)
    bad[bit // 8] ^= 1 << (bit % 8)
    hit = next(i for i, end in enumerate(_ends(frames)) if bit // 8 < end)

    decoder = Decoder(max_message_bytes=1 << 20)
    out: list[Message] = []
    cuts = cuts_for(len(bad), seed, largest)
    with pytest.raises(ProtocolError, match="checksum mismatch"):
        start = 0
        for stop in [*cuts, len(bad)]:
            out += decoder.feed(bytes(bad[start:stop]))
            start = stop
        decoder.close()
    # Every message before the bad frame is handed out, however the input was cut;
    # none after it.
    assert [encode(m.headers, m.payload) for m in out] == frames[:hit]


def _ends(frames: list[bytes]) -> list[int]:
    ends: list[int] = []
    pos = 0
    for f in frames:
        pos += len(f)
        ends.append(pos)
    return ends


def test_errors_are_protocol_errors_and_stream_errors() -> None:
    from asyncsagemaker.errors import SageMakerError, StreamError

    with pytest.raises(ProtocolError) as info:
        Decoder().feed(b"\xff" * 16)
    assert isinstance(info.value, StreamError)
    assert isinstance(info.value, SageMakerError)
    assert "prelude checksum mismatch" in str(info.value)


def test_header_blocks_shared_between_decoders_stay_small_and_few() -> None:
    from asyncsagemaker import eventstream

    for i in range(300):  # each stream sends its own large header block
        decoder = Decoder()
        (msg,) = decoder.feed(encode({"id": i, "pad": b"\0" * 2000}, b"x"))
        assert msg.headers["id"] == i
        (msg,) = decoder.feed(encode({"small": i}))
        assert msg.headers["small"] == i
    shared = eventstream._SHARED_HEADERS
    assert len(shared) <= 256
    assert all(len(block) <= 1024 for block in shared)
