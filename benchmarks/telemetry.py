"""What the OpenTelemetry instrumentation costs per call: off, and on with the SDK.

Run:  .venv/bin/python benchmarks/telemetry.py                 (CPU time medians, ~2 min)
      .venv/bin/python benchmarks/telemetry.py --callgrind     (instruction counts, ~20 min)
      .venv/bin/python benchmarks/telemetry.py --base bddd8d0  (compare with another commit)

Three builds of the same calls, each run in a fresh child process:

* ``base``: the package as it is at ``--base`` (default ``main``), before the hooks
  existed, extracted with ``git archive`` into a temporary directory;
* ``off``: this tree, no provider given or set globally (every hook is the shared
  do-nothing observer);
* ``on``: this tree with an SDK ``TracerProvider`` (a ``SimpleSpanProcessor`` into an
  ``InMemorySpanExporter``, cleared as it goes) and an SDK ``MeterProvider`` (an
  ``InMemoryMetricReader``), so spans and histograms are really recorded.

The calls go through ``testing.MockTransport`` (no sockets: only the client's own
work is measured): ``invoke`` is an ``invoke_endpoint``; ``stream`` an
``invoke_endpoint_with_response_stream`` of 20 TGI token parts read with ``tokens()``.

CPU mode: ``time.process_time()`` over a batch of calls after a warm-up, per call;
rounds interleave the builds and the table shows the median.  Callgrind mode
(valgrind installed): the instructions of a child making 2N calls minus those of
one making N, per call, median of ``--repeat`` interleaved runs (``PYTHONHASHSEED=0``).
Identical runs agree to a few hundred instructions per call; what varies with the
machine's load is the client's own work that depends on the clock (timers, the
signing time cached per second), so run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ("base", "off", "on")
SCENARIOS = ("invoke", "stream")

CHILD = r"""
import asyncio, json, sys, time
from asyncsagemaker import SageMakerRuntime
from asyncsagemaker.testing import MockResponse, MockTransport, event_stream

mode, scenario, calls, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
TOKENS = [
    json.dumps({"token": {"id": n, "text": f" w{n}", "logprob": -0.5, "special": False}}).encode()
    for n in range(20)
]
STREAM = event_stream(*(b"data:" + token + b"\n\n" for token in TOKENS))
HEADERS = {"x-amzn-RequestId": "bench", "Content-Type": "text/event-stream"}

def answer(request):
    if request.url.endswith("response-stream"):
        return MockResponse(200, HEADERS, STREAM)
    return MockResponse(200, {"x-amzn-RequestId": "bench"}, b'{"generated_text": "hi"}')

options = {}
exporter = None
if mode == "on":
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    options = dict(
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]),
    )

async def one(client):
    if scenario == "invoke":
        await client.invoke_endpoint("bench", body=b'{"inputs": "hi"}')
        return
    async with client.invoke_endpoint_with_response_stream("bench", body=b"{}") as stream:
        count = 0
        async for _ in stream.tokens():
            count += 1
        assert count == 20, count

async def main():
    transport = MockTransport(answer)
    async with SageMakerRuntime(
        "us-east-1", aws_access_key_id="AKIDBENCH", aws_secret_access_key="secret",
        transport=transport, **options,
    ) as client:
        for _ in range(warmup):
            await one(client)
        transport.requests.clear()
        started = time.process_time()
        for n in range(calls):
            await one(client)
            if n % 100 == 99:
                transport.requests.clear()
                if exporter is not None:
                    exporter.clear()
        return time.process_time() - started

print(json.dumps(asyncio.run(main()) / calls))
"""


def base_tree(revision: str, into: Path) -> Path:
    """The package at ``revision``, extracted under ``into``; the directory to import from."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "asyncsagemaker"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def command(mode: str, scenario: str, calls: int, warmup: int) -> list[str]:
    return [sys.executable, "-c", CHILD, mode, scenario, str(calls), str(warmup)]


def environment(mode: str, base: Path) -> dict[str, str]:
    path = str(base) if mode == "base" else str(ROOT)
    return {**os.environ, "PYTHONPATH": path, "PYTHONHASHSEED": "0"}


def cpu_per_call(mode: str, scenario: str, base: Path, calls: int) -> float:
    result = subprocess.run(
        command(mode, scenario, calls, warmup=100),
        env=environment(mode, base),
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),  # so that only PYTHONPATH decides which tree is imported
    )
    value: float = json.loads(result.stdout)
    return value


def instructions(mode: str, scenario: str, base: Path, calls: int) -> int:
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            *command(mode, scenario, calls, warmup=20),
        ],
        env=environment(mode, base),
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{result.stderr}")
    return int(found[1])


def table(title: str, unit: str, results: dict[tuple[str, str], float]) -> None:
    print(f"\n{title}")
    print(f"{'scenario':<8} {'build':<5} {unit:>14} {'vs base':>9} {'on - off':>14}")
    for scenario in SCENARIOS:
        base = results[scenario, "base"]
        off = results[scenario, "off"]
        for mode in MODES:
            value = results[scenario, mode]
            extra = f"{value - off:>14,.2f}" if mode == "on" else ""
            print(f"{scenario:<8} {mode:<5} {value:>14,.2f} {value / base:>8.3f}x {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="main", help="the revision before the hooks")
    parser.add_argument("--callgrind", action="store_true", help="count instructions")
    parser.add_argument("--rounds", type=int, default=7, help="CPU mode: rounds (median)")
    parser.add_argument("--calls", type=int, default=2000, help="CPU mode: calls per child")
    parser.add_argument("--repeat", type=int, default=3, help="callgrind mode: runs (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        base = base_tree(args.base, Path(temporary))
        print(f"base: {args.base}; Python {sys.version.split()[0]}")
        if args.callgrind:
            if shutil.which("valgrind") is None:
                raise SystemExit("valgrind is not installed")
            few, many = 200, 400
            counted: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.repeat):  # interleaved, so that load changes hit every build
                for scenario in SCENARIOS:
                    for mode in MODES:
                        low = instructions(mode, scenario, base, few)
                        high = instructions(mode, scenario, base, many)
                        counted.setdefault((scenario, mode), []).append((high - low) / (many - few))
            medians = {key: statistics.median(values) for key, values in counted.items()}
            table(f"instructions per call (callgrind), median of {args.repeat}", "instr.", medians)
            return
        samples: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for scenario in SCENARIOS:
                for mode in MODES:
                    seconds = cpu_per_call(mode, scenario, base, args.calls)
                    samples.setdefault((scenario, mode), []).append(seconds * 1e6)
        medians = {key: statistics.median(values) for key, values in samples.items()}
        table(f"CPU per call, median of {args.rounds} rounds", "µs", medians)


if __name__ == "__main__":
    main()
