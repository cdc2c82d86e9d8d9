"""The one error map at the transport boundary: a row per exception family, then real sockets.

Whatever aiohttp, asyncio, the OS or TLS raises below the seam comes out as one of
our errors; nothing else leaves a public call.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

import aiohttp
import pytest
import trustme
import yarl
from aiohttp.client_reqrep import ConnectionKey
from aiohttp.http_exceptions import BadHttpMessage, BadStatusLine, TransferEncodingError
from multidict import CIMultiDict, CIMultiDictProxy

import asyncsagemaker
from asyncsagemaker import errors
from asyncsagemaker._transports.http1 import map_errors, translate

from ._servers import client_for, raw_server, read_request

pytestmark = pytest.mark.anyio

_URL = yarl.URL("http://127.0.0.1:8443/endpoints/e/invocations")
_INFO = aiohttp.RequestInfo(_URL, "POST", CIMultiDictProxy(CIMultiDict()), _URL)
# host, port, is_ssl, ssl, then fields that differ between aiohttp versions (all None here)
_KEY = ConnectionKey("127.0.0.1", 8443, True, True, *[None] * (len(ConnectionKey._fields) - 4))


def _certificate_error() -> aiohttp.ClientConnectorCertificateError:
    failure = ssl.SSLCertVerificationError(1, "certificate verify failed")
    failure.verify_message = "certificate has expired"
    return aiohttp.ClientConnectorCertificateError(_KEY, failure)


ROWS: list[tuple[BaseException, type[errors.SageMakerError], str]] = [
    (_certificate_error(), errors.CertificateError, "certificate has expired"),
    (ssl.SSLCertVerificationError(1, "self-signed"), errors.CertificateError, "self-signed"),
    (aiohttp.ConnectionTimeoutError("slow"), errors.ConnectTimeoutError, "connect_timeout"),
    (aiohttp.SocketTimeoutError("quiet"), errors.ReadTimeoutError, "read_timeout"),
    (aiohttp.ServerTimeoutError("quiet"), errors.ReadTimeoutError, "read_timeout"),
    (asyncio.TimeoutError(), errors.ReadTimeoutError, "read_timeout"),
    (
        aiohttp.ClientConnectorError(_KEY, ConnectionRefusedError(111, "refused")),
        errors.NetworkError,
        "could not connect to 127.0.0.1:8443",
    ),
    (aiohttp.ServerDisconnectedError(), errors.NetworkError, "closed the connection"),
    (aiohttp.ClientPayloadError("short"), errors.NetworkError, "cut off"),
    (TransferEncodingError("bad chunk"), errors.NetworkError, "not valid HTTP/1.1"),
    (BadStatusLine("garbage"), errors.NetworkError, "not valid HTTP/1.1"),
    (BadHttpMessage("bad header"), errors.NetworkError, "not valid HTTP/1.1"),
    (ssl.SSLError(1, "decryption failed"), errors.NetworkError, "TLS failed"),
    (aiohttp.ClientOSError(104, "reset"), errors.NetworkError, "reset"),
    (ConnectionResetError(104, "reset by peer"), errors.NetworkError, "reset by peer"),
    (OSError(113, "no route"), errors.NetworkError, "no route"),
    (
        aiohttp.ClientResponseError(_INFO, (), status=400, message="Bad status line"),
        errors.NetworkError,
        "not valid HTTP/1.1",
    ),
    (ValueError("newline in header value"), errors.ParamValidationError, "could not be sent"),
    (TypeError("bad header type"), errors.ParamValidationError, "could not be sent"),
    (RuntimeError("something else"), errors.NetworkError, "unexpected failure"),
    (KeyError("odd"), errors.NetworkError, "unexpected failure"),
]


@pytest.mark.parametrize(
    ("exc", "expected", "words"), ROWS, ids=[type(row[0]).__name__ for row in ROWS]
)
def test_each_family_maps_to_one_of_ours(
    exc: BaseException, expected: type[errors.SageMakerError], words: str
) -> None:
    mapped = translate(exc, during="the request")
    assert type(mapped) is expected
    assert words in str(mapped)


def test_our_own_errors_pass_through_unchanged() -> None:
    ours = errors.ReadTimeoutError("ours")
    assert translate(ours, during="the request") is ours


def test_a_closed_client_is_named_as_the_cause() -> None:
    mapped = translate(RuntimeError("Session is closed"), during="the request", closed=True)
    assert isinstance(mapped, errors.ClientClosedError)
    mapped = translate(aiohttp.ClientOSError(9, "bad fd"), during="the request", closed=True)
    assert isinstance(mapped, errors.ClientClosedError)


def test_the_context_manager_form_keeps_the_cause() -> None:
    original = aiohttp.ServerDisconnectedError()
    with pytest.raises(errors.NetworkError) as caught, map_errors(during="the request"):
        raise original
    assert caught.value.__cause__ is original


def test_a_value_error_while_reading_a_body_is_not_blamed_on_the_arguments() -> None:
    mapped = translate(ValueError("odd"), during="reading the response body")
    assert type(mapped) is errors.NetworkError


def test_cancellation_is_never_mapped() -> None:
    with pytest.raises(asyncio.CancelledError), map_errors(during="the request"):
        raise asyncio.CancelledError


# -- the same families from real sockets ------------------------------------------------


async def test_an_untrusted_certificate_names_the_problem_and_is_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncsagemaker")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with raw_server(handle, ssl_context=server_context) as server:
        async with client_for(server.url, max_attempts=3) as client:
            with pytest.raises(asyncsagemaker.CertificateError) as caught:
                await client.invoke_endpoint("e", body=b"x")
    assert "127.0.0.1" in str(caught.value)
    assert "unable to get local issuer certificate" in str(caught.value)
    attempts = [r.getMessage() for r in caplog.records if "attempt" in r.getMessage()]
    assert len(attempts) == 1 and "not retried" in attempts[0]  # it would fail again


async def test_a_certificate_for_another_host_names_the_mismatch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("other.example").configure_cert(server_context)
    bundle = f"{tmp_path}/ca.pem"
    ca.cert_pem.write_to_path(bundle)
    monkeypatch.setenv("AWS_CA_BUNDLE", bundle)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with raw_server(handle, ssl_context=server_context) as server:
        async with client_for(server.url) as client:
            with pytest.raises(asyncsagemaker.CertificateError, match="mismatch"):
                await client.invoke_endpoint("e", body=b"x")


async def test_a_server_that_hangs_up_is_a_network_error_retried() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)  # then close without an answer

    async with raw_server(hang_up) as server:
        async with client_for(server.url, max_attempts=2) as client:
            with pytest.raises(asyncsagemaker.NetworkError, match="closed the connection"):
                await client.invoke_endpoint("e", body=b"x")
    assert server.connections == 2


async def test_a_body_cut_short_is_a_network_error() -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        await writer.drain()

    async with raw_server(short) as server:
        async with client_for(server.url) as client:
            with pytest.raises(asyncsagemaker.NetworkError, match="cut off"):
                await client.invoke_endpoint("e", body=b"x")


async def test_an_answer_that_is_not_http_is_a_network_error() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()

    async with raw_server(garbage) as server:
        async with client_for(server.url, max_attempts=1) as client:
            with pytest.raises(asyncsagemaker.NetworkError, match=r"not valid HTTP/1\.1"):
                await client.invoke_endpoint("e", body=b"x")


async def test_connection_refused_names_host_and_port() -> None:
    async def nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        return None

    async with raw_server(nothing) as server:
        port = server.port
    async with client_for(f"http://127.0.0.1:{port}", max_attempts=1) as client:
        with pytest.raises(asyncsagemaker.NetworkError, match=f"127.0.0.1:{port}"):
            await client.invoke_endpoint("e", body=b"x")
