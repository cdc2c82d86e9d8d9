"""HTTPS: the emulator behind a real TLS server context, clients verifying a trustme CA.

The real service is HTTPS only; these tests run the same clients (boto3,
aiobotocore, asyncsagemaker) against the emulator over TLS, verifying its
certificate against a throwaway CA, and show that a client without that CA is
refused rather than quietly talking to an unverified server.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import botocore.exceptions
import pytest
import trustme

from asyncsagemaker import SageMakerRuntime
from asyncsagemaker.emulator import Emulator
from asyncsagemaker.emulator._demo import demo_answer
from tests._support import NO_AIOBOTOCORE

from ._support import AKID, REGION, SECRET, boto3_client

Start = Callable[..., Emulator]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Iterator[str]:
    with ca.cert_pem.tempfile(dir=str(tmp_path)) as path:
        yield path


def test_boto3_verifies_the_emulator_certificate(
    start: Start, server_context: ssl.SSLContext, ca_file: str
) -> None:
    emu = start(ssl_context=server_context, token_delay=0)
    assert emu.url == f"https://127.0.0.1:{emu.port}"
    client = boto3_client(emu, verify=ca_file)
    answer = client.invoke_endpoint(EndpointName="echo", Body=b"over TLS")
    assert answer["Body"].read() == b"over TLS"
    body = json.dumps({"inputs": "Hi"}).encode()
    response = client.invoke_endpoint_with_response_stream(EndpointName="demo", Body=body)
    events = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    assert json.loads(events[-1][len(b"data:") :])["generated_text"] == demo_answer("Hi")


def test_a_client_without_the_ca_is_refused(start: Start, server_context: ssl.SSLContext) -> None:
    emu = start(ssl_context=server_context)
    client = boto3_client(emu)
    with pytest.raises(botocore.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        client.invoke_endpoint(EndpointName="echo", Body=b"x")
    assert len(emu.records) == 0  # the handshake failed: no request was read


def test_plain_http_to_the_https_emulator_gets_nothing(
    start: Start, server_context: ssl.SSLContext
) -> None:
    emu = start(ssl_context=server_context)
    client = boto3_client(emu, endpoint_url=emu.url.replace("https:", "http:"))
    with pytest.raises(botocore.exceptions.BotoCoreError):
        client.invoke_endpoint(EndpointName="echo", Body=b"x")
    assert len(emu.records) == 0


@pytest.mark.anyio
async def test_aiobotocore_verifies_the_emulator_certificate(
    server_context: ssl.SSLContext, ca_file: str
) -> None:
    aio_session = pytest.importorskip("aiobotocore.session", reason=NO_AIOBOTOCORE)
    async with Emulator(ssl_context=server_context, token_delay=0) as emu:
        session = aio_session.get_session()
        async with session.create_client(
            "sagemaker-runtime",
            endpoint_url=emu.url,
            region_name=REGION,
            aws_access_key_id=AKID,
            aws_secret_access_key=SECRET,
            verify=ca_file,
        ) as client:
            whole = await client.invoke_endpoint(EndpointName="echo", Body=b"tls")
            assert await whole["Body"].read() == b"tls"
            response = await client.invoke_endpoint_with_response_stream(
                EndpointName="echo", Body=b"x" * 200
            )
            parts = [event["PayloadPart"]["Bytes"] async for event in response["Body"]]
            assert b"".join(parts) == b"x" * 200


@pytest.mark.anyio
async def test_the_sdk_client_verifies_with_aws_ca_bundle(
    server_context: ssl.SSLContext, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", ca_file)
    async with (
        Emulator(ssl_context=server_context, token_delay=0) as emu,
        SageMakerRuntime(
            REGION, endpoint_url=emu.url, aws_access_key_id=AKID, aws_secret_access_key=SECRET
        ) as client,
    ):
        async with client.invoke_endpoint_with_response_stream(
            "demo", body={"inputs": "Hi"}
        ) as stream:
            text = "".join([token async for token in stream.tokens()])
        assert text == demo_answer("Hi")


def test_ssl_context_must_be_a_context() -> None:
    with pytest.raises(TypeError, match=r"ssl\.SSLContext"):
        Emulator(ssl_context="cert.pem")  # type: ignore[arg-type]
