"""SigV4 signing of what is sent, byte for byte as botocore signs it, for less.

:class:`RequestSigner` produces byte for byte what ``botocore.auth.SigV4Auth``
produces, over the exact bytes and headers aiohttp will send, for a fraction of
its cost: what is constant per client (signing key per day, scope, host,
canonical path) is computed once.  The tests hold it to ``SigV4Auth`` itself.
The derived key itself is :func:`~asyncsagemaker._auth.keys.signing_key`.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import time
from typing import Any
from urllib.parse import quote

from botocore.auth import SIGNED_HEADERS_BLACKLIST, SIGV4_TIMESTAMP, _host_from_url
from botocore.credentials import ReadOnlyCredentials
from botocore.utils import normalize_url_path

from .keys import SIGNING_NAME, signing_key

__all__ = ["SIGNING_NAME", "RequestSigner"]


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
