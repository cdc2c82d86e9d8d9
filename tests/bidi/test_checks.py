"""What the emulator refuses: bad request and chunk signatures, bad members, bad events.

Before the stream a refusal is an HTTP status with ``x-amzn-errortype`` and a JSON
body; once the stream runs it is an error event, END_STREAM, and RST_STREAM(NO_ERROR)
for the client's input, with the model cancelled.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from botocore.credentials import ReadOnlyCredentials
from h2.errors import ErrorCodes

from asyncsagemaker._bidi.events import BidiPart, encode_payload_part
from asyncsagemaker._bidi.signing import EventSigner
from asyncsagemaker.errors import StreamError
from asyncsagemaker.eventstream import HeaderValue, encode
from tests.bidi._h2client import AKID, SECRET, H2TestClient
from tests.bidi.conftest import Connect

pytestmark = pytest.mark.anyio


async def refusal(
    client: H2TestClient, endpoint: str = "echo", **kwargs: object
) -> tuple[int, dict[str, object]]:
    stream = await client.open(endpoint, **kwargs)  # type: ignore[arg-type]
    return stream.status, await stream.error()


async def test_a_wrong_secret_is_refused_before_the_stream(connect: Connect) -> None:
    async with connect() as (emu, client):
        wrong = ReadOnlyCredentials(AKID, "not-the-secret", None)
        status, body = await refusal(client, credentials=wrong)
        assert (status, body["_header"]) == (403, "InvalidSignatureException")
        assert "signature we calculated does not match" in str(body["Message"])
        assert emu.bidi_records[-1].status == 403


async def test_an_unknown_key_and_no_signature_are_refused(connect: Connect) -> None:
    async with connect() as (_, client):
        status, body = await refusal(
            client, credentials=ReadOnlyCredentials("AKIDOTHER", SECRET, None)
        )
        assert (status, body["_header"]) == (403, "UnrecognizedClientException")
        status, body = await refusal(client, unsigned=True)
        assert (status, body["_header"]) == (403, "MissingAuthenticationTokenException")


async def test_a_session_token_is_signed_and_accepted(connect: Connect) -> None:
    async with connect() as (_, client):
        stream = await client.open("echo", credentials=ReadOnlyCredentials(AKID, SECRET, "tok/en="))
        assert stream.status == 200
        await stream.send_part("with a token")
        await stream.end_input()
        assert await stream.parts() == [BidiPart.of("with a token")]


async def test_the_payload_hash_must_be_the_streaming_literal(connect: Connect) -> None:
    async with connect() as (_, client):
        empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        status, body = await refusal(client, headers={"x-amz-content-sha256": empty})
        assert (status, body["_header"]) == (400, "InvalidSignatureException")


async def test_a_stale_request_date_is_refused(connect: Connect) -> None:
    async with connect() as (_, client):
        old = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 3600))
        status, body = await refusal(client, signed_at=old)
        assert status == 403
        assert "Signature expired" in str(body["Message"])


async def test_a_bad_chunk_signature_ends_the_stream(connect: Connect) -> None:
    async with connect() as (emu, client):
        stream = await client.open("echo")
        await stream.send_part("good")
        assert await stream.next_part() == BidiPart.of("good")
        assert stream.signer is not None
        stream.signer.credentials = ReadOnlyCredentials(AKID, "rotated-wrong-secret", None)
        await stream.send_part("forged")
        with pytest.raises(StreamError) as caught:
            await asyncio.wait_for(stream.next_part(), 5)
        assert caught.value.code == "InvalidSignatureException"
        assert "input event 1" in caught.value.message
        assert await stream.next_message() is None  # END_STREAM after the error event
        for _ in range(100):
            if stream.reset_code is not None:
                break
            await asyncio.sleep(0.01)
        assert stream.reset_code == ErrorCodes.NO_ERROR
        record = emu.bidi_records[-1]
        assert (record.outcome, record.parts_received, record.parts_sent) == ("bad_signature", 1, 1)
        assert record.model_cancelled


async def test_a_chain_from_the_wrong_seed_is_refused(connect: Connect) -> None:
    async with connect() as (emu, client):
        stream = await client.open("echo")
        stream.signer = EventSigner("0" * 64, ReadOnlyCredentials(AKID, SECRET, None), "us-east-1")
        await stream.send_part("first")
        with pytest.raises(StreamError) as caught:
            await stream.next_part()
        assert caught.value.code == "InvalidSignatureException"
        assert emu.bidi_records[-1].parts_received == 0


async def test_the_end_frame_is_required_when_signatures_are_checked(connect: Connect) -> None:
    async with connect() as (emu, client):
        stream = await client.open("echo")
        await stream.send_part("a")
        await stream.end_input(end_frame=False)
        assert await stream.next_part() == BidiPart.of("a")
        with pytest.raises(StreamError, match="without the signed end frame"):
            await stream.next_part()
        assert emu.bidi_records[-1].outcome == "bad_signature"


async def test_without_credentials_envelopes_are_unwrapped_unchecked(connect: Connect) -> None:
    async with connect(credentials=None) as (emu, client):
        stream = await client.open("echo", credentials=ReadOnlyCredentials("ANY", "thing", None))
        headers: dict[str, HeaderValue] = {
            ":date": dt.datetime.now(dt.timezone.utc),
            ":chunk-signature": b"\0" * 32,
        }
        unsigned = encode(headers, encode_payload_part(BidiPart.of("x")))
        await stream.send_raw(unsigned)
        await stream.end_input(end_frame=False)
        assert await stream.parts() == [BidiPart.of("x")]
        assert emu.bidi_records[-1].signatures_checked == 0


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"\x00\x00\x00\x05junk", "truncated stream"),
        (encode({":message-type": "event", ":event-type": "Other"}), "must be a PayloadPart"),
        (encode({":message-type": "event", ":event-type": "PayloadPart", "DataType": "TEXT"}),
         "UTF8 or BINARY"),
        (encode({":a": "b"}) + encode({":a": "b"}), "exactly one event"),
    ],
)  # fmt: skip
async def test_malformed_input_events_end_the_stream(
    connect: Connect, raw: bytes, match: str
) -> None:
    async with connect() as (emu, client):
        stream = await client.open("echo")
        assert stream.signer is not None
        await stream.send_raw(stream.signer.sign(raw))
        with pytest.raises(StreamError, match=match) as caught:
            await stream.next_part()
        assert caught.value.code in ("InputValidationError", "InvalidSignatureException")
        assert emu.bidi_records[-1].outcome in ("bad_input", "bad_signature")


async def test_an_event_after_the_end_frame_is_refused(connect: Connect) -> None:
    async with connect() as (_, client):
        stream = await client.open("echo")
        assert stream.signer is not None
        end = stream.signer.end_frame()
        await stream.send_raw(end + end)
        with pytest.raises(StreamError, match="after the end frame"):
            await stream.next_part()


@pytest.mark.parametrize(
    ("headers", "member"),
    [
        ({"x-amzn-sagemaker-target-variant": "bad_variant"}, "targetVariant"),
        ({"x-amzn-sagemaker-target-variant": "v" * 64}, "targetVariant"),
        ({"x-amzn-sagemaker-model-invocation-path": "/leading/slash"}, "modelInvocationPath"),
        ({"x-amzn-sagemaker-model-invocation-path": "a" * 101}, "modelInvocationPath"),
        ({"x-amzn-sagemaker-model-query-string": "a=1&&b=2"}, "modelQueryString"),
        ({"x-amzn-sagemaker-model-query-string": "a=%zz"}, "modelQueryString"),
        ({"x-amzn-sagemaker-model-query-string": "a=" + "b" * 2047}, "modelQueryString"),
    ],
)
async def test_members_are_validated(
    connect: Connect, headers: dict[str, str], member: str
) -> None:
    async with connect() as (_, client):
        status, body = await refusal(client, headers=headers)
        assert (status, body["_header"], body["ErrorCode"]) == (
            400, "InputValidationError", "InputValidationError")  # fmt: skip
        assert f"at '{member}' failed to satisfy constraint" in str(body["Message"])


async def test_valid_members_pass(connect: Connect) -> None:
    headers = {
        "x-amzn-sagemaker-model-invocation-path": "v1/listen.ws",
        "x-amzn-sagemaker-model-query-string": "model=nova-3&language=en&x=%2F",
    }
    async with connect() as (_, client):
        assert (await client.open("echo", headers=headers)).status == 200


async def test_unknown_endpoint_variant_and_operation(connect: Connect) -> None:
    async with connect() as (_, client):
        status, body = await refusal(client, "nobody")
        assert (status, body["_header"]) == (400, "InputValidationError")
        assert "Endpoint nobody of account" in str(body["Message"])
        status, body = await refusal(client, headers={"x-amzn-sagemaker-target-variant": "blue"})
        assert status == 400 and "Variant blue not found" in str(body["Message"])
        status, body = await refusal(client, "bad_name")
        assert status == 400 and "endpointName" in str(body["Message"])
        status, body = await refusal(client, path="/endpoints/echo/invocations")
        assert (status, body["_header"]) == (404, "UnknownOperationException")
        status, _ = await refusal(client, method="PUT")
        assert status == 404


async def test_a_trailing_question_mark_in_the_path_is_fine(connect: Connect) -> None:
    """The AWS Python SDK sends ``:path`` with an empty query."""
    async with connect() as (_, client):
        stream = await client.open("echo", path="/endpoints/echo/invocations-bidirectional-stream?")
        assert stream.status == 200
        await stream.send_part("ok")
        await stream.end_input()
        assert await stream.parts() == [BidiPart.of("ok")]
