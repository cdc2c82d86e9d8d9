"""Bidirectional streams on loopback: asyncsagemaker over h2c and TLS, and the official AWS
SDK (``aws-sdk-sagemaker-runtime-http2`` on the AWS CRT) over TLS, same emulator, same run.

Run:  .venv/bin/python benchmarks/bidi.py [--rounds 5] [--quick]
      ASYNCSAGEMAKER_PEER_PYTHON312=/path/to/python3.12 .venv/bin/python benchmarks/bidi.py

The official SDK needs Python >= 3.12 and its CRT: point ``ASYNCSAGEMAKER_PEER_PYTHON312``
at an interpreter with tests/bidi/peer-requirements.txt installed; without it only our
rows are shown.  The server is the project's emulator (``echo``, signature checks on),
in its own process; each client measurement runs in a fresh child process, so CPU
(``time.process_time()``, all threads) is the client's alone.  Rounds interleave the
clients; the table shows medians.

* round trip: one 16-byte part sent, its echo received, 500 times in a row on one
  stream; the median latency, and client CPU per round trip (one part each way).
* throughput: 64 KiB parts sent by one task while another reads the echoes; MB/s of
  payload both ways together.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

KEY, SECRET = "AKIDBENCH", "benchmark-secret"


# -- the server process -------------------------------------------------------------------


async def serve(folder: str) -> None:
    import trustme

    from asyncsagemaker.emulator import Emulator

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_file = Path(folder) / "ca.pem"
    ca_file.write_bytes(ca.cert_pem.bytes())
    plain = Emulator(bidi_port=0, credentials={KEY: SECRET})
    tls = Emulator(bidi_port=0, credentials={KEY: SECRET}, ssl_context=context)
    async with plain, tls:
        urls = {"h2c": plain.bidi_url, "tls": tls.bidi_url.replace("127.0.0.1", "localhost")}
        print(json.dumps({"urls": urls, "ca_file": str(ca_file)}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# -- our client, in a child process --------------------------------------------------------


async def ours(job: dict[str, Any]) -> dict[str, float]:
    os.environ["AWS_CA_BUNDLE"] = job["ca_file"]
    from asyncsagemaker import SageMakerRuntime

    out: dict[str, float] = {}
    client = SageMakerRuntime(
        "us-east-1",
        bidi_endpoint_url=job["url"],
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
    )
    async with client:
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
            await duplex.send(b"warm-up")
            await duplex.__anext__()
            small = b"x" * 16
            latencies = []
            cpu = time.process_time()
            for _ in range(job["rtt"]):
                started = time.perf_counter()
                await duplex.send(small)
                await duplex.__anext__()
                latencies.append(time.perf_counter() - started)
            out["cpu_per_message"] = (time.process_time() - cpu) / job["rtt"]
            out["rtt_median"] = statistics.median(latencies)
            payload = b"b" * job["bulk_bytes"]

            async def sender() -> None:
                for _ in range(job["bulk"]):
                    await duplex.send(payload)

            started = time.perf_counter()
            task = asyncio.create_task(sender())
            received = 0
            while received < job["bulk"] * job["bulk_bytes"]:
                received += len((await duplex.__anext__()).data)
            await task
            out["throughput"] = 2 * received / (time.perf_counter() - started)
    return out


def child(command: list[str], job: dict[str, Any]) -> dict[str, float]:
    done = subprocess.run([*command, json.dumps(job)], capture_output=True, text=True,
                          timeout=300, check=False, cwd=ROOT)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{command[-1]} failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="bidirectional stream benchmark")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer messages (a smoke run)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    if args.child:
        print(json.dumps(asyncio.run(ours(json.loads(args.child)))))
        return
    sizes = {"rtt": 100 if args.quick else 500, "bulk": 50 if args.quick else 200,
             "bulk_bytes": 64 * 1024}  # fmt: skip
    peer = os.environ.get("ASYNCSAGEMAKER_PEER_PYTHON312")
    folder = tempfile.mkdtemp(prefix="bidi-bench-")
    server = subprocess.Popen([sys.executable, __file__, "--serve", folder], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    info = json.loads(server.stdout.readline())
    clients: dict[str, tuple[list[str], str]] = {
        "asyncsagemaker h2c": ([sys.executable, __file__, "--child"], info["urls"]["h2c"]),
        "asyncsagemaker TLS": ([sys.executable, __file__, "--child"], info["urls"]["tls"]),
    }
    if peer:
        clients["official SDK (CRT) TLS"] = (
            [peer, str(HERE / "_bidi_peer.py")],
            info["urls"]["tls"],
        )
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
    try:
        for _ in range(args.rounds):
            for name, (command, url) in clients.items():
                job = {**sizes, "url": url, "ca_file": info["ca_file"]}
                runs[name].append(child(command, job))
    finally:
        server.stdin.close()
        server.wait(30)
    print(f"median of {args.rounds} rounds; round trip: {sizes['rtt']} x 16 B; "
          f"throughput: {sizes['bulk']} x 64 KiB each way; loopback, emulator echo")  # fmt: skip
    header = f"{'client':28s} {'round trip':>12s} {'CPU/round trip':>15s} {'throughput':>12s}"
    print(header)
    print("-" * len(header))
    medians: dict[str, dict[str, float]] = {}
    for name, results in runs.items():
        m = {key: statistics.median(r[key] for r in results) for key in results[0]}
        medians[name] = m
        print(f"{name:28s} {m['rtt_median'] * 1e6:9.0f} µs {m['cpu_per_message'] * 1e6:12.0f} µs "
              f"{m['throughput'] / 1e6:8.1f} MB/s")  # fmt: skip
    official = medians.get("official SDK (CRT) TLS")
    if official:
        mine = medians["asyncsagemaker TLS"]
        print(
            "\nratios asyncsagemaker TLS / official SDK TLS "
            "(targets: CPU <= 1.0x, round trip <= 1.5x)"
        )
        for label, key in (("round trip", "rtt_median"), ("CPU per round trip", "cpu_per_message"),
                           ("throughput (higher is better)", "throughput")):  # fmt: skip
            print(f"  {label:32s} {mine[key] / official[key]:6.2f}x")


if __name__ == "__main__":
    main()
