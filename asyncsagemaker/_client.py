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
import time
import warnings
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.credentials import Credentials

from ._admission import AdmissionGate
from ._auth.bearer import (
    MAX_EXPIRES_IN,
    BearerTokens,
    check_expires_in,
    mint,
    region_of_host,
    say_cut,
)
from ._chat import split_chat_arguments
from ._config import Config, check_endpoint_url, check_region
from ._core import Core, Ready
from ._openai_route import (
    OPERATION,
    ROUTE_ANSWER,
    base_path,
    chat_path,
    check_route,
    parse_route_error,
    route_arguments,
)
from ._operations import Operation
from ._stream import ResponseStream
from ._stream_call import StreamCall
from ._telemetry.front import Telemetry
from ._telemetry.hooks import Observer
from ._transports.base import RawResponse, Transport
from .errors import (
    ConfigurationError,
    ParamValidationError,
    SageMakerError,
    ServiceError,
    UsageError,
)

if TYPE_CHECKING:
    from botocore.credentials import ReadOnlyCredentials

    from ._bidi.call import BidiSide, DuplexCall
    from ._bidi.events import BidiPart
    from ._responses import AsyncInferenceResponse, InvokeEndpointResponse
    from ._sessions import StatefulSession
    from .formats import Generation, TokenFormat

# Sessions, whole answers and the token formats are imported by the calls that use
# them, so that a process that only streams parts never loads them (docs/architecture.md,
# "Cold start").

__all__ = ["SageMakerRuntime"]


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
        self._core = Core(
            self.config,
            region_name=None if region_name is None else check_region(region_name),
            endpoint_url=None if endpoint_url is None else check_endpoint_url(endpoint_url),
            profile_name=profile_name,
            keys=(
                None
                if aws_access_key_id is None
                else Credentials(aws_access_key_id, aws_secret_access_key, aws_session_token)
            ),
            botocore_session=botocore_session,
            transport=transport,
        )
        self._bidi_endpoint_url = bidi_endpoint_url and check_endpoint_url(bidi_endpoint_url)
        self._bidi: BidiSide | None = None  # bidirectional streams: endpoint and HTTP/2 pool
        self._telemetry = Telemetry(tracer_provider, meter_provider, capture_content)
        self._gate = AdmissionGate()
        self._tokens: BearerTokens | None = None  # the OpenAI-compatible route's token
        self._route_urls: dict[tuple[str, str | None], str] = {}

    def __repr__(self) -> str:
        core = self._core
        where = core.ready.base_url if core.ready else (core.endpoint_url or core.region_name)
        return f"<SageMakerRuntime {where!s} {'closed' if core.closed else 'open'}>"

    # -- lifetime ------------------------------------------------------------------

    async def __aenter__(self) -> SageMakerRuntime:
        """Resolve region, endpoint and credentials now, so that set-up errors show at once."""
        try:
            ready = await self._core.get_ready()
            await ready.credentials.get()
        except BaseException:
            await self.close()  # __aexit__ will not run: nothing may stay open (no warning)
            raise
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
        await self._core.aclose()
        if self._bidi is not None:
            await self._bidi.aclose()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        core = getattr(self, "_core", None)
        if core is not None and core.ready is not None and core.used and not core.closed:
            _warn(f"unclosed {self!r}: use `async with` or close()", ResourceWarning, stacklevel=1)

    @property
    def region_name(self) -> str | None:
        ready = self._core.ready
        return ready.settings.region if ready else self._core.region_name

    @property
    def endpoint_url(self) -> str | None:
        """The base URL requests go to, once resolved (after the first call or ``async with``)."""
        ready = self._core.ready
        return ready.base_url if ready else self._core.endpoint_url

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
        from ._sessions import StatefulSession

        return StatefulSession(
            _SessionCalls(self),
            endpoint_name,
            open_body=open_body,
            close_body=close_body,
            call_kwargs=call_kwargs,
        )

    # -- the OpenAI-compatible route ----------------------------------------------

    async def bearer_token(self, expires_in: int = MAX_EXPIRES_IN) -> str:
        """A bearer token for the OpenAI-compatible route, from this client's credentials.

        Made for the client's region, offline, in a worker thread; valid for
        ``expires_in`` seconds (1 to 43,200), or less when the client's temporary
        credentials expire sooner (a warning says so).  It is a secret: never log it.
        See docs/openai-route.md.
        """
        expires_in = check_expires_in(expires_in)
        await self._core.get_ready()
        loop = asyncio.get_running_loop()
        token, cut_from = await loop.run_in_executor(None, mint, self._token_signer, expires_in)
        say_cut(token, cut_from)
        return token.value

    def openai_base_url(self, endpoint_name: str, inference_component: str | None = None) -> str:
        """The OpenAI SDK's ``base_url`` for an endpoint (or one of its inference components).

        ``https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{endpoint}/openai/v1``,
        or under this client's ``endpoint_url``.  In async code, call it after the
        client resolved its settings (``async with`` or a first call).
        """
        path = base_path(endpoint_name, inference_component)
        core = self._core
        if core.ready is not None:
            return core.ready.base_url + path
        if core.endpoint_url is not None:
            return core.endpoint_url.rstrip("/") + path
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no event loop in this thread: reading files blocks nobody
            return core.ready_blocking().base_url + path
        raise UsageError(
            "openai_base_url() needs the client's resolved region and endpoint: call it "
            "inside `async with client:` (or after a first call), or pass endpoint_url"
        )

    def _token_signer(self) -> tuple[str, ReadOnlyCredentials, float | None]:
        """In a worker thread: what a token is made from (``_auth.bearer.Signer``)."""
        ready = self._core.ready_blocking()
        credentials, expires = ready.credentials.frozen_blocking()
        return ready.settings.region, credentials, expires

    def _route_tokens(self) -> BearerTokens:
        tokens = self._tokens
        if tokens is None:
            tokens = self._tokens = BearerTokens(
                self._token_signer, self.config.bearer_token_lifetime
            )
        return tokens

    async def _send_route(
        self,
        ready: Ready,
        endpoint_name: str,
        component: str | None,
        body: dict[str, Any],
        data: bytes,
        started: float,
    ) -> tuple[RawResponse, Observer]:
        """Send a Chat Completions body to the route until a 2xx answer's headers arrive."""
        url = self._route_urls.get((endpoint_name, component))
        if url is None:
            url = self._route_url(ready, endpoint_name, component)
        ready.operations["InvokeEndpoint"].members["body"].check(data)  # at most 6 MiB
        if self._gate.full():  # a burst of calls: start a few per turn of the loop
            await self._gate.wait()
        stream = body.get("stream") is True
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
        }
        params = {"inference_component_name": component}
        observer = self._telemetry.start(ready, OPERATION, endpoint_name, params, body)
        tokens = self._route_tokens()

        def refused(status: int, headers: Mapping[str, str], body: bytes) -> ServiceError:
            if status in (401, 403):
                tokens.invalidate()  # whatever the reason, the next attempt makes a new one
            return parse_route_error(status, headers, body)

        core = self._core
        response, _, _ = await core.send(
            ready,
            url,
            headers,
            data,
            deadline=core.deadline(started),
            label=f"{OPERATION} {endpoint_name}",
            observer=observer,
            send=ready.transport.send,
            parse_error=refused,
            unsigned=_UNSIGNED,
            authorizer=tokens,
        )
        return response, observer

    def _route_url(self, ready: Ready, endpoint_name: str, component: str | None) -> str:
        """The route's URL for these names, checked once and kept (the same few, over and over)."""
        url = ready.base_url + chat_path(endpoint_name, component)
        region = region_of_host(urlsplit(url).hostname or "")
        if region is not None and region != ready.settings.region:
            raise ConfigurationError(
                f"the endpoint URL is in {region} but this client makes bearer tokens for "
                f"{ready.settings.region}: the service would refuse them; use "
                f"region_name={region!r}"
            )
        if len(self._route_urls) < _ROUTE_URLS_KEPT:
            self._route_urls[(endpoint_name, component)] = url
        return url

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
        prefix_aware_id: str | None = None,
        **extra: Any,
    ) -> StreamCall:
        """Stream the model's answer: ``async with client.invoke_...(...) as stream``.

        ``body`` is bytes, str (UTF-8) or a JSON-serialisable object (then
        ``content_type`` defaults to ``application/json``).  ``prefix_aware_id`` is
        the routing hint of an endpoint with prefix-aware routing.  Other members of
        the service model (as snake_case keywords) go in ``extra``.
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
            "prefix_aware_id": prefix_aware_id,
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
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: Mapping[str, Any] | None = None,
        reasoning_effort: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        route: str = "invoke",
        **kwargs: Any,
    ) -> StreamCall:
        """Stream a chat answer: an OpenAI-style Messages body, read as ``openai`` events.

        ``tools``, ``tool_choice``, ``parallel_tool_calls``, ``response_format`` and
        ``reasoning_effort`` are sent only when given; ``extra_body`` is merged into the
        body last (see ``formats.chat_body``).  Keywords that are members of
        ``invoke_endpoint_with_response_stream`` (``inference_component_name``,
        ``target_variant``, ``session_id``...) go to the call; any other keyword is a
        model parameter in the body (``model``, ``seed``...).  Returns the same awaitable
        / ``async with`` stream object; ``final().tool_calls`` are the calls assembled.
        ``route="openai"`` sends the body to the endpoint's OpenAI-compatible route with
        a bearer token instead (only ``inference_component_name`` of those members; see
        docs/openai-route.md).
        """
        from .formats._chat_options import chat_options

        chosen = chat_options(
            max_tokens,
            temperature,
            top_p,
            stop,
            tools,
            tool_choice,
            parallel_tool_calls,
            response_format,
            reasoning_effort,
            extra_body,
        )
        if check_route(route) == "openai":
            return StreamCall(self._open_route_stream(endpoint_name, messages, chosen, kwargs))
        return StreamCall(self._open_chat_stream(endpoint_name, messages, chosen, kwargs))

    async def _open_chat_stream(
        self,
        endpoint_name: str,
        messages: Sequence[Mapping[str, Any]],
        sampling: dict[str, Any],
        kwargs: dict[str, Any],
    ) -> ResponseStream:
        ready = self._core.ready or await self._core.get_ready()
        operation = ready.operations["InvokeEndpointWithResponseStream"]
        call, model_params = split_chat_arguments(kwargs, operation.kwargs)
        from .formats._chat_body import built_chat_body

        body, data = built_chat_body(messages, sampling, model_params, stream=True)
        params = {**call, "body": data, "content_type": call.get("content_type") or _JSON}
        return await self._open_stream(endpoint_name, params, "openai", body)

    _open_chat_stream.__qualname__ = "SageMakerRuntime.chat_stream"

    async def _open_route_stream(
        self,
        endpoint_name: str,
        messages: Sequence[Mapping[str, Any]],
        sampling: dict[str, Any],
        kwargs: dict[str, Any],
    ) -> ResponseStream:
        ready = self._core.ready or await self._core.get_ready()
        component, model_params = route_arguments(kwargs, ready.operations["InvokeEndpoint"].kwargs)
        from .formats._chat_body import built_chat_body

        body, data = built_chat_body(messages, sampling, model_params, stream=True)
        started = time.monotonic()
        response, observer = await self._send_route(
            ready, endpoint_name, component, body, data, started
        )
        return ResponseStream(
            response,
            ROUTE_ANSWER,
            started=started,
            format="openai",
            observer=observer,
            framed=False,
        )

    _open_route_stream.__qualname__ = "SageMakerRuntime.chat_stream"

    async def chat(
        self,
        endpoint_name: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: Mapping[str, Any] | None = None,
        reasoning_effort: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        route: str = "invoke",
        **kwargs: Any,
    ) -> Generation:
        """A whole chat answer (``invoke_endpoint``) as a :class:`Generation`.

        The same body, keywords and ``route`` as :meth:`chat_stream`, without streaming.
        """
        from .formats._chat_options import chat_options

        chosen = chat_options(
            max_tokens,
            temperature,
            top_p,
            stop,
            tools,
            tool_choice,
            parallel_tool_calls,
            response_format,
            reasoning_effort,
            extra_body,
        )
        if check_route(route) == "openai":
            return await self._route_chat(endpoint_name, messages, chosen, kwargs)
        return await self._chat(endpoint_name, messages, chosen, kwargs)

    async def _route_chat(
        self,
        endpoint_name: str,
        messages: Sequence[Mapping[str, Any]],
        sampling: dict[str, Any],
        kwargs: dict[str, Any],
    ) -> Generation:
        """``chat(route="openai")``: the whole ``chat.completion`` as a Generation."""
        ready = self._core.ready or await self._core.get_ready()
        component, model_params = route_arguments(kwargs, ready.operations["InvokeEndpoint"].kwargs)
        from .formats import parse_generation
        from .formats._chat_body import built_chat_body

        body, data = built_chat_body(messages, sampling, model_params, stream=False)
        response, observer = await self._send_route(
            ready, endpoint_name, component, body, data, time.monotonic()
        )
        request_id = response.headers.get("x-amzn-RequestId")
        try:
            data = await response.body.read_all()
        except BaseException as exc:
            response.body.abort()
            observer.failed(exc)
            raise
        response.body.release()
        try:
            generation = parse_generation(data, "openai")
        except SageMakerError as exc:
            exc.request_id = request_id
            observer.failed(exc)
            raise
        generation = dataclasses.replace(generation, request_id=request_id)
        observer.generation(generation)
        return generation

    async def _chat(
        self,
        endpoint_name: str,
        messages: Sequence[Mapping[str, Any]],
        sampling: dict[str, Any],
        kwargs: dict[str, Any],
        on_answer: Callable[[InvokeEndpointResponse], None] | None = None,
    ) -> Generation:
        """``chat()``; ``on_answer`` sees the raw answer first (a session takes its id)."""
        ready = self._core.ready or await self._core.get_ready()
        call, model_params = split_chat_arguments(kwargs, ready.operations["InvokeEndpoint"].kwargs)
        from .formats import parse_generation
        from .formats._chat_body import built_chat_body

        body, encoded = built_chat_body(messages, sampling, model_params, stream=False)
        params = {**call, "body": encoded, "content_type": call.get("content_type") or _JSON}
        response, operation, data, observer = await self._call(
            "InvokeEndpoint", endpoint_name, params, body
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
        prefix_aware_id: str | None = None,
        **extra: Any,
    ) -> InvokeEndpointResponse:
        """Invoke the model and return its whole answer.

        ``prefix_aware_id`` is the routing hint of an endpoint with prefix-aware routing.
        """
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
            "prefix_aware_id": prefix_aware_id,
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
        body: Any = None,
        content_type: str | None = None,
        accept: str | None = None,
        custom_attributes: str | None = None,
        inference_id: str | None = None,
        request_ttl_seconds: int | None = None,
        invocation_timeout_seconds: int | None = None,
        **extra: Any,
    ) -> AsyncInferenceResponse:
        """Queue an asynchronous inference: its input in S3 (``input_location``) or inline.

        ``body`` is the input itself (up to 128,000 bytes; as for ``invoke_endpoint``).
        The service takes exactly one of the two, so both or neither is refused here,
        before anything is sent.
        """
        if (input_location is None) == (body is None):
            raise ParamValidationError(
                "invoke_endpoint_async takes exactly one of input_location (an S3 URI of "
                "the input) and body (the input inline, up to 128,000 bytes), "
                + ("not both" if body is not None else "and got neither")
            )
        params = {
            "input_location": input_location,
            "body": body,
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
        from ._responses import AsyncInferenceResponse

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
        from ._bidi.call import BidiSide, DuplexCall

        side = self._bidi
        if side is None:
            side = self._bidi = BidiSide(self._core, self._telemetry, self._bidi_endpoint_url)
        return DuplexCall(side, endpoint_name, target_variant=target_variant, input=input,
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
        core = self._core
        ready = core.ready or await core.get_ready()
        operation = ready.operations[operation_name]
        prepared = operation.prepare(endpoint_name, params)
        observer = self._telemetry.start(ready, operation_name, endpoint_name, params, chat)
        response, _, _ = await core.send(
            ready,
            ready.base_url + prepared.path,
            prepared.headers,
            prepared.body,
            deadline=core.deadline(started),
            label=f"{operation_name} {endpoint_name}",
            observer=observer,
            send=ready.transport.send,
            parse_error=operation.parse_error,
            unsigned=_UNSIGNED,
        )
        return response, operation, observer


class _SessionCalls:
    """The client as its sessions see it (:class:`~._sessions.SessionCalls`)."""

    __slots__ = ("_client",)

    def __init__(self, client: SageMakerRuntime) -> None:
        self._client = client

    async def members(self, operation: str) -> frozenset[str]:
        core = self._client._core
        ready = core.ready or await core.get_ready()
        return ready.operations[operation].kwargs

    async def invoke_endpoint(
        self, endpoint_name: str, *, body: Any, **kwargs: Any
    ) -> InvokeEndpointResponse:
        return await self._client.invoke_endpoint(endpoint_name, body=body, **kwargs)

    def invoke_endpoint_with_response_stream(
        self, endpoint_name: str, *, body: Any, **kwargs: Any
    ) -> StreamCall:
        return self._client.invoke_endpoint_with_response_stream(endpoint_name, body=body, **kwargs)

    def chat_stream(
        self, endpoint_name: str, messages: Sequence[Mapping[str, Any]], **kwargs: Any
    ) -> StreamCall:
        return self._client.chat_stream(endpoint_name, messages, **kwargs)

    async def chat(
        self,
        endpoint_name: str,
        messages: Sequence[Mapping[str, Any]],
        sampling: dict[str, Any],
        kwargs: dict[str, Any],
        on_answer: Callable[[InvokeEndpointResponse], None],
    ) -> Generation:
        return await self._client._chat(endpoint_name, messages, sampling, kwargs, on_answer)


_ROUTE_URLS_KEPT = 256

#: A chat body's content type, unless the call names one.
_JSON = "application/json"

#: Added to every HTTP/1.1 request after signing: the body as sent, never compressed.
_UNSIGNED: Mapping[str, str] = {"Accept-Encoding": "identity"}


def _invoke_endpoint_response(
    operation: Operation, response: RawResponse, data: bytes
) -> InvokeEndpointResponse:
    attributes = operation.response_attributes(response.headers)
    from ._responses import InvokeEndpointResponse

    new_session_id, expires_at = _new_session(attributes.get("new_session_id"))
    return InvokeEndpointResponse(
        body=data,
        content_type=attributes.get("content_type"),
        invoked_production_variant=attributes.get("invoked_production_variant"),
        custom_attributes=attributes.get("custom_attributes"),
        new_session_id=new_session_id,
        closed_session_id=attributes.get("closed_session_id"),
        request_id=response.headers.get("x-amzn-RequestId"),
        status_code=response.status,
        headers=response.headers,
        new_session_expires_at=expires_at,
    )


def _new_session(header: str | None) -> tuple[str | None, datetime | None]:
    """The id and expiry of ``X-Amzn-SageMaker-New-Session-Id``, read once here.

    A value not in the service's form is kept as sent (no expiry): a plain call still
    returns, and a session refuses it with the reason (``StatefulSession._opened``).
    """
    if header is None:
        return None, None
    from ._sessions import parse_new_session_id

    try:
        return parse_new_session_id(header)
    except SageMakerError:
        return header, None


def _inference_id(data: bytes) -> str | None:
    """``InferenceId`` from an async invocation's JSON answer (None if it has none)."""
    try:
        value = json.loads(data).get("InferenceId") if data else None
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
