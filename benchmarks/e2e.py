"""End to end on loopback: asyncsagemaker against the bare-aiohttp floor and its peers.

Run:  .venv/bin/python benchmarks/e2e.py            (about 10 minutes)
      .venv/bin/python benchmarks/e2e.py --quick    (a ~2 minute smoke run)
      .venv/bin/python benchmarks/e2e.py --before PATH   (also a checkout at PATH, e.g. a
                                                    git worktree of an older commit)
      .venv/bin/python benchmarks/e2e.py --only-instructions [--before PATH]
                                                   (callgrind counts alone, ~8 minutes)

One server process (``benchmarks/_server.py``, plain aiohttp.web on 127.0.0.1,
random ports, one plain and one TLS with a trustme certificate) serves every
client.  Each measurement runs in a fresh child process (one per client, loop and
scheme, per round), so imports, caches and pools never leak from one client to
another, and the CPU measured (``time.process_time()``, all threads of the child)
is the client's alone.  Rounds interleave the clients; tables show medians.

What each child measures (each client counts every part and checks the last one,
so a client that drops or merges parts fails the run instead of winning):

* burst: 1,000 streams opened at once (``asyncio.gather``) on a cold pool while a
  10 ms ticker measures the event loop's lag; the largest lag and the time until
  all are open.  Then they are read and closed.
* bulk: a stream of 100k PayloadPart frames of 16 B, written 64 KiB at a time,
  three times a round; events/s (wall) and client CPU seconds per 100k events.
* per call: sequential calls, each opening a stream, reading its one part and
  closing (the connection is reused); client CPU per call.
* paced: 1,000 concurrent streams of 50 tokens, one frame per write, 20 ms apart;
  client CPU per token (boto3 runs them on 1,000 threads), after an untimed round
  that leaves every client a warm connection per stream.

``asyncsagemaker-openai`` is our client on the OpenAI-compatible route
(``chat_stream(route="openai")``: a chat body built per call, the bearer token made
once and cached, a plain SSE body): measured per call only, against the same floor.

Floors are not clients but references: ``aiohttp`` is bare aiohttp (a request
with a fixed header, the body read and discarded, no timeouts), what any client
built on it must spend at least; ``aiohttp+decoder`` adds our event-stream
decoder.  With valgrind installed, instructions per call (callgrind, repeatable
on a busy machine) are counted too: the difference between 100 and 300
sequential calls, after a warm-up, divided by 200.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if len(sys.argv) == 3 and sys.argv[1] in ("--child", "--calls-child"):
    # the checkout whose client a child measures comes first (``--before``)
    sys.path.insert(0, json.loads(sys.argv[2])["root"])
sys.path.insert(1, str(HERE))

import _server  # noqa: E402

REGION = "us-east-1"
KEYS = {"aws_access_key_id": "AKIDBENCH", "aws_secret_access_key": "benchmark-secret"}
BODY = b'{"inputs": "hi"}'
OURS = "asyncsagemaker"
#: Our client on the OpenAI-compatible route (bearer token, cached): per call only.
OURS_OPENAI = "asyncsagemaker-openai"
CLIENTS = ("asyncsagemaker", OURS_OPENAI, "aiobotocore", "boto3", "aiohttp", "aiohttp+decoder")
ROUTE_MESSAGES = [{"role": "user", "content": "hi"}]
LOOPS = {"boto3": ("threads",)}
SCHEMES = ("http", "https")


@dataclasses.dataclass(frozen=True)
class Sizes:
    bulk_events: int = 100_000
    bulk_reps: int = 3  # one bulk stream is short: repeat it within each round
    streams: int = 1000
    tokens: int = 50
    token_ms: int = 20
    calls: int = 1000
    warmup_calls: int = 50
    burst: int = 1000
    tick_ms: int = 10


QUICK = Sizes(bulk_events=50_000, tokens=25, calls=300, warmup_calls=20)

# --- the client side (runs in a child process) ------------------------------------

Consume = Callable[[str], Awaitable[tuple[int, bytes]]]
Open = Callable[[str], Awaitable[Any]]  # opens a stream; returns something to finish


@dataclasses.dataclass
class Client:
    """What a benchmark needs of a client: consume a whole stream, or open then finish one."""

    consume: Consume
    open: Open
    finish: Callable[[Any], Awaitable[tuple[int, bytes]]]


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


async def _burst(client: Client, sizes: Sizes, out: dict[str, float]) -> None:
    """Open ``sizes.burst`` streams at once while a ticker measures the loop's lag."""
    tick = sizes.tick_ms / 1000
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            expected = loop.time() + tick
            await asyncio.sleep(tick)
            lags.append(max(loop.time() - expected, 0.0))

    task = asyncio.create_task(ticker())
    await asyncio.sleep(tick * 3)  # the ticker settles
    started = time.perf_counter()
    opened = await asyncio.gather(*(client.open("first") for _ in range(sizes.burst)))
    out["burst_open_wall"] = time.perf_counter() - started
    await asyncio.sleep(tick * 3)
    stop.set()
    await task
    out["burst_max_lag"] = max(lags)
    for got in await asyncio.gather(*(client.finish(stream) for stream in opened)):
        _check("burst", got, 1, _server.FIRST_PAYLOAD)


async def _scenarios(client: Client, sizes: Sizes) -> dict[str, float]:
    """Warm up, burst, bulk, per call, paced; the same code drives every async client."""
    out: dict[str, float] = {}
    consume = client.consume
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
    _check("warm-up", await consume(first[0]), *first[1:])  # one connection in the pool
    await _burst(client, sizes, out)
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
    # An untimed round first, so every client meets the timed one with a connection
    # per stream in its pool: a client that opens the burst a few calls per turn
    # reuses connections that its first (one-part) calls already gave back, and
    # would otherwise pay TLS handshakes inside the paced figure.
    await asyncio.gather(*(consume(paced[0]) for _ in range(sizes.streams)))
    with _timed(out, "paced"):
        results = await asyncio.gather(*(consume(paced[0]) for _ in range(sizes.streams)))
    for got in results:
        _check("paced", got, *paced[1:])
    return out


async def _count(parts: Any) -> tuple[int, bytes]:
    count, last = 0, b""
    async for part in parts:
        count += 1
        last = part
    return count, last


async def _ours(spec: dict[str, Any], body: Callable[[Client], Awaitable[Any]]) -> Any:
    import asyncsagemaker

    config = asyncsagemaker.Config(max_pool_connections=spec["pool"])
    async with asyncsagemaker.SageMakerRuntime(
        REGION, endpoint_url=spec["url"], config=config, **KEYS
    ) as client:

        async def consume(name: str) -> tuple[int, bytes]:
            async with client.invoke_endpoint_with_response_stream(name, body=BODY) as stream:
                return await _count(stream)

        async def open_(name: str) -> Any:
            return await client.invoke_endpoint_with_response_stream(name, body=BODY)

        async def finish(stream: Any) -> tuple[int, bytes]:
            async with stream:
                return await _count(stream)

        return await body(Client(consume, open_, finish))


async def _ours_openai(spec: dict[str, Any], body: Callable[[Client], Awaitable[Any]]) -> Any:
    """``chat_stream(route="openai")``: a bearer token (made once, then cached) instead of
    SigV4, a chat body built and checked per call, the SSE body's chunks as parts."""
    import asyncsagemaker

    config = asyncsagemaker.Config(max_pool_connections=spec["pool"])
    async with asyncsagemaker.SageMakerRuntime(
        REGION, endpoint_url=spec["url"], config=config, **KEYS
    ) as client:

        async def open_(name: str) -> Any:
            return await client.chat_stream(name, ROUTE_MESSAGES, route="openai")

        async def finish(stream: Any) -> tuple[int, bytes]:
            async with stream:
                data = b"".join([part async for part in stream])
            return (1, _server.FIRST_PAYLOAD) if data == _server.FIRST_SSE else (0, data)

        async def consume(name: str) -> tuple[int, bytes]:
            return await finish(await open_(name))

        return await body(Client(consume, open_, finish))


async def _calls_only(client: Client, sizes: Sizes) -> dict[str, float]:
    """Warm up, then the timed sequential one-part calls (the route serves nothing else)."""
    out: dict[str, float] = {}
    for _ in range(sizes.warmup_calls):
        _check("warm-up", await client.consume("first"), 1, _server.FIRST_PAYLOAD)
    with _timed(out, "call"):
        for _ in range(sizes.calls):
            got = await client.consume("first")
            if got != (1, _server.FIRST_PAYLOAD):
                _check("per call", got, 1, _server.FIRST_PAYLOAD)
    return out


async def _aiobotocore(spec: dict[str, Any], body: Callable[[Client], Awaitable[Any]]) -> Any:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    config = AioConfig(max_pool_connections=spec["pool"])
    async with get_session().create_client(
        "sagemaker-runtime",
        region_name=REGION,
        endpoint_url=spec["url"],
        config=config,
        verify=spec.get("ca"),
        **KEYS,
    ) as client:

        async def open_(name: str) -> Any:
            response = await client.invoke_endpoint_with_response_stream(
                EndpointName=name, Body=BODY
            )
            return response["Body"]

        async def finish(events: Any) -> tuple[int, bytes]:
            count, last = 0, b""
            try:
                async for event in events:
                    count += 1
                    last = event["PayloadPart"]["Bytes"]
            finally:
                events.close()
            return count, last

        async def consume(name: str) -> tuple[int, bytes]:
            return await finish(await open_(name))

        return await body(Client(consume, open_, finish))


async def _floor(
    spec: dict[str, Any], body: Callable[[Client], Awaitable[Any]], decode: bool
) -> Any:
    """Not a client: bare aiohttp, no signing, no timeouts, no checks (decoding if asked).

    What any aiohttp-based client must spend at least: it shows how close to the
    floor asyncsagemaker is, and whether a target is reachable at all.
    """
    import ssl

    import aiohttp
    import yarl

    from asyncsagemaker.eventstream import Decoder

    url = spec["url"]
    context = ssl.create_default_context(cafile=spec["ca"]) if spec.get("ca") else None
    headers = {"Authorization": "AWS4-HMAC-SHA256 fixed", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=spec["pool"], ssl=context or True),
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=False,
    ) as http:

        async def open_(name: str) -> Any:
            target = yarl.URL(f"{url}/endpoints/{name}/invocations-response-stream", encoded=True)
            return await http.post(target, data=BODY, headers=headers)

        async def finish(response: Any) -> tuple[int, bytes]:
            count, last = 0, b""
            async with response:
                if not decode:
                    data = await response.read()  # discarded: the last part is its tail
                    name = response.url.path.split("/")[2]
                    return _expected(name) if data else (0, b"")
                decoder = Decoder()
                while chunk := await response.content.readany():
                    for message in decoder.feed(chunk):
                        if message.headers[":event-type"] == "PayloadPart":
                            count += 1
                            last = message.payload
                decoder.close()
            return count, last

        async def consume(name: str) -> tuple[int, bytes]:
            return await finish(await open_(name))

        return await body(Client(consume, open_, finish))


def _expected(name: str) -> tuple[int, bytes]:
    """What a bare floor that does not decode is credited with (it read every byte)."""
    kind, _, args = name.partition("-")
    if kind == "bulk":
        count = int(args)
        return count, _server.bulk_payload(count - 1)
    if kind == "paced":
        count = int(args.split("-")[0])
        return count, _server.paced_payload(count - 1)
    return 1, _server.FIRST_PAYLOAD


def _boto3(spec: dict[str, Any], sizes: Sizes) -> dict[str, float]:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    from botocore.config import Config

    client = boto3.client(
        "sagemaker-runtime",
        region_name=REGION,
        endpoint_url=spec["url"],
        config=Config(max_pool_connections=spec["pool"]),
        verify=spec.get("ca"),
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
        list(pool.map(consume, [name] * sizes.streams))  # a connection per thread, untimed
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


def _client_runner(spec: dict[str, Any]) -> Callable[[Callable[[Client], Awaitable[Any]]], Any]:
    client = spec["client"]
    if client == "aiobotocore":
        return lambda body: _aiobotocore(spec, body)
    if client in ("aiohttp", "aiohttp+decoder"):
        return lambda body: _floor(spec, body, decode=client == "aiohttp+decoder")
    if client == OURS_OPENAI:
        return lambda body: _ours_openai(spec, body)
    return lambda body: _ours(spec, body)


def child(spec: dict[str, Any]) -> dict[str, float]:
    sizes = Sizes(**spec["sizes"])
    if spec["client"] == "boto3":
        return _boto3(spec, sizes)
    scenarios = _calls_only if spec["client"] == OURS_OPENAI else _scenarios
    result: dict[str, float] = _run_loop(
        spec["loop"], _client_runner(spec)(lambda client: scenarios(client, sizes))
    )
    return result


def calls_child(spec: dict[str, Any]) -> None:
    """``spec["calls"]`` sequential one-part calls after a warm-up (for callgrind)."""

    async def calls(client: Client) -> None:
        for _ in range(20):
            await client.consume("first")
        for _ in range(spec["calls"]):
            await client.consume("first")

    _run_loop(spec["loop"], _client_runner(spec)(calls))


# --- the parent: server, rounds, tables ---------------------------------------------


@contextmanager
def certificate() -> Iterator[tuple[str, str, str]]:
    """A throwaway CA and a certificate for 127.0.0.1: (cert chain, key, CA bundle)."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    with tempfile.TemporaryDirectory(prefix="e2e-tls-") as folder:
        paths = [str(Path(folder, name)) for name in ("cert.pem", "key.pem", "ca.pem")]
        cert.private_key_and_cert_chain_pem.write_to_path(paths[0])
        cert.private_key_pem.write_to_path(paths[1])
        ca.cert_pem.write_to_path(paths[2])
        yield paths[0], paths[1], paths[2]


@contextmanager
def running_server(sizes: Sizes, tls: tuple[str, str]) -> Iterator[dict[str, str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "_server.py"),
            f"--bulk={sizes.bulk_events}",
            "--bulk=1000",
            f"--paced={sizes.tokens}",
            f"--tls={tls[0]}:{tls[1]}",
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
        plain, secure = line.split()[1:3]
        yield {"http": f"http://127.0.0.1:{plain}", "https": f"https://127.0.0.1:{secure}"}
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _child_env(spec: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONHASHSEED="0",
    )
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE"):
        env.pop(name, None)
    if spec.get("ca"):
        env["AWS_CA_BUNDLE"] = spec["ca"]  # how our client and boto3's chain find the CA
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [spec["root"], env.get("PYTHONPATH")]))
    return env


def spawn(mode: str, spec: dict[str, Any], wrapper: list[str] | None = None) -> str:
    proc = subprocess.run(
        [*(wrapper or []), sys.executable, __file__, mode, json.dumps(spec)],
        capture_output=True,
        text=True,
        env=_child_env(spec),
        timeout=900,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(
            f"{spec['client']}/{spec['loop']}/{spec['scheme']} failed:\n{proc.stderr}"
        )
    return proc.stdout


@dataclasses.dataclass
class Metrics:
    events_per_s: float | None  # None: a client measured per call only (the OpenAI route)
    bulk_cpu_per_100k: float | None
    paced_us_per_token: float | None
    call_us: float
    burst_lag_ms: float | None
    burst_open_s: float | None


def _bulk(runs: list[dict[str, float]], what: str) -> list[float]:
    return [v for r in runs for k, v in r.items() if k.startswith("bulk") and k.endswith(what)]


def metrics(runs: list[dict[str, float]], sizes: Sizes) -> Metrics:
    def med(key: str) -> float | None:
        values = [r[key] for r in runs if key in r]
        return statistics.median(values) if values else None

    paced, call = med("paced_cpu"), med("call_cpu")
    lag, opened = med("burst_max_lag"), med("burst_open_wall")
    assert call is not None
    walls, cpus = _bulk(runs, "wall"), _bulk(runs, "cpu")
    return Metrics(
        events_per_s=statistics.median(sizes.bulk_events / w for w in walls) if walls else None,
        bulk_cpu_per_100k=statistics.median(cpus) * 100_000 / sizes.bulk_events if cpus else None,
        paced_us_per_token=None if paced is None else paced * 1e6 / (sizes.streams * sizes.tokens),
        call_us=call * 1e6 / sizes.calls,
        burst_lag_ms=None if lag is None else lag * 1000,
        burst_open_s=opened,
    )


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


Key = tuple[str, str, str]  # client, loop, scheme


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ratio(ours: float | None, theirs: float | None) -> str:
    return "-" if ours is None or theirs is None else f"{ours / theirs:.2f}x"


def print_table(results: dict[Key, Metrics], sizes: Sizes, rounds: int) -> None:
    head = ["client (loop, scheme)", "bulk ev/s", "bulk CPU s/100k", "paced CPU us/tok",
            "CPU us/call", "burst max lag ms", "burst open s"]  # fmt: skip
    widths = [36, 11, 15, 16, 11, 16, 12]
    print()
    print(
        f"median of {rounds} rounds; bulk {sizes.bulk_events} x 16 B parts ({sizes.bulk_reps} "
        f"streams a round); paced {sizes.streams} streams x {sizes.tokens} tokens, "
        f"{sizes.token_ms} ms apart; {sizes.calls} sequential calls; burst: {sizes.burst} streams "
        f"opened at once, {sizes.tick_ms} ms ticker"
    )
    print(_row(head, widths))
    print(_row(["-" * w for w in widths], widths))
    for (client, loop, scheme), m in results.items():
        lag = "-" if m.burst_lag_ms is None else f"{m.burst_lag_ms:.0f}"
        opened = "-" if m.burst_open_s is None else f"{m.burst_open_s:.3f}"
        cells = [f"{client} ({loop}, {scheme})", _cell(m.events_per_s, ",.0f"),
                 _cell(m.bulk_cpu_per_100k, ".3f"), _cell(m.paced_us_per_token, ".1f"),
                 f"{m.call_us:.0f}", lag, opened]  # fmt: skip
        print(_row(cells, widths))
    print()
    print("ratios (events/s: higher is better; CPU: lower is better)")
    head = ["ours / other (loop, scheme)", "bulk ev/s", "bulk CPU", "paced CPU", "CPU/call"]
    widths = [46, 10, 10, 10, 10]
    print(_row(head, widths))
    print(_row(["-" * w for w in widths], widths))
    for loop in ("asyncio", "uvloop"):
        for scheme in SCHEMES:
            for mine in (OURS, OURS_OPENAI):
                ours = results.get((mine, loop, scheme))
                for other in ("aiohttp", "aiohttp+decoder", "aiobotocore", f"{OURS}@before"):
                    theirs = results.get((other, loop, scheme))
                    if ours is None or theirs is None:
                        continue
                    label = f"/ {other} ({loop}, {scheme})"
                    if mine != OURS:
                        label = f"openai route {label}"
                    print(_row([label,
                                _ratio(ours.events_per_s, theirs.events_per_s),
                                _ratio(ours.bulk_cpu_per_100k, theirs.bulk_cpu_per_100k),
                                _ratio(ours.paced_us_per_token, theirs.paced_us_per_token),
                                f"{ours.call_us / theirs.call_us:.2f}x"], widths))  # fmt: skip


def instructions(urls: dict[str, str], ca: str, sizes: Sizes, before: str | None) -> dict[str, int]:
    """Instructions per one-part call (callgrind), for our client and the floors."""
    counted: dict[str, int] = {}
    plan = [("aiohttp", "http"), ("aiohttp+decoder", "http"), (OURS, "http"),
            (OURS_OPENAI, "http"), ("aiobotocore", "http"), ("aiohttp", "https"),
            (OURS, "https")]  # fmt: skip
    if before:
        plan.insert(3, (f"{OURS}@before", "http"))
    for label, scheme in plan:
        client, _, at = label.partition("@")
        totals = []
        for calls in (100, 300):
            with tempfile.NamedTemporaryFile(prefix="callgrind-") as out:
                spec = {"client": client, "loop": "asyncio", "scheme": scheme,
                        "url": urls[scheme], "ca": ca if scheme == "https" else None,
                        "pool": 10, "calls": calls, "root": before if at else str(ROOT),
                        "sizes": dataclasses.asdict(sizes)}  # fmt: skip
                wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}"]
                spawn("--calls-child", spec, wrapper)
                totals.append(_callgrind_total(Path(out.name)))
        counted[f"{label} ({scheme})"] = (totals[1] - totals[0]) // 200
        print(f"instructions per call: {label} ({scheme}) {counted[f'{label} ({scheme})']:,}",
              flush=True)  # fmt: skip
    return counted


def _callgrind_total(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def print_instructions(counted: dict[str, int]) -> None:
    print()
    print("instructions per one-part call (callgrind)")
    for label, count in counted.items():
        scheme = label.rpartition("(")[2]  # "http)" or "https)": each against its own floor
        floor = counted.get(f"aiohttp ({scheme}")
        ratio = f"{count / floor:.2f}x the {scheme[:-1].upper()} floor" if floor else ""
        print(f"  {label:42s} {count:>12,}  {ratio}")


def print_targets(results: dict[Key, Metrics], counted: dict[str, int]) -> None:
    print()
    print("targets (asyncio, http unless said)")
    checks: list[tuple[str, float | None, float]] = []
    if "aiohttp (http)" in counted and f"{OURS} (http)" in counted:
        checks.append(("instructions per call <= 1.25x the floor",
                       counted[f"{OURS} (http)"] / counted["aiohttp (http)"], 1.25))  # fmt: skip
    ours, floor = (
        results.get((OURS, "asyncio", "http")),
        results.get(("aiohttp", "asyncio", "http")),
    )
    if ours and floor and ours.paced_us_per_token and floor.paced_us_per_token:
        checks.append(("paced CPU per token <= 1.35x the floor",
                       ours.paced_us_per_token / floor.paced_us_per_token, 1.35))  # fmt: skip
    route = results.get((OURS_OPENAI, "asyncio", "http"))
    if route and floor:
        checks.append(("openai route CPU per call <= 1.15x the floor",
                       route.call_us / floor.call_us, 1.15))  # fmt: skip
    for loop in ("asyncio", "uvloop"):
        m = results.get((OURS, loop, "http"))
        if m and m.burst_lag_ms is not None:
            checks.append((f"max loop lag opening the burst <= 50 ms ({loop})", m.burst_lag_ms, 50))
        old = results.get((f"{OURS}@before", loop, "http"))
        if m and old and m.burst_open_s and old.burst_open_s:
            checks.append((f"burst open time <= 1.1x before ({loop})",
                           m.burst_open_s / old.burst_open_s, 1.1))  # fmt: skip
    for label, value, target in checks:
        if value is None:
            continue
        print(f"  {label:52s} {value:8.2f}  {'met' if value <= target else 'NOT met'}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] in ("--child", "--calls-child"):
        spec = json.loads(sys.argv[2])
        if sys.argv[1] == "--calls-child":
            calls_child(spec)
        else:
            print(json.dumps(child(spec)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (1 round)")
    parser.add_argument("--rounds", type=int, help="rounds per client (default 3, quick 1)")
    parser.add_argument("--clients", help=f"comma-separated subset of {','.join(CLIENTS)}")
    parser.add_argument("--schemes", default="http,https", help="http, https or both")
    parser.add_argument("--before", help="also measure the asyncsagemaker of this checkout")
    parser.add_argument("--no-instructions", action="store_true", help="skip callgrind")
    parser.add_argument(
        "--only-instructions",
        action="store_true",
        help="count instructions per call (callgrind) and nothing else: repeatable, any load",
    )
    parser.add_argument("--json", type=Path, help="also write every run's raw numbers here")
    args = parser.parse_args()
    sizes = QUICK if args.quick else Sizes()
    rounds = args.rounds or (1 if args.quick else 3)
    wanted = args.clients.split(",") if args.clients else list(CLIENTS)
    if args.before:
        wanted.insert(1, f"{OURS}@before")
    configs: list[Key] = [
        (client, loop, scheme)
        for client in wanted
        for loop in LOOPS.get(client, ("asyncio", "uvloop"))
        for scheme in args.schemes.split(",")
    ]
    if args.only_instructions:
        with certificate() as (cert, key, ca), running_server(sizes, (cert, key)) as urls:
            print_instructions(instructions(urls, ca, sizes, args.before))
        return
    with certificate() as (cert, key, ca), running_server(sizes, (cert, key)) as urls:
        runs: dict[Key, list[dict[str, float]]] = {c: [] for c in configs}
        started = time.perf_counter()
        for round_no in range(rounds):
            # Rotate the order so that no client always runs first (or after the same one).
            order = configs[round_no % len(configs) :] + configs[: round_no % len(configs)]
            for config in order:
                client, loop, scheme = config
                name, _, at = client.partition("@")
                spec = {"client": name, "loop": loop, "scheme": scheme, "url": urls[scheme],
                        "ca": ca if scheme == "https" else None, "pool": sizes.streams,
                        "root": args.before if at else str(ROOT),
                        "sizes": dataclasses.asdict(sizes)}  # fmt: skip
                result = json.loads(spawn("--child", spec).strip().splitlines()[-1])
                runs[config].append(result)
                paced = result.get("paced_cpu")
                print(f"round {round_no + 1}/{rounds} {client:24s} {loop:7s} {scheme:5s} "
                      f"calls {result['call_cpu']:.2f}s CPU  paced "
                      f"{'-' if paced is None else f'{paced:.2f}s'} CPU", flush=True)  # fmt: skip
        print(f"total {time.perf_counter() - started:.0f} s")
        counted = {}
        if not args.no_instructions and shutil.which("valgrind"):
            counted = instructions(urls, ca, sizes, args.before)
    table = {config: metrics(r, sizes) for config, r in runs.items()}
    print_table(table, sizes, rounds)
    if counted:
        print_instructions(counted)
    print_targets(table, counted)
    if args.json:
        raw = {"/".join(c): r for c, r in runs.items()}
        args.json.write_text(
            json.dumps(
                {"sizes": dataclasses.asdict(sizes), "runs": raw, "instructions": counted}, indent=1
            )
        )


if __name__ == "__main__":
    main()
