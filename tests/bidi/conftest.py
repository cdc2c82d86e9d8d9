"""Shared set-up of the bidirectional-stream tests: an emulator on this loop, TLS from trustme."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
import trustme

from asyncsagemaker.emulator import Emulator
from tests.bidi._h2client import AKID, SECRET, H2TestClient


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """No test here may hang the suite: each gets 30 s at most."""
    for item in items:
        if "tests/bidi/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.timeout(30))


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_ssl(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def client_ssl(ca: trustme.CA) -> Callable[[], ssl.SSLContext]:
    def make() -> ssl.SSLContext:
        context = ssl.create_default_context()
        ca.configure_trust(context)
        return context

    return make


Connect = Callable[..., AbstractAsyncContextManager[tuple[Emulator, H2TestClient]]]


@pytest.fixture(params=["h2c", "tls"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def connect(
    transport: str, server_ssl: ssl.SSLContext, client_ssl: Callable[[], ssl.SSLContext]
) -> Connect:
    """``async with connect(**Emulator kwargs) as (emulator, client)``, over h2c and over TLS.

    Signature checks are on (the test client signs with AKID/SECRET) unless
    ``credentials=None`` is passed.
    """

    @asynccontextmanager
    async def run(**kwargs: Any) -> AsyncIterator[tuple[Emulator, H2TestClient]]:
        kwargs.setdefault("credentials", {AKID: SECRET})
        kwargs.setdefault("token_delay", 0.0)
        tls = transport == "tls"
        async with Emulator(bidi_port=0, ssl_context=server_ssl if tls else None, **kwargs) as emu:
            client = await H2TestClient.connect(emu.bidi_url, client_ssl() if tls else None)
            try:
                yield emu, client
            finally:
                await client.close()

    return run


ClientRig = Callable[..., AbstractAsyncContextManager[tuple[Emulator, Any]]]


@pytest.fixture
def rig(
    transport: str,
    server_ssl: ssl.SSLContext,
    ca: trustme.CA,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> ClientRig:
    """``async with rig(**Emulator kwargs) as (emulator, client)``: our SageMakerRuntime
    against the emulator's HTTP/2 listener, over h2c and over TLS (the CA trusted
    through ``AWS_CA_BUNDLE``), signature checks on.  ``client_kwargs=`` go to the client.
    """
    from asyncsagemaker import SageMakerRuntime

    if transport == "tls":
        bundle = tmp_path / "ca.pem"
        bundle.write_bytes(ca.cert_pem.bytes())
        monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))

    @asynccontextmanager
    async def run(
        client_kwargs: dict[str, Any] | None = None, **kwargs: Any
    ) -> AsyncIterator[tuple[Emulator, Any]]:
        kwargs.setdefault("credentials", {AKID: SECRET})
        kwargs.setdefault("token_delay", 0.0)
        tls = transport == "tls"
        async with Emulator(bidi_port=0, ssl_context=server_ssl if tls else None, **kwargs) as emu:
            url = emu.bidi_url.replace("127.0.0.1", "localhost") if tls else emu.bidi_url
            options: dict[str, Any] = {
                "region_name": "us-east-1",
                "bidi_endpoint_url": url,
                "aws_access_key_id": AKID,
                "aws_secret_access_key": SECRET,
                **(client_kwargs or {}),
            }
            async with SageMakerRuntime(**options) as client:
                yield emu, client

    return run
