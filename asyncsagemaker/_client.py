"""``SageMakerRuntime``: the client.  It owns one aiohttp session and glues the rooms.

Everything that blocks (reading ``~/.aws``, the service model and endpoint rules,
resolving credentials) happens once, in a worker thread, on first use or in
``async with``.  Each call then only validates its arguments against the model,
signs, sends, and (for a failure before the first byte of a 200 response)
retries as the retry policy allows.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import socket
import ssl
import sys
import time
import urllib.request
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp
import anyio
import botocore
import botocore.session
import yarl
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError

from ._auth import CredentialSource, RequestSigner
from ._config import DEFAULT_MAX_ATTEMPTS, Config
from ._endpoints import SERVICE_NAME, resolve_endpoint_url
from ._operations import Operation, load_operations
from ._responses import AsyncInferenceResponse, InvokeEndpointResponse
from ._retries import RetryPolicy
from ._stream import ResponseStream, StreamCall
from ._version import __version__
from .errors import (
    ClientClosedError,
    ConfigurationError,
    ConnectTimeoutError,
    DeadlineExceededError,
    NetworkError,
    ReadTimeoutError,
    SageMakerError,
)

__all__ = ["SageMakerRuntime"]

logger = logging.getLogger("asyncsagemaker")

_SKIP_AUTO_HEADERS = ("Accept", "Content-Type", "User-Agent")


_OPERATIONS: dict[str, dict[str, Operation]] = {}  # per botocore version


def _operations(session: Any) -> dict[str, Operation]:
    """The service model's operations, read once per process (per botocore version)."""
    cached = _OPERATIONS.get(botocore.__version__)
    if cached is None:
        cached = _OPERATIONS[botocore.__version__] = load_operations(
            session.get_service_model(SERVICE_NAME)
        )
    return cached


@dataclasses.dataclass(frozen=True)
class _Settings:
    """What the blocking set-up finds (files, environment): computed in a worker thread."""

    base_url: str
    operations: dict[str, Operation]
    region: str
    retry_mode: str
    max_attempts: int
    resolve_credentials: Callable[[], Any]
    ssl_context: ssl.SSLContext | None
    proxy: str | None


@dataclasses.dataclass(frozen=True)
class _Ready:
    """What the client resolved once: where to send, how to sign, how to retry."""

    base_url: str
    operations: dict[str, Operation]
    signer: RequestSigner
    credentials: CredentialSource
    retry: RetryPolicy
    user_agent: str
    ssl_context: ssl.SSLContext | None
    proxy: str | None


def _user_agent(extra: str | None) -> str:
    agent = (
        f"asyncsagemaker/{__version__} md/botocore#{botocore.__version__} "
        f"md/aiohttp#{aiohttp.__version__} lang/python#{platform.python_version()} "
        f"os/{sys.platform}"
    )
    return f"{agent} {extra}" if extra else agent


def _proxy_for(url: str) -> str | None:
    """The proxy for ``url`` from HTTP(S)_PROXY / NO_PROXY, as botocore reads them."""
    host = yarl.URL(url).host or ""
    if urllib.request.proxy_bypass_environment(host):  # type: ignore[attr-defined]
        return None
    scheme = url.split(":", 1)[0]
    return urllib.request.getproxies_environment().get(scheme)


def _keepalive_socket(addr_info: Any) -> socket.socket:
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=kind, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock


class SageMakerRuntime:
    """Async client for Amazon SageMaker Runtime.

    Construction follows botocore: ``region_name``, ``endpoint_url``,
    ``profile_name``, explicit keys, a ``botocore_session``, and ``config`` (an
    :class:`~asyncsagemaker.Config` or a ``botocore.config.Config``).  Use it as
    ``async with SageMakerRuntime(...) as client`` or call ``await client.close()``.
    """

    def __init__(
        self,
        region_name: str | None = None,
        *,
        endpoint_url: str | None = None,
        profile_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        botocore_session: Any = None,
        config: Config | Any | None = None,
    ) -> None:
        if (aws_access_key_id is None) != (aws_secret_access_key is None):
            raise ConfigurationError(
                "pass both aws_access_key_id and aws_secret_access_key, or neither"
            )
        if botocore_session is not None and profile_name is not None:
            raise ConfigurationError("pass profile_name or botocore_session, not both")
        self.config = Config.coerce(config)
        self._region_name = region_name
        self._endpoint_url = endpoint_url
        self._profile_name = profile_name
        self._explicit_keys = (
            None
            if aws_access_key_id is None
            else Credentials(aws_access_key_id, aws_secret_access_key, aws_session_token)
        )
        self._botocore_session = botocore_session
        self._ready: _Ready | None = None
        self._ready_lock = anyio.Lock()
        self._http: aiohttp.ClientSession | None = None
        self._urls: dict[str, yarl.URL] = {}
        self._closed = False

    def __repr__(self) -> str:
        where = self._ready.base_url if self._ready else (self._endpoint_url or self._region_name)
        return f"<SageMakerRuntime {where!s} {'closed' if self._closed else 'open'}>"

    # -- lifetime ------------------------------------------------------------------

    async def __aenter__(self) -> SageMakerRuntime:
        """Resolve region, endpoint and credentials now, so that set-up errors show at once."""
        ready = await self._get_ready()
        await ready.credentials.get()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool; streams still open are closed with it."""
        self._closed = True
        if self._http is not None:
            await self._http.close()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        http = getattr(self, "_http", None)
        if http is not None and not http.closed:
            _warn(f"unclosed {self!r}: use `async with` or close()", ResourceWarning, stacklevel=1)

    @property
    def region_name(self) -> str | None:
        return self._ready.signer.region if self._ready else self._region_name

    @property
    def endpoint_url(self) -> str | None:
        """The base URL requests go to, once resolved (after the first call or ``async with``)."""
        return self._ready.base_url if self._ready else self._endpoint_url

    async def _get_ready(self) -> _Ready:
        ready = self._ready
        if ready is not None:
            return ready
        async with self._ready_lock:
            if self._ready is None:
                found = await anyio.to_thread.run_sync(self._resolve_blocking)
                config = self.config
                self._ready = _Ready(
                    base_url=found.base_url,
                    operations=found.operations,
                    signer=RequestSigner(found.region),
                    credentials=CredentialSource(found.resolve_credentials),
                    retry=RetryPolicy(
                        found.retry_mode,
                        found.max_attempts,
                        config.backoff_base,
                        config.max_backoff,
                    ),
                    user_agent=_user_agent(config.user_agent_extra),
                    ssl_context=found.ssl_context,
                    proxy=found.proxy,
                )
            return self._ready

    def _resolve_blocking(self) -> _Settings:
        """Everything that reads files: runs in a worker thread, once per client."""
        try:
            return self._settings()
        except BotoCoreError as exc:  # a missing profile, a broken config file...
            raise ConfigurationError(f"{type(exc).__name__}: {exc}") from exc

    def _settings(self) -> _Settings:
        session = self._botocore_session or botocore.session.Session(profile=self._profile_name)
        region = self._region_name or session.get_config_variable("region")
        operations = _operations(session)
        config = self.config
        base_url = resolve_endpoint_url(
            session.get_component("data_loader"),
            region,
            use_fips=config.use_fips_endpoint,
            use_dualstack=config.use_dualstack_endpoint,
            endpoint_url=self._endpoint_url,
        )
        if not region:
            raise ConfigurationError(
                "no region: SigV4 signs for a region even with endpoint_url; pass "
                "region_name=... or set AWS_REGION / AWS_DEFAULT_REGION"
            )
        # Only what the user set (env or the profile) overrides our defaults; botocore's
        # own default mode is "legacy", ours is "standard".
        profile = session.get_scoped_config()
        mode = (
            config.retry_mode
            or os.environ.get("AWS_RETRY_MODE")
            or profile.get("retry_mode")
            or "standard"
        )
        if mode not in DEFAULT_MAX_ATTEMPTS:
            raise ConfigurationError(f"unknown retry mode {mode!r}")
        attempts = (
            config.max_attempts or os.environ.get("AWS_MAX_ATTEMPTS") or profile.get("max_attempts")
        )
        try:
            max_attempts = int(attempts) if attempts else DEFAULT_MAX_ATTEMPTS[mode]
        except ValueError:
            raise ConfigurationError(
                f"max_attempts must be a whole number, not {attempts!r}"
            ) from None
        if max_attempts < 1:
            raise ConfigurationError("max_attempts counts the first attempt and must be >= 1")
        keys = self._explicit_keys
        resolve = (lambda: keys) if keys is not None else session.get_credentials
        ca_bundle = session.get_config_variable("ca_bundle")
        context = None
        if base_url.startswith("https:") and ca_bundle:
            context = ssl.create_default_context(cafile=ca_bundle)
        return _Settings(
            base_url=base_url,
            operations=operations,
            region=str(region),
            retry_mode=str(mode),
            max_attempts=max_attempts,
            resolve_credentials=resolve,
            ssl_context=context,
            proxy=_proxy_for(base_url),
        )

    def _get_http(self, ready: _Ready) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("this client was closed; create a new one")
        http = self._http
        if http is None:
            config = self.config
            connector = aiohttp.TCPConnector(
                limit=config.max_pool_connections,
                socket_factory=_keepalive_socket if config.tcp_keepalive else None,
                ssl=ready.ssl_context if ready.ssl_context is not None else True,
            )
            http = self._http = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=config.connect_timeout, sock_read=config.read_timeout
                ),
                auto_decompress=False,
                skip_auto_headers=_SKIP_AUTO_HEADERS,
            )
        return http

    # -- operations ----------------------------------------------------------------

    def invoke_endpoint_with_response_stream(
        self,
        endpoint_name: str,
        *,
        body: Any,
        content_type: str | None = None,
        accept: str | None = None,
        custom_attributes: str | None = None,
        target_variant: str | None = None,
        target_container_hostname: str | None = None,
        inference_id: str | None = None,
        inference_component_name: str | None = None,
        session_id: str | None = None,
        **extra: Any,
    ) -> StreamCall:
        """Stream the model's answer: ``async with client.invoke_...(...) as stream``.

        ``body`` is bytes, str (UTF-8) or a JSON-serialisable object (then
        ``content_type`` defaults to ``application/json``).  Other members of the
        service model (as snake_case keywords) go in ``extra``.
        """
        params = {
            "body": body,
            "content_type": content_type,
            "accept": accept,
            "custom_attributes": custom_attributes,
            "target_variant": target_variant,
            "target_container_hostname": target_container_hostname,
            "inference_id": inference_id,
            "inference_component_name": inference_component_name,
            "session_id": session_id,
            **extra,
        }
        return StreamCall(self._open_stream(endpoint_name, params))

    async def _open_stream(self, endpoint_name: str, params: dict[str, Any]) -> ResponseStream:
        response, operation, started, deadline = await self._send(
            "InvokeEndpointWithResponseStream", endpoint_name, params
        )
        return ResponseStream(
            response,
            operation.response_attributes(response.headers),
            started=started,
            deadline=deadline,
            max_message_bytes=self.config.max_message_bytes,
        )

    async def invoke_endpoint(
        self,
        endpoint_name: str,
        *,
        body: Any,
        content_type: str | None = None,
        accept: str | None = None,
        custom_attributes: str | None = None,
        target_model: str | None = None,
        target_variant: str | None = None,
        target_container_hostname: str | None = None,
        inference_id: str | None = None,
        enable_explanations: str | None = None,
        inference_component_name: str | None = None,
        session_id: str | None = None,
        **extra: Any,
    ) -> InvokeEndpointResponse:
        """Invoke the model and return its whole answer."""
        params = {
            "body": body,
            "content_type": content_type,
            "accept": accept,
            "custom_attributes": custom_attributes,
            "target_model": target_model,
            "target_variant": target_variant,
            "target_container_hostname": target_container_hostname,
            "inference_id": inference_id,
            "enable_explanations": enable_explanations,
            "inference_component_name": inference_component_name,
            "session_id": session_id,
            **extra,
        }
        response, operation, _, deadline = await self._send("InvokeEndpoint", endpoint_name, params)
        data = await self._read_body(response, deadline)
        attributes = operation.response_attributes(response.headers)
        return InvokeEndpointResponse(
            body=data,
            content_type=attributes.get("content_type"),
            invoked_production_variant=attributes.get("invoked_production_variant"),
            custom_attributes=attributes.get("custom_attributes"),
            new_session_id=attributes.get("new_session_id"),
            closed_session_id=attributes.get("closed_session_id"),
            request_id=response.headers.get("x-amzn-RequestId"),
            status_code=response.status,
            headers=response.headers,
        )

    async def invoke_endpoint_async(
        self,
        endpoint_name: str,
        *,
        input_location: str | None = None,
        content_type: str | None = None,
        accept: str | None = None,
        custom_attributes: str | None = None,
        inference_id: str | None = None,
        request_ttl_seconds: int | None = None,
        invocation_timeout_seconds: int | None = None,
        **extra: Any,
    ) -> AsyncInferenceResponse:
        """Queue an asynchronous inference whose input is in S3 (``input_location``)."""
        params = {
            "input_location": input_location,
            "content_type": content_type,
            "accept": accept,
            "custom_attributes": custom_attributes,
            "inference_id": inference_id,
            "request_ttl_seconds": request_ttl_seconds,
            "invocation_timeout_seconds": invocation_timeout_seconds,
            **extra,
        }
        response, operation, _, deadline = await self._send(
            "InvokeEndpointAsync", endpoint_name, params
        )
        data = await self._read_body(response, deadline)
        attributes = operation.response_attributes(response.headers)
        try:
            inference_id_out = json.loads(data).get("InferenceId") if data else None
        except (ValueError, AttributeError):
            inference_id_out = None
        return AsyncInferenceResponse(
            inference_id=inference_id_out,
            output_location=attributes.get("output_location"),
            failure_location=attributes.get("failure_location"),
            request_id=response.headers.get("x-amzn-RequestId"),
            status_code=response.status,
            headers=response.headers,
        )

    # -- the wire ------------------------------------------------------------------

    async def _send(
        self, operation_name: str, endpoint_name: str, params: dict[str, Any]
    ) -> tuple[aiohttp.ClientResponse, Operation, float, float | None]:
        """Send with retries until a 2xx response's headers arrive; raise typed errors."""
        ready = self._ready or await self._get_ready()
        operation = ready.operations[operation_name]
        request = operation.prepare(
            endpoint_name, {k: v for k, v in params.items() if v is not None}
        )
        http = self._get_http(ready)
        url_text = ready.base_url + request.path
        url = self._urls.get(url_text)
        if url is None:  # yarl parses; the same few endpoints are called over and over
            url = yarl.URL(url_text, encoded=True)
            if len(self._urls) < 256:
                self._urls[url_text] = url
        policy = ready.retry
        started = time.monotonic()
        total = self.config.total_timeout
        deadline = None if total is None else started + total
        invocation_id = _invocation_id()
        retry_cost = 0
        attempt = 0
        debug = logger.isEnabledFor(logging.DEBUG)
        while True:
            attempt += 1
            if self._closed:
                raise ClientClosedError("the client was closed while the call was under way")
            if policy.limits_rate:
                await policy.before_attempt()
            credentials = ready.credentials.fresh() or await ready.credentials.get()
            headers = ready.signer.sign(credentials, url_text, dict(request.headers), request.body)
            headers["User-Agent"] = ready.user_agent
            headers["Accept-Encoding"] = "identity"
            headers["amz-sdk-invocation-id"] = invocation_id
            headers["amz-sdk-request"] = f"attempt={attempt}; max={policy.max_attempts}"
            sent_at = time.monotonic()
            try:
                response = await self._post(http, url, headers, request.body, deadline, ready.proxy)
            except (NetworkError, ConnectTimeoutError, ReadTimeoutError) as error:
                failure: SageMakerError = error
            else:
                if 200 <= response.status < 300:
                    policy.record_success(retry_cost)
                    if debug:
                        logger.debug(
                            "%s %s attempt %d/%d: HTTP %d in %.1f ms [request id %s]",
                            operation_name,
                            endpoint_name,
                            attempt,
                            policy.max_attempts,
                            response.status,
                            (time.monotonic() - sent_at) * 1000,
                            response.headers.get("x-amzn-RequestId"),
                        )
                    return response, operation, started, deadline
                try:
                    data = await self._read_body(response, deadline)
                except (NetworkError, ReadTimeoutError):
                    data = b""  # the status still tells what failed, and whether to retry
                failure = operation.parse_error(response.status, response.headers, data)
            policy.record_failure(failure)
            delay = policy.backoff(attempt)
            retry = (
                attempt < policy.max_attempts
                and policy.is_retryable(failure)
                and (deadline is None or time.monotonic() + delay < deadline)
                and policy.acquire_retry(failure)  # last: only a retry that happens costs
            )
            if debug:
                logger.debug(
                    "%s %s attempt %d/%d: %s in %.1f ms%s",
                    operation_name,
                    endpoint_name,
                    attempt,
                    policy.max_attempts,
                    _describe(failure),
                    (time.monotonic() - sent_at) * 1000,
                    f"; retrying in {delay:.2f} s" if retry else "; not retried",
                )
            if not retry:
                raise failure
            retry_cost += policy.cost_of(failure)
            await anyio.sleep(delay)

    async def _post(
        self,
        http: aiohttp.ClientSession,
        url: yarl.URL,
        headers: dict[str, str],
        body: bytes,
        deadline: float | None,
        proxy: str | None,
    ) -> aiohttp.ClientResponse:
        try:
            if deadline is None:
                return await http.post(
                    url, data=body, headers=headers, allow_redirects=False, proxy=proxy
                )
            with anyio.fail_after(max(deadline - time.monotonic(), 0)):
                return await http.post(
                    url, data=body, headers=headers, allow_redirects=False, proxy=proxy
                )
        except aiohttp.ConnectionTimeoutError as exc:
            raise ConnectTimeoutError(f"could not connect within connect_timeout: {exc}") from exc
        except aiohttp.ServerTimeoutError as exc:
            raise ReadTimeoutError(f"no response within read_timeout: {exc}") from exc
        except TimeoutError:
            raise DeadlineExceededError("the call did not finish within total_timeout") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise NetworkError(f"{type(exc).__name__}: {exc}") from exc
        except RuntimeError as exc:  # aiohttp: "Session is closed"
            if self._closed or http.closed:
                raise ClientClosedError(
                    "the client was closed while the call was under way"
                ) from exc
            raise

    async def _read_body(self, response: aiohttp.ClientResponse, deadline: float | None) -> bytes:
        try:
            if deadline is None:
                return await response.read()
            with anyio.fail_after(max(deadline - time.monotonic(), 0)):
                return await response.read()
        except aiohttp.ServerTimeoutError as exc:
            raise ReadTimeoutError(f"the response body stalled beyond read_timeout: {exc}") from exc
        except TimeoutError:
            raise DeadlineExceededError("the call did not finish within total_timeout") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise NetworkError(f"the response body was cut off: {exc}") from exc
        finally:
            response.release()


def _invocation_id() -> str:
    """A random (version 4) UUID as text, like ``str(uuid.uuid4())`` for a third of the cost."""
    digits = os.urandom(16).hex()
    return (
        f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-"
        f"{'89ab'[int(digits[16], 16) & 3]}{digits[17:20]}-{digits[20:]}"
    )


def _describe(error: SageMakerError) -> str:
    code = getattr(error, "code", "") or type(error).__name__
    status = getattr(error, "status_code", None)
    return f"{code} (HTTP {status})" if status else code
