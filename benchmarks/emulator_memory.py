"""The emulator's resident memory under a long run of large requests, in its own process.

Run:  .venv/bin/python benchmarks/emulator_memory.py                 (200 x 5 MiB)
      .venv/bin/python benchmarks/emulator_memory.py --count 50 --mib 1

Starts ``asyncsagemaker emulate --port 0`` as a child process, sends ``--count``
``InvokeEndpoint`` requests of ``--mib`` MiB each to ``echo`` (sequentially, one
connection, the real client) and prints the child's RSS (psutil) after a warm-up
and at intervals, with the growth per request.  A bounded emulator keeps its RSS
flat after the warm-up; one that keeps every body grows by about the body size
per request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import asyncsagemaker  # noqa: E402

MIB = 1024 * 1024
WARM_UP = 10


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "asyncsagemaker", "emulate", "--port", "0"],
        cwd=HERE.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = child.stdout.readline()
        match = re.search(r"listening on (https?://\S+)", line)
        if match:
            return child, match.group(1)
    child.kill()
    raise SystemExit("the emulator did not start")


async def run(url: str, pid: int, count: int, size: int) -> list[tuple[int, float]]:
    process = psutil.Process(pid)
    body = os.urandom(size)
    samples: list[tuple[int, float]] = []
    marks = {WARM_UP, *range(0, count + 1, max(count // 8, 1)), count} - {0}
    async with asyncsagemaker.SageMakerRuntime(
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="AKIDBENCH",
        aws_secret_access_key="benchmark-secret",
    ) as client:
        samples.append((0, process.memory_info().rss / MIB))
        for number in range(1, count + 1):
            answer = await client.invoke_endpoint(
                "echo", body=body, content_type="application/octet-stream"
            )
            assert len(answer.body) == size
            if number in marks:
                samples.append((number, process.memory_info().rss / MIB))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--mib", type=float, default=5.0)
    args = parser.parse_args()
    child, url = start_emulator()
    try:
        started = time.monotonic()
        samples = asyncio.run(run(url, child.pid, args.count, int(args.mib * MIB)))
        elapsed = time.monotonic() - started
    finally:
        child.terminate()
        child.wait(30)
    base = next(rss for number, rss in samples if number == WARM_UP)
    print(f"emulator RSS, {args.count} x {args.mib:g} MiB InvokeEndpoint to echo ({elapsed:.1f} s)")
    print(f"{'requests':>9} {'RSS MiB':>9} {'vs warm-up':>11}")
    for number, rss in samples:
        print(f"{number:>9} {rss:>9.1f} {rss - base:>+11.1f}")
    last_number, last = samples[-1]
    per_request = (last - base) / max(last_number - WARM_UP, 1)
    print(f"growth after warm-up: {last - base:+.1f} MiB ({per_request * 1024:+.1f} KiB/request)")


if __name__ == "__main__":
    main()
