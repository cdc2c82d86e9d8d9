"""Batch throughput: ``asyncsagemaker.batch.run`` vs a plain ``asyncio.gather`` over aiobotocore.

Run:  .venv/bin/python benchmarks/batch.py            (10,000 rows, 3 rounds, a few minutes)
      .venv/bin/python benchmarks/batch.py --quick    (2,000 rows, 2 rounds)

The emulator runs in a process of its own (``asyncsagemaker emulate --port 0``, zero
token delay).  Each measurement is a fresh child process: it makes its client, warms
it up (100 calls, so the pool is open and the caches are warm), then sends every row
at concurrency 64 and reports wall time and its own CPU time (``time.process_time()``,
all threads) for the fan-out alone.  Rounds interleave the two clients; the table
shows medians over rounds.

* ``batch``: :func:`asyncsagemaker.batch.run` on a JSON lines file, writing each row
  to the output file as it completes (parsing, per-row retries, resume scan,
  progress counts and the summary included).
* ``aiobotocore``: ``asyncio.gather`` over every row, an ``asyncio.Semaphore(64)``
  around each call, answers kept in a list (no file, no parsing of the answer).

Scenarios: ``invoke`` (``InvokeEndpoint`` on ``echo``, a 40-byte body) and ``stream``
(``InvokeEndpointWithResponseStream`` on ``demo``, 8 tokens a row, TGI's Server-Sent
Events: batch decodes them into generation events, text and finish reason; the
aiobotocore loop joins the parts and reads the token texts with ``json.loads``, the
least a user must write to get the text, and assumes whole events per part).
The figure of merit is rows per client CPU second; the target is 3x aiobotocore's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGION = "us-east-1"
KEYS = {"aws_access_key_id": "AKIDBENCH", "aws_secret_access_key": "benchmark-secret"}
WARMUP = 100
SCENARIOS = {
    "invoke": ("echo", False),
    "stream": ("demo", True),
}
CLIENTS = ("batch", "aiobotocore")


def row_body(index: int, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"inputs": f"row number {index}"}
    if stream:
        body["parameters"] = {"max_new_tokens": 8}
    return body


# --- the children ------------------------------------------------------------------


async def _batch(spec: dict[str, Any]) -> dict[str, float]:
    from asyncsagemaker import Config, SageMakerRuntime, batch

    endpoint, stream = SCENARIOS[spec["scenario"]]
    config = Config(max_pool_connections=spec["concurrency"])
    async with SageMakerRuntime(REGION, endpoint_url=spec["url"], config=config, **KEYS) as c:
        work = Path(spec["dir"])
        warm = [json.dumps(row_body(i, stream)) for i in range(WARMUP)]
        await batch.run(c, endpoint, warm, work / "warm.jsonl", stream=stream, resume=False)
        output = work / f"out-{os.getpid()}.jsonl"
        cpu, wall = time.process_time(), time.perf_counter()
        summary = await batch.run(
            c,
            endpoint,
            spec["input"],
            output,
            concurrency=spec["concurrency"],
            stream=stream,
            resume=False,
        )
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    rows = output.read_bytes().count(b"\n")
    if summary.succeeded != spec["rows"] or rows != spec["rows"]:
        raise AssertionError(f"batch: {summary}")
    output.unlink()
    return {"cpu": cpu, "wall": wall}


async def _aiobotocore(spec: dict[str, Any]) -> dict[str, float]:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    endpoint, stream = SCENARIOS[spec["scenario"]]
    lines = Path(spec["input"]).read_bytes().splitlines()  # noqa: ASYNC240 (before timing)
    config = AioConfig(max_pool_connections=spec["concurrency"])
    async with get_session().create_client(
        "sagemaker-runtime", region_name=REGION, endpoint_url=spec["url"], config=config, **KEYS
    ) as client:
        slots = asyncio.Semaphore(spec["concurrency"])

        async def one(body: bytes) -> bytes:
            async with slots:
                if not stream:
                    response = await client.invoke_endpoint(
                        EndpointName=endpoint, Body=body, ContentType="application/json"
                    )
                    async with response["Body"] as payload:
                        data: bytes = await payload.read()
                    return data
                response = await client.invoke_endpoint_with_response_stream(
                    EndpointName=endpoint, Body=body, ContentType="application/json"
                )
                parts = []
                events = response["Body"]
                try:
                    async for event in events:
                        parts.append(event["PayloadPart"]["Bytes"])
                finally:
                    events.close()
                return _tgi_text(b"".join(parts))

        warm = [json.dumps(row_body(i, stream)).encode() for i in range(WARMUP)]
        await asyncio.gather(*(one(body) for body in warm))
        cpu, wall = time.process_time(), time.perf_counter()
        answers = await asyncio.gather(*(one(body) for body in lines))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if len(answers) != spec["rows"] or not all(answers):
        raise AssertionError("aiobotocore: an answer is missing")
    return {"cpu": cpu, "wall": wall}


def _tgi_text(data: bytes) -> bytes:
    """The least a user of aiobotocore writes to get the text: TGI's SSE, one token each."""
    texts = []
    for event in data.split(b"\n\n"):
        if event.startswith(b"data:"):
            token = json.loads(event[5:])["token"]
            if not token["special"]:
                texts.append(token["text"])
    return "".join(texts).encode()


def child(spec: dict[str, Any]) -> None:
    main = _batch if spec["client"] == "batch" else _aiobotocore
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = asyncio.run(main(spec))
    after = resource.getrusage(resource.RUSAGE_SELF)
    result["sys_share"] = (after.ru_stime - before.ru_stime) / max(
        after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 1e-9
    )
    print(json.dumps(result))


# --- the parent ----------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=str(ROOT),
    )
    return env


@contextmanager
def emulator() -> Iterator[str]:
    """``asyncsagemaker emulate`` in its own process; its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncsagemaker", "emulate", "--port", "0", "--token-delay", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # one log line per request: the server's cost, not shown
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        if "listening on " not in first:
            raise RuntimeError(f"the emulator did not start: {first!r}")
        yield first.rsplit("listening on ", 1)[1].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spawn(spec: dict[str, Any]) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"{spec['client']}/{spec['scenario']} failed:\n{proc.stderr}")
    result: dict[str, float] = json.loads(proc.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="2,000 rows, 2 rounds")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if args.quick:
        args.rows, args.rounds = 2000, 2
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as work, emulator() as url:
        for scenario, (_, stream) in SCENARIOS.items():
            source = Path(work) / f"{scenario}.jsonl"
            source.write_text(
                "".join(json.dumps(row_body(i, stream)) + "\n" for i in range(args.rows))
            )
            for round_number in range(args.rounds):
                for client in CLIENTS if round_number % 2 == 0 else reversed(CLIENTS):
                    spec = {
                        "client": client,
                        "scenario": scenario,
                        "url": url,
                        "input": str(source),
                        "dir": work,
                        "rows": args.rows,
                        "concurrency": args.concurrency,
                    }
                    result = spawn(spec)
                    runs.setdefault((client, scenario), []).append(result)
                    print(
                        f"  {scenario:6} {client:11} round {round_number + 1}: "
                        f"{args.rows / result['wall']:8.0f} rows/s, "
                        f"{result['cpu'] / args.rows * 1e6:6.0f} us CPU/row "
                        f"({result['sys_share']:.0%} in the kernel, set-up included)",
                        file=sys.stderr,
                        flush=True,
                    )
    print(
        f"\n{args.rows} rows at concurrency {args.concurrency}, medians of {args.rounds} rounds\n"
    )
    print("| scenario | client | rows/s | client CPU per row | rows per CPU second | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for scenario in SCENARIOS:
        per_cpu: dict[str, float] = {}
        for client in CLIENTS:
            results = runs[(client, scenario)]
            per_cpu[client] = args.rows / statistics.median(r["cpu"] for r in results)
        for client in CLIENTS:
            results = runs[(client, scenario)]
            wall = statistics.median(r["wall"] for r in results)
            cpu = statistics.median(r["cpu"] for r in results)
            ratio = per_cpu[client] / per_cpu["aiobotocore"]
            print(
                f"| {scenario} | {client} | {args.rows / wall:,.0f} | "
                f"{cpu / args.rows * 1e6:,.0f} us | {per_cpu[client]:,.0f} | {ratio:.2f}x |"
            )


if __name__ == "__main__":
    main()
