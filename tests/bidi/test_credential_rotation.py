"""Credentials refreshed while a bidirectional stream runs: the later events may change key.

The reference is the official AWS Python SDK (smithy-python): its event publisher
asks its identity resolver for credentials before *every* event and signs it with
them, chaining from the previous signature; a refreshed identity therefore signs
the events after the refresh (``AWSEventPublisher.send`` and ``AsyncEventSigner``).
The client does the same: the credentials in force when an event is sent sign it,
and near expiry it waits for the shared refresh first.  The emulator, knowing both
keys, verifies the chain across the change and records which keys signed.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Callable
from typing import Any

import botocore.session
import pytest
from botocore.credentials import ReadOnlyCredentials, RefreshableCredentials

from asyncsagemaker import SageMakerRuntime, StreamError
from asyncsagemaker._bidi.events import BidiPart, encode_payload_part
from asyncsagemaker._bidi.signing import EventSignatureError, EventSigner, EventVerifier
from asyncsagemaker.emulator import Emulator
from asyncsagemaker.eventstream import Decoder
from tests.bidi._h2client import CREDENTIALS as FIRST

pytestmark = pytest.mark.anyio
SECOND = ("AKIDROTATED", "the-refreshed-secret")
BOTH = {FIRST.access_key: FIRST.secret_key, SECOND[0]: SECOND[1]}


def expiring_in(minutes: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)


def rotating() -> tuple[RefreshableCredentials, list[int]]:
    """FIRST now, SECOND from the first refresh on; the list counts the refreshes."""
    refreshes: list[int] = []

    def refresh() -> dict[str, Any]:
        refreshes.append(1)
        return {
            "access_key": SECOND[0],
            "secret_key": SECOND[1],
            "token": None,
            "expiry_time": expiring_in(60).isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        {
            "access_key": FIRST.access_key,
            "secret_key": FIRST.secret_key,
            "token": None,
            "expiry_time": expiring_in(60).isoformat(),
        },
        refresh,
        "test",
    )
    return credentials, refreshes


def client_with(credentials: RefreshableCredentials, url: str) -> SageMakerRuntime:
    session = botocore.session.Session()
    session.get_credentials = lambda: credentials
    return SageMakerRuntime("us-east-1", bidi_endpoint_url=url, botocore_session=session)


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.01)


async def echo_of(duplex: Any, text: str) -> str:
    await duplex.send(text)
    part: BidiPart = await asyncio.wait_for(duplex.__anext__(), 5)
    return part.text


async def test_a_refresh_mid_stream_signs_the_later_events_with_the_new_key() -> None:
    """botocore's advisory window: the refresh runs in the background, the next event
    after it lands is signed with the new key, and the emulator follows."""
    credentials, refreshes = rotating()
    async with Emulator(bidi_port=0, credentials=BOTH) as emu:
        async with client_with(credentials, emu.bidi_url) as client:
            async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
                assert await echo_of(duplex, "one") == "one"
                credentials._expiry_time = expiring_in(12)  # advisory: refresh, go on meanwhile
                assert await echo_of(duplex, "two") == "two"
                ready = client._core.ready
                assert ready is not None
                await wait_until(lambda: getattr(ready.credentials.fresh(), "access_key", "")
                                 == SECOND[0])  # fmt: skip
                assert await echo_of(duplex, "three") == "three"  # the new key signs it
                await duplex.end_input()
                assert [p async for p in duplex] == []
        record = emu.bidi_records[-1]
        assert record.outcome == "ok"
        assert record.signing_keys == [FIRST.access_key, SECOND[0]]
        assert record.signatures_checked == 4  # three events and the end frame
        assert refreshes == [1]


async def test_near_expiry_a_send_waits_for_the_refresh() -> None:
    """botocore's mandatory window: the old credentials are about to expire, so the
    next event waits for the shared refresh instead of signing with them."""
    credentials, refreshes = rotating()
    async with Emulator(bidi_port=0, credentials=BOTH) as emu:
        async with client_with(credentials, emu.bidi_url) as client:
            async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
                assert await echo_of(duplex, "one") == "one"
                credentials._expiry_time = expiring_in(5)  # mandatory: wait for the refresh
                assert await echo_of(duplex, "two") == "two"
                await duplex.end_input()
                assert [p async for p in duplex] == []
        assert emu.bidi_records[-1].signing_keys == [FIRST.access_key, SECOND[0]]
        assert refreshes == [1]


async def test_a_key_the_service_does_not_know_still_ends_the_stream() -> None:
    credentials, _ = rotating()
    only_first = {FIRST.access_key: FIRST.secret_key}
    async with Emulator(bidi_port=0, credentials=only_first) as emu:
        async with client_with(credentials, emu.bidi_url) as client:
            async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
                assert await echo_of(duplex, "one") == "one"
                credentials._expiry_time = expiring_in(5)
                await duplex.send("two")
                with pytest.raises(StreamError) as caught:
                    await asyncio.wait_for(duplex.__anext__(), 5)
                assert caught.value.code == "InvalidSignatureException"
        assert emu.bidi_records[-1].outcome == "bad_signature"


def chain(signer: EventSigner, swap_after: int, count: int) -> list[bytes]:
    """``count`` envelopes and the end frame; the signer's key changes after ``swap_after``."""
    envelopes = []
    for index in range(count):
        if index == swap_after:
            signer.credentials = ReadOnlyCredentials(SECOND[0], SECOND[1], None)
        envelopes.append(signer.sign(encode_payload_part(BidiPart.of(f"part {index}"))))
    envelopes.append(signer.end_frame())
    return envelopes


def test_the_verifier_follows_a_key_change_it_knows_of() -> None:
    seed = "ab" * 32
    data = b"".join(chain(EventSigner(seed, FIRST, "us-east-1"), swap_after=2, count=4))
    verifier = EventVerifier(seed, FIRST.secret_key, "us-east-1", keys=BOTH,
                             access_key=FIRST.access_key)  # fmt: skip
    inner = [verifier.verify(envelope) for envelope in Decoder().feed(data)]
    assert inner[-1] is None and all(inner[:-1])
    verifier.finish()
    assert verifier.key_ids == [FIRST.access_key, SECOND[0]]
    alone = EventVerifier(seed, FIRST.secret_key, "us-east-1")  # knows only the first key
    envelopes = Decoder().feed(data)
    assert alone.verify(envelopes[0]) and alone.verify(envelopes[1])
    with pytest.raises(EventSignatureError) as caught:
        alone.verify(envelopes[2])
    assert (caught.value.reason, caught.value.index) == ("mismatch", 2)
