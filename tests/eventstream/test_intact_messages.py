"""A fault never costs the messages that arrived intact before it in the same input."""

from __future__ import annotations

import pytest

from asyncsagemaker import ProtocolError
from asyncsagemaker.eventstream import Decoder, encode

PART = {":event-type": "PayloadPart", ":message-type": "event"}


def _corrupt(frame: bytes) -> bytes:
    return frame[:-1] + bytes([frame[-1] ^ 0x01])  # flip a bit of the message checksum


def test_good_messages_come_first_then_the_fault_on_the_next_call() -> None:
    decoder = Decoder()
    data = encode(PART, b"one") + encode(PART, b"two") + _corrupt(encode(PART, b"bad"))
    messages = decoder.feed(data)
    assert [m.payload for m in messages] == [b"one", b"two"]
    assert decoder.failed
    with pytest.raises(ProtocolError, match="message checksum mismatch"):
        decoder.feed(b"")
    with pytest.raises(ProtocolError, match="refused input after an earlier error"):
        decoder.feed(encode(PART, b"later"))


def test_close_raises_the_waiting_fault() -> None:
    decoder = Decoder()
    decoder.feed(encode(PART, b"ok") + _corrupt(encode(PART, b"bad")))
    with pytest.raises(ProtocolError, match="message checksum mismatch"):
        decoder.close()


def test_a_fault_with_nothing_before_it_raises_at_once() -> None:
    decoder = Decoder()
    with pytest.raises(ProtocolError, match="message checksum mismatch"):
        decoder.feed(_corrupt(encode(PART, b"bad")))
    assert decoder.failed


def test_a_bad_header_block_after_good_messages_is_deferred_too() -> None:
    good = encode(PART, b"ok")
    # a header block whose name length is zero, with valid checksums
    bad = encode({"x": True}, b"")
    raw = bytearray(bad)
    raw[12] = 0  # name length 0
    import struct
    import zlib

    struct.pack_into("!I", raw, len(raw) - 4, zlib.crc32(bytes(raw[:-4])))
    decoder = Decoder()
    assert [m.payload for m in decoder.feed(good + bytes(raw))] == [b"ok"]
    with pytest.raises(ProtocolError, match="length 0"):
        decoder.close()
