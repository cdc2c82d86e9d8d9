"""What a client resolves once, and the one attempt loop every call runs.

:class:`Core` holds a client's settings as given and resolves them once, off the
event loop (the profile and its files, the service model, the endpoint rules,
credentials): a :class:`Ready`.  It knows whether the client was closed, and runs
the attempt loop of every call, whatever its protocol: *wait, sign, send,
classify*, with the send step passed in.  The HTTP/1.1 calls pass their transport's
``send``; the bidirectional call passes its HTTP/2 transport's ``open``.  So a call
of either kind gets the same retries, deadline, closing rule, telemetry hooks and
``amz-sdk-*`` headers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import platform
import random
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import botocore
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.exceptions import BotoCoreError

from ._auth.credentials import CredentialSource
from ._auth.profile import Profile, data_loader, open_profile
from ._auth.sigv4 import RequestSigner
from ._config import Config, Settings
from ._deadline import Deadline
from ._endpoints import SERVICE_NAME, resolve_endpoint_url
from ._operations import Operation, load_operations
from ._retries import RetryPolicy
from ._telemetry.hooks import Observer
from ._transports.base import Answer, Request, Transport
from ._version import __version__
from .errors import (
    ClientClosedError,
    ConfigurationError,
    NetworkError,
    ReadTimeoutError,
    SageMakerError,
    StreamError,
)

__all__ = ["Core", "ErrorParser", "Ready", "refusal"]

_A = TypeVar("_A", bound=Answer)

#: How a refusal's status, headers and body become the call's typed error.
ErrorParser = Callable[[int, Mapping[str, str], bytes], SageMakerError]

_OPERATIONS: dict[str, dict[str, Operation]] = {}  # per botocore version
_NO_HEADERS: Mapping[str, str] = {}


def _operations(session: Any, loader: Any) -> dict[str, Operation]:
    """The service model's operations, read once per process (per botocore version).

    A botocore ``Session`` given to the client makes the model (its handlers may
    change it); otherwise it is read with ``loader``, as a ``Session`` reads it.
    """
    cached = _OPERATIONS.get(botocore.__version__)
    if cached is None:
        if isinstance(session, Profile):
            from botocore.model import ServiceModel

            model = ServiceModel(loader.load_service_model(SERVICE_NAME, "service-2"), SERVICE_NAME)
        else:
            model = session.get_service_model(SERVICE_NAME)
        cached = _OPERATIONS[botocore.__version__] = load_operations(model)
    return cached


@dataclasses.dataclass(frozen=True)
class Ready:
    """What a client resolved once: where to send, how to sign, how to retry."""

    base_url: str
    operations: dict[str, Operation]
    settings: Settings
    signer: RequestSigner
    credentials: CredentialSource
    retry: RetryPolicy
    transport: Transport
    user_agent: str


def _user_agent(extra: str | None) -> str:
    agent = (
        f"asyncsagemaker/{__version__} md/botocore#{botocore.__version__} "
        f"lang/python#{platform.python_version()} os/{sys.platform}"
    )
    return f"{agent} {extra}" if extra else agent


class Core:
    """A client's settings, what it resolved of them, and its attempt loop.

    ``transport`` replaces the HTTP/1.1 transport (tests); the rest is what the
    client was given (see ``SageMakerRuntime``).
    """

    def __init__(
        self,
        config: Config,
        *,
        region_name: str | None,
        endpoint_url: str | None,
        profile_name: str | None,
        keys: Credentials | None,
        botocore_session: Any,
        transport: Transport | None,
    ) -> None:
        self.config = config
        self.region_name = region_name
        self.endpoint_url = endpoint_url
        self._profile_name = profile_name
        self._keys = keys
        self._botocore_session = botocore_session
        self._transport = transport
        self.ready: Ready | None = None
        self._ready_lock = asyncio.Lock()
        self.closed = False

    # -- resolved once -----------------------------------------------------------------

    async def get_ready(self) -> Ready:
        """What the client resolved; resolves it first (in a worker thread) if needed."""
        if self.closed:
            raise ClientClosedError("this client was closed; create a new one")
        ready = self.ready
        if ready is not None:
            return ready
        async with self._ready_lock:
            if self.ready is None:
                loop = asyncio.get_running_loop()
                self.ready = await loop.run_in_executor(None, self._resolve_blocking)
            return self.ready

    def _resolve_blocking(self) -> Ready:
        """Everything that reads files: runs in a worker thread, once per client."""
        try:
            # botocore's Session only when given one: a Profile reads the same settings
            # and credentials without botocore's client machinery (see _auth.profile)
            session = self._botocore_session or open_profile(self._profile_name)
            region = self.region_name or session.get_config_variable("region")
            if isinstance(session, Profile):
                loader = data_loader(session.get_config_variable("data_path"))
            else:
                loader = session.get_component("data_loader")
            operations = _operations(session, loader)
            config = self.config
            base_url = resolve_endpoint_url(
                loader,
                region,
                use_fips=config.use_fips_endpoint,
                use_dualstack=config.use_dualstack_endpoint,
                endpoint_url=self.endpoint_url,
            )
            settings = config.resolve(session, region, base_url)
        except BotoCoreError as exc:  # a missing profile, a broken config file...
            raise ConfigurationError(f"{type(exc).__name__}: {exc}") from exc
        keys = self._keys
        return Ready(
            base_url=base_url,
            operations=operations,
            settings=settings,
            signer=RequestSigner(settings.region),
            credentials=(
                CredentialSource(session.get_credentials)
                if keys is None
                else CredentialSource.of(keys)
            ),
            retry=RetryPolicy(
                settings.retry_mode, settings.max_attempts, config.backoff_base, config.max_backoff
            ),
            transport=self._transport or self._default_transport(settings),
            user_agent=_user_agent(config.user_agent_extra),
        )

    def _default_transport(self, settings: Settings) -> Transport:
        from ._transports.http1 import AiohttpTransport

        config = self.config
        return AiohttpTransport(
            max_connections=config.max_pool_connections,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            tcp_keepalive=config.tcp_keepalive,
            ssl_context=settings.ssl_context,
            proxy=settings.proxy,
        )

    async def aclose(self) -> None:
        """Closed for good: the HTTP/1.1 pool is closed, later calls are refused."""
        self.closed = True
        if self.ready is not None:
            await self.ready.transport.aclose()

    # -- every call ----------------------------------------------------------------------

    def deadline(self, started: float) -> Deadline:
        """The one deadline of a call that started at ``started`` (``time.monotonic()``)."""
        config = self.config
        return Deadline(
            config.total_timeout, config.read_timeout, config.connect_timeout, started=started
        )

    def closed_instead(self, error: SageMakerError) -> SageMakerError:
        """A failure caused by ``close()`` during the call says so (and is not retried)."""
        if not self.closed or isinstance(error, ClientClosedError):
            return error
        closed = ClientClosedError("the client was closed while the call was under way")
        closed.__cause__ = error
        return closed

    async def send(
        self,
        ready: Ready,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        deadline: Deadline,
        label: str,
        observer: Observer,
        send: Callable[[Request, Deadline], Awaitable[_A]],
        parse_error: ErrorParser,
        payload_hash: str | None = None,
        unsigned: Mapping[str, str] = _NO_HEADERS,
    ) -> tuple[_A, Request, ReadOnlyCredentials]:
        """Send until an answer's status is 2xx, within ``deadline``; tell ``observer``.

        Returns the answer, the request that got it and the credentials that signed
        it (the bidirectional call's event signer chains from both).  ``headers`` are
        signed (``payload_hash`` in place of the body's hash when given);
        ``unsigned`` are added after signing, with the user agent and the SDK's
        invocation headers.  A failure, or a cancellation, is told to the observer,
        then raised.
        """
        try:
            if deadline.at is None:
                return await self._attempts(
                    ready, url, headers, body, deadline, label, observer, send, parse_error,
                    payload_hash, unsigned,
                )  # fmt: skip
            with deadline.scope():
                return await self._attempts(
                    ready, url, headers, body, deadline, label, observer, send, parse_error,
                    payload_hash, unsigned,
                )  # fmt: skip
        except BaseException as exc:
            observer.failed(exc)
            raise

    async def _attempts(
        self,
        ready: Ready,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        deadline: Deadline,
        label: str,
        observer: Observer,
        send: Callable[[Request, Deadline], Awaitable[_A]],
        parse_error: ErrorParser,
        payload_hash: str | None,
        unsigned: Mapping[str, str],
    ) -> tuple[_A, Request, ReadOnlyCredentials]:
        """Wait, sign, send, classify: as many times as the retry policy allows."""
        invocation_id = _invocation_id()
        retry = ready.retry
        for attempt in retry.attempts(deadline, label, observer):
            if attempt.must_wait:
                await attempt.wait()
            if self.closed:
                raise ClientClosedError("the client was closed while the call was under way")
            credentials = ready.credentials.fresh() or await ready.credentials.get()
            signed = ready.signer.sign(
                credentials, url, dict(headers), body, payload_hash=payload_hash
            )
            signed["User-Agent"] = ready.user_agent
            signed.update(unsigned)
            signed["amz-sdk-invocation-id"] = invocation_id
            signed["amz-sdk-request"] = f"attempt={attempt.number}; max={retry.max_attempts}"
            observer.sending(attempt.number, url, signed)
            request = Request("POST", url, signed, body)
            try:
                answer = await send(request, deadline)
            except SageMakerError as error:
                attempt.failed(self.closed_instead(error))
                continue
            if 200 <= answer.status < 300:
                attempt.succeeded(answer.status, answer.headers.get("x-amzn-requestid"))
                return answer, request, credentials
            attempt.failed(await refusal(answer, parse_error))
        raise AssertionError("unreachable: attempts() ends by success or by raising")


async def refusal(answer: Answer, parse_error: ErrorParser) -> SageMakerError:
    """The typed error of a non-2xx answer; a body cut off still tells its status."""
    body = answer.body
    try:
        data = await body.read_all()
    except (NetworkError, ReadTimeoutError, StreamError):
        data = b""
        body.abort()
    except BaseException:
        body.abort()
        raise
    else:
        body.release()
    return parse_error(answer.status, answer.headers, data)


def _invocation_id() -> str:
    """A random (version 4) UUID as text, like ``str(uuid.uuid4())`` for a fraction of the cost.

    It only has to tell one call's attempts from another's in the service's logs, so
    Python's own generator serves (no system call per call, as ``os.urandom`` makes).
    """
    digits = "%032x" % (_getrandbits(128) & _UUID4_CLEAR | _UUID4_SET)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


_getrandbits = random.Random().getrandbits
_UUID4_CLEAR = ~(0xF000 << 64 | 0xC000 << 48) & (1 << 128) - 1  # version and variant bits
_UUID4_SET = 0x4000 << 64 | 0x8000 << 48
