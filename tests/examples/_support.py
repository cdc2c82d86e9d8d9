"""Running an example as a user would: a child process with pipes, read as it writes.

Waits are polls with a generous but finite bound, so a slow machine slows the
tests without failing them, and a hang fails with what the child printed.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
AKID, SECRET = "AKIDEXAMPLETESTS", "example-tests-secret"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str = "condition") -> float:
    """Poll ``predicate`` until it holds; return the seconds it took; fail after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not met within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - start


def child_environment(**extra: str) -> dict[str, str]:
    """The test's environment (AWS settings isolated by conftest) plus test keys."""
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=AKID,
        AWS_SECRET_ACCESS_KEY=SECRET,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        PYTHONIOENCODING="utf-8",
    )
    env.update(extra)
    return env


class Child:
    """An example program under test; stdout and stderr are collected as they come."""

    def __init__(self, script: str, args: Sequence[str], **env: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(EXAMPLES / script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=child_environment(**env),
        )
        self._lock = threading.Lock()
        self._out = bytearray()
        self._err = bytearray()
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._collect, args=(self.process.stdout, self._out)),
            threading.Thread(target=self._collect, args=(self.process.stderr, self._err)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()

    def _collect(self, pipe: IO[bytes], into: bytearray) -> None:
        while True:
            data = os.read(pipe.fileno(), 65536)
            if not data:
                return
            with self._lock:
                into += data

    @property
    def stdout(self) -> str:
        with self._lock:
            return self._out.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        with self._lock:
            return self._err.decode("utf-8", "replace")

    def wait_for(self, predicate: Callable[[str], bool], timeout: float, what: str) -> None:
        """Wait until ``predicate(stdout)`` holds (fail with the output if it does not)."""
        try:
            wait_until(lambda: predicate(self.stdout) or self.process.poll() is not None, timeout)
        except AssertionError:
            raise AssertionError(self.describe(f"{what}: not within {timeout} s")) from None
        if not predicate(self.stdout):
            raise AssertionError(self.describe(f"{what}: the program ended first"))

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode("utf-8"))
        self.process.stdin.flush()

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def interrupt(self) -> None:
        """What Ctrl-C in a terminal does: SIGINT to the program."""
        self.process.send_signal(signal.SIGINT)

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(self.describe(f"still running after {timeout} s")) from None
        for reader in self._readers:
            reader.join(timeout)
        return code

    def describe(self, problem: str) -> str:
        return f"{problem}\n--- stdout:\n{self.stdout}\n--- stderr:\n{self.stderr}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for reader in self._readers:
            reader.join(10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
