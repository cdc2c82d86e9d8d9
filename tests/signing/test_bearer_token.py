"""Bearer tokens of the OpenAI-compatible route: the exact bytes, and the cache that refreshes them.

The token maker (``_auth.bearer.make_token``, stdlib) is held byte for byte to the
vectors of ``tests/data/bearer-tokens`` (the SageMaker SDK's generator with a pinned
clock) and, on random inputs, to an independent construction with botocore's own
``SigV4QueryAuth``.
"""

from __future__ import annotations

import base64
import calendar
import datetime
import json
import threading
import time
from typing import Any

import pytest
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncsagemaker._auth.bearer import (
    BearerToken,
    BearerTokens,
    check_expires_in,
    make_token,
    mint,
    region_of_host,
)
from asyncsagemaker._auth.credentials import CredentialSource
from asyncsagemaker.errors import CredentialsError, ParamValidationError
from tests._support import DATA, botocore_token

VECTORS = json.loads((DATA / "bearer-tokens" / "vectors.json").read_text())["vectors"]


def epoch(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_the_token_is_the_sdk_generators_byte_for_byte(vector: dict[str, Any]) -> None:
    credentials = ReadOnlyCredentials(
        vector["access_key"], vector["secret_key"], vector["session_token"]
    )
    signed_at = epoch(vector["signing_time"])
    if vector["service"] != "sagemaker":  # V4: Bedrock's generator, same recipe elsewhere
        made = botocore_token(
            Credentials(*credentials), vector["region"], vector["expires"], signed_at,
            service="bedrock", prefix="bedrock-api-key-",
        )  # fmt: skip
        assert made == vector["token"]
        return
    token = make_token(credentials, vector["region"], vector["expires"], signed_at)
    assert token == vector["token"]
    decoded = base64.b64decode(token.removeprefix("sagemaker-api-key-")).decode()
    assert f"X-Amz-Signature={vector['signature']}&Version=1" in decoded
    assert token == botocore_token(
        Credentials(*credentials), vector["region"], vector["expires"], signed_at
    )


_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60
)


@settings(max_examples=150, deadline=None)
@given(
    access_key=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=16, max_size=20),
    secret=_TEXT,
    token=st.none() | st.just("") | _TEXT | st.text(min_size=1, max_size=40),
    region=st.sampled_from(["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"]),
    expires=st.integers(1, 43200),
    signed_at=st.integers(946684800, 4102444800),
)  # fmt: skip
def test_the_token_is_what_botocore_presigns(
    access_key: str, secret: str, token: str | None, region: str, expires: int, signed_at: int
) -> None:
    ours = make_token(ReadOnlyCredentials(access_key, secret, token), region, expires, signed_at)
    assert ours == botocore_token(
        Credentials(access_key, secret, token), region, expires, signed_at
    )


@pytest.mark.parametrize("bad", [0, -1, 43201, 1.5, "60", True, None])
def test_a_lifetime_outside_one_second_to_twelve_hours_is_refused(bad: object) -> None:
    with pytest.raises(ParamValidationError, match="expires_in"):
        check_expires_in(bad)
    assert check_expires_in(1) == 1 and check_expires_in(43200) == 43200


def test_a_tokens_repr_and_str_hide_it() -> None:
    token, _ = mint(lambda: ("us-east-1", ReadOnlyCredentials("AKID", "s", None), None), 60)
    for text in (repr(token), str(token), repr([token]), repr(BearerTokens(lambda: 1, 60))):  # type: ignore[arg-type,return-value]
        assert "sagemaker-api-key-" not in text and token.value[20:40] not in text
    assert "us-east-1" in repr(token) and "expires_in=60" in repr(token)


@pytest.mark.parametrize(
    ("host", "region"),
    [
        ("runtime.sagemaker.us-east-1.amazonaws.com", "us-east-1"),
        ("runtime-fips.sagemaker.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
        ("runtime.sagemaker-fips.us-east-1.api.aws", "us-east-1"),
        ("runtime.sagemaker.cn-north-1.amazonaws.com.cn", "cn-north-1"),
        ("127.0.0.1", None),
        ("sagemaker.example.com", None),
    ],
)
def test_the_region_of_a_runtime_host(host: str, region: str | None) -> None:
    assert region_of_host(host) == region


def test_a_token_never_outlives_temporary_credentials() -> None:
    now = 1_800_000_000
    credentials = ReadOnlyCredentials("ASIA", "s", "session")
    token, cut_from = mint(lambda: ("us-east-1", credentials, now + 600.9), 3600, lambda: now)
    assert (token.expires_in, cut_from) == (600, 3600)
    assert token.value == make_token(credentials, "us-east-1", 600, now)
    longer, cut = mint(lambda: ("us-east-1", credentials, now + 7200.0), 3600, lambda: now)
    assert (longer.expires_in, cut) == (3600, None)
    with pytest.raises(CredentialsError, match="expired"):
        mint(lambda: ("us-east-1", credentials, now + 0.5), 3600, lambda: now)


def test_the_credentials_expiry_is_read_from_botocores_refreshable_credentials() -> None:
    expiry = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    refreshable = RefreshableCredentials.create_from_metadata(
        {"access_key": "a", "secret_key": "b", "token": "c", "expiry_time": expiry.isoformat()},
        lambda: {},
        "test",
    )
    frozen, expires = CredentialSource(lambda: refreshable).frozen_blocking()
    assert (frozen.access_key, expires) == ("a", expiry.timestamp())
    frozen, expires = CredentialSource(lambda: Credentials("k", "s")).frozen_blocking()
    assert (frozen.secret_key, expires) == ("s", None)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingSigner:
    """A signer that counts its calls (and can be slowed down to overlap callers)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay
        self.lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0

    def __call__(self) -> tuple[str, ReadOnlyCredentials, float | None]:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(self.delay)
        with self.lock:
            self.running -= 1
        return "us-east-1", ReadOnlyCredentials("AKID", "secret", None), None


def test_the_cache_refreshes_ahead_in_the_background_then_makes_callers_wait() -> None:
    clock, signer = Clock(1_800_000_000.0), CountingSigner()
    tokens = BearerTokens(signer, 1000, clock=clock)
    assert tokens.current() is None  # nothing yet: the caller waits
    first = tokens.wait_blocking()
    assert (signer.calls, first.expires_in) == (1, 1000)
    clock.now += 700  # before the last quarter: the same token, nothing made
    assert tokens.current() is first and signer.calls == 1
    clock.now += 100  # in the last quarter (250 s): handed out while a refresh runs
    assert tokens.current() is first
    for _ in range(200):
        if signer.calls == 2 and tokens.current() is not first:
            break
        time.sleep(0.005)
    second = tokens.current()
    assert signer.calls == 2 and second is not None and second.signed_at == int(clock.now)
    clock.now += 950  # within the last tenth of the second token: callers must wait
    assert tokens.current() is None
    assert tokens.wait_blocking().signed_at == int(clock.now) and signer.calls == 3


def test_a_one_second_token_made_late_in_its_second_is_made_again_at_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock, signer = Clock(1_800_000_000.95), CountingSigner()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        if seconds:  # the signer's own sleep(0) is not the cache's
            slept.append(seconds)
            clock.now = 1_800_000_001.0

    monkeypatch.setattr(time, "sleep", sleep)  # the module global the cache calls
    token = BearerTokens(signer, 1, clock=clock).wait_blocking()
    # Signed at ...000 it would expire at ...001, already due: the caller gets one
    # signed at ...001, good for the whole next second.
    assert token.signed_at == 1_800_000_001 and signer.calls == 2
    assert slept == [pytest.approx(0.05)]


def test_one_refresh_at_a_time_for_any_number_of_threads() -> None:
    signer = CountingSigner(delay=0.2)
    tokens = BearerTokens(signer, 3600)
    got: list[BearerToken] = []
    threads = [
        threading.Thread(target=lambda: got.append(tokens.wait_blocking())) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(got) == 8 and len({token.value for token in got}) == 1
    assert signer.calls == 1 and signer.most_at_once == 1


def test_an_invalidated_token_is_made_again_and_a_failure_reaches_every_waiter() -> None:
    signer = CountingSigner()
    tokens = BearerTokens(signer, 3600)
    tokens.wait_blocking()
    tokens.invalidate()
    assert tokens.current() is None
    tokens.wait_blocking()
    assert signer.calls == 2

    def broken() -> tuple[str, ReadOnlyCredentials, float | None]:
        raise CredentialsError("no AWS credentials found")

    failing = BearerTokens(broken, 3600)
    for _ in range(2):  # not cached: the next caller tries again
        with pytest.raises(CredentialsError, match="no AWS credentials"):
            failing.wait_blocking()


def test_a_caller_gives_up_on_a_hanging_credential_source_in_time() -> None:
    tokens = BearerTokens(CountingSigner(delay=1.0), 3600)
    started = time.monotonic()
    with pytest.raises(CredentialsError, match=r"within 0\.2 s"):
        tokens.wait_blocking(timeout=0.2)
    assert time.monotonic() - started < 0.8
