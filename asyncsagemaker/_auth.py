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
import hmac
import time
from typing import Any
from urllib.parse import quote

from botocore.auth import SIGNED_HEADERS_BLACKLIST, SIGV4_TIMESTAMP, _host_from_url
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from botocore.utils import normalize_url_path

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


class RequestSigner:
    """Signs a request exactly as ``botocore.auth.SigV4Auth`` would, but per client.

    Per request only what changes is computed: the time, the body hash, the
    canonical request and one HMAC.  The signing key (per secret and day), the
    credential scope, the host and the canonical path are kept.  Every run of the
    tests checks the result against ``SigV4Auth`` itself on random requests.
    """

    def __init__(self, region: str) -> None:
        self._region = region
        self._hosts: dict[str, str] = {}
        self._key_for: tuple[str, str] = ("", "")  # (secret, day) of _key
        self._key = b""
        self._second = -1
        self._amz_date = ""

    @property
    def region(self) -> str:
        return self._region

    def _signing_key(self, secret: str, day: str) -> bytes:
        if self._key_for != (secret, day):
            key = ("AWS4" + secret).encode()
            for part in (day, self._region, SIGNING_NAME, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._key, self._key_for = key, (secret, day)
        return self._key

    def _timestamp(self, now: datetime.datetime | None) -> str:
        if now is not None:
            return now.strftime(SIGV4_TIMESTAMP)
        second = int(time.time())
        if second != self._second:
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            self._second = second
        return self._amz_date

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
        path_at = url.find("/", url.find("//") + 2)
        origin, path = url[:path_at], url[path_at:]
        host = self._hosts.get(origin)
        if host is None:
            host = self._hosts[origin] = _host_from_url(origin)
        amz_date = self._timestamp(now)
        headers["Host"] = host  # sent as signed
        headers["X-Amz-Date"] = amz_date
        if credentials.token:
            headers["X-Amz-Security-Token"] = credentials.token
        signed = sorted(
            [
                (lower, " ".join(value.split()))
                for name, value in headers.items()
                if (lower := name.lower()) not in _SKIPPED_HEADERS
            ]
        )
        signed_names = ";".join(name for name, _ in signed)
        canonical = "\n".join(
            (
                method,
                _canonical_path(path),
                "",
                *(f"{name}:{value}" for name, value in signed),
                "",
                signed_names,
                payload_hash or (hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256),
            )
        )
        day = amz_date[:8]
        scope = f"{day}/{self._region}/{SIGNING_NAME}/aws4_request"
        string_to_sign = (
            f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n"
            + hashlib.sha256(canonical.encode()).hexdigest()
        )
        key = self._signing_key(credentials.secret_key, day)
        signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        )
        return headers
