"""A bidirectional call aimed at the wrong place says so, once, at once.

* A client given only ``endpoint_url`` (the emulator's HTTP/1.1 port, say) does not
  send its streams to AWS: it refuses, naming ``bidi_endpoint_url``.
* A stream sent to an HTTP/1.1 port is a ``ConfigurationError`` saying the server
  does not speak HTTP/2, after one attempt; the emulator logs one line, no traceback.
* A stream to an endpoint that exists but serves HTTP/1.1 calls only is refused
  as such, not as "not found".
"""

from __future__ import annotations

import logging
import ssl
import time
from typing import Any

import pytest
import trustme
from aiohttp.http_exceptions import BadHttpMessage, InvalidURLError

from asyncsagemaker import Config, ConfigurationError, SageMakerRuntime, ValidationError
from asyncsagemaker._bidi.endpoints import ENDPOINT_VARIABLE
from asyncsagemaker.emulator import Emulator, Invocation
from tests.bidi._h2client import AKID, SECRET

pytestmark = pytest.mark.anyio
KEYS: dict[str, Any] = {"aws_access_key_id": AKID, "aws_secret_access_key": SECRET}
FAST_RETRIES = Config(backoff_base=0.01)


async def test_only_endpoint_url_refuses_bidi_instead_of_going_to_aws(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENDPOINT_VARIABLE, raising=False)
    async with Emulator(bidi_port=0) as emu:
        async with SageMakerRuntime("us-east-1", endpoint_url=emu.url, **KEYS) as client:
            assert (await client.invoke_endpoint("echo", body=b"x")).body == b"x"
            with pytest.raises(ConfigurationError, match="bidi_endpoint_url") as caught:
                async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                    pass
            assert ENDPOINT_VARIABLE in str(caught.value)
            assert client._bidi is not None and client._bidi.transport is None  # no connection
        # The variable (or bidi_endpoint_url) says where streams go.
        monkeypatch.setenv(ENDPOINT_VARIABLE, emu.bidi_url)
        async with SageMakerRuntime("us-east-1", endpoint_url=emu.url, **KEYS) as client:
            async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
                await duplex.send("through the variable")
                await duplex.end_input()
                assert [p.text async for p in duplex] == ["through the variable"]


@pytest.fixture(params=["h2c", "tls"])
def scheme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_a_stream_sent_to_the_http1_port_fails_once_and_says_why(
    scheme: str,
    server_ssl: ssl.SSLContext,
    ca: trustme.CA,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tls = scheme == "tls"
    if tls:
        bundle = tmp_path / "ca.pem"
        bundle.write_bytes(ca.cert_pem.bytes())
        monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    caplog.set_level(logging.INFO)
    async with Emulator(bidi_port=0, ssl_context=server_ssl if tls else None) as emu:
        url = emu.url.replace("127.0.0.1", "localhost")
        async with SageMakerRuntime(
            "us-east-1", bidi_endpoint_url=url, config=FAST_RETRIES, **KEYS
        ) as client:
            started = time.monotonic()
            with pytest.raises(ConfigurationError, match="does not speak HTTP/2") as caught:
                async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                    pass
            assert time.monotonic() - started < 2
            assert "HTTP/1" in str(caught.value) and "bidi_url" in str(caught.value)
    lines = [r for r in caplog.records if "spoke HTTP/2" in r.getMessage()]
    assert len(lines) == 1  # one attempt, one line
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


async def plain(inv: Invocation) -> bytes:
    return inv.body


async def test_an_endpoint_that_is_not_bidirectional_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with Emulator(models={"plain": plain, "echo": "echo"}, bidi_port=0) as emu:
        async with SageMakerRuntime("us-east-1", bidi_endpoint_url=emu.bidi_url, **KEYS) as client:
            with pytest.raises(ValidationError, match="does not support bidirectional") as caught:
                async with client.invoke_endpoint_with_bidirectional_stream("plain"):
                    pass
            assert caught.value.code == "InputValidationError"
            assert "not found" not in caught.value.message
            with pytest.raises(ValidationError, match="not found"):
                async with client.invoke_endpoint_with_bidirectional_stream("nothing-here"):
                    pass
            async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
                await duplex.end_input()
                assert [p async for p in duplex] == []
        assert [r.outcome for r in emu.bidi_records] == ["error", "error", "ok"]


@pytest.mark.parametrize(
    "error",
    [
        BadHttpMessage("Pause on PRI/Upgrade:\n\n  b'...'"),  # llhttp, aiohttp's C parser
        InvalidURLError("*"),  # aiohttp's pure-Python parser
    ],
)
def test_either_parser_logs_an_http2_preface_in_one_line(error: Exception) -> None:
    from asyncsagemaker.emulator._listeners import _Http2AtHttp1Port

    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "Error handling request from %s", ("127.0.0.1",),
        (type(error), error, None),
    )  # fmt: skip
    assert _Http2AtHttp1Port().filter(record)
    assert (record.levelno, record.exc_info) == (logging.INFO, None)
    assert "127.0.0.1 spoke HTTP/2" in record.getMessage()
    other = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "Error handling request from %s", ("127.0.0.1",),
        (BadHttpMessage, BadHttpMessage("bad header"), None),
    )  # fmt: skip
    assert _Http2AtHttp1Port().filter(other)
    assert other.levelno == logging.ERROR and other.exc_info is not None  # left as it was
