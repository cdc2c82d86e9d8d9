"""What the batch tests share: a model that counts, and the batch command as a child process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from asyncsagemaker.emulator import Emulator, Invocation
from tests._support import ROOT

AKID, SECRET = "AKIDBATCHTESTS", "batch-tests-secret"


def kind(index: int) -> str:
    """Which rows fail (the model raises: ModelError, never retried) and which answer."""
    return "fail" if index % 10 == 3 else "ok"


def prompts(count: int) -> str:
    """``count`` request lines (body form), every tenth one a row the model fails."""
    return "".join(
        json.dumps({"body": {"inputs": f"{kind(i)} prompt {i}"}, "id": i}) + "\n"
        for i in range(count)
    )


class CountingModel:
    """Answers ``{"generated_text": "answer to <prompt>"}`` after ``delay`` seconds.

    Counts the requests in flight at once and every prompt it was sent; a prompt
    starting with "fail" raises (the client gets a 424 ModelError).  It runs on the
    emulator's one loop, so plain counters are safe.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0
        self.seen: Counter[str] = Counter()

    async def __call__(self, inv: Invocation) -> bytes:
        prompt = json.loads(inv.body)["inputs"]
        self.seen[prompt] += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if prompt.startswith("fail"):
            raise RuntimeError("the model cannot answer this")
        return json.dumps({"generated_text": f"answer to {prompt}"}).encode()


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.01)


class BatchChild:
    """``python -m asyncsagemaker batch ...`` with stdout and stderr in files."""

    started = 0  # children so far: each gets files of its own

    def __init__(self, args: Sequence[str], where: Path, stderr: int | IO[Any] | None = None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID=AKID,
            AWS_SECRET_ACCESS_KEY=SECRET,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
            PYTHONIOENCODING="utf-8",
        )
        BatchChild.started += 1
        self._out = (where / f"child{BatchChild.started}.out").open("wb")
        self._err_path = where / f"child{BatchChild.started}.err"
        self._err = self._err_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "asyncsagemaker", "batch", *args],
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err if stderr is None else stderr,
            cwd=ROOT,
            env=env,
        )

    @property
    def stderr(self) -> str:
        return self._err_path.read_text(encoding="utf-8", errors="replace")

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"still running after {timeout} s\n{self.stderr}") from None
        finally:
            self._out.close()
            self._err.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._out.close()
        self._err.close()


def command(emulator: Emulator, source: Path, output: Path, *more: str) -> list[str]:
    """The batch command's arguments for ``source`` to ``output`` on the emulator's "llm"."""
    where = ["--endpoint", "llm", "--endpoint-url", emulator.url, "--region", "us-east-1"]
    return [str(source), "-o", str(output), *where, *more]


def line_count(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0
