"""End to end on loopback: asyncsagemaker vs aiobotocore vs boto3, same server, same run.

Run:  .venv/bin/python benchmarks/e2e.py            (about 3 minutes)
      .venv/bin/python benchmarks/e2e.py --quick    (a ~30 s smoke run)
      .venv/bin/python benchmarks/e2e.py --profile  (cProfile of our per-call path)

One server process (``benchmarks/_server.py``, plain aiohttp.web on 127.0.0.1,
random port) serves every client.  Each measurement runs in a fresh child
process (one per client and event loop, per round), so imports, caches and
connection pools never leak from one client to another, and the CPU measured
(``time.process_time()``, all threads of the child) is the client's alone.
Rounds interleave the clients; the table shows the median over rounds.

Scenarios (each client counts every part it receives and checks the last
one, so a client that drops or merges parts fails the run instead of winning):

* bulk: a stream of 100k PayloadPart frames of 16 B, written 64 KiB at a
  time by the server, three times a round; events/s (wall clock) and client
  CPU seconds per 100k events.
* paced: 200 concurrent streams of 50 tokens, one frame per write, 20 ms
  apart; client CPU per token, opening the 200 streams included.
  boto3 runs them on 200 threads.
* per call: sequential calls, each opening a stream, reading its one part
  and closing (the connection is reused); client CPU per call.

"aiohttp-floor" is not a client but a reference: bare aiohttp plus our
event-stream Decoder, unsigned, without timeouts or checks; what any client
built on aiohttp must spend at least.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import _server  # noqa: E402

REGION = "us-east-1"
KEYS = {"aws_access_key_id": "AKIDBENCH", "aws_secret_access_key": "benchmark-secret"}
BODY = b'{"inputs": "hi"}'
CONFIGS = (
    ("asyncsagemaker", "asyncio"),
    ("asyncsagemaker", "uvloop"),
    ("aiobotocore", "asyncio"),
    ("aiobotocore", "uvloop"),
    ("boto3", "threads"),
    ("aiohttp-floor", "asyncio"),
    ("aiohttp-floor", "uvloop"),
)


@dataclasses.dataclass(frozen=True)
class Sizes:
    bulk_events: int = 100_000
    bulk_reps: int = 3  # one bulk stream is short: repeat it within each round
    streams: int = 200
    tokens: int = 50
    token_ms: int = 20
    calls: int = 1000
    warmup_calls: int = 50


QUICK = Sizes(bulk_events=50_000, streams=200, tokens=25, calls=300, warmup_calls=20)


# --- the client side (runs in a child process) ------------------------------------

Consume = Callable[[str], Awaitable[tuple[int, bytes]]]


def _check(what: str, got: tuple[int, bytes], count: int, last: bytes) -> None:
    if got != (count, last):
        raise AssertionError(
            f"{what}: got {got[0]} parts ending {got[1]!r}, want {count} / {last!r}"
        )


@contextmanager
def _timed(into: dict[str, float], name: str) -> Iterator[None]:
    cpu, wall = time.process_time(), time.perf_counter()
    yield
    into[f"{name}_cpu"] = time.process_time() - cpu
    into[f"{name}_wall"] = time.perf_counter() - wall


async def _scenarios_async(consume: Consume, sizes: Sizes) -> dict[str, float]:
    """Warm up, then bulk, per call, paced; the same code drives every async client."""
    out: dict[str, float] = {}
    first = ("first", 1, _server.FIRST_PAYLOAD)
    bulk = (
        f"bulk-{sizes.bulk_events}",
        sizes.bulk_events,
        _server.bulk_payload(sizes.bulk_events - 1),
    )
    paced = (
        f"paced-{sizes.tokens}-{sizes.token_ms}",
        sizes.tokens,
        _server.paced_payload(sizes.tokens - 1),
    )
    for _ in range(sizes.warmup_calls):
        _check("warm-up", await consume(first[0]), *first[1:])
    _check("warm-up bulk", await consume("bulk-1000"), 1000, _server.bulk_payload(999))

    for rep in range(sizes.bulk_reps):
        with _timed(out, f"bulk{rep}"):
            got = await consume(bulk[0])
        _check("bulk", got, *bulk[1:])

    with _timed(out, "call"):
        for _ in range(sizes.calls):
            got = await consume(first[0])
            if got != first[1:]:
                _check("per call", got, *first[1:])

    with _timed(out, "paced"):
        results = await asyncio.gather(*(consume(paced[0]) for _ in range(sizes.streams)))
    for got in results:
        _check("paced", got, *paced[1:])
    return out


async def _ours(url: str, sizes: Sizes, body: Callable[[Consume], Awaitable[Any]]) -> Any:
    import asyncsagemaker

    config = asyncsagemaker.Config(max_pool_connections=sizes.streams)
    async with asyncsagemaker.SageMakerRuntime(
        REGION, endpoint_url=url, config=config, **KEYS
    ) as client:

        async def consume(name: str) -> tuple[int, bytes]:
            count, last = 0, b""
            async with client.invoke_endpoint_with_response_stream(name, body=BODY) as stream:
                async for part in stream:
                    count += 1
                    last = part
            return count, last

        return await body(consume)


async def _aiobotocore(url: str, sizes: Sizes, body: Callable[[Consume], Awaitable[Any]]) -> Any:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    config = AioConfig(max_pool_connections=sizes.streams)
    async with get_session().create_client(
        "sagemaker-runtime", region_name=REGION, endpoint_url=url, config=config, **KEYS
    ) as client:

        async def consume(name: str) -> tuple[int, bytes]:
            count, last = 0, b""
            response = await client.invoke_endpoint_with_response_stream(
                EndpointName=name, Body=BODY
            )
            events = response["Body"]
            try:
                async for event in events:
                    count += 1
                    last = event["PayloadPart"]["Bytes"]
            finally:
                events.close()
            return count, last

        return await body(consume)


async def _floor(url: str, sizes: Sizes, body: Callable[[Consume], Awaitable[Any]]) -> Any:
    """Not a client: bare aiohttp plus our Decoder, no signing, no timeouts, no checks.

    What any aiohttp-based client must spend at least; it shows how close to the
    floor asyncsagemaker is and whether a target is reachable at all.
    """
    import aiohttp
    import yarl

    from asyncsagemaker.eventstream import Decoder

    headers = {"Authorization": "AWS4-HMAC-SHA256 fixed", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=sizes.streams),
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=False,
    ) as http:

        async def consume(name: str) -> tuple[int, bytes]:
            count, last = 0, b""
            target = yarl.URL(f"{url}/endpoints/{name}/invocations-response-stream", encoded=True)
            async with http.post(target, data=BODY, headers=headers) as response:
                decoder = Decoder()
                while chunk := await response.content.readany():
                    for message in decoder.feed(chunk):
                        if message.headers[":event-type"] == "PayloadPart":
                            count += 1
                            last = message.payload
                decoder.close()
            return count, last

        return await body(consume)


def _boto3(url: str, sizes: Sizes) -> dict[str, float]:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    from botocore.config import Config

    client = boto3.client(
        "sagemaker-runtime",
        region_name=REGION,
        endpoint_url=url,
        config=Config(max_pool_connections=sizes.streams),
        **KEYS,
    )

    def consume(name: str) -> tuple[int, bytes]:
        count, last = 0, b""
        events = client.invoke_endpoint_with_response_stream(EndpointName=name, Body=BODY)["Body"]
        try:
            for event in events:
                count += 1
                last = event["PayloadPart"]["Bytes"]
        finally:
            events.close()
        return count, last

    out: dict[str, float] = {}
    first = ("first", 1, _server.FIRST_PAYLOAD)
    for _ in range(sizes.warmup_calls):
        _check("warm-up", consume("first"), *first[1:])
    _check("warm-up bulk", consume("bulk-1000"), 1000, _server.bulk_payload(999))

    for rep in range(sizes.bulk_reps):
        with _timed(out, f"bulk{rep}"):
            got = consume(f"bulk-{sizes.bulk_events}")
        _check("bulk", got, sizes.bulk_events, _server.bulk_payload(sizes.bulk_events - 1))

    with _timed(out, "call"):
        for _ in range(sizes.calls):
            got = consume("first")
            if got != first[1:]:
                _check("per call", got, *first[1:])

    with ThreadPoolExecutor(max_workers=sizes.streams) as pool:
        # Start all the threads before measuring: a server would keep such a pool.
        barrier = threading.Barrier(sizes.streams)
        list(pool.map(lambda _: barrier.wait(), range(sizes.streams)))
        name = f"paced-{sizes.tokens}-{sizes.token_ms}"
        with _timed(out, "paced"):
            results = list(pool.map(consume, [name] * sizes.streams))
    for got in results:
        _check("paced", got, sizes.tokens, _server.paced_payload(sizes.tokens - 1))
    return out


def _run_loop(loop: str, main: Awaitable[Any]) -> Any:
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main)  # type: ignore[arg-type]
    return asyncio.run(main)  # type: ignore[arg-type]


def child(spec: dict[str, Any]) -> dict[str, float]:
    sizes = Sizes(**spec["sizes"])
    url, client, loop = spec["url"], spec["client"], spec["loop"]
    if client == "boto3":
        return _boto3(url, sizes)
    runner = {"asyncsagemaker": _ours, "aiobotocore": _aiobotocore, "aiohttp-floor": _floor}[client]
    result: dict[str, float] = _run_loop(
        loop, runner(url, sizes, lambda consume: _scenarios_async(consume, sizes))
    )
    return result


def profile_child(spec: dict[str, Any]) -> None:
    """cProfile our per-call path (after the same warm-up) and print the top costs."""
    import cProfile
    import pstats

    sizes = Sizes(**spec["sizes"])
    profiler = cProfile.Profile()

    async def calls(consume: Consume) -> None:
        for _ in range(sizes.warmup_calls):
            await consume("first")
        profiler.enable()
        for _ in range(sizes.calls):
            await consume("first")
        profiler.disable()

    _run_loop(spec["loop"], _ours(spec["url"], sizes, calls))
    stats = pstats.Stats(profiler, stream=sys.stdout)
    print(f"=== cProfile, {sizes.calls} sequential calls, asyncsagemaker on {spec['loop']}")
    print("--- by own time (tottime)")
    stats.sort_stats("tottime").print_stats(30)
    print("--- by cumulative time")
    stats.sort_stats("cumulative").print_stats(45)


# --- the parent: server, rounds, table ----------------------------------------------


@contextmanager
def running_server(sizes: Sizes) -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "_server.py"),
            f"--bulk={sizes.bulk_events}",
            "--bulk=1000",
            f"--paced={sizes.tokens}",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"benchmark server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONHASHSEED="0",
    )
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    return env


def spawn(mode: str, spec: dict[str, Any], capture: bool = True) -> str:
    proc = subprocess.run(
        [sys.executable, __file__, mode, json.dumps(spec)],
        capture_output=capture,
        text=True,
        env=_child_env(),
        timeout=300,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"{spec['client']}/{spec['loop']} failed:\n{proc.stderr}")
    return proc.stdout if capture else ""


@dataclasses.dataclass
class Metrics:
    events_per_s: float
    bulk_cpu_per_100k: float
    paced_us_per_token: float
    call_us: float


def _bulk(runs: list[dict[str, float]], what: str) -> list[float]:
    """Every bulk repetition of every round."""
    return [v for r in runs for k, v in r.items() if k.startswith("bulk") and k.endswith(what)]


def metrics(runs: list[dict[str, float]], sizes: Sizes) -> Metrics:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    tokens = sizes.streams * sizes.tokens
    return Metrics(
        events_per_s=statistics.median(sizes.bulk_events / wall for wall in _bulk(runs, "wall")),
        bulk_cpu_per_100k=statistics.median(_bulk(runs, "cpu")) * 100_000 / sizes.bulk_events,
        paced_us_per_token=med("paced_cpu") * 1e6 / tokens,
        call_us=med("call_cpu") * 1e6 / sizes.calls,
    )


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def print_table(results: dict[tuple[str, str], Metrics], sizes: Sizes, rounds: int) -> None:
    head = [
        "client (loop)",
        "bulk events/s",
        "bulk CPU s/100k",
        "paced CPU us/token",
        "CPU us/call",
    ]
    widths = [30, 14, 16, 19, 12]
    print()
    print(
        f"median of {rounds} rounds; bulk {sizes.bulk_events} x 16 B parts "
        f"({sizes.bulk_reps} streams a round); paced "
        f"{sizes.streams} streams x {sizes.tokens} tokens, {sizes.token_ms} ms apart; "
        f"{sizes.calls} sequential calls"
    )
    print(_row(head, widths))
    print(_row(["-" * w for w in widths], widths))
    for (client, loop), m in results.items():
        print(
            _row(
                [
                    f"{client} ({loop})",
                    f"{m.events_per_s:,.0f}",
                    f"{m.bulk_cpu_per_100k:.3f}",
                    f"{m.paced_us_per_token:.1f}",
                    f"{m.call_us:.0f}",
                ],
                widths,
            )
        )
    print()
    print(
        "ratios asyncsagemaker / aiobotocore, same loop unless said (events/s: higher is "
        "better; CPU: lower is better); the floor rows show the best any aiohttp client can do"
    )
    print(_row(head, widths))
    print(_row(["-" * w for w in widths], widths))
    pairs = [
        ("asyncio vs asyncio", ("asyncsagemaker", "asyncio"), ("aiobotocore", "asyncio")),
        ("uvloop vs uvloop", ("asyncsagemaker", "uvloop"), ("aiobotocore", "uvloop")),
        ("uvloop vs asyncio", ("asyncsagemaker", "uvloop"), ("aiobotocore", "asyncio")),
        ("floor / aiobotocore, asyncio", ("aiohttp-floor", "asyncio"), ("aiobotocore", "asyncio")),
        ("floor / aiobotocore, uvloop", ("aiohttp-floor", "uvloop"), ("aiobotocore", "uvloop")),
    ]
    for label, ours_key, theirs_key in pairs:
        if ours_key not in results or theirs_key not in results:
            continue
        o, t = results[ours_key], results[theirs_key]
        print(
            _row(
                [
                    label,
                    f"{o.events_per_s / t.events_per_s:.2f}x",
                    f"{o.bulk_cpu_per_100k / t.bulk_cpu_per_100k:.2f}x",
                    f"{o.paced_us_per_token / t.paced_us_per_token:.2f}x",
                    f"{o.call_us / t.call_us:.2f}x",
                ],
                widths,
            )
        )
    ours_a = results.get(("asyncsagemaker", "asyncio"))
    ours_u = results.get(("asyncsagemaker", "uvloop"))
    aio_a = results.get(("aiobotocore", "asyncio"))
    aio_u = results.get(("aiobotocore", "uvloop"))
    if ours_a and ours_u and aio_a and aio_u:
        checks = [
            ("bulk events/s >= 5x (asyncio)", ours_a.events_per_s / aio_a.events_per_s, 5.0, True),
            ("CPU per call <= 1/3 (asyncio)", ours_a.call_us / aio_a.call_us, 1 / 3, False),
            (
                "paced CPU/token <= 0.8x (asyncio)",
                ours_a.paced_us_per_token / aio_a.paced_us_per_token,
                0.8,
                False,
            ),
            (
                "paced CPU/token <= 0.4x (uvloop vs uvloop)",
                ours_u.paced_us_per_token / aio_u.paced_us_per_token,
                0.4,
                False,
            ),
        ]
        print()
        print("targets")
        for label, ratio, target, higher in checks:
            ok = ratio >= target if higher else ratio <= target
            print(f"  {label:45s} {ratio:6.2f}x  {'met' if ok else 'NOT met'}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] in ("--child", "--profile-child"):
        spec = json.loads(sys.argv[2])
        if sys.argv[1] == "--profile-child":
            profile_child(spec)
        else:
            print(json.dumps(child(spec)))
        return

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~30 s smoke run (1 round)")
    parser.add_argument("--rounds", type=int, help="rounds per client (default 5, quick 1)")
    parser.add_argument(
        "--clients", help="comma-separated subset of asyncsagemaker,aiobotocore,boto3,aiohttp-floor"
    )
    parser.add_argument("--json", type=Path, help="also write every run's raw numbers here")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="asyncio",
        choices=("asyncio", "uvloop"),
        help="instead of the table, cProfile asyncsagemaker's per-call scenario",
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else Sizes()
    rounds = args.rounds or (1 if args.quick else 5)
    wanted = set(args.clients.split(",")) if args.clients else None
    configs = [c for c in CONFIGS if wanted is None or c[0] in wanted]

    with running_server(sizes) as url:
        if args.profile:
            spec = {"url": url, "client": "asyncsagemaker", "loop": args.profile}
            spec["sizes"] = dataclasses.asdict(dataclasses.replace(sizes, calls=3000))
            spawn("--profile-child", spec, capture=False)
            return
        runs: dict[tuple[str, str], list[dict[str, float]]] = {c: [] for c in configs}
        started = time.perf_counter()
        for round_no in range(rounds):
            # Rotate the order so that no client always runs first (or after the same one).
            order = configs[round_no % len(configs) :] + configs[: round_no % len(configs)]
            for client, loop in order:
                spec = {
                    "url": url,
                    "client": client,
                    "loop": loop,
                    "sizes": dataclasses.asdict(sizes),
                }
                result = json.loads(spawn("--child", spec).strip().splitlines()[-1])
                runs[(client, loop)].append(result)
                print(
                    f"round {round_no + 1}/{rounds} {client:14s} {loop:7s} "
                    f"bulk {min(_bulk([result], 'wall')):.2f}s  "
                    f"calls {result['call_cpu']:.2f}s CPU  "
                    f"paced {result['paced_cpu']:.2f}s CPU / {result['paced_wall']:.2f}s",
                    flush=True,
                )
        print(f"total {time.perf_counter() - started:.0f} s")
    table = {config: metrics(r, sizes) for config, r in runs.items()}
    print_table(table, sizes, rounds)
    if args.json:
        raw = {f"{c}/{loop}": r for (c, loop), r in runs.items()}
        args.json.write_text(
            json.dumps({"sizes": dataclasses.asdict(sizes), "runs": raw}, indent=1)
        )


if __name__ == "__main__":
    main()
