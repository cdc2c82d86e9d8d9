"""Credentials through botocore's provider chain, and SigV4 signing of what is sent.

botocore already knows every credential source (environment, shared files,
profiles, SSO, ``credential_process``, container and instance metadata,
assume-role) and how to refresh them; all of those block (files, HTTP, child
processes), so :class:`CredentialSource` runs them in a worker thread, never on
the event loop, and once for any number of concurrent callers.

:class:`RequestSigner` produces byte for byte what ``botocore.auth.SigV4Auth``
produces, over the exact bytes and headers aiohttp will send, for a fraction of
its cost: what is constant per client (signing key per day, scope, host,
canonical path) is computed once.  The tests hold it to ``SigV4Auth`` itself.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import hashlib
import time
from typing import Any
from urllib.parse import quote

from botocore.auth import SIGNED_HEADERS_BLACKLIST, SIGV4_TIMESTAMP, _host_from_url
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from botocore.utils import normalize_url_path

from ._bidi.signing import signing_key
from .errors import CredentialsError

__all__ = ["SIGNING_NAME", "CredentialSource", "RequestSigner"]

#: The service's signing name (not "sagemaker-runtime").
SIGNING_NAME = "sagemaker"


class CredentialSource:
    """Frozen credentials for each request, resolved and refreshed off the loop.

    ``resolve`` is botocore's chain (``session.get_credentials``) or a function that
    returns explicit credentials.  Refreshable credentials follow botocore's two
    windows: inside the *mandatory* one (they are about to expire) callers wait for
    one refresh in a worker thread, shared by all of them; inside the earlier
    *advisory* one, one refresh runs while callers go on with the current
    credentials, and a failed advisory refresh is not tried again for a while.

    The refresh is one task that callers wait on without owning it, so a caller
    whose deadline passes (or who is cancelled) stops waiting at once while the
    refresh goes on for the others.
    """

    def __init__(self, resolve: Any) -> None:
        self._resolve = resolve
        self._credentials: Credentials | None = None
        self._frozen: ReadOnlyCredentials | None = None
        self._refresh: asyncio.Future[ReadOnlyCredentials] | None = None
        self._advisory_after = 0.0  # monotonic time before which no advisory refresh

    def fresh(self) -> ReadOnlyCredentials | None:
        """The credentials to use now without waiting, or None if the caller must wait."""
        frozen = self._frozen
        credentials = self._credentials
        if frozen is None or not isinstance(credentials, RefreshableCredentials):
            return frozen
        if not credentials.refresh_needed():
            return frozen
        if credentials.refresh_needed(_mandatory_window(credentials)):
            return None  # about to expire: everyone waits for the refresh
        if self._refresh is None and time.monotonic() >= self._advisory_after:
            self._start_refresh()  # in the background: this caller goes on
        return frozen

    async def get(self) -> ReadOnlyCredentials:
        """The credentials to sign with, waiting for a (shared) refresh if needed."""
        frozen = self.fresh()
        if frozen is not None:
            return frozen
        refresh = self._refresh or self._start_refresh()
        return await asyncio.shield(refresh)

    def _start_refresh(self) -> asyncio.Future[ReadOnlyCredentials]:
        refresh = self._refresh = asyncio.ensure_future(self._load())
        refresh.add_done_callback(self._refreshed)
        return refresh

    def _refreshed(self, refresh: asyncio.Future[ReadOnlyCredentials]) -> None:
        self._refresh = None
        if not refresh.cancelled():
            refresh.exception()  # retrieved here, so no waiter left is no warning

    async def _load(self) -> ReadOnlyCredentials:
        loop = asyncio.get_running_loop()
        if self._credentials is None:
            try:
                self._credentials = await loop.run_in_executor(None, self._resolve)
            except Exception as exc:  # SSO expired, credential_process failed, ...
                raise CredentialsError(f"could not load AWS credentials: {exc}") from exc
            if self._credentials is None:
                raise CredentialsError(
                    "no AWS credentials found: pass aws_access_key_id/aws_secret_access_key, "
                    "or configure them for botocore (environment, ~/.aws, SSO, roles...)"
                )
        credentials = self._credentials
        try:
            frozen = await loop.run_in_executor(None, credentials.get_frozen_credentials)
        except Exception as exc:
            raise CredentialsError(f"could not refresh AWS credentials: {exc}") from exc
        if isinstance(credentials, RefreshableCredentials) and credentials.refresh_needed():
            # botocore kept the old credentials after a failed advisory refresh
            self._advisory_after = time.monotonic() + _ADVISORY_RETRY_SECONDS
        self._frozen = frozen
        return frozen


_ADVISORY_RETRY_SECONDS = 30.0


def _mandatory_window(credentials: RefreshableCredentials) -> int:
    """Seconds before expiry when botocore insists on a refresh (10 minutes by default)."""
    return int(getattr(credentials, "_mandatory_refresh_timeout", 10 * 60))


_SKIPPED_HEADERS = frozenset(SIGNED_HEADERS_BLACKLIST)
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@functools.lru_cache(maxsize=1024)
def _canonical_path(path: str) -> str:
    """botocore's canonical URI: dot segments removed, the encoded path encoded again."""
    return quote(normalize_url_path(path), safe="/~")


class _Plan:
    """What a signature needs that does not change between requests of the same shape.

    The canonical request of one URL, method and set of headers is the same text
    but for the time and the session token: kept here as the text before the
    ``x-amz-date`` value and after it (the headers are signed in sorted order, and
    ``x-amz-date`` and ``x-amz-security-token`` always sort next to each other).
    """

    __slots__ = ("host", "prefix", "signed_names", "suffix")

    def __init__(self, method: str, url: str, headers: tuple[tuple[str, str], ...], token: bool):
        path_at = url.find("/", url.find("//") + 2)
        origin, path = url[:path_at], url[path_at:]
        self.host = _host_from_url(origin)
        lines = {
            lower: " ".join(value.split())
            for name, value in headers
            if (lower := name.lower()) not in _SKIPPED_HEADERS and lower not in _SIGNER_HEADERS
        }
        lines["host"] = self.host
        names = sorted([*lines, "x-amz-date", *(["x-amz-security-token"] if token else [])])
        self.signed_names = ";".join(names)
        at = names.index("x-amz-date")
        before = "".join(f"{name}:{lines[name]}\n" for name in names[:at])
        after = "".join(f"\n{name}:{lines[name]}" for name in names[at + 1 + token :])
        self.prefix = f"{method}\n{_canonical_path(path)}\n\n{before}x-amz-date:"
        self.suffix = f"{after}\n\n{self.signed_names}\n"


_SIGNER_HEADERS = frozenset({"host", "x-amz-date", "x-amz-security-token", "authorization"})
_PLANS_KEPT = 256


class RequestSigner:
    """Signs a request exactly as ``botocore.auth.SigV4Auth`` would, but per client.

    Per request only what changes is computed: the time, the body hash, the
    canonical request (from a kept :class:`_Plan` of the request's shape) and one
    HMAC.  The signing key (per secret and day), the scope, the host and the
    canonical path are kept.  Every run of the tests checks the result against
    ``SigV4Auth`` itself on random requests.
    """

    def __init__(self, region: str) -> None:
        self._region = region
        self._plans: dict[tuple[str, str, tuple[tuple[str, str], ...], bool], _Plan] = {}
        self._key_for: tuple[str, str] = ("", "")  # (secret, day) of _key
        self._key: tuple[Any, Any] = (None, None)
        self._second = -1
        self._amz_date = ""
        self._scope = ""

    @property
    def region(self) -> str:
        return self._region

    def _signing_key(self, secret: str, day: str) -> tuple[Any, Any]:
        """The HMAC of the day's signing key, as its two keyed SHA-256 states.

        An HMAC is ``H(key ^ opad, H(key ^ ipad, message))``; the two inner states
        depend on the key only, so they are made once a day and copied per request.
        """
        if self._key_for != (secret, day):
            key = signing_key(secret, day, self._region, SIGNING_NAME)
            padded = key.ljust(64, b"\0")  # a SHA-256 block; the key is 32 bytes
            inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in padded))
            outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in padded))
            self._key, self._key_for = (inner, outer), (secret, day)
        return self._key

    def _timestamp(self, now: datetime.datetime | None) -> tuple[str, str]:
        """``(x-amz-date, scope)`` for ``now``, or for this second (computed once a second)."""
        if now is not None:
            amz_date = now.strftime(SIGV4_TIMESTAMP)
            return amz_date, f"{amz_date[:8]}/{self._region}/{SIGNING_NAME}/aws4_request"
        second = int(time.time())
        if second != self._second:
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            self._scope = f"{self._amz_date[:8]}/{self._region}/{SIGNING_NAME}/aws4_request"
            self._second = second
        return self._amz_date, self._scope

    def sign(
        self,
        credentials: ReadOnlyCredentials,
        url: str,
        headers: dict[str, str],
        body: bytes,
        method: str = "POST",
        now: datetime.datetime | None = None,
        payload_hash: str | None = None,
    ) -> dict[str, str]:
        """Return ``headers`` plus ``Host``, ``X-Amz-Date``, the token and ``Authorization``.

        ``url`` must be the exact (percent-encoded) URL that is sent; ``now`` (UTC)
        fixes the signing time, for reproducible signatures.  ``payload_hash``
        replaces the body's hash in the canonical request (the literal
        ``STREAMING-AWS4-HMAC-SHA256-EVENTS`` of a signed event stream).
        """
        token = credentials.token
        shape = (method, url, tuple(headers.items()), bool(token))
        plan = self._plans.get(shape)
        if plan is None:
            plan = _Plan(method, url, shape[2], bool(token))
            if len(self._plans) < _PLANS_KEPT:
                self._plans[shape] = plan
        amz_date, scope = self._timestamp(now)
        if payload_hash is None:
            payload_hash = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
        if token:
            middle = f"{amz_date}\nx-amz-security-token:{' '.join(token.split())}"
            headers["X-Amz-Security-Token"] = token
        else:
            middle = amz_date
        canonical = f"{plan.prefix}{middle}{plan.suffix}{payload_hash}"
        string_to_sign = (
            f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n"
            f"{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        inner, outer = self._signing_key(credentials.secret_key, amz_date[:8])
        digest = inner.copy()
        digest.update(string_to_sign.encode())
        signed = outer.copy()
        signed.update(digest.digest())
        signature = signed.hexdigest()
        headers["Host"] = plan.host  # sent as signed
        headers["X-Amz-Date"] = amz_date
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={plan.signed_names}, Signature={signature}"
        )
        return headers
