"""When telemetry is on, and that off it costs an import of nothing.

Global providers can be set once per process, so every test that sets one (or needs
OpenTelemetry not importable at all) runs in a child interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import metrics, trace

import asyncsagemaker
from asyncsagemaker import SageMakerRuntime
from asyncsagemaker._telemetry.otel import is_noop_provider
from asyncsagemaker.emulator import Emulator
from tests._support import ROOT
from tests.observability._support import Otel, plain_client, python_without_opentelemetry

pytestmark = pytest.mark.anyio

EmulatorFactory = Callable[..., Emulator]

#: A child's preamble: an emulator and a client of it; ``OPTIONS`` go to the client.
CHILD = """
import asyncio, json, sys
import asyncsagemaker
from asyncsagemaker.emulator import Emulator

async def calls(**options):
    async with Emulator(token_delay=0) as emu:
        async with asyncsagemaker.SageMakerRuntime(
            "us-east-1", endpoint_url=emu.url, aws_access_key_id="a",
            aws_secret_access_key="b", **options,
        ) as client:
            answer = await client.invoke_endpoint("echo", body=b"ping")
            body = {"inputs": "Hi", "parameters": {"max_new_tokens": 3}}
            async with client.invoke_endpoint_with_response_stream("demo", body=body) as stream:
                text = await stream.final_text()
            return client, answer, text, emu.records
"""


def run_child(code: str, *, command: list[str] | None = None, **env: str) -> Any:
    """Run ``CHILD + code`` in a fresh interpreter; the JSON it prints last."""
    import os

    result = subprocess.run(
        [*(command or [sys.executable, "-c"]), CHILD + textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


async def test_without_providers_or_globals_telemetry_is_off(
    start_emulator: EmulatorFactory,
) -> None:
    assert "opentelemetry.trace" in sys.modules  # imported, but no global provider set
    emu = start_emulator()
    async with plain_client(emu) as off:
        assert off._telemetry.enabled is None  # decided at the first call
        await off.invoke_endpoint("echo", body=b"x")
        assert off._telemetry.enabled is False


async def test_the_apis_own_providers_do_not_turn_it_on(start_emulator: EmulatorFactory) -> None:
    emu = start_emulator()
    options = {
        "tracer_provider": trace.NoOpTracerProvider(),
        "meter_provider": metrics.NoOpMeterProvider(),
    }
    async with plain_client(emu, **options) as off:
        await off.invoke_endpoint("echo", body=b"x")
        assert off._telemetry.enabled is False


async def test_a_given_provider_turns_it_on(start_emulator: EmulatorFactory, otel: Otel) -> None:
    emu = start_emulator()
    async with otel.client(emu, metrics=False) as on:
        await on.invoke_endpoint("echo", body=b"x")
        assert on._telemetry.enabled is True
    assert len(otel.call_spans()) == 1


def test_a_provider_of_the_wrong_kind_is_refused_at_once() -> None:
    with pytest.raises(asyncsagemaker.ConfigurationError, match="TracerProvider"):
        SageMakerRuntime("us-east-1", tracer_provider=object())
    with pytest.raises(asyncsagemaker.ConfigurationError, match="MeterProvider"):
        SageMakerRuntime("us-east-1", meter_provider=trace.NoOpTracerProvider())
    with pytest.raises(asyncsagemaker.ConfigurationError, match="capture_content"):
        SageMakerRuntime("us-east-1", capture_content="yes")  # type: ignore[arg-type]


def test_the_apis_proxy_providers_count_as_none() -> None:
    """Pins the API's proxy classes (the meter one is private): a fresh process has them."""
    found = run_child(
        """
        from opentelemetry import metrics, trace
        from asyncsagemaker._telemetry.otel import is_noop_provider
        print(json.dumps([
            type(trace.get_tracer_provider()).__name__,
            type(metrics.get_meter_provider()).__name__,
            is_noop_provider(trace.get_tracer_provider()),
            is_noop_provider(metrics.get_meter_provider()),
        ]))
        """
    )
    assert found == ["ProxyTracerProvider", "_ProxyMeterProvider", True, True]
    assert not is_noop_provider(Otel.create().tracer_provider)


def test_global_sdk_providers_set_before_the_first_call_turn_it_on() -> None:
    found = run_child(
        """
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        client, answer, text, records = asyncio.run(calls())
        names = [m.name for r in reader.get_metrics_data().resource_metrics
                 for s in r.scope_metrics for m in s.metrics]
        spans = [s.name for s in exporter.get_finished_spans()]
        print(json.dumps({"spans": spans, "metrics": sorted(names)}))
        """
    )
    assert found["spans"] == ["POST", "invoke_endpoint echo", "POST", "invoke_endpoint demo"]
    assert "gen_ai.client.operation.duration" in found["metrics"]


def test_a_global_provider_set_after_the_first_call_is_not_used_by_that_client() -> None:
    found = run_child(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        async def main():
            exporter = InMemorySpanExporter()
            async with Emulator() as emu:
                async with asyncsagemaker.SageMakerRuntime(
                    "us-east-1", endpoint_url=emu.url, aws_access_key_id="a",
                    aws_secret_access_key="b",
                ) as client:
                    await client.invoke_endpoint("echo", body=b"x")
                    provider = TracerProvider()
                    provider.add_span_processor(SimpleSpanProcessor(exporter))
                    trace.set_tracer_provider(provider)
                    await client.invoke_endpoint("echo", body=b"x")
                async with asyncsagemaker.SageMakerRuntime(
                    "us-east-1", endpoint_url=emu.url, aws_access_key_id="a",
                    aws_secret_access_key="b",
                ) as later:
                    await later.invoke_endpoint("echo", body=b"x")
            return [s.name for s in exporter.get_finished_spans()]

        print(json.dumps(asyncio.run(main())))
        """
    )
    assert found == ["POST", "invoke_endpoint echo"]  # only the client made after it


def test_without_the_api_everything_works_and_nothing_of_it_is_imported() -> None:
    found = run_child(
        """
        client, answer, text, records = asyncio.run(calls())
        try:
            asyncsagemaker.SageMakerRuntime("us-east-1", tracer_provider=object())
        except asyncsagemaker.ConfigurationError as exc:
            refused = str(exc)
        loaded = sorted(name for name in sys.modules if name.startswith("opentelemetry"))
        print(json.dumps({
            "answer": answer.body.decode(), "text": text, "refused": refused,
            "loaded": loaded, "telemetry": "asyncsagemaker._telemetry.otel" in sys.modules,
            "trace_header": records[0].headers.get("x-amzn-trace-id"),
        }))
        """,
        command=python_without_opentelemetry(),
        AWS_LAMBDA_FUNCTION_NAME="fn",
        _X_AMZN_TRACE_ID="Root=1-00000000-000000000000000000000000",
    )
    assert found["answer"] == "ping"
    assert found["text"].strip()
    assert "asyncsagemaker[otel]" in found["refused"]
    assert found["loaded"] == [] and found["telemetry"] is False
    assert found["trace_header"] == "Root=1-00000000-000000000000000000000000"


def test_with_the_api_installed_but_unused_nothing_of_it_is_imported() -> None:
    found = run_child(
        """
        client, answer, text, records = asyncio.run(calls())
        print(json.dumps(sorted(n for n in sys.modules if n.startswith("opentelemetry"))))
        """
    )
    assert found == []
