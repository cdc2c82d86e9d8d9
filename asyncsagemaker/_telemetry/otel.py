"""Spans and metrics of SageMaker Runtime calls, with the OpenTelemetry API.

Imported only when telemetry is on (see :mod:`asyncsagemaker._telemetry`).  What is
emitted follows the OpenTelemetry semantic conventions v1.41.0, the last release
that holds the GenAI conventions (they moved to their own repository after it):

* one GenAI inference client span per ``InvokeEndpoint`` / streaming call, named
  ``{gen_ai.operation.name} {gen_ai.request.model}``, kind CLIENT, with the AWS SDK
  attributes too (``rpc.*``, ``aws.request_id``, ``cloud.region``); an
  ``InvokeEndpointAsync`` call (which generates nothing) gets the AWS SDK span alone,
  ``SageMaker Runtime.InvokeEndpointAsync``;
* one HTTP client span per attempt (``POST``, ``http.request.resend_count`` on a
  retry), child of the call's span, ended when the attempt's answer is classified;
* the GenAI client metrics with the conventions' bucket advice.

Nothing from a request or response body is recorded unless ``capture`` is on; then
chat messages go on the span as ``gen_ai.input.messages`` / ``gen_ai.output.messages``
(JSON strings in the conventions' schema) and an error's message becomes the span's
status description (it may quote the model's output).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._redact import redact
from .._version import __version__
from ..errors import SageMakerError, ServiceError, StreamError
from .hooks import NO_OBSERVER, Observer, lambda_trace_header

if TYPE_CHECKING:
    from ..formats import Generation

__all__ = ["SCHEMA_URL", "Instruments", "is_noop_provider"]

logger = logging.getLogger("asyncsagemaker")
_Hook = TypeVar("_Hook", bound=Callable[..., Any])
_warned = False

SCHEMA_URL = "https://opentelemetry.io/schemas/1.41.0"
PROVIDER = "aws.sagemaker"
SERVICE = "SageMaker Runtime"  # botocore's service id, which AWS SDK spans use
FIRST_PART_EVENT = "asyncsagemaker.first_part"
#: Bucket advice of the conventions: seconds, and tokens.
DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
#: The histograms, in the order of :class:`Instruments`' attributes.
METRICS = (
    ("gen_ai.client.operation.duration", "s", "GenAI operation duration.", DURATION_BUCKETS),
    (
        "gen_ai.client.token.usage",
        "{token}",
        "Number of input and output tokens used.",
        TOKEN_BUCKETS,
    ),
    (
        "gen_ai.client.operation.time_to_first_chunk",
        "s",
        "Time to receive the first chunk of a streamed response.",
        DURATION_BUCKETS,
    ),
    (
        "gen_ai.client.operation.time_per_output_chunk",
        "s",
        "Time per output chunk after the first one.",
        DURATION_BUCKETS,
    ),
)
_GENAI_OPERATIONS = {
    "InvokeEndpoint": "invoke_endpoint",
    "InvokeEndpointWithResponseStream": "invoke_endpoint",
    "InvokeEndpointWithBidirectionalStream": "invoke_endpoint_with_bidirectional_stream",
    "ChatCompletions": "chat",  # the OpenAI-compatible route (always a chat body)
}
#: The operations whose parts are timed (first chunk, per chunk), and their protocols.
#: A ``ChatCompletions`` call streams when its body says so.
_STREAMING = frozenset(
    {"InvokeEndpointWithResponseStream", "InvokeEndpointWithBidirectionalStream", "ChatCompletions"}
)
_PROTOCOLS = {"InvokeEndpointWithBidirectionalStream": "2"}
#: Chat body keys that are request attributes, with the type each must have.
_CHAT_NUMBERS = (
    ("max_tokens", "gen_ai.request.max_tokens", int),
    ("seed", "gen_ai.request.seed", int),
    ("temperature", "gen_ai.request.temperature", float),
    ("top_p", "gen_ai.request.top_p", float),
    ("top_k", "gen_ai.request.top_k", float),
    ("frequency_penalty", "gen_ai.request.frequency_penalty", float),
    ("presence_penalty", "gen_ai.request.presence_penalty", float),
)


def _guarded(hook: _Hook) -> _Hook:
    """Telemetry never fails a call: an exception from the SDK (a span processor of the
    application, say) is logged, a warning the first time, and the call goes on."""

    @functools.wraps(hook)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return hook(*args, **kwargs)
        except Exception:
            global _warned
            level = logging.DEBUG if _warned else logging.WARNING
            _warned = True
            logger.log(level, "OpenTelemetry instrumentation failed (ignored)", exc_info=True)
            return None

    return guarded  # type: ignore[return-value]


def is_noop_provider(provider: Any) -> bool:
    """True for the API's own providers that record nothing (no-op, or proxy to none)."""
    if isinstance(
        provider, (trace.NoOpTracerProvider, trace.ProxyTracerProvider, metrics.NoOpMeterProvider)
    ):
        return True
    from opentelemetry.metrics import _internal  # its proxy class is not exported

    proxy = getattr(_internal, "_ProxyMeterProvider", None)
    return proxy is not None and isinstance(provider, proxy)


class Instruments:
    """A client's tracer, meter and histograms, and its constant attributes."""

    def __init__(
        self,
        tracer_provider: Any,
        meter_provider: Any,
        base_url: str,
        region: str,
        *,
        capture: bool,
    ) -> None:
        self.address, self.port = address_of(base_url)
        self.region = region
        self.capture = capture
        self.duration: metrics.Histogram | None
        self.tokens: metrics.Histogram | None
        self.first_chunk: metrics.Histogram | None
        self.per_chunk: metrics.Histogram | None
        self.tracer: trace.Tracer | None = (
            None
            if tracer_provider is None
            else tracer_provider.get_tracer("asyncsagemaker", __version__, schema_url=SCHEMA_URL)
        )
        if meter_provider is None:
            self.duration = self.tokens = self.first_chunk = self.per_chunk = None
        else:
            meter = meter_provider.get_meter("asyncsagemaker", __version__, schema_url=SCHEMA_URL)
            self.duration, self.tokens, self.first_chunk, self.per_chunk = (
                meter.create_histogram(
                    name, unit=unit, description=text, explicit_bucket_boundaries_advisory=buckets
                )
                for name, unit, text, buckets in METRICS
            )

    def start(
        self,
        ready: Any,
        operation: str,
        endpoint_name: str,
        params: Mapping[str, Any],
        chat: Mapping[str, Any] | None = None,
        *,
        server: str | None = None,
    ) -> Observer:
        observer = _start(self, operation, endpoint_name, params, chat, server)
        return NO_OBSERVER if observer is None else observer


@_guarded
def _start(
    inst: Instruments,
    operation: str,
    endpoint_name: str,
    params: Mapping[str, Any],
    chat: Mapping[str, Any] | None,
    server: str | None,
) -> _CallObserver:
    return _CallObserver(inst, operation, endpoint_name, params, chat, server)


def address_of(base_url: str) -> tuple[str, int]:
    """``server.address`` and ``server.port`` of a base URL."""
    url = urlsplit(base_url)
    return url.hostname or "", url.port or (443 if url.scheme == "https" else 80)


class _CallObserver(Observer):
    """The span, attempt spans and measurements of one call."""

    __slots__ = (
        "_address",
        "_attempt",
        "_done",
        "_first_part",
        "_inst",
        "_last_part",
        "_metric_attributes",
        "_port",
        "_protocol",
        "_request_id",
        "_span",
        "_started",
        "_trace_header",
        "on_part",
    )

    watches_streams = True

    def __init__(
        self,
        inst: Instruments,
        operation: str,
        endpoint_name: str,
        params: Mapping[str, Any],
        chat: Mapping[str, Any] | None,
        server: str | None = None,
    ) -> None:
        self._inst = inst
        self._started = time.monotonic()
        self._attempt: trace.Span | None = None
        self._request_id: str | None = None
        self._first_part: float | None = None
        self._last_part: float | None = None
        self._done = False
        self._trace_header = lambda_trace_header()
        self._address, self._port = (
            (inst.address, inst.port) if server is None else address_of(server)
        )
        self._protocol = _PROTOCOLS.get(operation, "1.1")
        attributes: dict[str, Any] = {
            "rpc.system": "aws-api",
            "rpc.service": SERVICE,
            "rpc.method": operation,
            "server.address": self._address,
            "server.port": self._port,
            "cloud.region": inst.region,
        }
        genai = _GENAI_OPERATIONS.get(operation)
        if genai is None:  # InvokeEndpointAsync: an AWS call that generates nothing
            name = f"{SERVICE}.{operation}"
            self._metric_attributes: dict[str, Any] | None = None
        else:
            name, self._metric_attributes = self._genai(genai, endpoint_name, params, chat)
            attributes.update(self._metric_attributes)
            attributes.update(_request_attributes(operation, params, chat, inst))
        self.on_part = self._part if operation in _STREAMING else None
        tracer = inst.tracer
        self._span: trace.Span | None = (
            None
            if tracer is None
            else tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        )

    def _genai(
        self,
        genai: str,
        endpoint_name: str,
        params: Mapping[str, Any],
        chat: Mapping[str, Any] | None,
    ) -> tuple[str, dict[str, Any]]:
        """The span name and the attributes metrics share, of a call that generates."""
        operation_name = "chat" if chat is not None else genai
        model = params.get("inference_component_name") or endpoint_name
        return f"{operation_name} {model}", {
            "gen_ai.operation.name": operation_name,
            "gen_ai.provider.name": PROVIDER,
            "gen_ai.request.model": model,
            "server.address": self._address,
            "server.port": self._port,
        }

    # -- attempts ------------------------------------------------------------------

    @_guarded
    def sending(self, attempt: int, url: str, headers: dict[str, str]) -> None:
        if self._trace_header is not None:
            headers["X-Amzn-Trace-Id"] = self._trace_header
        tracer, span = self._inst.tracer, self._span
        if tracer is None or span is None:
            return
        self._end_attempt()
        attributes: dict[str, Any] = {
            "http.request.method": "POST",
            "url.full": url,
            "server.address": self._address,
            "server.port": self._port,
            "network.protocol.version": self._protocol,
        }
        if attempt > 1:
            attributes["http.request.resend_count"] = attempt - 1
        self._attempt = tracer.start_span(
            "POST",
            context=trace.set_span_in_context(span),
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )

    @_guarded
    def attempt_succeeded(self, status: int, request_id: str | None) -> None:
        self._request_id = request_id
        attempt = self._attempt
        if attempt is not None:
            attempt.set_attribute("http.response.status_code", status)
            if request_id:
                attempt.set_attribute("aws.request_id", request_id)
            self._end_attempt()

    @_guarded
    def attempt_failed(self, error: BaseException) -> None:
        attempt = self._attempt
        if attempt is None:
            return
        status = error.status_code if isinstance(error, ServiceError) else 0
        if status:
            attempt.set_attribute("http.response.status_code", status)
        request_id = getattr(error, "request_id", None)
        if request_id:
            attempt.set_attribute("aws.request_id", request_id)
        kind = error_type(error)
        attempt.set_attribute("error.type", str(status) if status else kind)
        # The error's code is no content (ThrottlingException...); its message may be.
        described = self._description(error) or (kind if status else None)
        attempt.set_status(Status(StatusCode.ERROR, described))
        self._end_attempt()

    def _end_attempt(self) -> None:
        attempt, self._attempt = self._attempt, None
        if attempt is not None:
            attempt.end()

    # -- the stream ----------------------------------------------------------------

    @_guarded
    def _part(self) -> None:
        now = time.monotonic()
        last, self._last_part = self._last_part, now
        inst, attributes = self._inst, self._metric_attributes
        if last is None:
            self._first_part = now
            if self._span is not None:
                self._span.add_event(FIRST_PART_EVENT)
            if inst.first_chunk is not None:
                inst.first_chunk.record(now - self._started, attributes)
        elif inst.per_chunk is not None:
            inst.per_chunk.record(now - last, attributes)

    @_guarded
    def stream_ended(
        self,
        failure: BaseException | None,
        generation: Generation | None,
        request_id: str | None,
    ) -> None:
        if not self._done:
            self._finish(failure, generation, request_id=request_id)

    # -- the end of the call -------------------------------------------------------

    @_guarded
    def failed(self, error: BaseException) -> None:
        if not self._done:
            # A cancellation (or KeyboardInterrupt...) is the caller giving up, not a
            # failure of the call, as OpenTelemetry's own use_span() treats it.
            self._finish(error if isinstance(error, Exception) else None)

    @_guarded
    def ended(self) -> None:
        if not self._done:
            self._finish(None)

    @_guarded
    def generation(self, generation: Generation) -> None:
        if not self._done:
            self._finish(None, generation, request_id=generation.request_id)

    def _finish(
        self,
        error: BaseException | None,
        generation: Generation | None = None,
        *,
        request_id: str | None = None,
    ) -> None:
        self._done = True
        now = time.monotonic()
        self._end_attempt()
        kind = None if error is None else error_type(error)
        request_id = request_id or self._request_id or getattr(error, "request_id", None)
        response = _response_attributes(generation)
        span = self._span
        if span is not None:
            attributes = self._end_attributes(response, generation, error, request_id)
            if kind is not None:
                attributes["error.type"] = kind
                span.set_status(Status(StatusCode.ERROR, self._description(error)))
            span.set_attributes(attributes)
            span.end()
        self._measure(now - self._started, kind, response, generation)

    def _end_attributes(
        self,
        response: dict[str, Any],
        generation: Generation | None,
        error: BaseException | None,
        request_id: str | None,
    ) -> dict[str, Any]:
        """The span's attributes known at the end: the answer's, the request id, timing."""
        attributes: dict[str, Any] = dict(response)
        if request_id:
            attributes["aws.request_id"] = request_id
        if self._first_part is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = self._first_part - self._started
        if generation is None:
            return attributes
        if generation.finish_reason is not None:
            attributes["gen_ai.response.finish_reasons"] = (generation.finish_reason,)
        usage = generation.usage
        if usage is not None and usage.prompt_tokens is not None:
            attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        if usage is not None and usage.completion_tokens is not None:
            attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
        if self._inst.capture and self._metric_attributes is not None:
            attributes["gen_ai.output.messages"] = _output_messages(generation, error)
        return attributes

    def _measure(
        self,
        duration: float,
        kind: str | None,
        response: dict[str, Any],
        generation: Generation | None,
    ) -> None:
        """The duration and token histograms (for calls that generate)."""
        inst = self._inst
        metric_attributes = self._metric_attributes
        if metric_attributes is None or inst.duration is None or inst.tokens is None:
            return
        if response.get("gen_ai.response.model"):
            metric_attributes = {
                **metric_attributes,
                "gen_ai.response.model": response["gen_ai.response.model"],
            }
        if kind is None:
            inst.duration.record(duration, metric_attributes)
        else:
            inst.duration.record(duration, {**metric_attributes, "error.type": kind})
        usage = None if generation is None else generation.usage
        if usage is None:
            return
        for count, token_type in (
            (usage.prompt_tokens, "input"),
            (usage.completion_tokens, "output"),
        ):
            if count is not None:
                inst.tokens.record(count, {**metric_attributes, "gen_ai.token.type": token_type})

    def _description(self, error: BaseException | None) -> str | None:
        """An error's message, only with capture on: it may quote the model's output."""
        return redact(str(error)) if self._inst.capture and error is not None else None


def error_type(error: BaseException) -> str:
    """``error.type``: our error's class name (a service's own code for an unknown one)."""
    kind = type(error)
    if isinstance(error, SageMakerError):
        if kind is ServiceError or kind is StreamError:
            return str(getattr(error, "code", "") or "_OTHER")
        return kind.__name__
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def _request_attributes(
    operation: str, params: Mapping[str, Any], chat: Mapping[str, Any] | None, inst: Instruments
) -> dict[str, Any]:
    """The request's attributes: session, streaming, and a chat body's parameters."""
    attributes: dict[str, Any] = {}
    session_id = params.get("session_id")
    if isinstance(session_id, str) and session_id != "NEW_SESSION":
        attributes["gen_ai.conversation.id"] = session_id
    if operation in _STREAMING and (chat is None or chat.get("stream", True) is True):
        attributes["gen_ai.request.stream"] = True
    if chat is not None and inst.tracer is not None:
        attributes.update(_chat_attributes(chat, inst.capture))
    return attributes


def _chat_attributes(chat: Mapping[str, Any], capture: bool) -> dict[str, Any]:
    """Request attributes of an OpenAI-style chat body (never its messages unless captured)."""
    attributes: dict[str, Any] = {}
    for key, name, kind in _CHAT_NUMBERS:
        value = chat.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if kind is int and not isinstance(value, int):
            continue
        attributes[name] = value if kind is int else float(value)
    stop = chat.get("stop")
    if isinstance(stop, str):
        attributes["gen_ai.request.stop_sequences"] = (stop,)
    elif isinstance(stop, Sequence) and stop and all(isinstance(s, str) for s in stop):
        attributes["gen_ai.request.stop_sequences"] = tuple(stop)
    choices = chat.get("n")
    if isinstance(choices, int) and not isinstance(choices, bool) and choices != 1:
        attributes["gen_ai.request.choice.count"] = choices
    if capture:
        attributes["gen_ai.input.messages"] = json.dumps(
            [_input_message(m) for m in chat.get("messages") or ()], ensure_ascii=False
        )
    return attributes


def _input_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """One OpenAI-style message in the conventions' ``ChatMessage`` shape."""
    role = message.get("role")
    content = message.get("content")
    parts: list[dict[str, Any]] = []
    if role == "tool":
        parts.append(
            {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": content}
        )
    elif isinstance(content, str):
        parts.append({"type": "text", "content": content})
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text":
                parts.append({"type": "text", "content": str(part.get("text", ""))})
            elif isinstance(part, Mapping):
                parts.append({**part, "type": str(part.get("type") or "unknown")})
    for call in message.get("tool_calls") or ():
        function = (call.get("function") or {}) if isinstance(call, Mapping) else {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id") if isinstance(call, Mapping) else None,
                "name": str(function.get("name", "")),
                "arguments": function.get("arguments"),
            }
        )
    result: dict[str, Any] = {"role": str(role), "parts": parts}
    if isinstance(message.get("name"), str):
        result["name"] = message["name"]
    return result


def _output_messages(generation: Generation, error: BaseException | None) -> str:
    """The generated text in the conventions' ``OutputMessage`` shape, as JSON."""
    finish = generation.finish_reason or ("error" if error is not None else "")
    message = {
        "role": "assistant",
        "parts": [{"type": "text", "content": generation.text}],
        "finish_reason": finish,
    }
    return json.dumps([message], ensure_ascii=False)


def _response_attributes(generation: Generation | None) -> dict[str, str]:
    """``gen_ai.response.id`` / ``.model`` from the first OpenAI record that names them."""
    if generation is None:
        return {}
    for event in generation.events:
        raw = event.raw
        if isinstance(raw, dict) and ("id" in raw or "model" in raw):
            found = {}
            if isinstance(raw.get("id"), str):
                found["gen_ai.response.id"] = raw["id"]
            if isinstance(raw.get("model"), str):
                found["gen_ai.response.model"] = raw["model"]
            return found
    return {}
