"""200 concurrent streamed calls through each framework: ours vs its built-in SageMaker class.

Run:  .venv/bin/python benchmarks/integrations.py              (200 calls, 3 rounds)
      .venv/bin/python benchmarks/integrations.py --quick      (200 calls, 1 round)
      .venv/bin/python benchmarks/integrations.py --calls 50 --rounds 5 --only langchain

The emulator runs in a process of its own (``asyncsagemaker emulate --port 0``, the
demo model at its default pace, ``--token-delay 0.02``: about 20 tokens a chat answer,
50 a second, so 200 streams are 10,000 tokens a second), on
127.0.0.1.  Each measurement is a fresh child process (``--worker NAME``): it makes
the framework's model object, warms it up (10 calls one after another), then starts
``--calls`` streamed calls at once (``asyncio.gather``) on one event loop while a
ticker (``asyncio.sleep(0.001)`` in a loop) records the loop's longest pause; every
answer must arrive whole.  Between the two it freezes the heap (``gc.freeze()``, as
latency-minded services do after start-up): otherwise one full collection of the
frameworks' import-time heap is a 15-20 ms pause here, whoever's client runs.  It
reports the longest pause, the wall time of the burst
and its CPU time (``time.process_time()``, all threads).  Rounds interleave the
clients; the table shows medians over rounds and ours/theirs ratios.

Clients (``ours`` are asyncsagemaker's integrations; ``theirs`` the framework's own):

* ``langchain``: ``ChatSageMaker.astream`` vs langchain-aws ``ChatSagemakerEndpoint``
  (``astream`` runs its sync boto3 ``_stream`` in LangChain's thread pool);
* ``strands``: ``SageMakerModel.stream`` vs Strands ``SageMakerAIModel.stream``
  (boto3; since 1.62 each event is fetched with ``asyncio.to_thread``, before that on
  the loop), both as Strands' agent loop calls them, without an ``Agent`` around them
  (an agent runs one call at a time);
* ``litellm``: ``litellm.acompletion(model="asyncsagemaker/demo", stream=True)`` vs
  LiteLLM's ``sagemaker_chat`` provider (httpx, SigV4) pointed at the emulator with
  ``sagemaker_base_url``; and ``provider``, our provider's ``astreaming`` called as
  LiteLLM's stream wrapper calls it, without the wrapper: what the integration adds.
  ``acompletion`` itself runs each call's set-up in a worker thread and its logging in
  others (``run_in_executor``), whose hold on the GIL is most of the pauses of both
  LiteLLM rows.

A client that cannot run here (its package missing, or it cannot reach a loopback
endpoint) gets a row saying why instead of numbers.  The test holding our figure is
tests/integrations/test_concurrency.py (ours only, one round, longest pause < 20 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGION = "us-east-1"
KEYS = {"aws_access_key_id": "AKIDBENCH", "aws_secret_access_key": "benchmark-secret"}
POOL = 200  # connections: every client holds all the streams open at once
WARMUP = 10
TICK = 0.001
PROMPT = "Hi"
FRAMEWORKS = ("langchain", "strands", "litellm")
CLIENTS = (
    "ours-langchain",
    "theirs-langchain",
    "ours-strands",
    "theirs-strands",
    "ours-litellm",
    "ours-litellm-provider",
    "theirs-litellm",
)

Call = Callable[[], Awaitable[str]]


# -- the clients (each run in a worker process) ----------------------------------------


def _config() -> Any:
    from asyncsagemaker import Config

    return Config(max_pool_connections=POOL)


async def ours_langchain(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from asyncsagemaker.integrations.langchain import ChatSageMaker

    model = ChatSageMaker(
        endpoint_name="demo", endpoint_url=url, region_name=REGION, config=_config(), **KEYS
    )

    async def call() -> str:
        return "".join([str(chunk.content) async for chunk in model.astream(PROMPT)])

    return call, model.aclose


async def theirs_langchain(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import boto3
    from botocore.config import Config
    from langchain_aws.chat_models.sagemaker_endpoint import (
        ChatModelContentHandler,
        ChatSagemakerEndpoint,
    )
    from langchain_core.messages import AIMessageChunk

    class Handler(ChatModelContentHandler):
        """The least a user writes: an OpenAI chat body in, SSE lines' deltas out."""

        content_type = "application/json"
        accepts = "application/json"

        def transform_input(self, prompt: Any, model_kwargs: dict[str, Any]) -> bytes:
            return json.dumps({"messages": prompt, "stream": True, **model_kwargs}).encode()

        def transform_output(self, output: bytes) -> AIMessageChunk:
            line = output.decode().strip()
            if not line.startswith("data:") or line.endswith("[DONE]"):
                return AIMessageChunk(content="")
            choices = json.loads(line[5:])["choices"]
            return AIMessageChunk(content=choices[0]["delta"].get("content") or "")

    client = boto3.client(
        "sagemaker-runtime",
        region_name=REGION,
        endpoint_url=url,
        config=Config(max_pool_connections=POOL),
        **KEYS,
    )
    model = ChatSagemakerEndpoint(
        endpoint_name="demo", client=client, content_handler=Handler(), streaming=True
    )

    async def call() -> str:
        return "".join([str(chunk.content) async for chunk in model.astream(PROMPT)])

    async def close() -> None:
        client.close()

    return call, close


STRANDS_MESSAGES = [{"role": "user", "content": [{"text": PROMPT}]}]


async def _strands_text(events: AsyncIterator[Any]) -> str:
    texts = []
    async for event in events:
        delta = event.get("contentBlockDelta", {}).get("delta", {})
        if "text" in delta:
            texts.append(delta["text"])
    return "".join(texts)


async def ours_strands(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from asyncsagemaker.integrations.strands import SageMakerModel

    model = SageMakerModel(
        endpoint_name="demo", endpoint_url=url, region_name=REGION, config=_config(), **KEYS
    )

    async def call() -> str:
        return await _strands_text(model.stream(STRANDS_MESSAGES))

    return call, model.aclose


async def theirs_strands(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from botocore.config import Config

    os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = url  # boto3 reads it for its client
    from strands.models.sagemaker import SageMakerAIModel

    model = SageMakerAIModel(
        endpoint_config={"endpoint_name": "demo", "region_name": REGION},
        payload_config={"max_tokens": 100, "stream": True},
        boto_client_config=Config(max_pool_connections=POOL),
    )

    async def call() -> str:
        return await _strands_text(model.stream(STRANDS_MESSAGES))

    async def close() -> None:
        return None

    return call, close


async def ours_litellm(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import litellm

    from asyncsagemaker.integrations.litellm import SageMakerLLM, register

    provider = register(
        SageMakerLLM(endpoint_url=url, region_name=REGION, config=_config(), **KEYS)
    )

    async def call() -> str:
        stream = await litellm.acompletion(
            model="asyncsagemaker/demo",
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
        )
        return "".join([chunk.choices[0].delta.content or "" async for chunk in stream])

    return call, provider.aclose


async def ours_litellm_provider(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    """The provider's ``astreaming`` as LiteLLM's wrapper calls it, without the wrapper."""
    from asyncsagemaker.integrations.litellm import SageMakerLLM

    provider = SageMakerLLM(endpoint_url=url, region_name=REGION, config=_config(), **KEYS)

    async def call() -> str:
        chunks = provider.astreaming(  # the arguments LiteLLM passes a custom provider
            model="demo",
            messages=[{"role": "user", "content": PROMPT}],
            api_base="",
            custom_prompt_dict={},
            model_response=None,  # type: ignore[arg-type]
            print_verbose=print,
            encoding=None,
            api_key=None,
            logging_obj=None,
            optional_params={},
        )
        return "".join([_litellm_text(chunk) async for chunk in chunks])

    return call, provider.aclose


def _litellm_text(chunk: Any) -> str:
    if isinstance(chunk, dict):  # GenericStreamingChunk
        return str(chunk.get("text") or "")
    return "".join(choice.delta.content or "" for choice in chunk.choices)


async def theirs_litellm(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import litellm

    async def call() -> str:
        stream = await litellm.acompletion(
            model="sagemaker_chat/demo",
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            sagemaker_base_url=f"{url}/endpoints/demo/invocations-response-stream",
            aws_region_name=REGION,
            **KEYS,
        )
        return "".join([chunk.choices[0].delta.content or "" async for chunk in stream])

    async def close() -> None:
        return None

    return call, close


MAKERS = {
    "ours-langchain": ours_langchain,
    "theirs-langchain": theirs_langchain,
    "ours-strands": ours_strands,
    "theirs-strands": theirs_strands,
    "ours-litellm": ours_litellm,
    "ours-litellm-provider": ours_litellm_provider,
    "theirs-litellm": theirs_litellm,
}


# -- the worker: one burst, measured --------------------------------------------------


async def burst(name: str, url: str, calls: int, ramp: float = 0.0) -> dict[str, Any]:
    """Warm up, then ``calls`` streamed calls, started at once (``ramp=0``) or arriving
    evenly over ``ramp`` seconds, while a ticker watches the loop."""
    call, close = await MAKERS[name](url)
    try:
        first = [await call() for _ in range(WARMUP)]
        if not all(first):
            raise RuntimeError(f"an empty answer during the warm-up: {first!r}")
        gc.collect()
        gc.freeze()
        pauses: list[float] = []
        done = asyncio.Event()
        flight = [0, 0]  # in flight now, most at once

        async def ticker() -> None:
            loop = asyncio.get_running_loop()
            while not done.is_set():
                before = loop.time()
                await asyncio.sleep(TICK)
                pauses.append(loop.time() - before - TICK)

        async def one(number: int) -> str:
            if ramp:
                await asyncio.sleep(ramp * number / calls)
            flight[0] += 1
            flight[1] = max(flight)
            try:
                return await call()
            finally:
                flight[0] -= 1

        collections: list[float] = []
        started = [0.0]

        def timed(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                collections.append(time.perf_counter() - started[0])

        gc.callbacks.append(timed)
        watching = asyncio.create_task(ticker())
        await asyncio.sleep(0.02)
        cpu, wall = time.process_time(), time.perf_counter()
        answers = await asyncio.gather(*(one(number) for number in range(calls)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        done.set()
        await watching
        gc.callbacks.remove(timed)
    finally:
        await close()
    whole = sum(1 for answer in answers if answer == first[0])
    return {
        "max_pause": max(pauses),
        "wall": wall,
        "cpu": cpu,
        "whole": whole,
        "most_in_flight": flight[1],
        "longest_gc": max(collections, default=0.0),
    }


def worker(name: str, url: str, calls: int, ramp: float, loop: str = "asyncio") -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch at import
    for key, value in KEYS.items():
        os.environ[key.upper()] = value
    os.environ["AWS_DEFAULT_REGION"] = REGION
    try:
        if loop == "uvloop":
            import uvloop

            result = uvloop.run(burst(name, url, calls, ramp))
        else:
            result = asyncio.run(burst(name, url, calls, ramp))
    except Exception as exc:  # a peer that cannot run here: say why, in one line
        result = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"}
    print(json.dumps(result), flush=True)


def measure(
    name: str, url: str, calls: int, ramp: float = 0.0, timeout: float = 300
) -> dict[str, Any]:
    """One burst in a fresh child process."""
    command = [sys.executable, __file__, "--worker", name, "--url", url]
    try:
        done = subprocess.run(
            [*command, "--calls", str(calls), "--ramp", str(ramp)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    except subprocess.TimeoutExpired:
        return {"error": f"no answer in {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if not lines:
        return {"error": f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@contextmanager
def emulator_process(token_delay: float = 0.02) -> Iterator[str]:
    """``asyncsagemaker emulate`` in its own process (any SigV4 signature accepted)."""
    command = [sys.executable, "-m", "asyncsagemaker", "emulate", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--token-delay", str(token_delay)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # one log line per request: the server's cost, not shown
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        if "listening on " not in first:
            raise RuntimeError(f"the emulator did not start: {first!r}")
        yield first.split("listening on ", 1)[1].split()[0]
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- the table ---------------------------------------------------------------------------


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [run[key] for run in runs if key in run]
    return statistics.median(values) if values else None


def _row(framework: str, label: str, runs: list[dict[str, Any]]) -> tuple[str, Any]:
    errors = [run["error"] for run in runs if "error" in run]
    pause, wall, cpu = (_median(runs, key) for key in ("max_pause", "wall", "cpu"))
    if pause is None or wall is None or cpu is None:
        return f"{framework:<10} {label:<9} {'-':>16} {'-':>8} {'-':>6} {'-':>6}  " \
            f"cannot run here: {errors[0]}", None  # fmt: skip
    whole = min(run["whole"] for run in runs if "whole" in run)
    note = f"{len(errors)} round(s) failed: {errors[0]}" if errors else ""
    return f"{framework:<10} {label:<9} {pause * 1000:>16.1f} {wall:>8.2f} {cpu:>6.2f} " \
        f"{whole:>6}  {note}", (pause, wall, cpu)  # fmt: skip


def table(results: dict[str, list[dict[str, Any]]], title: str) -> str:
    rows = [
        f"{title}; medians over rounds",
        f"{'framework':<10} {'client':<9} {'longest pause ms':>16} {'burst s':>8} "
        f"{'CPU s':>6} {'whole':>6}  note",
    ]
    for name, runs in results.items():
        side, framework = name.split("-")[0], name.split("-")[1]
        label = "provider" if name.endswith("-provider") else side
        row, figures = _row(framework, label, runs)
        rows.append(row)
        ours = results.get(f"ours-{framework}")
        if side == "theirs" and figures and ours and _median(ours, "max_pause"):
            p0, w0, c0 = (_median(ours, key) or 1.0 for key in ("max_pause", "wall", "cpu"))
            p1, w1, c1 = figures
            rows.append(f"{framework:<10} {'ratio':<9} {p1 / p0:>15.1f}x {w1 / w0:>7.1f}x "
                        f"{c1 / c0:>5.1f}x {'':>6}  theirs / ours")  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round")
    parser.add_argument("--only", choices=FRAMEWORKS, action="append")
    parser.add_argument("--ours-only", action="store_true", help="skip the frameworks' own")
    parser.add_argument(
        "--ramp",
        type=float,
        default=0.2,
        help="seconds over which the calls of the "
        "second column arrive (default 0.2); the first column starts them all at once",
    )
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--worker", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.url, args.calls, args.ramp, args.loop)
        return
    rounds = 1 if args.quick else args.rounds
    chosen = [
        name
        for name in CLIENTS
        if name.split("-")[1] in (args.only or FRAMEWORKS)
        and not (args.ours_only and name.startswith("theirs"))
    ]
    at_once: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
    arriving: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
    with emulator_process() as url:
        for number in range(rounds):
            for name in chosen:
                for ramp, results in ((0.0, at_once), (args.ramp, arriving)):
                    results[name].append(measure(name, url, args.calls, ramp))
                    print(f"round {number + 1}/{rounds} {name} ramp {ramp}: "
                          f"{results[name][-1]}", file=sys.stderr)  # fmt: skip
    print(table(at_once, f"{args.calls} concurrent streamed calls started at once"))
    print()
    print(table(arriving, f"{args.calls} concurrent streamed calls arriving over {args.ramp} s"))


if __name__ == "__main__":
    main()
