"""Bearer tokens for SageMaker's OpenAI-compatible route: made offline, cached, refreshed.

A token is ``sagemaker-api-key-`` followed by the standard base64 of a SigV4
pre-signed URL for the ``CallWithBearerToken`` action of service ``sagemaker``
(docs/protocol.md §8): what the SageMaker Python SDK's token generator makes,
byte for byte, from the same credentials, region, time and lifetime.  Making one
is a few HMACs; getting the credentials to make it from may block (files, SSO,
instance metadata), so :class:`BearerTokens` does it in a worker thread, one
refresh at a time, ahead of the token's expiry.

A token is a secret (anyone holding it can call the endpoint until it expires):
nothing here logs it, and the ``repr`` of every object holding one hides it.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import hmac
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import quote

from botocore.credentials import ReadOnlyCredentials

from ..errors import CredentialsError, ParamValidationError
from .keys import SIGNING_NAME, signing_key

__all__ = [
    "ACTION",
    "MAX_EXPIRES_IN",
    "PREFIX",
    "TOKEN_HOST",
    "BearerToken",
    "BearerTokens",
    "Signer",
    "check_expires_in",
    "make_token",
    "mint",
    "region_of_host",
    "say_cut",
]

logger = logging.getLogger("asyncsagemaker")

PREFIX = "sagemaker-api-key-"
#: The host the pre-signed URL names: the global control-plane host, whatever the region.
TOKEN_HOST = "sagemaker.amazonaws.com"
ACTION = "CallWithBearerToken"
MAX_EXPIRES_IN = 12 * 60 * 60
_SAFE = "-._~"  # what SigV4's query encoding leaves as is (botocore's SAFE_CHARS)
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: How long a caller waits for a token to be made before it gives up.
TOKEN_WAIT = 60.0


def check_expires_in(expires_in: object, name: str = "expires_in") -> int:
    """``expires_in`` as whole seconds, 1 to 43,200 (12 hours), else ParamValidationError."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int):
        raise ParamValidationError(
            f"{name} must be a whole number of seconds (1 to {MAX_EXPIRES_IN}), not {expires_in!r}"
        )
    if not 1 <= expires_in <= MAX_EXPIRES_IN:
        raise ParamValidationError(
            f"{name} must be 1 to {MAX_EXPIRES_IN} seconds (12 hours), not {expires_in}"
        )
    return expires_in


def _amz_date(signed_at: int) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(signed_at))


def make_token(
    credentials: ReadOnlyCredentials, region: str, expires_in: int, signed_at: int
) -> str:
    """The token for ``credentials`` and ``region``, signed at ``signed_at`` (epoch seconds).

    The construction of docs/protocol.md §8.1: a ``POST`` to
    ``https://sagemaker.amazonaws.com/`` with ``Action=CallWithBearerToken``,
    pre-signed (the session token in the query, signed; the payload hash that of an
    empty body), ``https://`` dropped, ``&Version=1`` appended after signing, base64.
    """
    amz_date = _amz_date(signed_at)
    scope = f"{amz_date[:8]}/{region}/{SIGNING_NAME}/aws4_request"
    params = [
        ("Action", ACTION),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{credentials.access_key}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires_in)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    if credentials.token is not None:  # botocore's test: an empty token is still sent
        params.append(("X-Amz-Security-Token", credentials.token))
    pairs = [(quote(key, safe=_SAFE), quote(value, safe=_SAFE)) for key, value in params]
    query = "&".join(f"{key}={value}" for key, value in pairs)
    canonical_query = "&".join(f"{key}={value}" for key, value in sorted(pairs))
    canonical = f"POST\n/\n{canonical_query}\nhost:{TOKEN_HOST}\n\nhost\n{_EMPTY_SHA256}"
    string_to_sign = (
        f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    )
    key = signing_key(credentials.secret_key, amz_date[:8], region, SIGNING_NAME)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    url = f"{TOKEN_HOST}/?{query}&X-Amz-Signature={signature}&Version=1"
    return PREFIX + base64.b64encode(url.encode()).decode("ascii")


_RUNTIME_HOST = re.compile(r"^runtime(?:-fips)?\.sagemaker(?:-fips)?\.(?P<region>[a-z0-9-]+)\.")


def region_of_host(host: str) -> str | None:
    """The region of a SageMaker Runtime host name (``runtime.sagemaker.<region>.…``), if it is one.

    A custom host (an emulator, a proxy) names no region: ``None``.
    """
    match = _RUNTIME_HOST.match(host.lower())
    return match["region"] if match else None


class BearerToken(NamedTuple):
    """A token with what a cache needs to know of it; its ``repr`` hides the secret."""

    value: str
    region: str
    signed_at: int  # epoch seconds, as X-Amz-Date says
    expires_in: int  # X-Amz-Expires: the lifetime the token carries

    @property
    def expires_at(self) -> int:
        return self.signed_at + self.expires_in

    def __repr__(self) -> str:
        return (
            f"BearerToken(region={self.region!r}, signed_at={_amz_date(self.signed_at)}, "
            f"expires_in={self.expires_in}, value=<hidden>)"
        )

    def __str__(self) -> str:
        return repr(self)


#: What a token is made from, resolved in a worker thread: the region, frozen
#: credentials, and when those credentials expire (epoch seconds; None: never).
Signer = Callable[[], tuple[str, ReadOnlyCredentials, "float | None"]]


def mint(
    signer: Signer, expires_in: int, clock: Callable[[], float] = time.time
) -> tuple[BearerToken, int | None]:
    """A token made now (blocking: run it in a worker thread), and the lifetime asked for
    when temporary credentials cut it short (else ``None``).

    A token is never made to outlive its credentials: the service would refuse it
    once they expire (the AWS developer guide: "the lesser of the expiry value and
    the remaining validity of the AWS credentials"), so its ``X-Amz-Expires`` says so.
    """
    region, credentials, credentials_expire = signer()
    signed_at = int(clock())
    lifetime, cut_from = expires_in, None
    if credentials_expire is not None:
        left = int(credentials_expire - signed_at)
        if left < 1:
            raise CredentialsError(
                "the temporary AWS credentials have expired; a bearer token cannot be made "
                "from them (refresh them, e.g. aws sso login)"
            )
        if left < expires_in:
            lifetime, cut_from = left, expires_in
    value = make_token(credentials, region, lifetime, signed_at)
    return BearerToken(value, region, signed_at, lifetime), cut_from


def say_cut(token: BearerToken, cut_from: int | None, level: int = logging.WARNING) -> None:
    """Log that a token's lifetime was cut to its credentials' (never the token itself)."""
    if cut_from is not None:
        logger.log(
            level,
            "bearer token valid for %d s instead of the %d s asked: the temporary AWS "
            "credentials it is made from expire then",
            token.expires_in,
            cut_from,
        )


def _wait_at(token: BearerToken) -> float:
    """From when callers wait for a new token rather than send this one."""
    return token.expires_at - min(60.0, token.expires_in / 10)


_EXECUTOR: concurrent.futures.ThreadPoolExecutor | None = None
_EXECUTOR_LOCK = threading.Lock()


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    """The worker threads tokens are made in, shared by every cache and any event loop."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = concurrent.futures.ThreadPoolExecutor(
                max_workers=2, thread_name_prefix="asyncsagemaker-token"
            )
        return _EXECUTOR


class BearerTokens:
    """One cached token, refreshed ahead of its expiry in a worker thread, one refresh at a time.

    Callers on any thread or event loop ask :meth:`current` first (no waiting: the
    token, or ``None``).  Within the last quarter of its life (at most 5 minutes) a
    token is still handed out while a refresh runs in the background; within its
    last tenth (at most a minute) callers wait for the new one: asyncio callers with
    :meth:`get`, others with :meth:`wait_blocking` (in a worker thread of theirs).
    A refresh is one job in a worker thread that every caller waits on without
    owning it, so a caller that gives up (cancelled, a deadline) leaves it running
    for the others.  :meth:`invalidate` drops the token (the service refused it).
    """

    def __init__(
        self,
        signer: Signer,
        expires_in: int,
        *,
        clock: Callable[[], float] = time.time,
        say_cuts: bool = False,
    ) -> None:
        self._signer = signer
        self.expires_in = check_expires_in(expires_in)
        self._clock = clock
        self._say_cuts = say_cuts
        self._lock = threading.Lock()
        # (token, from when a background refresh starts, from when callers wait): one
        # tuple, replaced whole, so a reader on any thread sees one consistent state
        self._state: tuple[BearerToken | None, float, float] = (None, 0.0, 0.0)
        self._pending: concurrent.futures.Future[BearerToken] | None = None
        self._retry_after = 0.0  # a failed background refresh is not tried again before

    def __repr__(self) -> str:
        token = self._state[0]
        state = "no token" if token is None else f"valid until {_amz_date(token.expires_at)}"
        return f"<BearerTokens expires_in={self.expires_in} {state}>"

    def current(self) -> BearerToken | None:
        """The token to send now, without waiting; ``None`` if the caller must wait."""
        token, refresh_at, wait_at = self._state
        if token is None:
            return None
        now = self._clock()
        if now < refresh_at:
            return token
        if now >= wait_at:
            return None
        if now >= self._retry_after:
            self._start()  # in the background: this caller goes on with the current token
        return token

    async def get(self) -> BearerToken:
        """The token to send, waiting (asyncio) for a shared refresh when needed."""
        token = self.current()
        if token is not None:
            return token
        return await asyncio.shield(asyncio.wrap_future(self._start()))

    def wait_blocking(self, timeout: float = TOKEN_WAIT) -> BearerToken:
        """The token to send, waiting in this thread (never an event loop's) when needed."""
        token = self.current()
        if token is not None:
            return token
        try:
            return self._start().result(timeout)
        except concurrent.futures.TimeoutError:
            raise CredentialsError(
                f"no bearer token within {timeout:g} s: resolving the AWS credentials hangs"
            ) from None

    async def authorize(self, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        """``_core.Authorizer``: the attempt carries the token instead of a SigV4 signature."""
        token = self.current() or await self.get()
        headers["Authorization"] = "Bearer " + token.value
        return headers

    def invalidate(self) -> None:
        """Forget the token (the service refused it): the next caller waits for a new one."""
        with self._lock:
            self._state = (None, 0.0, 0.0)

    def _start(self) -> concurrent.futures.Future[BearerToken]:
        with self._lock:
            pending = self._pending
            if pending is None:
                pending = self._pending = _executor().submit(self._refresh)
            return pending

    def _refresh(self) -> BearerToken:
        """In a worker thread: make a token and keep it (or note when to try again)."""
        try:
            token, cut_from = mint(self._signer, self.expires_in, self._clock)
            if self._clock() >= _wait_at(token):
                # X-Amz-Date is whole seconds: a short-lived token made late in its first
                # second is already due for refresh. Made again at the next second, it
                # is not (a wait below one second, only for lifetimes under ~10 s).
                time.sleep(max(0.0, token.signed_at + 1 - self._clock()))
                token, cut_from = mint(self._signer, self.expires_in, self._clock)
        except BaseException:
            with self._lock:
                self._pending = None
                self._retry_after = self._clock() + min(30.0, self.expires_in / 10)
            raise
        say_cut(token, cut_from, logging.WARNING if self._say_cuts else logging.DEBUG)
        refresh_at = token.expires_at - min(300.0, token.expires_in / 4)
        with self._lock:
            self._state = (token, refresh_at, _wait_at(token))
            self._pending = None
        return token
