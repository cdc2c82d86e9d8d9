"""Bidirectional streams honour ``HTTP(S)_PROXY`` and ``NO_PROXY``, as HTTP/1.1 calls do.

Through a ``CONNECT`` tunnel for both schemes (an HTTP/1.1 proxy cannot forward
h2c), TLS and ALPN ``h2`` end to end inside it for ``https://``; the proxy sees
one tunnel per connection, however many streams share it.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from asyncsagemaker import (
    Config,
    ConfigurationError,
    ConnectTimeoutError,
    NetworkError,
    SageMakerRuntime,
)
from tests.bidi._proxy import ConnectProxy
from tests.bidi.conftest import ClientRig

pytestmark = pytest.mark.anyio
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY",
                   "no_proxy")  # fmt: skip


@pytest.fixture(autouse=True)
def no_proxy_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def use_proxy(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("HTTPS_PROXY", url)


async def echo_twice(client: SageMakerRuntime) -> list[str]:
    got = []
    for text in ("first stream", "second stream"):  # one connection, so one tunnel
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
            await duplex.send(text)
            await duplex.end_input()
            got += [part.text async for part in duplex]
    return got


async def test_streams_go_through_the_proxy(
    rig: ClientRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ConnectProxy().running() as proxy:
        use_proxy(monkeypatch, proxy.url)
        async with rig() as (emu, client):
            assert await echo_twice(client) == ["first stream", "second stream"]
            port = emu.bidi_url.rsplit(":", 1)[1]
            host = "localhost" if emu.bidi_url.startswith("https") else "127.0.0.1"
            assert proxy.tunnels == [f"{host}:{port}"]
            assert [r.outcome for r in emu.bidi_records] == ["ok", "ok"]


async def test_no_proxy_goes_direct(rig: ClientRig, monkeypatch: pytest.MonkeyPatch) -> None:
    async with ConnectProxy().running() as proxy:
        use_proxy(monkeypatch, proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        async with rig() as (_emu, client):
            assert await echo_twice(client) == ["first stream", "second stream"]
        assert proxy.tunnels == []


async def test_proxy_credentials_from_its_url(
    rig: ClientRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ConnectProxy(credentials=("user", "p@ss word")).running() as proxy:
        use_proxy(monkeypatch, proxy.url_with("user", "p%40ss%20word"))
        async with rig() as (_emu, client):
            assert await echo_twice(client) == ["first stream", "second stream"]
        assert len(proxy.tunnels) == 1
        use_proxy(monkeypatch, proxy.url_with("user", "wrong"))
        async with rig() as (_emu, client):
            with pytest.raises(ConfigurationError, match="refused the credentials") as caught:
                async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                    pass
            assert "wrong" not in str(caught.value)  # no secret in the message
        assert proxy.refused == [407]  # not retried: retrying cannot help


async def test_a_proxy_that_cannot_reach_the_endpoint_is_a_network_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with ConnectProxy().running() as proxy:
        use_proxy(monkeypatch, proxy.url)
        async with SageMakerRuntime(
            "us-east-1", bidi_endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="a", aws_secret_access_key="b", config=Config(backoff_base=0.01),
        ) as client:  # fmt: skip
            with pytest.raises(NetworkError, match="502 Bad Gateway"):
                async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                    pass
        assert proxy.refused == [502, 502, 502]  # a connection failure: retried


async def test_a_proxy_that_never_answers_is_bounded_by_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    use_proxy(monkeypatch, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    config = Config(connect_timeout=0.3, max_attempts=1)
    try:
        async with SageMakerRuntime("us-east-1", bidi_endpoint_url="http://127.0.0.1:9",
                                    aws_access_key_id="a", aws_secret_access_key="b",
                                    config=config) as client:  # fmt: skip
            started = time.monotonic()
            with pytest.raises(ConnectTimeoutError):
                async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                    pass
            assert time.monotonic() - started < 2
    finally:
        server.close()


@pytest.mark.parametrize(
    ("proxy", "error", "match"),
    [
        ("https://127.0.0.1:1", ConfigurationError, "only http:// proxies"),
        ("http://127.0.0.1:{closed}", NetworkError, "could not connect to the proxy"),
    ],
)
async def test_proxies_it_cannot_use_say_so(
    monkeypatch: pytest.MonkeyPatch, proxy: str, error: type[Exception], match: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    use_proxy(monkeypatch, proxy.format(closed=closed))
    async with SageMakerRuntime("us-east-1", bidi_endpoint_url="http://127.0.0.1:9",
                                aws_access_key_id="a", aws_secret_access_key="b",
                                config=Config(max_attempts=1)) as client:  # fmt: skip
        with pytest.raises(error, match=match):
            async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                pass
