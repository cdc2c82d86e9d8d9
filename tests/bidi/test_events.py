"""Inner messages and envelopes round trip through the codec in any chunking (hypothesis).

Random payloads, data types, completion states and padding go through
``encode_payload_part`` and a signer, are cut at random offsets, and come back out
of the decoder, the verifier and the parsers as they went in.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from botocore.credentials import ReadOnlyCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncsagemaker._bidi.events import (
    BidiPart,
    encode_error_event,
    encode_exception_event,
    encode_payload_part,
    parse_output_event,
    parse_payload_part,
)
from asyncsagemaker._bidi.signing import EventSigner, EventVerifier
from asyncsagemaker.errors import (
    DecodeError,
    InternalStreamFailure,
    ModelStreamError,
    ParamValidationError,
    ProtocolError,
    StreamError,
)
from asyncsagemaker.eventstream import Decoder, Message, encode

UTC = dt.timezone.utc
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
CREDENTIALS = ReadOnlyCredentials("AKIDEXAMPLE", SECRET, "session-token")
SEED = "550dc645121087cd8a9624010ae35cc0120e73cc4e94ff0bfa3f58ce290131d9"
START = dt.datetime(2025, 11, 30, 12, 0, tzinfo=UTC)

parts = st.builds(
    BidiPart,
    st.binary(max_size=2000),
    st.sampled_from(["UTF8", "BINARY"]),
    st.sampled_from(["PARTIAL", "COMPLETE"]),
)
paddings = st.one_of(st.none(), st.text(max_size=40))


def decode_in_pieces(data: bytes, cuts: list[int]) -> list[Message]:
    decoder = Decoder()
    messages: list[Message] = []
    offsets = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for start, stop in itertools.pairwise(offsets):
        messages += decoder.feed(data[start:stop])
    decoder.close()
    return messages


@settings(max_examples=200, deadline=None)
@given(part=parts, padding=paddings)
def test_payload_part_round_trip(part: BidiPart, padding: str | None) -> None:
    (message,) = Decoder().feed(encode_payload_part(part, padding))
    assert parse_payload_part(message) == part
    assert parse_output_event(message) == part
    assert message.headers.get("P") == padding
    assert (":content-type" in message.headers) == bool(part.data)


@settings(max_examples=100, deadline=None)
@given(
    sent=st.lists(st.tuples(parts, paddings), max_size=12),
    cuts=st.lists(st.integers(min_value=0), max_size=20),
    steps=st.lists(st.integers(min_value=0, max_value=5000), min_size=13, max_size=13),
)
def test_signed_envelopes_round_trip_in_any_chunking(
    sent: list[tuple[BidiPart, str | None]], cuts: list[int], steps: list[int]
) -> None:
    """Sign a stream of parts, cut it anywhere, verify it and get every part back."""
    times = iter([START + dt.timedelta(milliseconds=sum(steps[: i + 1])) for i in range(13)])
    signer = EventSigner(SEED, CREDENTIALS, "eu-west-1", clock=lambda: next(times))
    body = b"".join(signer.sign(encode_payload_part(p, pad)) for p, pad in sent)
    body += signer.end_frame()
    verifier = EventVerifier(SEED, SECRET, "eu-west-1")
    received = []
    for envelope in decode_in_pieces(body, cuts):
        inner = verifier.verify(envelope)
        if inner is not None:
            (message,) = Decoder().feed(inner)
            received.append(parse_payload_part(message))
    verifier.finish()
    assert received == [p for p, _ in sent]


@settings(max_examples=100, deadline=None)
@given(
    sent=st.lists(parts, min_size=1, max_size=6),
    index=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
def test_any_flipped_bit_is_caught(sent: list[BidiPart], index: int, bit: int) -> None:
    """One flipped bit anywhere in the body fails a CRC or a signature: never accepted."""
    signer = EventSigner(SEED, CREDENTIALS, "us-east-1", clock=lambda: START)
    body = bytearray(b"".join(signer.sign(encode_payload_part(p)) for p in sent))
    body += signer.end_frame()
    body[index % len(body)] ^= 1 << bit
    verifier = EventVerifier(SEED, SECRET, "us-east-1")
    with pytest.raises(ProtocolError):
        for envelope in Decoder().feed(bytes(body)):
            inner = verifier.verify(envelope)
            if inner is not None:
                for message in Decoder().feed(inner):
                    parse_payload_part(message)
        verifier.finish()


def test_absent_headers_mean_binary_and_complete() -> None:
    message = Message({":message-type": "event", ":event-type": "PayloadPart"}, b"\x00\x01")
    assert parse_payload_part(message) == BidiPart(b"\x00\x01", "BINARY", "COMPLETE")


@pytest.mark.parametrize(
    ("headers", "match"),
    [
        ({":message-type": "event", ":event-type": "Other"}, "must be a PayloadPart"),
        ({":message-type": "exception", ":event-type": "PayloadPart"}, "must be a PayloadPart"),
        ({":message-type": "event", ":event-type": "PayloadPart", "DataType": "TEXT"}, "UTF8 or"),
        ({":message-type": "event", ":event-type": "PayloadPart", "CompletionState": "DONE"},
         "PARTIAL or COMPLETE"),
        ({":message-type": "event", ":event-type": "PayloadPart", "DataType": b"UTF8"},
         "must be a string"),
    ],
)  # fmt: skip
def test_bad_input_events_are_refused(headers: dict[str, str | bytes], match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        parse_payload_part(Message(headers, b"x"))


def test_output_exceptions_are_typed() -> None:
    (message,) = Decoder().feed(
        encode_exception_event("ModelStreamError", "broken", "StreamBroken")
    )
    with pytest.raises(ModelStreamError) as model:
        parse_output_event(message)
    assert model.value.error_code == "StreamBroken"
    assert model.value.message == "broken"
    assert json.loads(message.payload) == {"Message": "broken", "ErrorCode": "StreamBroken"}
    (message,) = Decoder().feed(encode_exception_event("InternalStreamFailure", "oops"))
    with pytest.raises(InternalStreamFailure, match="oops"):
        parse_output_event(message)
    (message,) = Decoder().feed(encode_exception_event("SomethingNew", "new"))
    with pytest.raises(StreamError) as other:
        parse_output_event(message)
    assert other.value.code == "SomethingNew"
    (message,) = Decoder().feed(encode_error_event("InvalidSignatureException", "bad chunk"))
    with pytest.raises(StreamError) as error:
        parse_output_event(message)
    assert (error.value.code, error.value.message) == ("InvalidSignatureException", "bad chunk")


def test_unknown_output_events_are_skipped_and_unknown_types_refused() -> None:
    unknown = Message({":message-type": "event", ":event-type": "New"}, b"")
    assert parse_output_event(unknown) is None
    with pytest.raises(ProtocolError, match="unknown :message-type"):
        parse_output_event(Message({":message-type": "gossip"}, b""))
    headers = {":message-type": "exception", ":exception-type": "ModelStreamError"}
    (message,) = Decoder().feed(encode(headers, b"not json"))
    with pytest.raises(ModelStreamError, match="not json"):
        parse_output_event(message)


def test_part_values() -> None:
    assert BidiPart.of("héllo") == BidiPart("héllo".encode(), "UTF8", "COMPLETE")
    assert BidiPart.of(bytearray(b"\x00"), "PARTIAL") == BidiPart(b"\x00", "BINARY", "PARTIAL")
    part = BidiPart(b"x")
    assert BidiPart.of(part) is part
    assert BidiPart(memoryview(b"ab")).data == b"ab"  # type: ignore[arg-type]
    assert BidiPart(b"ok", "UTF8").text == "ok"
    with pytest.raises(DecodeError, match="not valid UTF-8"):
        _ = BidiPart(b"\xc3", "UTF8", "PARTIAL").text
    with pytest.raises(ParamValidationError, match="data_type"):
        BidiPart(b"", "TEXT")  # type: ignore[arg-type]
    with pytest.raises(ParamValidationError, match="completion_state"):
        BidiPart(b"", "UTF8", "DONE")  # type: ignore[arg-type]
    with pytest.raises(ParamValidationError, match="must be bytes"):
        BidiPart("text")  # type: ignore[arg-type]
    with pytest.raises(ParamValidationError, match="str, bytes or BidiPart"):
        BidiPart.of(5)  # type: ignore[arg-type]
