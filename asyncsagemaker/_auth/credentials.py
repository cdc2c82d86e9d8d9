"""Credentials through botocore's provider chain, resolved and refreshed off the loop.

botocore already knows every credential source (environment, shared files,
profiles, SSO, ``credential_process``, container and instance metadata,
assume-role) and how to refresh them; all of those block (files, HTTP, child
processes), so :class:`CredentialSource` runs them in a worker thread, never on
the event loop, and once for any number of concurrent callers.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials

from ..errors import CredentialsError

__all__ = ["CredentialSource"]


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

    @classmethod
    def of(cls, credentials: Credentials) -> CredentialSource:
        """Explicit keys: nothing to resolve or refresh, so no trip to a worker thread."""
        source = cls(lambda: credentials)
        source._credentials = credentials
        if not isinstance(credentials, RefreshableCredentials):
            source._frozen = credentials.get_frozen_credentials()
        return source

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

    def _resolved(self) -> Credentials:
        """botocore's credentials object, found once (blocking: in a worker thread)."""
        credentials = self._credentials
        if credentials is None:
            try:
                credentials = self._resolve()
            except Exception as exc:  # SSO expired, credential_process failed, ...
                raise CredentialsError(f"could not load AWS credentials: {exc}") from exc
            if credentials is None:
                raise CredentialsError(
                    "no AWS credentials found: pass aws_access_key_id/aws_secret_access_key, "
                    "or configure them for botocore (environment, ~/.aws, SSO, roles...)"
                )
            self._credentials = credentials
        return credentials

    def frozen_blocking(self) -> tuple[ReadOnlyCredentials, float | None]:
        """In a worker thread: frozen credentials and when they expire (epoch seconds).

        For a bearer token, which is made from one version of the credentials
        (botocore refreshes them first when needed) and must not outlive them;
        ``None`` for credentials that do not expire.
        """
        credentials = self._resolved()
        try:
            frozen = credentials.get_frozen_credentials()
        except Exception as exc:
            raise CredentialsError(f"could not refresh AWS credentials: {exc}") from exc
        expiry = getattr(credentials, "_expiry_time", None)  # RefreshableCredentials' own
        return frozen, None if expiry is None else expiry.timestamp()

    async def _load(self) -> ReadOnlyCredentials:
        loop = asyncio.get_running_loop()
        credentials: Credentials = self._credentials or await loop.run_in_executor(
            None, self._resolved
        )
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
