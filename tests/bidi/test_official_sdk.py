"""The official AWS SDK (``aws-sdk-sagemaker-runtime-http2`` on the AWS CRT) against the emulator.

It needs Python >= 3.12, so it runs in a subprocess: set ``ASYNCSAGEMAKER_PEER_PYTHON312``
to the interpreter of an environment made with tests/bidi/peer-requirements.txt.  The
emulator runs over TLS (a trustme CA the SDK is told to trust) with signature checks
on, so every request and chunk signature the SDK makes is verified.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme

from asyncsagemaker.emulator import BidiFaults, Emulator, ModelErrorFault
from tests.bidi._h2client import AKID, SECRET

PEER = os.environ.get("ASYNCSAGEMAKER_PEER_PYTHON312")
SCRIPT = Path(__file__).with_name("_peer_sdk.py")
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        not PEER,
        reason="set ASYNCSAGEMAKER_PEER_PYTHON312 to a Python >= 3.12 with "
        "tests/bidi/peer-requirements.txt installed to run the official AWS SDK",
    ),
]


async def run_sdk(
    emu: Emulator, ca_file: Path, parts: list[tuple[bytes, str, str]], **job: Any
) -> dict[str, Any]:
    port = emu.bidi_url.rsplit(":", 1)[1]
    document = {
        "url": f"https://localhost:{port}",
        "ca_file": str(ca_file),
        "access_key": AKID,
        "secret_key": SECRET,
        "endpoint": "echo",
        "parts": [[data.hex(), data_type, state] for data, data_type, state in parts],
        **job,
    }
    assert PEER is not None
    process = await asyncio.create_subprocess_exec(
        PEER,
        str(SCRIPT),
        json.dumps(document),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()[-3000:]
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.fixture
def tls(ca: trustme.CA, server_ssl: ssl.SSLContext, tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.cert_pem.bytes())
    return server_ssl, ca_file


async def test_the_official_sdk_streams_both_ways(tls: tuple[ssl.SSLContext, Path]) -> None:
    context, ca_file = tls
    sent = [
        (b"hello ", "UTF8", "PARTIAL"),
        (b"world", "UTF8", "COMPLETE"),
        (bytes(range(256)) * 40, "BINARY", "COMPLETE"),
    ]
    headers = {"model_invocation_path": "v1/ws", "model_query_string": "a=1&b=x"}
    async with Emulator(bidi_port=0, ssl_context=context, credentials={AKID: SECRET}) as emu:
        result = await run_sdk(emu, ca_file, sent, **headers)
        record = emu.bidi_records[-1]
    assert result["variant"] == "AllTraffic"
    assert [(bytes.fromhex(p["data"]), p["data_type"], p["completion_state"])
            for p in result["parts"]] == sent  # fmt: skip
    assert (record.outcome, record.parts_received, record.signatures_checked) == ("ok", 3, 4)
    assert record.headers[":path"].endswith("?")  # the SDK's empty query, tolerated
    assert record.headers["x-amzn-sagemaker-model-invocation-path"] == "v1/ws"
    assert record.headers["user-agent"].startswith("aws-sdk-python/")


async def test_the_official_sdk_is_refused_with_a_wrong_secret(
    tls: tuple[ssl.SSLContext, Path],
) -> None:
    context, ca_file = tls
    async with Emulator(bidi_port=0, ssl_context=context, credentials={AKID: "other"}) as emu:
        result = await run_sdk(emu, ca_file, [(b"x", "UTF8", "COMPLETE")])
        assert emu.bidi_records[-1].status == 403
    assert result["error"] == "CallError"  # unmodeled: the SDK names the status and type
    assert "status: 403" in result["fields"]["message"]
    assert "InvalidSignatureException" in result["fields"]["message"]
    assert result["parts"] == []


async def test_the_official_sdk_sees_the_modeled_errors(tls: tuple[ssl.SSLContext, Path]) -> None:
    context, ca_file = tls
    faults = {"echo": BidiFaults(model_error=ModelErrorFault(418, "teapot"))}
    async with Emulator(bidi_port=0, ssl_context=context, credentials={AKID: SECRET},
                        bidi_faults=faults) as emu:  # fmt: skip
        refused = await run_sdk(emu, ca_file, [(b"x", "UTF8", "COMPLETE")])
        emu.set_bidi_faults("echo", BidiFaults(stream_error_after=1, stream_error_code="Oops"))
        broken = await run_sdk(
            emu, ca_file, [(b"a", "UTF8", "COMPLETE"), (b"b", "UTF8", "COMPLETE")]
        )
    assert refused["error"] == "ModelError"
    assert refused["fields"]["original_status_code"] == 418
    assert refused["fields"]["original_message"] == "teapot"
    assert broken["error"] == "ModelStreamError"
    assert broken["fields"]["error_code"] == "Oops"
    assert [p["data"] for p in broken["parts"]] == [b"a".hex()]
