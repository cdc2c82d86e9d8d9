"""``asyncsagemaker emulate`` as a real process: port 0, boto3 against it, SIGINT stops it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
import trustme
from botocore.config import Config

from tests.emulator._support import AKID, REGION, SECRET

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


class Process:
    """The emulator process with its output collected by reader threads."""

    def __init__(self, *options: str) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "asyncsagemaker", "emulate", *options],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.url_seen = threading.Event()
        self._readers = [
            threading.Thread(target=self._read, args=(self.popen.stdout, self.stdout)),
            threading.Thread(target=self._read, args=(self.popen.stderr, self.stderr)),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.append(line)
            if re.search(r"listening on https?://", line):
                self.url_seen.set()

    @property
    def url(self) -> str:
        assert self.url_seen.wait(30), "".join(self.stdout + self.stderr)
        match = re.search(r"listening on (https?://127\.0\.0\.1:\d+)", "".join(self.stdout))
        assert match is not None
        return match.group(1)

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            code = self.popen.wait(30)
        finally:
            if self.popen.poll() is None:
                self.popen.kill()
            for reader in self._readers:
                reader.join(10)
        return code


def boto3_for(url: str, **kwargs: Any) -> Any:
    """A boto3 client for the emulator process at ``url``, one attempt per call."""
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        **kwargs,
    )


@pytest.fixture
def emulate() -> Iterator[type[Process]]:
    started: list[Process] = []

    def start(*options: str) -> Process:
        process = Process(*options)
        started.append(process)
        return process

    yield start  # type: ignore[misc]
    for process in started:
        process.stop()


def test_port_zero_serves_logs_and_stops_cleanly_on_sigint(emulate: type[Process]) -> None:
    process = emulate(
        "--port", "0",
        "--credentials", f"{AKID}:{SECRET}",
        "--model", "chat=demo",
        "--model", "mirror=echo",
        "--fault", "mirror:throttle_first=1,stall_seconds=0",
        "--token-delay", "0",
    )  # fmt: skip
    client = boto3_for(process.url)
    response = client.invoke_endpoint_with_response_stream(
        EndpointName="chat", Body=b'{"inputs": "Hi", "parameters": {"max_new_tokens": 4}}'
    )
    assert len(list(response["Body"])) == 4  # four tokens, cut: no end token
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.invoke_endpoint(EndpointName="mirror", Body=b"secret-body")
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert client.invoke_endpoint(EndpointName="mirror", Body=b"secret-body")["Body"].read()

    assert process.stop() == 0
    log = "".join(process.stderr)
    assert re.search(r"POST chat InvokeEndpointWithResponseStream -> 200 parts=4 ", log)
    assert "POST mirror InvokeEndpoint -> 400 parts=0" in log
    assert "fault:throttle_first" in log
    everything = log + "".join(process.stdout)
    assert SECRET not in everything
    assert "secret-body" not in everything
    assert "Signature=" not in everything
    assert "emulator stopped" in "".join(process.stdout)


def test_tls_cert_and_key_serve_https(emulate: type[Process], tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    ca.cert_pem.write_to_path(str(ca_file))
    process = emulate("--port", "0", "--tls-cert", str(cert_file), "--tls-key", str(key_file))
    assert process.url.startswith("https://127.0.0.1:")
    client = boto3_for(process.url, verify=str(ca_file))
    assert client.invoke_endpoint(EndpointName="echo", Body=b"tls")["Body"].read() == b"tls"
    assert process.stop() == 0


@pytest.mark.parametrize(
    ("credentials", "line"),
    [
        ((), "signatures: any well-formed SigV4 accepted (no --credentials)"),
        (("--credentials", "A:s"), "signatures: checked exactly for 1 key;"),
        (
            ("--credentials", "A:s", "--credentials", "B:t"),
            "signatures: checked exactly for 2 keys;",
        ),
    ],
)
def test_the_start_line_says_what_is_checked(
    emulate: type[Process], credentials: tuple[str, ...], line: str
) -> None:
    process = emulate("--port", "0", *credentials)
    assert process.url
    assert process.stop() == 0
    assert line in "".join(process.stdout)


def test_sigterm_also_stops_cleanly(emulate: type[Process]) -> None:
    process = emulate("--port", "0")
    assert process.url
    process.popen.send_signal(signal.SIGTERM)
    assert process.stop() == 0


@pytest.mark.parametrize(
    "options",
    [
        ("--fault", "echo:no_such_fault=1"),
        ("--fault", "echo:throttle_first=many"),
        ("--model", "no-equals-sign"),
        ("--model", "x=not_a_module_anywhere:handler"),
        ("--credentials", "missing-colon"),
        ("--tls-cert", "cert.pem"),
        ("--tls-key", "key.pem"),
        ("--tls-cert=no-such-cert.pem", "--tls-key=no-such-key.pem"),
    ],
)
def test_bad_options_exit_2_with_a_message(options: tuple[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "asyncsagemaker", "emulate", "--port", "0", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("asyncsagemaker emulate: ")


def test_a_bidirectional_stream_gets_its_log_line_too(emulate: type[Process]) -> None:
    """docs/cli.md: one log line per request, ``duplex`` streams on --bidi-port included."""
    process = emulate("--port", "0", "--bidi-port", "0", "--credentials", f"{AKID}:{SECRET}")
    assert process.url
    deadline = time.monotonic() + 30
    while (
        match := re.search(r"bidirectional streams \(HTTP/2\) on (\S+)", "".join(process.stdout))
    ) is None and time.monotonic() < deadline:
        time.sleep(0.01)  # printed right after the line process.url waited for
    assert match is not None, "".join(process.stdout)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": AKID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": REGION,
    }
    for endpoint in ("echo", "nowhere"):
        subprocess.run(
            [sys.executable, "-m", "asyncsagemaker", "duplex", endpoint],
            cwd=ROOT,
            input=b"hello\nsecret-line\n",
            capture_output=True,
            env={**env, "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME_HTTP2": match.group(1)},
            timeout=60,
            check=False,
        )
    assert process.stop() == 0
    log = "".join(process.stderr)
    assert re.search(
        r"POST echo InvokeEndpointWithBidirectionalStream -> 200 parts=2 received=2 "
        r"\d+\.\d{3}s ok",
        log,
    ), log
    assert re.search(r"POST nowhere InvokeEndpointWithBidirectionalStream -> 400 parts=0 ", log)
    assert "secret-line" not in log and SECRET not in log
