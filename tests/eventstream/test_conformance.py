"""The codec against published vectors: AWS SDK conformance files and SageMaker frames.

Each vector is decoded whole and one byte at a time, its lengths and checksums are
checked against the raw bytes, and ``encode`` must reproduce the exact bytes from the
decoded headers, so anything the SDK or the emulator writes is what AWS writes.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import struct
import uuid
import zlib
from typing import Any

import pytest

from asyncsagemaker.errors import ProtocolError
from asyncsagemaker.eventstream import (
    Decoder,
    HeaderValue,
    Int8,
    Int16,
    Int64,
    Message,
    encode,
)
from tests._support import DATA

TESTDATA = DATA
VECTORS = TESTDATA / "eventstream-vectors"
FRAMES = TESTDATA / "sagemaker-frames"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

POSITIVE = sorted(p.name for p in (VECTORS / "encoded" / "positive").iterdir())
NEGATIVE = sorted(p.name for p in (VECTORS / "encoded" / "negative").iterdir())
FRAME_FILES = sorted(p.stem for p in FRAMES.glob("*.bin"))


def decode_whole(data: bytes) -> list[Message]:
    decoder = Decoder()
    messages = decoder.feed(data)
    decoder.close()
    return messages


def decode_bytewise(data: bytes) -> list[Message]:
    decoder = Decoder()
    messages: list[Message] = []
    for i in range(len(data)):
        messages += decoder.feed(data[i : i + 1])
    decoder.close()
    return messages


DECODERS = [pytest.param(decode_whole, id="whole"), pytest.param(decode_bytewise, id="bytewise")]


def type_code(value: HeaderValue) -> int:
    """The wire type a decoded value stands for (the decoder's class tells it)."""
    if value is True:
        return 0
    if value is False:
        return 1
    for code, cls in ((2, Int8), (3, Int16), (5, Int64)):
        if isinstance(value, cls):
            return code
    if type(value) is int:
        return 4
    for code, kind in ((6, bytes), (7, str), (8, dt.datetime), (9, uuid.UUID)):
        if isinstance(value, kind):
            return code
    raise AssertionError(f"unexpected decoded value {value!r}")


def expected_value(code: int, value: Any) -> HeaderValue:
    """A JSON vector's header value as our decoder returns it."""
    if code in (0, 1):
        return bool(value)
    if code in (2, 3, 4, 5):
        return int(value)
    raw = base64.b64decode(value) if code in (6, 7, 9) else b""
    if code == 6:
        return raw
    if code == 7:
        return raw.decode("utf-8")
    if code == 8:
        return EPOCH + dt.timedelta(milliseconds=value)
    if code == 9:
        return uuid.UUID(bytes=raw)
    raise AssertionError(f"unknown type code {code}")


def typed_items(message: Message) -> list[tuple[str, int, HeaderValue]]:
    return [(name, type_code(value), value) for name, value in message.headers.items()]


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize("name", POSITIVE)
def test_positive_vector_decodes_exactly(name: str, decode: Any) -> None:
    raw = (VECTORS / "encoded" / "positive" / name).read_bytes()
    want = json.loads((VECTORS / "decoded" / "positive" / name).read_text())

    (message,) = decode(raw)

    total, headers_len, prelude_crc = struct.unpack_from("!III", raw)
    (message_crc,) = struct.unpack_from("!I", raw, len(raw) - 4)
    assert total == len(raw) == want["total_length"]
    assert headers_len == want["headers_length"]
    assert prelude_crc == want["prelude_crc"] & 0xFFFFFFFF == zlib.crc32(raw[:8])
    assert message_crc == want["message_crc"] & 0xFFFFFFFF == zlib.crc32(raw[:-4])
    assert typed_items(message) == [
        (h["name"], h["type"], expected_value(h["type"], h["value"])) for h in want["headers"]
    ]
    assert message.payload == base64.b64decode(want["payload"])


@pytest.mark.parametrize("name", POSITIVE)
def test_positive_vector_reencodes_byte_exact(name: str) -> None:
    raw = (VECTORS / "encoded" / "positive" / name).read_bytes()
    (message,) = decode_whole(raw)
    assert encode(message.headers, message.payload) == raw


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize("name", NEGATIVE)
def test_negative_vector_names_the_failed_checksum(name: str, decode: Any) -> None:
    raw = (VECTORS / "encoded" / "negative" / name).read_bytes()
    reason = (VECTORS / "decoded" / "negative" / name).read_text().strip()
    which = reason.split()[0].lower()  # "Prelude checksum mismatch" -> "prelude"
    assert which in ("prelude", "message")

    with pytest.raises(ProtocolError, match=f"(?i){which} checksum"):
        decode(raw)


def test_all_vector_files_are_covered() -> None:
    assert len(POSITIVE) >= 5
    assert len(NEGATIVE) >= 4
    assert len(FRAME_FILES) >= 7


PAYLOAD_PART: dict[str, HeaderValue] = {
    ":event-type": "PayloadPart",
    ":content-type": "application/octet-stream",
    ":message-type": "event",
}
MODEL_STREAM_ERROR: tuple[dict[str, HeaderValue], bytes] = (
    {
        ":exception-type": "ModelStreamError",
        ":content-type": "application/json",
        ":message-type": "exception",
    },
    b'{"Message":"Model invocation time exceeded","ErrorCode":"ModelInvocationTimeExceeded"}',
)
HELLO = b'data: {"token": {"text": " Hello"}}\n\n'

#: What each SageMaker frame file holds (docs/protocol.md, event stream), header order included.
EXPECTED_FRAMES: dict[str, list[tuple[dict[str, HeaderValue], bytes]]] = {
    "payload_part": [(PAYLOAD_PART, HELLO)],
    "payload_part_empty": [(PAYLOAD_PART, b"")],
    "model_stream_error": [MODEL_STREAM_ERROR],
    "internal_stream_failure": [
        (
            {
                ":exception-type": "InternalStreamFailure",
                ":content-type": "application/json",
                ":message-type": "exception",
            },
            b'{"Message":"Internal stream failure"}',
        )
    ],
    "unmodeled_error": [
        (
            {
                ":error-code": "InternalError",
                ":error-message": "An internal server error occurred.",
                ":message-type": "error",
            },
            b"",
        )
    ],
    "all_header_types": [
        (
            {
                "bool-true": True,
                "bool-false": False,
                "byte": Int8(-49),
                "short": Int16(42),
                "int": 40972,
                "long": Int64(42424242),
                "bytes": b"I'm a little teapot!",
                "string": "application/json",
                "timestamp": EPOCH + dt.timedelta(milliseconds=1700000000123),
                "uuid": uuid.UUID(bytes=bytes(range(1, 17))),
            },
            b'{"foo":"bar"}',
        )
    ],
    "stream_two_parts_then_model_stream_error": [
        (PAYLOAD_PART, HELLO),
        (PAYLOAD_PART, b'data: {"token": {"text": " world"}}\n\n'),
        MODEL_STREAM_ERROR,
    ],
}


def frame_sources() -> list[Any]:
    """Every frame as bytes: each ``.bin`` file and each entry of ``vectors.json``."""
    params = [
        pytest.param(name, (FRAMES / f"{name}.bin").read_bytes(), id=f"{name}.bin")
        for name in FRAME_FILES
    ]
    vectors = json.loads((FRAMES / "vectors.json").read_text())
    params += [
        pytest.param(name, bytes.fromhex(hexed), id=f"vectors.json:{name}")
        for name, hexed in sorted(vectors.items())
    ]
    return params


def typed(headers: dict[str, HeaderValue]) -> list[tuple[str, int, HeaderValue]]:
    return [(name, type_code(value), value) for name, value in headers.items()]


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize(("name", "raw"), frame_sources())
def test_sagemaker_frame_decodes(name: str, raw: bytes, decode: Any) -> None:
    messages = decode(raw)
    assert [(typed_items(m), m.payload) for m in messages] == [
        (typed(headers), payload) for headers, payload in EXPECTED_FRAMES[name]
    ]


@pytest.mark.parametrize(("name", "raw"), frame_sources())
def test_sagemaker_frame_reencodes_byte_exact(name: str, raw: bytes) -> None:
    messages = decode_whole(raw)
    assert b"".join(encode(m.headers, m.payload) for m in messages) == raw
    assert b"".join(encode(h, p) for h, p in EXPECTED_FRAMES[name]) == raw


def test_frames_hex_dumps_match_binaries() -> None:
    for name in FRAME_FILES:
        dump = (FRAMES / f"{name}.hex").read_text()
        hexed = "".join(line.split("|")[0][8:] for line in dump.splitlines() if line.strip())
        assert bytes.fromhex(hexed) == (FRAMES / f"{name}.bin").read_bytes(), name


def test_every_vectors_json_entry_matches_its_binary() -> None:
    vectors = json.loads((FRAMES / "vectors.json").read_text())
    for name, hexed in vectors.items():
        assert bytes.fromhex(hexed) == (FRAMES / f"{name}.bin").read_bytes(), name
