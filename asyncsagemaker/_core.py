"""What a client resolves once, and the one attempt loop every call runs.

:class:`Core` holds a client's settings as given and resolves them once, off the
event loop (the profile and its files, the service model, the endpoint rules,
credentials): a :class:`Ready`.  It knows whether the client was closed, and runs
the attempt loop of every call, whatever its protocol: *wait, sign, send,
classify*, with the send step passed in.  The HTTP/1.1 calls pass their transport's
``send``; the bidirectional call passes its HTTP/2 transport's ``open``.  So a call
of either kind gets the same retries, deadline, closing rule, telemetry hooks and
``amz-sdk-*`` headers.  How an attempt proves who sends it is SigV4 unless the call
passes an :class:`Authorizer` (the OpenAI-compatible route's bearer token).
"""

from __future__ import annotations

import asyncio
import dataclasses
import platform
import random
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

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
from ._redact import redact, redact_library_logs
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

__all__ = [
    "MAX_ERROR_BODY",
    "MAX_ERROR_MESSAGE",
    "Authorizer",
    "Core",
    "ErrorParser",
    "Ready",
    "refusal",
]

_A = TypeVar("_A", bound=Answer)

#: How a refusal's status, headers and body become the call's typed error.
ErrorParser = Callable[[int, Mapping[str, str], bytes], SageMakerError]


class Authorizer(Protocol):
    """An attempt's proof of who sends it, in place of SigV4 (a bearer token, say).

    Passed per call to :meth:`Core.send`.  ``authorize`` gets the attempt's URL,
    headers (its own copy) and body, and returns the headers to send.
    """

    async def authorize(self, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]: ...


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
        self._resolving = threading.Lock()  # get_ready() and ready_blocking() resolve once
        self.used = False  # get_ready() was called: an async user, who must close the client
        self.closed = False

    # -- resolved once -----------------------------------------------------------------

    async def get_ready(self) -> Ready:
        """What the client resolved; resolves it first (in a worker thread) if needed."""
        if self.closed:
            raise ClientClosedError("this client was closed; create a new one")
        self.used = True
        ready = self.ready
        if ready is not None:
            return ready
        async with self._ready_lock:
            if self.ready is None:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, self.ready_blocking)
            assert self.ready is not None
            return self.ready

    def ready_blocking(self) -> Ready:
        """What the client resolved, resolving it here if needed: only in a worker thread,
        or in a thread without an event loop (the OpenAI SDK's synchronous client)."""
        if self.closed:
            raise ClientClosedError("this client was closed; create a new one")
        with self._resolving:
            if self.ready is None:
                self.ready = self._resolve_blocking()
            return self.ready

    def _resolve_blocking(self) -> Ready:
        """Everything that reads files: runs in a worker thread, once per client."""
        redact_library_logs()  # botocore's parser logs the error bodies it reads
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
        authorizer: Authorizer | None = None,
    ) -> tuple[_A, Request, ReadOnlyCredentials | None]:
        """Send until an answer's status is 2xx, within ``deadline``; tell ``observer``.

        Returns the answer, the request that got it and the credentials that signed
        it (the bidirectional call's event signer chains from both; ``None`` when an
        ``authorizer`` proved it instead).  ``headers`` are
        signed (``payload_hash`` in place of the body's hash when given);
        ``unsigned`` are added after signing, with the user agent and the SDK's
        invocation headers.  ``authorizer`` replaces SigV4.  A failure, or a
        cancellation, is told to the observer, then raised.
        """
        try:
            if deadline.at is None:
                return await self._attempts(
                    ready, url, headers, body, deadline, label, observer, send, parse_error,
                    payload_hash, unsigned, authorizer,
                )  # fmt: skip
            with deadline.scope():
                return await self._attempts(
                    ready, url, headers, body, deadline, label, observer, send, parse_error,
                    payload_hash, unsigned, authorizer,
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
        authorizer: Authorizer | None,
    ) -> tuple[_A, Request, ReadOnlyCredentials | None]:
        """Wait, sign, send, classify: as many times as the retry policy allows."""
        invocation_id = _invocation_id()
        retry = ready.retry
        for attempt in retry.attempts(deadline, label, observer):
            if attempt.must_wait:
                await attempt.wait()
            if self.closed:
                raise ClientClosedError("the client was closed while the call was under way")
            credentials: ReadOnlyCredentials | None = None
            again: Callable[[dict[str, str]], None] | None = None
            if authorizer is None:
                credentials = ready.credentials.fresh() or await ready.credentials.get()
                signed = ready.signer.sign(
                    credentials, url, dict(headers), body, payload_hash=payload_hash
                )
                again = _signer_again(ready, credentials, url, headers, body, payload_hash)
            else:  # a bearer token has no time in it: nothing to sign again
                signed = await authorizer.authorize(url, dict(headers), body)
            signed_at = time.monotonic()
            signed["User-Agent"] = ready.user_agent
            signed.update(unsigned)
            signed["amz-sdk-invocation-id"] = invocation_id
            signed["amz-sdk-request"] = f"attempt={attempt.number}; max={retry.max_attempts}"
            observer.sending(attempt.number, url, signed)
            request = Request("POST", url, signed, body, signed_at, again)
            try:
                answer = await send(request, deadline)
            except SageMakerError as error:
                attempt.failed(self.closed_instead(error))
                continue
            if 200 <= answer.status < 300:
                attempt.succeeded(answer.status, answer.headers.get("x-amzn-requestid"))
                return answer, request, credentials
            attempt.failed(await refusal(answer, parse_error, deadline.read_timeout))
        raise AssertionError("unreachable: attempts() ends by success or by raising")


def _signer_again(
    ready: Ready,
    credentials: ReadOnlyCredentials,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    payload_hash: str | None,
) -> Callable[[dict[str, str]], None]:
    """How a request's headers are signed again, in place, by a transport that waited
    (``base.refresh``): the same request and credentials, at the time of now.

    The same credentials, because the bidirectional call's event signer chains from
    the request's signature with the credentials the loop returns (botocore refreshes
    them minutes before they expire, so a wait does not outlive them).
    """

    def sign_again(signed: dict[str, str]) -> None:
        signed.update(
            ready.signer.sign(credentials, url, dict(headers), body, payload_hash=payload_hash)
        )

    return sign_again


#: How much of an error body is read: a refusal is a few hundred bytes of JSON, and a
#: misbehaving service (or proxy) must not make a call hold hundreds of MB.
MAX_ERROR_BODY = 1024 * 1024
#: How much of an error's message is kept (the rest is counted, not kept).
MAX_ERROR_MESSAGE = 4096


async def refusal(
    answer: Answer, parse_error: ErrorParser, read_timeout: float | None = None
) -> SageMakerError:
    """The typed error of a non-2xx answer, from at most :data:`MAX_ERROR_BODY` of its body.

    Every read waits ``read_timeout`` at most (the HTTP/2 stream has no idle limit of
    its own once open); the call's deadline bounds the whole.  A body cut off, silent
    or too long still tells its status, and what was read of it.
    """
    body = answer.body
    chunks: list[bytes] = []
    size = 0
    whole = False
    try:
        while size <= MAX_ERROR_BODY:
            if read_timeout is None:
                chunk = await body.read_chunk()
            else:
                chunk = await asyncio.wait_for(body.read_chunk(), read_timeout)
            if not chunk:
                whole = True
                break
            chunks.append(chunk)
            size += len(chunk)
    except (NetworkError, ReadTimeoutError, StreamError, asyncio.TimeoutError):
        pass  # what came before still tells
    except BaseException:
        body.abort()
        raise
    if whole:
        body.release()
    else:
        body.abort()  # never drained: closed
    data = b"".join(chunks)[:MAX_ERROR_BODY]
    error = parse_error(answer.status, answer.headers, data)
    _bound_messages(error, data, cut=size > MAX_ERROR_BODY)
    return error


def _bound_messages(error: SageMakerError, data: bytes, *, cut: bool) -> None:
    """Keep the first :data:`MAX_ERROR_MESSAGE` characters of the error's messages, saying
    how much was cut; a message botocore could not find in a cut body is its first bytes."""
    for name in ("message", "original_message"):
        text = getattr(error, name, None)
        if not isinstance(text, str):
            continue
        notes = []
        if name == "message" and cut:
            if not text or text == f"HTTP {getattr(error, 'status_code', '')}":
                text = data[:MAX_ERROR_MESSAGE].decode("utf-8", "replace")
            notes.append(f"the error body was over {MAX_ERROR_BODY} bytes; the rest was not read")
        if len(text) > MAX_ERROR_MESSAGE:
            notes.insert(0, f"{len(text) - MAX_ERROR_MESSAGE} more characters cut")
            text = text[:MAX_ERROR_MESSAGE]
        if notes:
            text = redact(f"{text} [... {'; '.join(notes)}]")  # the body's bytes, maybe
            setattr(error, name, text)
            if name == "message":
                error.args = (text,)


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
