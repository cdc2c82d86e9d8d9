"""The event signer and verifier against the byte-exact vector and a real AWS SDK capture.

``tests/data/bidi-signing/vector.json`` was produced by the AWS Python signer and
matched by the JS one; ``tests/data/bidi-captures/`` is what the official Python
SDK really sent to a verifying server.  Both are reproduced or verified byte for byte.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials

from asyncsagemaker._auth.keys import signing_key
from asyncsagemaker._bidi.events import BidiPart, encode_payload_part, parse_payload_part
from asyncsagemaker._bidi.signing import (
    STREAMING_PAYLOAD,
    EventSignatureError,
    EventSigner,
    EventVerifier,
    chunk_string_to_sign,
    date_header_block,
)
from asyncsagemaker.eventstream import Decoder, Message, encode
from tests._support import DATA

UTC = dt.timezone.utc
VECTOR: dict[str, Any] = json.loads((DATA / "bidi-signing" / "vector.json").read_text())
CAPTURE: dict[str, Any] = json.loads(
    (DATA / "bidi-captures" / "aws-sdk-python-0.12.0-awscrt.json").read_text()
)
INPUTS = VECTOR["inputs"]
CREDENTIALS = ReadOnlyCredentials(INPUTS["access_key_id"], INPUTS["secret_access_key"], None)
SEED = VECTOR["request"]["seed_signature"]
EVENT_TIME = dt.datetime(2025, 11, 30, 12, 0, 0, tzinfo=UTC)
END_TIME = dt.datetime.fromisoformat(VECTOR["end_frame"]["date"])


def decode_one(data: bytes) -> Message:
    (message,) = Decoder().feed(data)
    return message


def capture_seed() -> str:
    authorization = dict(CAPTURE["request_headers"])["authorization"]
    match = re.search(r"Signature=([0-9a-f]{64})", authorization)
    assert match is not None
    return match[1]


def test_inner_message_is_byte_exact() -> None:
    inner = encode_payload_part(BidiPart(b"hello", "UTF8", "COMPLETE"))
    assert inner.hex() == VECTOR["event1"]["inner_message_hex"]
    assert dict(decode_one(inner).headers) == VECTOR["event1"]["inner_headers"]


def test_date_blocks_are_byte_exact() -> None:
    for when, key in ((EVENT_TIME, "event1"), (END_TIME, "end_frame")):
        millis = (when - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(milliseconds=1)
        assert date_header_block(millis).hex() == VECTOR[key]["date_header_block_hex"]


def test_signer_reproduces_the_vector_byte_for_byte() -> None:
    signer = EventSigner(SEED, CREDENTIALS, INPUTS["region"])
    inner = bytes.fromhex(VECTOR["event1"]["inner_message_hex"])
    envelope = signer.sign(inner, EVENT_TIME)
    assert envelope.hex() == VECTOR["event1"]["envelope_hex"]
    assert signer.prior == VECTOR["event1"]["chunk_signature_hex"]
    end = signer.end_frame(END_TIME)
    assert end.hex() == VECTOR["end_frame"]["envelope_hex"]
    assert signer.prior == VECTOR["end_frame"]["chunk_signature_hex"]
    assert signer.ended


def test_clock_is_read_per_event() -> None:
    times = iter([EVENT_TIME, END_TIME])
    signer = EventSigner(SEED, CREDENTIALS, "us-east-1", clock=lambda: next(times))
    assert (
        signer.sign(bytes.fromhex(VECTOR["event1"]["inner_message_hex"])).hex()
        == (VECTOR["event1"]["envelope_hex"])
    )
    assert signer.end_frame().hex() == VECTOR["end_frame"]["envelope_hex"]


def test_string_to_sign_has_the_documented_lines() -> None:
    inner = bytes.fromhex(VECTOR["event1"]["inner_message_hex"])
    millis = int(EVENT_TIME.timestamp() * 1000)
    text = chunk_string_to_sign(SEED, millis, inner, "us-east-1")
    assert text.split("\n") == [
        "AWS4-HMAC-SHA256-PAYLOAD",
        "20251130T120000Z",
        "20251130/us-east-1/sagemaker/aws4_request",
        SEED,
        hashlib.sha256(date_header_block(millis)).hexdigest(),
        hashlib.sha256(inner).hexdigest(),
    ]


def test_nothing_is_signed_after_the_end_frame() -> None:
    signer = EventSigner(SEED, CREDENTIALS, "us-east-1")
    signer.end_frame(END_TIME)
    with pytest.raises(Exception, match="after the end frame"):
        signer.sign(b"x", END_TIME)


def test_signing_key_is_sigv4s() -> None:
    """The helper derives the key botocore's signer uses for the same day and region."""
    secret = INPUTS["secret_access_key"]
    signer = SigV4Auth(Credentials("AKID", secret), "sagemaker", "eu-west-1")
    request = AWSRequest(method="POST", url="https://h/")
    request.context["timestamp"] = "20251130T120000Z"
    key = signing_key(secret, "20251130", "eu-west-1")
    expected = hmac.new(key, b"some string to sign", hashlib.sha256).hexdigest()
    assert signer.signature("some string to sign", request) == expected


def test_botocore_request_signature_is_the_seed() -> None:
    """The request (seed) signature: botocore signs the literal payload hash and host:8443."""
    request = VECTOR["request"]
    headers = {k: v for k, v in request["headers"].items() if k.lower() != "authorization"}
    aws = AWSRequest(
        method="POST",
        url="https://runtime.sagemaker.us-east-1.amazonaws.com:8443"
        "/endpoints/my-endpoint/invocations-bidirectional-stream",
        headers=headers,
    )
    aws.context["timestamp"] = INPUTS["request_time"]
    signer = SigV4Auth(Credentials(INPUTS["access_key_id"], INPUTS["secret_access_key"]),
                       "sagemaker", "us-east-1")  # fmt: skip
    aws.headers["host"] = "runtime.sagemaker.us-east-1.amazonaws.com:8443"
    canonical = signer.canonical_request(aws)
    assert canonical == request["canonical_request"]
    assert canonical.rsplit("\n", 1)[1] == STREAMING_PAYLOAD
    string_to_sign = signer.string_to_sign(aws, canonical)
    assert string_to_sign == request["string_to_sign"]
    assert signer.signature(string_to_sign, aws) == SEED


# --- verification ---------------------------------------------------------------------


def vector_envelopes() -> list[Message]:
    data = bytes.fromhex(VECTOR["event1"]["envelope_hex"] + VECTOR["end_frame"]["envelope_hex"])
    return Decoder().feed(data)


def test_verifier_accepts_the_vector() -> None:
    verifier = EventVerifier(SEED, INPUTS["secret_access_key"], "us-east-1")
    first, end = vector_envelopes()
    assert verifier.verify(first) == bytes.fromhex(VECTOR["event1"]["inner_message_hex"])
    assert verifier.verify(end) is None
    assert verifier.ended
    assert verifier.count == 2
    verifier.finish()


def test_verifier_accepts_what_the_aws_python_sdk_sent() -> None:
    """Every envelope of the real capture verifies, and decodes to what the SDK was given."""
    verifier = EventVerifier(capture_seed(), INPUTS["secret_access_key"], "us-east-1")
    parts = []
    for index, envelope in enumerate(Decoder().feed(bytes.fromhex(CAPTURE["raw_body_hex"]))):
        event = CAPTURE["events"][index]
        signature = envelope.headers[":chunk-signature"]
        assert isinstance(signature, bytes)
        assert signature.hex() == event["envelope_headers"][":chunk-signature"][1]
        inner = verifier.verify(envelope)
        if inner is None:
            assert event.get("end_frame")
            continue
        message = decode_one(inner)
        assert dict(message.headers) == event["inner_headers"]
        parts.append(parse_payload_part(message))
    verifier.finish()
    assert parts == [
        BidiPart(b"hello", "UTF8", "PARTIAL"),
        BidiPart(b" world", "UTF8", "COMPLETE"),
    ]


def test_wrong_secret_is_a_mismatch() -> None:
    verifier = EventVerifier(SEED, "not-the-secret", "us-east-1")
    with pytest.raises(EventSignatureError) as caught:
        verifier.verify(vector_envelopes()[0])
    assert caught.value.reason == "mismatch"
    assert caught.value.code == "InvalidSignatureException"
    assert caught.value.index == 0


def test_wrong_seed_is_a_mismatch() -> None:
    verifier = EventVerifier("0" * 64, INPUTS["secret_access_key"], "us-east-1")
    with pytest.raises(EventSignatureError, match="does not match") as caught:
        verifier.verify(vector_envelopes()[0])
    assert caught.value.reason == "mismatch"


def test_a_dropped_event_breaks_the_chain() -> None:
    verifier = EventVerifier(SEED, INPUTS["secret_access_key"], "us-east-1")
    with pytest.raises(EventSignatureError) as caught:
        verifier.verify(vector_envelopes()[1])  # the end frame without the event before it
    assert caught.value.reason == "mismatch"


def test_a_changed_payload_byte_is_a_mismatch() -> None:
    first = vector_envelopes()[0]
    changed = bytearray(first.payload)
    changed[-10] ^= 1
    verifier = EventVerifier(SEED, INPUTS["secret_access_key"], "us-east-1")
    with pytest.raises(EventSignatureError) as caught:
        verifier.verify(Message(first.headers, bytes(changed)))
    assert caught.value.reason == "mismatch"


def test_failures_stick() -> None:
    verifier = EventVerifier(SEED, "wrong", "us-east-1")
    first, end = vector_envelopes()
    with pytest.raises(EventSignatureError):
        verifier.verify(first)
    with pytest.raises(EventSignatureError):
        verifier.verify(end)
    with pytest.raises(EventSignatureError):
        verifier.finish()


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({":chunk-signature": b"\x00" * 32}, "unsigned"),
        ({":date": EVENT_TIME}, "unsigned"),
        ({":date": EVENT_TIME, ":chunk-signature": b"\x00" * 31}, "malformed"),
        ({":date": EVENT_TIME, ":chunk-signature": "00" * 32}, "malformed"),
        ({":date": 5, ":chunk-signature": b"\x00" * 32}, "malformed"),
        ({":date": EVENT_TIME, ":chunk-signature": b"\x00" * 32, "x": "y"}, "malformed"),
    ],
)
def test_malformed_envelopes_are_refused(headers: dict[str, Any], reason: str) -> None:
    verifier = EventVerifier(SEED, INPUTS["secret_access_key"], "us-east-1")
    with pytest.raises(EventSignatureError) as caught:
        verifier.verify(decode_one(encode(headers, b"payload")))
    assert caught.value.reason == reason


def test_events_after_the_end_frame_are_refused() -> None:
    signer = EventSigner(SEED, CREDENTIALS, "us-east-1")
    end = signer.end_frame(END_TIME)
    verifier = EventVerifier(SEED, INPUTS["secret_access_key"], "us-east-1")
    assert verifier.verify(decode_one(end)) is None
    with pytest.raises(EventSignatureError) as caught:
        verifier.verify(decode_one(end))
    assert caught.value.reason == "after_end"


def test_input_without_the_end_frame_is_refused_at_finish() -> None:
    verifier = EventVerifier(SEED, INPUTS["secret_access_key"], "us-east-1")
    verifier.verify(vector_envelopes()[0])
    with pytest.raises(EventSignatureError) as caught:
        verifier.finish()
    assert caught.value.reason == "no_end"


def test_clock_skew_is_refused_when_asked() -> None:
    late = EVENT_TIME + dt.timedelta(minutes=16)
    verifier = EventVerifier(SEED, INPUTS["secret_access_key"], "us-east-1",
                             max_skew=dt.timedelta(minutes=15), clock=lambda: late)  # fmt: skip
    with pytest.raises(EventSignatureError, match="960 s away") as caught:
        verifier.verify(vector_envelopes()[0])
    assert caught.value.reason == "clock_skew"
    close = EventVerifier(SEED, INPUTS["secret_access_key"], "us-east-1",
                          max_skew=dt.timedelta(minutes=15), clock=lambda: EVENT_TIME)  # fmt: skip
    assert close.verify(vector_envelopes()[0]) is not None


def test_a_new_day_derives_a_new_key() -> None:
    """A stream that runs past midnight signs each event with its own day's key."""
    before = dt.datetime(2025, 11, 30, 23, 59, 59, 900000, tzinfo=UTC)
    after = before + dt.timedelta(milliseconds=200)
    signer = EventSigner(SEED, CREDENTIALS, "us-east-1")
    data = signer.sign(b"a", before) + signer.sign(b"b", after) + signer.end_frame(after)
    verifier = EventVerifier(SEED, INPUTS["secret_access_key"], "us-east-1")
    assert [verifier.verify(m) for m in Decoder().feed(data)] == [b"a", b"b", None]
    text = chunk_string_to_sign(SEED, int(after.timestamp() * 1000), b"b", "us-east-1")
    assert text.split("\n")[2] == "20251201/us-east-1/sagemaker/aws4_request"
