"""``asyncsagemaker emulate --bidi-port`` as a real process, and the pytest fixture's bidi URL."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asyncsagemaker._bidi.events import BidiPart
from asyncsagemaker.emulator import Emulator
from tests.bidi._h2client import AKID, SECRET, H2TestClient

ROOT = Path(__file__).resolve().parents[2]


def start_emulator(*options: str) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "asyncsagemaker", "emulate", "--port", "0", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Ctrl-C stops" in line:
            return process, lines
    process.kill()
    raise AssertionError("the emulator did not start: " + "".join(lines))


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_cli_opens_the_http2_listener_only_when_asked() -> None:
    process, lines = start_emulator("--bidi-port", "0", "--credentials", f"{AKID}:{SECRET}")
    try:
        match = re.search(r"bidirectional streams \(HTTP/2\) on (http://127\.0\.0\.1:\d+)",
                          "".join(lines))  # fmt: skip
        assert match is not None, lines

        async def talk() -> list[BidiPart]:
            client = await H2TestClient.connect(match[1])
            try:
                stream = await client.open("echo")
                await stream.send_part("through the CLI")
                await stream.end_input()
                return await stream.parts()
            finally:
                await client.close()

        assert asyncio.run(talk()) == [BidiPart.of("through the CLI")]
    finally:
        assert stop(process) == 0
    process, lines = start_emulator()
    try:
        assert "HTTP/2" not in "".join(lines)
    finally:
        assert stop(process) == 0


@pytest.mark.anyio
async def test_the_fixture_serves_bidirectional_streams(sagemaker_emulator: Emulator) -> None:
    """The default fixture runs in its own thread and opens an HTTP/2 port on 127.0.0.1."""
    assert sagemaker_emulator.bidi_url.startswith("http://127.0.0.1:")
    client = await H2TestClient.connect(sagemaker_emulator.bidi_url)
    try:
        stream = await client.open("demo")
        await stream.send_part("hi")
        part = await asyncio.wait_for(stream.next_part(), 5)
        assert part is not None and part.data_type == "UTF8"
        stream.reset()
    finally:
        await client.close()
    assert sagemaker_emulator.bidi_records[-1].endpoint_name == "demo"


async def _no_listener() -> None:
    async with Emulator() as emu:
        with pytest.raises(RuntimeError, match="bidi_port"):
            _ = emu.bidi_url
        assert list(emu.bidi_records) == []


def test_no_http2_listener_by_default() -> None:
    asyncio.run(_no_listener())


def test_bidi_models_are_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="not a valid SageMaker endpoint name"):
        Emulator(bidi_models={"bad_name": "echo"})
    with pytest.raises(ValueError, match="container:http"):
        Emulator(bidi_models={"x": "container:ftp://nope"})
    with pytest.raises(TypeError, match="BidiFaults"):
        Emulator(bidi_faults={"echo": object()})  # type: ignore[dict-item]


def test_http11_handlers_are_not_served_on_the_bidi_listener() -> None:
    async def handler(inv: object) -> bytes:
        return b""

    async def check() -> None:
        async with Emulator(models={"h": handler, "e": "echo"}, bidi_port=0) as emu:
            client = await H2TestClient.connect(emu.bidi_url)
            try:
                assert (await client.open("h")).status == 400
                assert (await client.open("e")).status == 200
            finally:
                await client.close()

    asyncio.run(check())
