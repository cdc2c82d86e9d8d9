"""``asyncsagemaker duplex`` as a real process against the emulator's HTTP/2 listener."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from asyncsagemaker.emulator import Emulator
from tests._support import SIGINT_INHERITED, sigint_for_children
from tests.bidi._h2client import AKID, SECRET

ROOT = Path(__file__).resolve().parents[2]


def run_duplex(emu: Emulator, *options: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": AKID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME_HTTP2": emu.bidi_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "asyncsagemaker", "duplex", *options],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_lines_go_up_and_parts_come_down(
    sagemaker_emulator_factory: Callable[..., Emulator],
) -> None:
    emu = sagemaker_emulator_factory(bidi_port=0, credentials={AKID: SECRET})
    result = run_duplex(emu, "echo", stdin="hello\ncaf\u00e9\n".encode())
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode() == "hello\ncaf\u00e9\n"
    assert "stream open: variant AllTraffic" in result.stderr.decode()
    assert emu.bidi_records[-1].outcome == "ok"
    binary = run_duplex(emu, "echo", "--binary", stdin=b"\x00\x01\x02\nxy")
    assert binary.stdout.decode() == "<3 bytes>\n<2 bytes>\n"


def test_options_are_sent_and_errors_have_exit_codes(
    sagemaker_emulator_factory: Callable[..., Emulator],
) -> None:
    emu = sagemaker_emulator_factory(bidi_port=0, credentials={AKID: SECRET})
    result = run_duplex(emu, "echo", "--model-invocation-path", "v1/listen",
                        "--model-query-string", "language=en", stdin=b"x\n")  # fmt: skip
    assert result.returncode == 0
    headers = emu.bidi_records[-1].headers
    assert headers["x-amzn-sagemaker-model-invocation-path"] == "v1/listen"
    assert headers["x-amzn-sagemaker-model-query-string"] == "language=en"
    missing = run_duplex(emu, "nowhere", stdin=b"x\n")
    assert missing.returncode == 4  # a service error
    assert "ValidationError" in missing.stderr.decode()
    bad = run_duplex(emu, "echo", "--target-variant", "bad_name", stdin=b"")
    assert bad.returncode == 2
    assert "target_variant" in bad.stderr.decode()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@SIGINT_INHERITED
def test_ctrl_c_closes_the_stream(
    sagemaker_emulator_factory: Callable[..., Emulator], sigint_inherited: str
) -> None:
    emu = sagemaker_emulator_factory(bidi_port=0, credentials={AKID: SECRET})
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": AKID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with sigint_for_children(sigint_inherited):
        process = subprocess.Popen(
            [sys.executable, "-m", "asyncsagemaker", "duplex", "echo",
             "--endpoint-url", emu.bidi_url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )  # fmt: skip
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(b"first\n")
        process.stdin.flush()
        assert process.stdout.readline() == b"first\n"
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 130
        deadline = time.monotonic() + 5
        while emu.bidi_records[-1].outcome == "pending" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert emu.bidi_records[-1].outcome in ("client_reset", "client_disconnected")
    finally:
        if process.poll() is None:
            process.kill()
