"""``SageMakerRuntime``: the client.  It glues the rooms; the transport does the I/O.

Everything that blocks (reading ``~/.aws``, the service model and endpoint rules,
resolving credentials) happens once, off the event loop, on first use or in
``async with``.  Each call then validates its arguments against the model, and for
each attempt waits, signs, sends through the transport and classifies the answer;
the retry policy decides whether another attempt follows (only before the first
byte of a 2xx response).  One :class:`~asyncsagemaker._deadline.Deadline` per call
bounds all of it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import platform
import random
import sys
import time
import warnings
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import botocore
import botocore.session
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError

from ._admission import AdmissionGate
from ._auth.credentials import CredentialSource
from ._auth.sigv4 import RequestSigner
from ._chat import sampling, split_chat_arguments
from ._config import Config, Settings, check_endpoint_url, check_region
from ._deadline import Deadline
from ._endpoints import SERVICE_NAME, resolve_endpoint_url
from ._operations import Operation, PreparedRequest, load_operations
from ._responses import AsyncInferenceResponse, InvokeEndpointResponse
from ._retries import RetryPolicy
from ._sessions import StatefulSession
from ._stream import ResponseStream
from ._stream_call import StreamCall
from ._telemetry.front import Telemetry
from ._telemetry.hooks import Observer
from ._transports.base import RawResponse, Request, Transport
from ._version import __version__
from .errors import (
    ClientClosedError,
    ConfigurationError,
    NetworkError,
    ReadTimeoutError,
    SageMakerError,
)
from .formats import Generation, TokenFormat, chat_body, parse_generation

if TYPE_CHECKING:
    from ._bidi.call import BidiSide, DuplexCall
    from ._bidi.events import BidiPart

__all__ = ["SageMakerRuntime"]

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
class _Ready:
    """What the client resolved once: where to send, how to sign, how to retry."""

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


class SageMakerRuntime:
    """Async client for Amazon SageMaker Runtime.

    Construction follows botocore: ``region_name``, ``endpoint_url``,
    ``profile_name``, explicit keys, a ``botocore_session``, and ``config`` (an
    :class:`~asyncsagemaker.Config` or a ``botocore.config.Config``).  Use it as
    ``async with SageMakerRuntime(...) as client`` or call ``await client.close()``.
    ``transport`` replaces the HTTP/1.1 transport (``testing.MockTransport`` in tests).
    ``bidi_endpoint_url`` is where bidirectional streams go (HTTP/2; default: the
    ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME_HTTP2`` variable, else the region's port 8443).
    ``tracer_provider``, ``meter_provider`` and ``capture_content`` set up OpenTelemetry
    (see docs/observability.md); without them it is off unless set up globally.
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
        transport: Transport | None = None,
        bidi_endpoint_url: str | None = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        capture_content: bool | None = None,
    ) -> None:
        if (aws_access_key_id is None) != (aws_secret_access_key is None):
            raise ConfigurationError(
                "pass both aws_access_key_id and aws_secret_access_key, or neither"
            )
        if botocore_session is not None and profile_name is not None:
            raise ConfigurationError("pass profile_name or botocore_session, not both")
        self.config = Config.coerce(config)
        self._region_name = None if region_name is None else check_region(region_name)
        self._endpoint_url = None if endpoint_url is None else check_endpoint_url(endpoint_url)
        self._profile_name = profile_name
        self._explicit_keys = (
            None
            if aws_access_key_id is None
            else Credentials(aws_access_key_id, aws_secret_access_key, aws_session_token)
        )
        self._botocore_session = botocore_session
        self._transport = transport
        self._bidi_endpoint_url = bidi_endpoint_url and check_endpoint_url(bidi_endpoint_url)
        self._bidi: BidiSide | None = None  # bidirectional streams: endpoint and HTTP/2 pool
        self._telemetry = Telemetry(tracer_provider, meter_provider, capture_content)
        self._ready: _Ready | None = None
        self._ready_lock = asyncio.Lock()
        self._gate = AdmissionGate()
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
        if self._ready is not None:
            await self._ready.transport.aclose()
        if self._bidi is not None:
            await self._bidi.transport.aclose()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if getattr(self, "_ready", None) is not None and not self._closed:
            _warn(f"unclosed {self!r}: use `async with` or close()", ResourceWarning, stacklevel=1)

    @property
    def region_name(self) -> str | None:
        return self._ready.settings.region if self._ready else self._region_name

    @property
    def endpoint_url(self) -> str | None:
        """The base URL requests go to, once resolved (after the first call or ``async with``)."""
        return self._ready.base_url if self._ready else self._endpoint_url

    async def _get_ready(self) -> _Ready:
        if self._closed:
            raise ClientClosedError("this client was closed; create a new one")
        ready = self._ready
        if ready is not None:
            return ready
        async with self._ready_lock:
            if self._ready is None:
                loop = asyncio.get_running_loop()
                self._ready = await loop.run_in_executor(None, self._resolve_blocking)
            return self._ready

    def _resolve_blocking(self) -> _Ready:
        """Everything that reads files: runs in a worker thread, once per client."""
        try:
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
            settings = config.resolve(session, region, base_url)
        except BotoCoreError as exc:  # a missing profile, a broken config file...
            raise ConfigurationError(f"{type(exc).__name__}: {exc}") from exc
        keys = self._explicit_keys
        return _Ready(
            base_url=base_url,
            operations=operations,
            settings=settings,
            signer=RequestSigner(settings.region),
            credentials=CredentialSource(
                (lambda: keys) if keys is not None else session.get_credentials
            ),
            retry=RetryPolicy(
                settings.retry_mode, settings.max_attempts, config.backoff_base, config.max_backoff
            ),
            transport=self._transport or self._default_transport(settings),
            user_agent=_user_agent(config.user_agent_extra),
        )

    def _closed_instead(self, error: SageMakerError) -> SageMakerError:
        """A failure caused by ``close()`` during the call says so (and is not retried)."""
        if not self._closed or isinstance(error, ClientClosedError):
            return error
        closed = ClientClosedError("the client was closed while the call was under way")
        closed.__cause__ = error
        return closed

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

    def session(
        self,
        endpoint_name: str,
        *,
        close_body: Any = None,
        open_body: Any = None,
        **call_kwargs: Any,
    ) -> StatefulSession:
        """A stateful session on ``endpoint_name``: ``async with client.session(...) as s``.

        The first call opens it (``NEW_SESSION``; ``open_body`` is sent first when that
        call is a stream), later calls send its id, leaving ``async with`` sends
        ``close_body`` (when given).  ``call_kwargs`` (``inference_component_name``...)
        go to every call.  See docs/sessions.md.
        """
        return StatefulSession(
            self, endpoint_name, open_body=open_body, close_body=close_body, call_kwargs=call_kwargs
        )

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

    async def _open_stream(
        self,
        endpoint_name: str,
        params: dict[str, Any],
        format: TokenFormat = "auto",
        chat: dict[str, Any] | None = None,
    ) -> ResponseStream:
        started = time.monotonic()
        response, operation, observer = await self._send(
            "InvokeEndpointWithResponseStream", endpoint_name, params, started, chat
        )
        return ResponseStream(
            response,
            operation,
            started=started,
            max_message_bytes=self.config.max_message_bytes,
            format=format,
            observer=observer,
        )

    _open_stream.__qualname__ = "SageMakerRuntime.invoke_endpoint_with_response_stream"

    def chat_stream(
        self,
        endpoint_name: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> StreamCall:
        """Stream a chat answer: an OpenAI-style Messages body, read as ``openai`` events.

        Keywords that are members of ``invoke_endpoint_with_response_stream``
        (``inference_component_name``, ``target_variant``, ``session_id``...) go to the
        call; any other keyword is a model parameter in the body (``model``, ``seed``...).
        Returns the same awaitable / ``async with`` stream object.
        """
        chosen = sampling(max_tokens, temperature, top_p, stop)
        return StreamCall(self._open_chat_stream(endpoint_name, messages, chosen, kwargs))

    async def _open_chat_stream(
        self,
        endpoint_name: str,
        messages: Sequence[Mapping[str, Any]],
        sampling: dict[str, Any],
        kwargs: dict[str, Any],
    ) -> ResponseStream:
        ready = self._ready or await self._get_ready()
        operation = ready.operations["InvokeEndpointWithResponseStream"]
        call, model_params = split_chat_arguments(kwargs, operation.kwargs)
        body = chat_body(messages, **sampling, stream=True, **model_params)
        return await self._open_stream(endpoint_name, {**call, "body": body}, "openai", body)

    _open_chat_stream.__qualname__ = "SageMakerRuntime.chat_stream"

    async def chat(
        self,
        endpoint_name: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> Generation:
        """A whole chat answer (``invoke_endpoint``) as a :class:`Generation`.

        The same body and keywords as :meth:`chat_stream`, without streaming.
        """
        chosen = sampling(max_tokens, temperature, top_p, stop)
        return await self._chat(endpoint_name, messages, chosen, kwargs)

    async def _chat(
        self,
        endpoint_name: str,
        messages: Sequence[Mapping[str, Any]],
        sampling: dict[str, Any],
        kwargs: dict[str, Any],
        on_answer: Callable[[InvokeEndpointResponse], None] | None = None,
    ) -> Generation:
        """``chat()``; ``on_answer`` sees the raw answer first (a session takes its id)."""
        ready = self._ready or await self._get_ready()
        call, model_params = split_chat_arguments(kwargs, ready.operations["InvokeEndpoint"].kwargs)
        body = chat_body(messages, **sampling, stream=False, **model_params)
        response, operation, data, observer = await self._call(
            "InvokeEndpoint", endpoint_name, {**call, "body": body}, body
        )
        answer = _invoke_endpoint_response(operation, response, data)
        try:
            if on_answer is not None:
                on_answer(answer)
            generation = parse_generation(answer.body, "openai")
        except SageMakerError as exc:
            exc.request_id = answer.request_id
            observer.failed(exc)
            raise
        generation = dataclasses.replace(generation, request_id=answer.request_id)
        observer.generation(generation)
        return generation

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
        response, operation, data, observer = await self._call(
            "InvokeEndpoint", endpoint_name, params
        )
        observer.ended()
        return _invoke_endpoint_response(operation, response, data)

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
        response, operation, data, observer = await self._call(
            "InvokeEndpointAsync", endpoint_name, params
        )
        observer.ended()
        attributes = operation.response_attributes(response.headers)
        return AsyncInferenceResponse(
            inference_id=_inference_id(data),
            output_location=attributes.get("output_location"),
            failure_location=attributes.get("failure_location"),
            request_id=response.headers.get("x-amzn-RequestId"),
            status_code=response.status,
            headers=response.headers,
        )

    def invoke_endpoint_with_bidirectional_stream(
        self,
        endpoint_name: str,
        *,
        target_variant: str | None = None,
        model_invocation_path: str | None = None,
        model_query_string: str | None = None,
        input: AsyncIterable[bytes | str | BidiPart] | None = None,
    ) -> DuplexCall:
        """A full-duplex HTTP/2 stream: ``async with client.invoke_...(...) as duplex``.

        ``duplex.send(...)`` parts up while ``async for part in duplex`` reads parts
        down; ``input`` (an async iterable) is sent by the stream itself.  See
        docs/bidirectional.md.
        """
        from ._bidi.call import DuplexCall

        return DuplexCall(self, endpoint_name, target_variant=target_variant, input=input,
                          model_invocation_path=model_invocation_path,
                          model_query_string=model_query_string)  # fmt: skip

    # -- the wire ------------------------------------------------------------------

    async def _call(
        self,
        operation_name: str,
        endpoint_name: str,
        params: dict[str, Any],
        chat: dict[str, Any] | None = None,
    ) -> tuple[RawResponse, Operation, bytes, Observer]:
        """A call whose whole answer is read within the same deadline."""
        response, operation, observer = await self._send(
            operation_name, endpoint_name, params, time.monotonic(), chat
        )
        try:
            data = await response.body.read_all()
        except BaseException as exc:
            response.body.abort()
            observer.failed(exc)
            raise
        response.body.release()
        return response, operation, data, observer

    async def _send(
        self,
        operation_name: str,
        endpoint_name: str,
        params: dict[str, Any],
        started: float,
        chat: dict[str, Any] | None = None,
    ) -> tuple[RawResponse, Operation, Observer]:
        """Send until a 2xx response's headers arrive, within the call's deadline."""
        if self._gate.full():  # a burst of calls: start a few per turn of the loop
            await self._gate.wait()
        ready = self._ready or await self._get_ready()
        operation = ready.operations[operation_name]
        prepared = operation.prepare(endpoint_name, params)
        observer = self._telemetry.start(ready, operation_name, endpoint_name, params, chat)
        config = self.config
        deadline = Deadline(
            config.total_timeout, config.read_timeout, config.connect_timeout, started=started
        )
        label = f"{operation_name} {endpoint_name}"
        try:
            if deadline.at is None:
                response = await self._attempts(
                    ready, operation, prepared, deadline, label, observer
                )
            else:
                with deadline.scope():
                    response = await self._attempts(
                        ready, operation, prepared, deadline, label, observer
                    )
        except BaseException as exc:
            observer.failed(exc)
            raise
        return response, operation, observer

    async def _attempts(
        self,
        ready: _Ready,
        operation: Operation,
        prepared: PreparedRequest,
        deadline: Deadline,
        label: str,
        observer: Observer,
    ) -> RawResponse:
        """Wait, sign, send, classify: as many times as the retry policy allows."""
        url = ready.base_url + prepared.path
        invocation_id = _invocation_id()
        for attempt in ready.retry.attempts(deadline, label, observer):
            if attempt.must_wait:
                await attempt.wait()
            if self._closed:
                raise ClientClosedError("the client was closed while the call was under way")
            credentials = ready.credentials.fresh() or await ready.credentials.get()
            headers = ready.signer.sign(credentials, url, dict(prepared.headers), prepared.body)
            headers["User-Agent"] = ready.user_agent
            headers["Accept-Encoding"] = "identity"
            headers["amz-sdk-invocation-id"] = invocation_id
            headers["amz-sdk-request"] = f"attempt={attempt.number}; max={ready.retry.max_attempts}"
            observer.sending(attempt.number, url, headers)
            try:
                response = await ready.transport.send(
                    Request("POST", url, headers, prepared.body), deadline
                )
            except SageMakerError as error:
                attempt.failed(self._closed_instead(error))
                continue
            if 200 <= response.status < 300:
                attempt.succeeded(response.status, response.headers.get("x-amzn-RequestId"))
                return response
            attempt.failed(await _service_error(operation, response))
        raise AssertionError("unreachable: attempts() ends by success or by raising")


def _invoke_endpoint_response(
    operation: Operation, response: RawResponse, data: bytes
) -> InvokeEndpointResponse:
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


async def _service_error(operation: Operation, response: RawResponse) -> SageMakerError:
    """The typed error of a non-2xx answer; a body cut off still tells its status."""
    try:
        data = await response.body.read_all()
    except (NetworkError, ReadTimeoutError):
        data = b""
        response.body.abort()
    except BaseException:
        response.body.abort()
        raise
    else:
        response.body.release()
    return operation.parse_error(response.status, response.headers, data)


def _inference_id(data: bytes) -> str | None:
    """``InferenceId`` from an async invocation's JSON answer (None if it has none)."""
    try:
        value = json.loads(data).get("InferenceId") if data else None
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


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
