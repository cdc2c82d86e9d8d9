"""No session token, secret key, signature or access key id shows anywhere a user looks.

Real calls against the emulator with temporary credentials (a session token): DEBUG
logs of every logger the calls drive (hpack's included), ``str``/``repr`` of our
errors (a 403 quotes the canonical request back, token and all, as AWS does), the
exception chain, batch error rows, spans with content capture on and off, and the
emulator's records.  Each place has its test; all use ``_redact.redact``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncsagemaker import Config, SageMakerRuntime, batch
from asyncsagemaker._redact import redact, redact_headers
from asyncsagemaker.emulator import Emulator
from asyncsagemaker.errors import NetworkError, SageMakerError, ServiceError
from tests.client._servers import raw_server, read_request
from tests.client.test_client_emulator import EmulatorFactory
from tests.observability._support import Otel

pytestmark = pytest.mark.anyio

AKID, SECRET = "AKIDSECRETSTEST1", "the/secret+access=key"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE/SESSION+TOKEN=="
WRONG = "not/the+secret"


def client_of(
    url: str, *, secret: str = SECRET, bidi_url: str | None = None, **kw: object
) -> SageMakerRuntime:
    return SageMakerRuntime(
        "us-east-1",
        endpoint_url=url,
        bidi_endpoint_url=bidi_url,
        aws_access_key_id=AKID,
        aws_secret_access_key=secret,
        aws_session_token=TOKEN,
        config=Config(max_attempts=1, read_timeout=10.0),
        **kw,  # type: ignore[arg-type]
    )


def assert_no_secret(text: str) -> None:
    for secret in (TOKEN, SECRET, AKID):
        assert secret not in text
    assert "Signature=" not in text.replace("Signature=***", "")


def chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, its ``__cause__`` and ``__context__``, and theirs (each once)."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        link = todo.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        todo.extend(e for e in (link.__cause__, link.__context__) if e is not None)


# -- the one function --------------------------------------------------------------------


def test_redact_masks_every_form_a_secret_is_quoted_in() -> None:
    signature = "a" * 64
    forms = [
        f"X-Amz-Security-Token: {TOKEN}",
        f"x-amz-security-token:{TOKEN}\n",  # a canonical request quoted back
        f"{{'X-Amz-Security-Token': '{TOKEN}'}}",  # a repr of headers
        f"Adding b'x-amz-security-token'=b'{TOKEN}' to the header table",  # hpack
        f"Decoded ('x-amz-security-token', '{TOKEN}'), consumed 3",  # hpack, decoding
        f"?X-Amz-Security-Token={TOKEN}&X-Amz-Credential={AKID}%2F20240101",  # a query
        f"AWS4-HMAC-SHA256 Credential={AKID}/20240101/us-east-1/sagemaker/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}",
    ]
    for text in forms:
        masked = redact(text)
        assert TOKEN not in masked and signature not in masked and AKID not in masked, masked
        assert "***" in masked
    assert redact("Signature expired: 20240101T000000Z is now earlier").startswith(
        "Signature expired"
    )
    assert redact("nothing to hide") == "nothing to hide"
    assert redact_headers({"Authorization": "x", "X-Amz-Security-Token": TOKEN, "a": "b"}) == {
        "Authorization": "***",
        "X-Amz-Security-Token": "***",
        "a": "b",
    }


# -- errors ------------------------------------------------------------------------------


async def test_a_403_quoting_the_canonical_request_shows_no_token(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(credentials={AKID: SECRET})
    async with client_of(emu.url, secret=WRONG) as client:
        with pytest.raises(ServiceError) as caught:
            await client.invoke_endpoint("echo", body=b"x")
    error = caught.value
    assert error.code == "InvalidSignatureException"
    assert "The Canonical String for this request should have been" in error.message
    assert "x-amz-security-token:***" in error.message  # masked, still says what was there
    for text in (str(error), repr(error), error.message, *map(str, error.args)):
        assert_no_secret(text)
    assert_no_secret("".join(traceback.format_exception(error)))


async def test_the_exception_chain_holds_no_request_headers() -> None:
    """aiohttp's parser error keeps the request's headers (``request_info``) in its
    repr; it is the cause of our NetworkError, so it is masked first."""

    async def bad_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nBad Header Line Without Colon\r\n\r\n")
        await writer.drain()
        await reader.read(1)

    async with raw_server(bad_http) as server, client_of(server.url) as client:
        with pytest.raises(NetworkError) as caught:
            await client.invoke_endpoint("ep", body=b"x")
    links = list(chain(caught.value))
    assert len(links) >= 2  # the cause is kept, for whoever debugs
    assert any(hasattr(link, "request_info") for link in links)
    for link in links:
        assert_no_secret(repr(link))
        assert_no_secret(str(link))
        assert_no_secret(repr(getattr(link, "request_info", "")))
    assert_no_secret("".join(traceback.format_exception(caught.value)))


# -- logs ----------------------------------------------------------------------------------


async def test_debug_logs_of_every_logger_show_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """HTTP/1.1 and bidirectional calls, and a refusal, with DEBUG on for every logger:
    hpack logs each header it encodes and decodes (client and emulator alike)."""
    caplog.set_level(logging.DEBUG)
    async with Emulator(bidi_port=0, credentials={AKID: SECRET}) as emu:
        async with client_of(emu.url, bidi_url=emu.bidi_url) as client:
            assert (await client.invoke_endpoint("echo", body=b"x")).body == b"x"
            async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
                await duplex.send("hello")
                await duplex.end_input()
                assert [part.text async for part in duplex] == ["hello"]
        async with client_of(emu.url, secret=WRONG, bidi_url=emu.bidi_url) as client:
            with pytest.raises(ServiceError):
                await client.invoke_endpoint("echo", body=b"x")
            with pytest.raises(ServiceError):
                async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                    pass  # pragma: no cover
    names = {record.name for record in caplog.records}
    assert {"hpack.hpack", "asyncsagemaker"} <= names  # hpack did log, at DEBUG
    handler = logging.StreamHandler()
    for record in caplog.records:
        assert_no_secret(handler.format(record))
    assert any("x-amz-security-token" in r.getMessage() for r in caplog.records)
    assert logging.getLogger("hpack.hpack").level == logging.NOTSET  # the user's config kept


# -- batch rows -------------------------------------------------------------------------------


async def test_batch_error_rows_show_no_secret(
    start_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = start_emulator(credentials={AKID: SECRET})
    output = tmp_path / "out.jsonl"
    async with client_of(emu.url, secret=WRONG) as client:
        summary = await batch.run(client, "echo", ['{"a": 1}', '{"b": 2}'], output, retries=0)
    assert summary.failed == 2
    text = output.read_text()
    rows = [json.loads(line) for line in text.splitlines()]
    assert [row["error"]["type"] for row in rows] == ["ServiceError", "ServiceError"]
    assert "x-amz-security-token:***" in rows[0]["error"]["message"]
    assert_no_secret(text)


# -- spans ---------------------------------------------------------------------------------


@pytest.mark.parametrize("capture", [True, False])
async def test_spans_show_no_secret_with_content_capture_on_or_off(
    start_emulator: EmulatorFactory, capture: bool
) -> None:
    emu = start_emulator(credentials={AKID: SECRET})
    otel = Otel.create()
    try:
        for secret in (SECRET, WRONG):
            client = client_of(
                emu.url,
                secret=secret,
                tracer_provider=otel.tracer_provider,
                meter_provider=otel.meter_provider,
                capture_content=capture,
            )
            async with client:
                try:
                    async with client.chat_stream(
                        "echo", [{"role": "user", "content": "hi"}]
                    ) as stream:
                        await stream.read()
                except SageMakerError:
                    assert secret == WRONG
        spans = otel.spans()
        assert len(spans) >= 4  # two calls, an attempt each
        described = " ".join(s.status.description or "" for s in spans)
        assert ("Canonical String" in described) == capture  # the message: capture only
        for span in spans:
            text = json.dumps(
                {
                    "attributes": dict(span.attributes or {}),
                    "events": [(e.name, dict(e.attributes or {})) for e in span.events],
                    "status": span.status.description,
                },
                default=str,
            )
            assert_no_secret(text)
    finally:
        otel.shutdown()


# -- the emulator's records ---------------------------------------------------------------


async def test_the_emulators_records_show_no_secret_in_their_repr() -> None:
    async with Emulator(bidi_port=0, credentials={AKID: SECRET}) as emu:
        async with client_of(emu.url, bidi_url=emu.bidi_url) as client:
            await client.invoke_endpoint("echo", body=b"x")
            async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
                await duplex.end_input()
                _ = [part async for part in duplex]
        assert emu.records[-1].headers["x-amz-security-token"] == TOKEN  # kept, not shown
        for text in (repr(emu.records), repr(emu.records[-1]), repr(emu.bidi_records[-1])):
            assert_no_secret(text)
            assert "Authorization" not in text and "authorization" not in text
