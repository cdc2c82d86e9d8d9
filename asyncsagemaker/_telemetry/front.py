"""The front of a client's telemetry: decided once, a shared do-nothing observer when off.

The client asks :meth:`Telemetry.start` for a call's :class:`~.hooks.Observer`.

Telemetry is on when the client was given a ``tracer_provider`` or ``meter_provider``,
or, for what it was not given, when a real provider was set globally through the
OpenTelemetry API (``set_tracer_provider`` / ``set_meter_provider``, as
``opentelemetry-instrument`` does) before the client's first call.  The API's own
defaults (its proxy and no-op providers) do not count, and nothing of OpenTelemetry
is imported here unless it was given or already imported by the application.  The
choice is made once per client, at its first call; when it is off, ``start()`` is a
function returning the shared :data:`NO_OBSERVER`.

Independently of OpenTelemetry, in AWS Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set) the
invocation's ``_X_AMZN_TRACE_ID`` is sent as ``X-Amzn-Trace-Id``, as botocore does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigurationError
from .hooks import NO_OBSERVER, Observer, lambda_trace_header

__all__ = ["CAPTURE_ENV", "Telemetry", "capture_from_environment"]

#: The environment variable OpenTelemetry's Python GenAI instrumentations read to
#: record message content; ``true``, ``span_only`` or ``span_and_event`` turn it on.
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_CAPTURE_VALUES = frozenset({"true", "span_only", "span_and_event"})


class _LambdaObserver(Observer):
    """Telemetry off, in Lambda: only the trace header botocore would send."""

    __slots__ = ("_header",)

    def __init__(self, header: str) -> None:
        self._header = header

    def sending(self, attempt: int, url: str, headers: dict[str, str]) -> None:
        headers["X-Amzn-Trace-Id"] = self._header


def _off(
    ready: Any,
    operation: str,
    endpoint_name: str,
    params: Any,
    chat: Any = None,
    *,
    server: str | None = None,
) -> Observer:
    return NO_OBSERVER


def _off_in_lambda(
    ready: Any,
    operation: str,
    endpoint_name: str,
    params: Any,
    chat: Any = None,
    *,
    server: str | None = None,
) -> Observer:
    header = lambda_trace_header()
    return NO_OBSERVER if header is None else _LambdaObserver(header)


def capture_from_environment() -> bool:
    """Whether :data:`CAPTURE_ENV` asks for message content on spans."""
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in _CAPTURE_VALUES


class Telemetry:
    """One client's telemetry: the providers it was given, decided at its first call.

    ``start(ready, operation, endpoint_name, params, chat=None, *, server=None)``
    returns the call's observer; ``ready`` is what the client resolved (``base_url``,
    ``settings.region``), ``chat`` the OpenAI-style body of a chat call (its
    parameters and, with ``capture_content``, its messages go on the span), ``server``
    the base URL of a call that does not go to ``ready.base_url`` (the HTTP/2 one).
    """

    def __init__(
        self,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        capture_content: bool | None = None,
    ) -> None:
        if capture_content is not None and not isinstance(capture_content, bool):
            raise ConfigurationError(
                f"capture_content must be True, False or None, not {capture_content!r}"
            )
        if tracer_provider is not None or meter_provider is not None:
            _check_providers(tracer_provider, meter_provider)
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._capture = capture_content
        self.start: Callable[..., Observer] = self._first_start

    def _first_start(
        self,
        ready: Any,
        operation: str,
        endpoint_name: str,
        params: Mapping[str, Any],
        chat: Mapping[str, Any] | None = None,
        *,
        server: str | None = None,
    ) -> Observer:
        """Decide once whether telemetry is on, then start as decided."""
        tracer_provider = _live_provider(self._tracer_provider, "trace")
        meter_provider = _live_provider(self._meter_provider, "metrics")
        if tracer_provider is None and meter_provider is None:
            in_lambda = "AWS_LAMBDA_FUNCTION_NAME" in os.environ  # constant for a process
            self.start = _off_in_lambda if in_lambda else _off
        else:
            from .otel import Instruments

            capture = capture_from_environment() if self._capture is None else self._capture
            instruments = Instruments(
                tracer_provider,
                meter_provider,
                ready.base_url,
                ready.settings.region,
                capture=capture,
            )
            self.start = instruments.start
        return self.start(ready, operation, endpoint_name, params, chat, server=server)

    @property
    def enabled(self) -> bool | None:
        """True or False once decided (after the client's first call); None before."""
        if self.start == self._first_start:
            return None
        return self.start not in (_off, _off_in_lambda)


def _check_providers(tracer_provider: Any, meter_provider: Any) -> None:
    """A provider given to the client must be one; the API must be there to use it."""
    try:
        from opentelemetry.metrics import MeterProvider
        from opentelemetry.trace import TracerProvider
    except ImportError:
        raise ConfigurationError(
            "tracer_provider and meter_provider need the OpenTelemetry API: "
            "pip install 'asyncsagemaker[otel]'"
        ) from None
    for name, value, kind in (
        ("tracer_provider", tracer_provider, TracerProvider),
        ("meter_provider", meter_provider, MeterProvider),
    ):
        if value is not None and not isinstance(value, kind):
            raise ConfigurationError(
                f"{name} must be an opentelemetry {kind.__name__}, not {type(value).__name__}"
            )


def _live_provider(given: Any, signal: str) -> Any:
    """The provider to use for ``signal`` ("trace" or "metrics"), or None for none.

    A provider given to the client is used as it is, unless it is one of the API's
    no-op providers.  Otherwise the global one counts only if the application has
    imported the API (else nobody set one) and set a real provider.
    """
    module_name = f"opentelemetry.{signal}"
    if given is None:
        if module_name not in sys.modules:
            return None
        module = sys.modules[module_name]
        given = module.get_tracer_provider() if signal == "trace" else module.get_meter_provider()
    from .otel import is_noop_provider

    return None if is_noop_provider(given) else given
