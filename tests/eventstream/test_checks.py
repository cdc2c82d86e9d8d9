"""Every check the decoder makes, one hand-built frame each, and every encode() refusal.

Bad frames carry correct checksums (except where the checksum is the fault), so the
decoder really reaches the check under test. Each frame is fed whole, one byte at a
time, split in two at every offset, and after a valid message, because each of
those takes a different path through the decoder.
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
import zlib
from collections.abc import Iterator

import pytest

from asyncsagemaker.errors import ProtocolError
from asyncsagemaker.eventstream import (
    DEFAULT_MAX_MESSAGE_BYTES,
    Decoder,
    HeaderValue,
    Int8,
    Int16,
    Int32,
    Int64,
    Message,
    encode,
    encode_headers,
    frame,
)

UTC = dt.timezone.utc
GOOD = encode({":message-type": "event", ":event-type": "PayloadPart"}, b"hello")


def prelude(total: int, headers_len: int) -> bytes:
    """A prelude with a correct checksum for any lengths, sensible or not."""
    lengths = struct.pack("!II", total, headers_len)
    return lengths + struct.pack("!I", zlib.crc32(lengths))


def message(total: int, headers_len: int, body: bytes) -> bytes:
    """Prelude + body + a correct message checksum, whatever the lengths say."""
    head = prelude(total, headers_len) + body
    return head + struct.pack("!I", zlib.crc32(head))


def header(name: bytes, type_code: int, value: bytes = b"") -> bytes:
    return bytes((len(name),)) + name + bytes((type_code,)) + value


def feeds(data: bytes) -> Iterator[list[bytes]]:
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    for cut in range(1, len(data)):
        yield [data[:cut], data[cut:]]


def run(chunks: list[bytes], decoder: Decoder) -> list[Message]:
    out: list[Message] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    decoder.close()
    return out


def assert_refused(data: bytes, match: str, intact: int = 0, **options: int) -> None:
    """``data`` is refused with ``match`` in every chunking, alone and after a good message.

    The ``intact`` good messages at its start (and the good one put before it) are
    handed out before the error, however the input was cut.
    """
    fits = len(GOOD) <= options.get("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES)
    for stream, before in ((data, intact), (GOOD + data, intact + 1 if fits else 0)):
        for chunks in feeds(stream):
            decoder = Decoder(**options)
            out: list[Message] = []
            with pytest.raises(ProtocolError, match=match):
                for chunk in chunks:
                    out += decoder.feed(chunk)
                decoder.close()
            assert len(out) == before
            assert decoder.failed
            assert decoder.buffered == 0
            with pytest.raises(ProtocolError, match="refused input after an earlier error"):
                decoder.feed(GOOD)


def decode_every_way(data: bytes) -> list[Message]:
    results = [run(chunks, Decoder()) for chunks in feeds(data)]
    assert all(r == results[0] for r in results)
    return results[0]


# --- the checks, one each ------------------------------------------------------------


def test_prelude_checksum_mismatch() -> None:
    bad = bytearray(GOOD)
    bad[8] ^= 0x01
    assert_refused(bytes(bad), "prelude checksum mismatch")


def test_prelude_checksum_is_checked_even_when_the_message_checksum_matches() -> None:
    # The headers length is wrong for the prelude checksum, but the message checksum
    # was computed over the bytes as they are: only the prelude check can see it.
    body = header(b"a", 0) + b"xyz"
    stale = prelude(16 + len(body), 2)[8:]  # the checksum of another headers length
    head = struct.pack("!II", 16 + len(body), 3) + stale + body
    bad = head + struct.pack("!I", zlib.crc32(head))
    assert_refused(bad, "prelude checksum mismatch")


def test_prelude_equal_to_a_checked_one_but_for_headers_length_is_refused() -> None:
    # Same total length and prelude checksum as the message before it: only the
    # headers length differs, so a memo of the last good prelude must not accept it.
    body = header(b"a", 0) + b"xy"
    first = message(16 + len(body), 3, body)
    assert Decoder().feed(first) == [Message({"a": True}, b"xy")]
    good_crc = struct.unpack_from("!I", first, 8)[0]
    head = struct.pack("!III", 16 + len(body), 0, good_crc) + body
    second = head + struct.pack("!I", zlib.crc32(head))
    assert_refused(first + second, "prelude checksum mismatch", intact=1)


def test_message_checksum_mismatch() -> None:
    bad = bytearray(GOOD)
    bad[-1] ^= 0x80
    assert_refused(bytes(bad), "message checksum mismatch")
    bad = bytearray(GOOD)
    bad[-6] ^= 0x04  # a payload byte
    assert_refused(bytes(bad), "message checksum mismatch")


@pytest.mark.parametrize("total", [0, 1, 12, 15])
def test_total_length_below_16(total: int) -> None:
    assert_refused(prelude(total, 0) + b"\0" * 4, f"total length {total} is below")


def test_headers_length_inconsistent_with_total() -> None:
    # 20 bytes leave room for 4 bytes of headers and payload, not 5.
    assert_refused(message(20, 5, b"\0" * 4), "headers length 5 does not fit in total length 20")


def test_header_name_length_zero() -> None:
    raw = b"\x00\x00" + header(b"a", 0)
    assert_refused(frame(raw, b"x"), "header name of length 0")


def test_unknown_header_type() -> None:
    for code in (10, 11, 255):
        assert_refused(frame(header(b"kind", code, b"\0" * 16)), f"unknown header type {code}")


@pytest.mark.parametrize(
    ("code", "value"),
    [
        (2, b""),  # byte: 1 needed
        (3, b"\x01"),  # int16: 2 needed
        (4, b"\x00\x00\x01"),  # int32: 4 needed
        (5, b"\x00" * 7),  # int64: 8 needed
        (6, b"\x00"),  # byte array: the length itself is cut
        (6, b"\x00\x05abc"),  # byte array: 5 declared, 3 present
        (7, b"\x00\x03ab"),  # string: 3 declared, 2 present
        (8, b"\x00" * 5),  # timestamp: 8 needed
        (9, bytes(15)),  # uuid: 16 needed
    ],
)
def test_truncated_header_value(code: int, value: bytes) -> None:
    assert_refused(frame(header(b"h", code, value), b"payload"), "truncated")


def test_truncated_header_name_or_type() -> None:
    assert_refused(frame(b"\x05abc"), "truncated header name")
    assert_refused(frame(b"\x03abc"), "truncated header name or type")  # no type byte


def test_duplicate_header_name() -> None:
    raw = header(b"dup", 0) + header(b"x", 1) + header(b"dup", 1)
    assert_refused(frame(raw), "duplicate header name 'dup'")


def test_message_over_max_is_refused_from_its_prelude_alone() -> None:
    huge = prelude(1 << 30, 0)  # 1 GiB announced: only the 12-byte prelude is sent
    decoder = Decoder()
    with pytest.raises(ProtocolError, match="exceeds max_message_bytes"):
        decoder.feed(huge)
    assert decoder.buffered == 0

    decoder = Decoder(max_message_bytes=1024)
    for byte in huge[:11]:
        assert decoder.feed(bytes((byte,))) == []
    assert decoder.buffered == 11
    with pytest.raises(ProtocolError, match="1073741824 bytes exceeds max_message_bytes=1024"):
        decoder.feed(huge[11:])
    assert decoder.buffered == 0
    with pytest.raises(ProtocolError):
        decoder.feed(GOOD)


def test_max_message_bytes_is_inclusive() -> None:
    assert [m.payload for m in Decoder(max_message_bytes=len(GOOD)).feed(GOOD)] == [b"hello"]
    assert_refused(GOOD, "exceeds max_message_bytes", max_message_bytes=len(GOOD) - 1)
    assert DEFAULT_MAX_MESSAGE_BYTES >= 24 * 1024 * 1024  # botocore's payload limit fits


def test_max_message_bytes_below_the_minimum_message_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        Decoder(max_message_bytes=15)


def test_close_with_a_partial_message_pending() -> None:
    for cut in (1, 11, 12, 13, len(GOOD) - 1):
        decoder = Decoder()
        assert decoder.feed(GOOD + GOOD[:cut]) != []
        assert decoder.buffered == cut
        with pytest.raises(ProtocolError, match="truncated stream"):
            decoder.close()
        with pytest.raises(ProtocolError):
            decoder.feed(GOOD[cut:])


def test_messages_before_a_fault_are_returned_and_the_next_call_raises() -> None:
    bad = bytearray(GOOD)
    bad[-1] ^= 0x01
    decoder = Decoder()
    assert len(decoder.feed(GOOD * 2 + bytes(bad) + GOOD)) == 2
    assert decoder.failed
    with pytest.raises(ProtocolError, match="message checksum mismatch"):
        decoder.feed(b"")
    with pytest.raises(ProtocolError, match="refused input after an earlier error"):
        decoder.feed(b"")
    decoder.close()  # the fault was reported once already

    decoder = Decoder()
    assert len(decoder.feed(GOOD + bytes(bad))) == 1
    with pytest.raises(ProtocolError, match="message checksum mismatch"):
        decoder.close()


def test_close_after_complete_messages_is_fine() -> None:
    decoder = Decoder()
    decoder.close()  # nothing fed at all
    decoder = Decoder()
    assert len(decoder.feed(GOOD * 3)) == 3
    assert decoder.buffered == 0
    decoder.close()
    decoder.close()


def test_invalid_utf8_in_string_header() -> None:
    raw = header(b"text", 7, b"\x00\x02\xc3\x28")
    assert_refused(frame(raw), "string header 'text' is not valid UTF-8")


def test_invalid_utf8_in_header_name() -> None:
    assert_refused(frame(header(b"\xff\xfe", 0)), "header name .* is not valid UTF-8")


def test_timestamp_outside_the_datetime_range() -> None:
    raw = header(b"when", 8, struct.pack("!q", 2**62))
    assert_refused(frame(raw), "outside the datetime range")


def test_empty_message_and_empty_header_block_decode() -> None:
    (msg,) = decode_every_way(message(16, 0, b""))
    assert msg == Message({}, b"")
    (msg,) = decode_every_way(frame(b"", b"only payload"))
    assert dict(msg.headers) == {}
    assert msg.payload == b"only payload"


def test_decoded_headers_are_read_only_and_in_wire_order() -> None:
    (msg,) = decode_every_way(encode({"z": 1, "a": 2, "m": 3}))
    assert list(msg.headers) == ["z", "a", "m"]
    with pytest.raises(TypeError):
        msg.headers["z"] = 5  # type: ignore[index]


def test_mutable_input_can_be_reused_after_feed() -> None:
    # A caller that recycles its read buffer must not corrupt a held partial message.
    buffer = bytearray(GOOD[:20])
    decoder = Decoder()
    assert decoder.feed(buffer) == []
    buffer[:] = b"\xff" * 20
    assert decoder.feed(memoryview(bytearray(GOOD[20:]))) == [
        Message({":message-type": "event", ":event-type": "PayloadPart"}, b"hello")
    ]


# --- encode() refusals -------------------------------------------------------------


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, 2**40])
def test_encode_int_out_of_int32_range_needs_int64(value: int) -> None:
    with pytest.raises(ValueError, match=r"header 'count'.*Int64"):
        encode({"count": value})
    assert encode({"count": Int64(value)})  # the wrapper makes it a 64-bit header


@pytest.mark.parametrize("value", [Int8(128), Int8(-129), Int16(2**15), Int32(2**31), Int64(2**63)])
def test_encode_int_out_of_its_wrappers_range(value: int) -> None:
    with pytest.raises(ValueError, match="header 'n'"):
        encode({"n": value})


def test_encode_naive_datetime() -> None:
    with pytest.raises(ValueError, match=r"header 'at'.*timezone-aware"):
        encode({"at": dt.datetime(2024, 1, 1)})


@pytest.mark.parametrize("value", [1.5, None, [1], {"a": 1}, object()])
def test_encode_unsupported_type(value: object) -> None:
    with pytest.raises(TypeError, match=r"header 'x'.*unsupported"):
        encode({"x": value})  # type: ignore[dict-item]


@pytest.mark.parametrize("name", ["", "n" * 256, "é" * 128])
def test_encode_header_name_empty_or_over_255_bytes(name: str) -> None:
    with pytest.raises(ValueError, match="1 to 255 bytes"):
        encode({name: True})


def test_encode_header_name_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="header names must be str"):
        encode({b"name": True})  # type: ignore[dict-item]


def test_encode_header_name_of_255_bytes_is_fine() -> None:
    name = "é" * 127 + "x"  # 255 bytes of UTF-8
    (msg,) = decode_every_way(encode({name: "v"}))
    assert dict(msg.headers) == {name: "v"}


@pytest.mark.parametrize("value", [b"\0" * 65536, "é" * 32768])
def test_encode_header_value_over_65535_bytes(value: HeaderValue) -> None:
    with pytest.raises(ValueError, match=r"header 'big'.*exceeds 65535"):
        encode({"big": value})


def test_encode_header_value_of_65535_bytes_is_fine() -> None:
    (msg,) = Decoder().feed(encode({"big": b"\x01" * 65535, "s": "x" * 65535}))
    assert msg.headers["big"] == b"\x01" * 65535
    assert msg.headers["s"] == "x" * 65535


def test_encode_timestamp_keeps_milliseconds_in_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    when = dt.datetime(2024, 5, 1, 12, 0, 0, 123999, tzinfo=paris)
    (msg,) = Decoder().feed(encode({"at": when}))
    assert msg.headers["at"] == when.replace(microsecond=123000)  # sub-ms dropped
    assert msg.headers["at"].tzinfo is UTC  # type: ignore[union-attr]


def test_encode_accepts_bytes_like_values_and_payloads() -> None:
    bytes_like = {"b": bytearray(b"ab"), "m": memoryview(b"cd")}
    data = encode(bytes_like, bytearray(b"payload"))  # type: ignore[arg-type]
    assert data == encode({"b": b"ab", "m": b"cd"}, b"payload")


def test_encode_headers_and_frame_compose_into_encode() -> None:
    headers: dict[str, HeaderValue] = {"u": uuid.UUID(int=7), "t": True, "f": False}
    raw = encode_headers(headers)
    assert frame(raw, b"p") == encode(headers, b"p")
    assert frame(raw) == encode(headers)


def test_empty_feeds_change_nothing() -> None:
    decoder = Decoder()
    out: list[Message] = []
    for chunk in (b"", GOOD[:5], b"", GOOD[5:30], b"", b"", GOOD[30:], b""):
        out += decoder.feed(chunk)
    decoder.close()
    assert out == Decoder().feed(GOOD)
