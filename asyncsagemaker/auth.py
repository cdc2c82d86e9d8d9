"""Credentials through botocore's provider chain, and SigV4 signing of what is sent.

botocore already knows every credential source (environment, shared files,
profiles, SSO, ``credential_process``, container and instance metadata,
assume-role) and how to refresh them; all of those block (files, HTTP, child
processes), so :class:`CredentialSource` runs them in a worker thread, never on
the event loop, and once for any number of concurrent callers.

:class:`RequestSigner` signs with ``botocore.auth.SigV4Auth`` itself, over the
exact bytes and headers aiohttp will send.  Only the derived signing key is
cached (it depends on the secret and the day alone), which is most of what
botocore recomputes on every request.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from typing import Any

import anyio
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth, _host_from_url
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials

from .errors import CredentialsError

__all__ = ["SIGNING_NAME", "CredentialSource", "RequestSigner"]

#: The service's signing name (not "sagemaker-runtime").
SIGNING_NAME = "sagemaker"


class CredentialSource:
    """Frozen credentials for each request, resolved and refreshed off the loop.

    ``resolve`` is botocore's chain (``session.get_credentials``) or a function that
    returns explicit credentials.  Refreshable credentials are refreshed in a worker
    thread when botocore says they need it; concurrent callers wait for that one
    refresh instead of starting their own.
    """

    def __init__(self, resolve: Any) -> None:
        self._resolve = resolve
        self._credentials: Credentials | None = None
        self._frozen: ReadOnlyCredentials | None = None
        self._lock = anyio.Lock()

    async def get(self) -> ReadOnlyCredentials:
        frozen = self._frozen
        credentials = self._credentials
        if frozen is not None and not (
            isinstance(credentials, RefreshableCredentials) and credentials.refresh_needed()
        ):
            return frozen
        async with self._lock:
            if self._credentials is None:
                self._credentials = await anyio.to_thread.run_sync(self._resolve)
                if self._credentials is None:
                    raise CredentialsError(
                        "no AWS credentials found: pass aws_access_key_id/aws_secret_access_key, "
                        "or configure them for botocore (environment, ~/.aws, SSO, roles...)"
                    )
                self._frozen = None
            credentials = self._credentials
            refresh = isinstance(credentials, RefreshableCredentials) and (
                credentials.refresh_needed()
            )
            if self._frozen is None or refresh:
                try:
                    self._frozen = await anyio.to_thread.run_sync(
                        credentials.get_frozen_credentials
                    )
                except Exception as exc:
                    raise CredentialsError(f"could not refresh AWS credentials: {exc}") from exc
            assert self._frozen is not None
            return self._frozen


class _CachedKeySigV4Auth(SigV4Auth):  # type: ignore[misc]
    """botocore's SigV4 signer with the derived signing key cached per day."""

    def __init__(self, credentials: ReadOnlyCredentials, region: str) -> None:
        super().__init__(credentials, SIGNING_NAME, region)
        self._key_day = ""
        self._key = b""

    def signature(self, string_to_sign: str, request: AWSRequest) -> str:
        day = request.context["timestamp"][0:8]
        if day != self._key_day:
            key = ("AWS4" + self.credentials.secret_key).encode()
            for part in (day, self._region_name, self._service_name, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._key, self._key_day = key, day
        return hmac.new(self._key, string_to_sign.encode(), hashlib.sha256).hexdigest()


class RequestSigner:
    """Adds ``X-Amz-Date``, ``X-Amz-Security-Token`` and ``Authorization`` to a request."""

    def __init__(self, region: str) -> None:
        self._region = region
        self._signer: _CachedKeySigV4Auth | None = None
        self._hosts: dict[str, str] = {}

    @property
    def region(self) -> str:
        return self._region

    def sign(
        self,
        credentials: ReadOnlyCredentials,
        url: str,
        headers: dict[str, str],
        body: bytes,
        method: str = "POST",
        now: datetime.datetime | None = None,
    ) -> dict[str, str]:
        """Return ``headers`` plus the signature headers, for exactly this URL and body.

        ``now`` (UTC) fixes the signing time, for reproducible signatures in tests.
        """
        signer = self._signer
        if signer is None or signer.credentials is not credentials:
            signer = self._signer = _CachedKeySigV4Auth(credentials, self._region)
        origin = url[: url.find("/", url.find("//") + 2)]
        host = self._hosts.get(origin)
        if host is None:
            host = self._hosts[origin] = _host_from_url(origin)
        # Sent as is, so the signed host and the host header are the same string,
        # and botocore need not parse the URL again for every request.
        headers["Host"] = host
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        # SigV4Auth.add_auth, minus its debug logging of the canonical request and
        # signature: nothing secret-adjacent reaches a log from here.
        when = now or datetime.datetime.now(datetime.timezone.utc)
        request.context["timestamp"] = when.strftime(SIGV4_TIMESTAMP)
        signer._modify_request_before_signing(request)
        canonical = signer.canonical_request(request)
        signature = signer.signature(signer.string_to_sign(request, canonical), request)
        signer._inject_signature_to_request(request, signature)
        return dict(request.headers.items())
