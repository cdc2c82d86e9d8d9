"""OpenTelemetry's SDK wired to memory, and clients of the emulator that report to it."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from referencing import Registry, Resource

from asyncsagemaker import Config, SageMakerRuntime
from asyncsagemaker.emulator import Emulator
from tests._support import DATA

AKID, SECRET = "AKIDOTELTEST", "otel/secret+key="
SCHEMAS = DATA / "otel-genai"


@dataclass
class Otel:
    """A tracer provider and a meter provider whose output stays in memory."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    @classmethod
    def create(cls) -> Otel:
        exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        reader = InMemoryMetricReader()
        return cls(tracer_provider, MeterProvider(metric_readers=[reader]), exporter, reader)

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()

    def client(
        self, emu: Emulator | str, *, traces: bool = True, metrics: bool = True, **options: Any
    ) -> SageMakerRuntime:
        """A client of ``emu`` (or of a URL) reporting here; ``options`` go to the client."""
        config = options.pop("config", None) or Config(backoff_base=0.01)
        return SageMakerRuntime(
            "us-east-1",
            endpoint_url=emu if isinstance(emu, str) else emu.url,
            aws_access_key_id=AKID,
            aws_secret_access_key=SECRET,
            config=config,
            tracer_provider=self.tracer_provider if traces else None,
            meter_provider=self.meter_provider if metrics else None,
            **options,
        )

    def spans(self) -> list[ReadableSpan]:
        """Every span ended so far, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def call_spans(self) -> list[ReadableSpan]:
        """The spans of calls (not of attempts)."""
        return [span for span in self.spans() if span.parent is None]

    def call_span(self) -> ReadableSpan:
        """The one call span there must be."""
        (span,) = self.call_spans()
        return span

    def attempts(self, call: ReadableSpan) -> list[ReadableSpan]:
        """The attempt spans of ``call``, in the order they were sent."""
        found = [
            span
            for span in self.spans()
            if span.parent is not None and span.parent.span_id == call.context.span_id
        ]
        return sorted(found, key=lambda span: span.start_time or 0)

    def points(self, name: str) -> list[HistogramDataPoint]:
        """The histogram points of metric ``name`` (one per attribute set)."""
        data = self.reader.get_metrics_data()
        found: list[HistogramDataPoint] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(
                            p for p in metric.data.data_points if isinstance(p, HistogramDataPoint)
                        )
        return found

    def metric_names(self) -> set[str]:
        data = self.reader.get_metrics_data()
        return {
            metric.name
            for resource in (data.resource_metrics if data else ())
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }


def plain_client(emu: Emulator, **options: Any) -> SageMakerRuntime:
    """A client of ``emu`` with no provider of its own (``options`` go to the client)."""
    config = options.pop("config", None) or Config(backoff_base=0.01)
    return SageMakerRuntime(
        "us-east-1",
        endpoint_url=emu.url,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=config,
        **options,
    )


def attributes(span: ReadableSpan | HistogramDataPoint) -> dict[str, Any]:
    """The attributes of a span or of a metric's data point, as a plain dict."""
    return dict(span.attributes or {})


def every_value(otel: Otel) -> Iterator[str]:
    """Every text a user's backend would receive: span names, attribute values, events,
    status descriptions, metric attribute values."""
    for span in otel.spans():
        yield span.name
        yield span.status.description or ""
        for value in (span.attributes or {}).values():
            yield json.dumps(value, default=str) if not isinstance(value, str) else value
        for event in span.events:
            yield event.name
            yield from (str(v) for v in (event.attributes or {}).values())
    for name in otel.metric_names():
        for point in otel.points(name):
            yield from (str(v) for v in attributes(point).values())


@functools.cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    resources = [
        (path.name, Resource.from_contents(json.loads(path.read_text(encoding="utf-8"))))
        for path in SCHEMAS.glob("*.schema.json")
    ]
    registry: Registry[Any] = Registry().with_resources(resources)
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def check_messages(value: Any, schema: str) -> list[Mapping[str, Any]]:
    """A JSON attribute value, checked against one of the conventions' message schemas."""
    assert isinstance(value, str)
    messages = json.loads(value)
    _validator(schema).validate(messages)
    return list(messages)


def python_without_opentelemetry() -> list[str]:
    """The interpreter's command line with ``opentelemetry`` made impossible to import."""
    blocker = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'opentelemetry' or name.startswith('opentelemetry.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    return [sys.executable, "-c", blocker + "exec(sys.argv[1])"]
