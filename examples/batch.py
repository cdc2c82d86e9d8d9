#!/usr/bin/env python3
"""Many prompts through one endpoint, a bounded number at a time, failures kept aside.

    python examples/batch.py --emulator --output answers.jsonl      # 1,000 demo prompts
    python examples/batch.py --endpoint my-llm --input prompts.txt --concurrency 16

Each prompt is streamed (so the time to first token of each is measured) and its
answer written as one JSON line as soon as it is complete, in completion order
(``index`` gives the input order).  At most ``--concurrency`` requests are in
flight: a semaphore is taken before each task starts, so a million prompts never
become a million tasks.  A failed prompt is a JSON line with ``"ok": false`` and
the error; it does not stop the batch.  Progress goes to stderr, then a summary
with the count per error type.  Exit status: 0 when every prompt succeeded, 1
when some failed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, TextIO

import anyio

from asyncsagemaker import Config, SageMakerError, SageMakerRuntime

# Keys for the embedded emulator only; against AWS botocore's chain finds yours.
EMULATOR_KEY, EMULATOR_SECRET = "EXAMPLEKEY", "example-secret"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="demo", help="endpoint name (default: demo)")
    parser.add_argument("--endpoint-url", help="send requests here instead of AWS")
    parser.add_argument("--region", default="us-east-1", help="AWS region (default: us-east-1)")
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="without --endpoint-url: start a local emulator serving the demo model",
    )
    parser.add_argument("--input", help="prompts, one per line (- for stdin)")
    parser.add_argument("--count", type=int, default=1000, help="without --input: made-up prompts")
    parser.add_argument("--output", help="JSON lines file for the results (default: stdout)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (32)")
    parser.add_argument("--max-tokens", type=int, default=64, help="answer length bound (64)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per prompt (120)")
    parser.add_argument("--progress-every", type=int, default=100, help="a progress line per N")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.progress_every < 1 or args.count < 0:
        parser.error("--concurrency and --progress-every must be >= 1, --count >= 0")
    return args


def read_prompts(args: argparse.Namespace) -> list[str]:
    if args.input is None:
        return [f"Number {n}: tell me something about it." for n in range(args.count)]
    if args.input == "-":
        lines = sys.stdin.read().splitlines()
    else:
        with open(args.input, encoding="utf-8") as file:
            lines = file.read().splitlines()
    return [line for line in lines if line.strip()]


@contextlib.asynccontextmanager
async def open_client(args: argparse.Namespace) -> AsyncIterator[SageMakerRuntime]:
    """The client: to ``--endpoint-url``, to an embedded emulator, or to AWS."""
    # One connection per request in flight; a deadline per prompt so none stalls the batch.
    config = Config(max_pool_connections=args.concurrency, total_timeout=args.timeout)
    if args.endpoint_url is None and args.emulator:
        from asyncsagemaker.emulator import Emulator

        emulator = Emulator(
            models={args.endpoint: "demo"},
            credentials={EMULATOR_KEY: EMULATOR_SECRET},
            token_delay=0.002,
        )
        async with emulator:
            client = SageMakerRuntime(
                args.region,
                endpoint_url=emulator.url,
                aws_access_key_id=EMULATOR_KEY,
                aws_secret_access_key=EMULATOR_SECRET,
                config=config,
            )
            async with client:
                yield client
        return
    async with SageMakerRuntime(args.region, endpoint_url=args.endpoint_url, config=config) as c:
        yield c


class Progress:
    """Counts completions; a line on stderr every ``every`` of them, and a summary."""

    def __init__(self, total: int, every: int, err: TextIO) -> None:
        self.total, self.every, self.err = total, every, err
        self.done = 0
        self.failures: collections.Counter[str] = collections.Counter()
        self.started = time.monotonic()

    def add(self, error: str | None) -> None:
        self.done += 1
        if error is not None:
            self.failures[error] += 1
        if self.done % self.every == 0 or self.done == self.total:
            rate = self.done / max(time.monotonic() - self.started, 1e-9)
            failed = sum(self.failures.values())
            width = len(str(self.total))
            print(
                f"[{self.done:>{width}}/{self.total}] {self.done - failed} ok, "
                f"{failed} failed, {rate:.1f}/s",
                file=self.err,
                flush=True,
            )

    def summary(self) -> None:
        seconds = time.monotonic() - self.started
        failed = sum(self.failures.values())
        print(
            f"{self.done} prompts in {seconds:.1f} s: {self.done - failed} ok, {failed} failed",
            file=self.err,
        )
        for error, count in self.failures.most_common():
            print(f"  {error}: {count}", file=self.err)


async def answer(
    client: SageMakerRuntime, endpoint: str, prompt: str, max_tokens: int
) -> dict[str, Any]:
    """One prompt's whole answer, streamed to measure its time to first token."""
    body = {"inputs": prompt, "parameters": {"max_new_tokens": max_tokens}}
    async with client.invoke_endpoint_with_response_stream(endpoint, body=body) as stream:
        text = "".join([token async for token in stream.tokens()])
    stats = stream.stats
    first, duration = stats.time_to_first_part, stats.duration
    return {
        "text": text,
        "time_to_first_token": None if first is None else round(first, 4),
        "seconds": None if duration is None else round(duration, 4),
    }


async def run_batch(
    client: SageMakerRuntime,
    prompts: Sequence[str],
    *,
    endpoint: str,
    concurrency: int,
    max_tokens: int,
    write: Callable[[dict[str, Any]], None],
    progress: Progress,
) -> None:
    """Answer every prompt, ``concurrency`` at a time; ``write`` each result as it completes."""
    slots = anyio.Semaphore(concurrency)

    async def one(index: int, prompt: str) -> None:
        error: str | None = None
        try:
            result = {"index": index, "ok": True, "prompt": prompt}
            result.update(await answer(client, endpoint, prompt, max_tokens))
        except SageMakerError as failure:  # kept, not fatal: the batch goes on
            error = type(failure).__name__
            result = {"index": index, "ok": False, "prompt": prompt, "error": error}
            result["message"] = str(failure)
        finally:
            slots.release()
        write(result)
        progress.add(error)

    async with anyio.create_task_group() as tasks:
        for index, prompt in enumerate(prompts):
            await slots.acquire()  # before the task exists: at most `concurrency` tasks
            tasks.start_soon(one, index, prompt)


@contextlib.contextmanager
def output(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8") as file:
        yield file


async def batch(args: argparse.Namespace) -> int:
    prompts = read_prompts(args)
    progress = Progress(len(prompts), args.progress_every, sys.stderr)
    with output(args.output) as out:

        def write(result: dict[str, Any]) -> None:
            out.write(json.dumps(result, ensure_ascii=False) + "\n")

        async with open_client(args) as client:
            await run_batch(
                client,
                prompts,
                endpoint=args.endpoint,
                concurrency=args.concurrency,
                max_tokens=args.max_tokens,
                write=write,
                progress=progress,
            )
    progress.summary()
    return 1 if progress.failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return anyio.run(batch, args)
    except SageMakerError as error:  # the batch could not start: no region, no credentials
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # what was written so far stays in the output
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
