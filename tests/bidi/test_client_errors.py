"""Every way a bidirectional call fails, as the client raises it, and what is retried.

Refusals before the stream are typed service errors, retried as any call is
(nothing was sent yet); failures once the stream runs are ``StreamError``s after
the parts that came before them, never retried.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest
import trustme

from asyncsagemaker import (
    BidiPart,
    CertificateError,
    Config,
    ConfigurationError,
    DeadlineExceededError,
    InternalFailure,
    InternalStreamFailure,
    ModelError,
    ModelStreamError,
    NetworkError,
    ParamValidationError,
    SageMakerRuntime,
    ServiceError,
    ServiceUnavailable,
    StreamError,
    StreamInterruptedError,
    ThrottlingException,
    ValidationError,
)
from asyncsagemaker.emulator import BidiFaults, BidiInvocation, ModelErrorFault
from tests.bidi._h2client import AKID
from tests.bidi.conftest import ClientRig

pytestmark = pytest.mark.anyio
FAST_RETRIES = {"config": Config(backoff_base=0.01)}


def client_for(url: str, **kwargs: Any) -> SageMakerRuntime:
    return SageMakerRuntime("us-east-1", bidi_endpoint_url=url, aws_access_key_id="a",
                            aws_secret_access_key="b", **kwargs)  # fmt: skip


async def ticker(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[str]:
    for n in range(10):
        yield f"tick {n}"
    async for _ in parts:
        pass


async def read_until_error(client: SageMakerRuntime, endpoint: str) -> tuple[list[str], Exception]:
    got: list[str] = []
    try:
        async with client.invoke_endpoint_with_bidirectional_stream(endpoint) as duplex:
            async for part in duplex:
                got.append(part.text)
    except Exception as exc:
        return got, exc
    raise AssertionError(f"no error after {got}")


async def test_throttling_is_retried_then_raised(rig: ClientRig) -> None:
    faults = {"echo": BidiFaults(throttle_first=1)}
    async with rig(bidi_faults=faults, client_kwargs=FAST_RETRIES) as (emu, client):
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
            await duplex.send("after a retry")
            await duplex.end_input()
            assert [p.text async for p in duplex] == ["after a retry"]
        assert [r.status for r in emu.bidi_records] == [400, 200]
        emu.set_bidi_faults("echo", BidiFaults(throttle_first=10))
        with pytest.raises(ThrottlingException) as caught:
            async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                pass
        assert caught.value.status_code == 400
        assert caught.value.request_id == emu.bidi_records[-1].request_id
        assert len(emu.bidi_records) == 2 + 3  # three attempts


@pytest.mark.parametrize(("status", "error"), [(503, ServiceUnavailable), (500, InternalFailure)])
async def test_server_errors_are_typed_and_retried(
    rig: ClientRig, status: int, error: type[ServiceError]
) -> None:
    faults = {"echo": BidiFaults(error_first=5, error_status=status)}
    async with rig(bidi_faults=faults, client_kwargs=FAST_RETRIES) as (emu, client):
        with pytest.raises(error) as caught:
            async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                pass
        assert caught.value.status_code == status
        assert caught.value.code in ("ServiceUnavailableError", "InternalServerError")
        assert len(emu.bidi_records) == 3


async def test_model_error_keeps_its_fields_and_is_not_retried(rig: ClientRig) -> None:
    fault = ModelErrorFault(418, "I am a teapot", "arn:aws:logs:us-east-1:1:log-group:t")
    async with rig(bidi_faults={"echo": BidiFaults(model_error=fault)}) as (emu, client):
        with pytest.raises(ModelError) as caught:
            async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                pass
        error = caught.value
        assert (error.status_code, error.code) == (424, "ModelError")
        assert error.original_status_code == 418
        assert error.original_message == "I am a teapot"
        assert error.log_stream_arn == "arn:aws:logs:us-east-1:1:log-group:t"
        assert len(emu.bidi_records) == 1


async def test_the_service_refusing_members_is_a_validation_error(rig: ClientRig) -> None:
    async with rig() as (emu, client):
        with pytest.raises(ValidationError) as caught:
            async with client.invoke_endpoint_with_bidirectional_stream("no-such-endpoint"):
                pass
        assert caught.value.code == "InputValidationError"
        assert "no-such-endpoint" in caught.value.message
        with pytest.raises(ValidationError, match="Variant blue"):
            async with client.invoke_endpoint_with_bidirectional_stream(
                "echo", target_variant="blue"
            ):
                pass
        assert len(emu.bidi_records) == 2  # neither retried


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"endpoint_name": "bad_name"}, "endpoint_name"),
        ({"endpoint_name": ""}, "endpoint_name"),
        ({"target_variant": "x" * 64}, "at most 63"),
        ({"model_invocation_path": "/abs"}, "model_invocation_path"),
        ({"model_query_string": "a=b c"}, "model_query_string"),
        ({"model_query_string": 5}, "must be a str"),
    ],
)
async def test_bad_members_are_refused_before_sending(
    rig: ClientRig, kwargs: dict[str, object], match: str
) -> None:
    async with rig() as (emu, client):
        arguments: dict[str, object] = {"endpoint_name": "echo", **kwargs}
        name = arguments.pop("endpoint_name")
        with pytest.raises(ParamValidationError, match=match):
            client.invoke_endpoint_with_bidirectional_stream(name, **arguments)
        assert len(emu.bidi_records) == 0


async def test_a_wrong_secret_is_refused(rig: ClientRig) -> None:
    async with rig(credentials={AKID: "another secret"}) as (_emu, client):
        with pytest.raises(ServiceError) as caught:
            async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                pass
        assert (caught.value.status_code, caught.value.code) == (403, "InvalidSignatureException")


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        (BidiFaults(stream_error_after=3), ModelStreamError, "ModelStreamError"),
        (BidiFaults(stream_error_after=3, stream_error="InternalStreamFailure"),
         InternalStreamFailure, "InternalStreamFailure"),
        (BidiFaults(reset_after=3), StreamError, "INTERNAL_ERROR"),
        (BidiFaults(goaway_after=3), StreamInterruptedError, ""),
    ],
)  # fmt: skip
async def test_mid_stream_faults_come_after_the_parts_before_them(
    rig: ClientRig, fault: BidiFaults, error: type[Exception], code: str
) -> None:
    async with rig(bidi_models={"ticker": ticker}, bidi_faults={"ticker": fault}) as (emu, client):
        got, raised = await read_until_error(client, "ticker")
        assert got == ["tick 0", "tick 1", "tick 2"]
        assert isinstance(raised, error), raised
        assert isinstance(raised, StreamError)
        if code:
            assert raised.code == code
        if isinstance(raised, ModelStreamError):
            assert raised.error_code == "ModelInvocationTimeExceeded"
        assert raised.request_id == emu.bidi_records[-1].request_id
        assert len(emu.bidi_records) == 1  # never retried


async def test_after_goaway_new_streams_go_to_a_new_connection(rig: ClientRig) -> None:
    faults = {"ticker": BidiFaults(goaway_after=1)}
    async with rig(bidi_models={"ticker": ticker, "echo": "echo"}, bidi_faults=faults) as (
        _,
        client,
    ):
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as first:
            await first.send("on the first connection")
            assert (await first.__anext__()).text == "on the first connection"
            _got, raised = await read_until_error(client, "ticker")
            assert isinstance(raised, StreamInterruptedError)
            with pytest.raises(StreamInterruptedError):  # the same connection: also lost
                await first.__anext__()
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as again:
            await again.send("a new connection")
            await again.end_input()
            assert [p.text async for p in again] == ["a new connection"]


async def test_the_session_limit_and_the_part_limit(rig: ClientRig) -> None:
    faults = {"echo": BidiFaults(max_session_seconds=0.3, max_part_bytes=1000)}
    async with rig(bidi_faults=faults) as (_emu, client):
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
            await duplex.send("hi")
            assert (await duplex.__anext__()).text == "hi"
            with pytest.raises(ModelStreamError) as caught:
                await duplex.__anext__()
            assert caught.value.error_code == "ModelInvocationTimeExceeded"
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
            await duplex.send(b"x" * 1001)
            with pytest.raises(StreamError) as refused:
                await duplex.__anext__()
            assert refused.value.code == "InputValidationError"


async def test_a_stall_is_only_a_pause(rig: ClientRig) -> None:
    fault = {"ticker": BidiFaults(stall_after=2, stall_seconds=0.3)}
    async with rig(bidi_models={"ticker": ticker}, bidi_faults=fault) as (_, client):
        async with client.invoke_endpoint_with_bidirectional_stream("ticker") as duplex:
            await duplex.end_input()
            assert len([p async for p in duplex]) == 10


async def test_a_failing_model_is_a_model_stream_error(rig: ClientRig) -> None:
    async def broken(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[str]:
        yield "one"
        raise RuntimeError("out of memory")

    async with rig(bidi_models={"broken": broken}) as (_, client):
        got, raised = await read_until_error(client, "broken")
        assert got == ["one"]
        assert isinstance(raised, ModelStreamError) and raised.error_code == "StreamBroken"


async def test_a_total_timeout_ends_a_running_stream(rig: ClientRig) -> None:
    async with rig(client_kwargs={"config": Config(total_timeout=0.5)}) as (emu, client):
        async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
            with pytest.raises(DeadlineExceededError):
                await duplex.__anext__()
        await asyncio.sleep(0.2)
        assert emu.bidi_records[-1].outcome == "client_reset"


async def test_a_tls_server_without_h2_is_refused_clearly(
    ca: trustme.CA, server_ssl: ssl.SSLContext, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_ssl.set_alpn_protocols(["http/1.1"])

    async def http11(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()

    server = await asyncio.start_server(http11, "127.0.0.1", 0, ssl=server_ssl)
    port = server.sockets[0].getsockname()[1]
    bundle = tmp_path / "ca.pem"  # type: ignore[operator]
    bundle.write_bytes(ca.cert_pem.bytes())
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    try:
        async with client_for(f"https://localhost:{port}") as client:
            with pytest.raises(ConfigurationError, match="did not negotiate HTTP/2"):
                async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                    pass
    finally:
        server.close()


async def test_an_untrusted_certificate_is_a_certificate_error(
    server_ssl: ssl.SSLContext,
) -> None:
    from asyncsagemaker.emulator import Emulator

    async with Emulator(bidi_port=0, ssl_context=server_ssl) as emu:
        url = emu.bidi_url.replace("127.0.0.1", "localhost")
        async with client_for(url) as client:
            with pytest.raises(CertificateError):
                async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                    pass


async def test_nobody_listening_is_a_network_error_after_retries() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with client_for(f"http://127.0.0.1:{port}", **FAST_RETRIES) as client:
        with pytest.raises(NetworkError, match=r"could not connect|Connect"):
            async with client.invoke_endpoint_with_bidirectional_stream("echo"):
                pass


# -- a refusal whose body never ends ---------------------------------------------------


def refusing_server(
    first: bytes, every: float | None
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """Refuses every stream with 400, sends ``first`` of its body, then a byte every
    ``every`` seconds forever (``None``: nothing more, the stream stays open)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        refused: list[int] = []

        async def trickle(stream_id: int) -> None:
            head = [(":status", "400"), ("x-amzn-errortype", "ValidationError")]
            conn.send_headers(stream_id, head)
            conn.send_data(stream_id, first)
            writer.write(conn.data_to_send())
            while every is not None:
                await asyncio.sleep(every)
                conn.send_data(stream_id, b" ")
                writer.write(conn.data_to_send())

        tasks: list[asyncio.Task[None]] = []
        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived) and event.stream_id:
                        refused.append(event.stream_id)
                        tasks.append(asyncio.create_task(trickle(event.stream_id)))
                writer.write(conn.data_to_send())
        except (ConnectionError, h2.exceptions.H2Error):
            pass
        finally:
            for task in tasks:
                task.cancel()
            writer.close()

    return serve


@pytest.mark.parametrize(
    ("every", "total_timeout", "error"),
    [
        (None, None, ServiceError),  # silent after its first bytes: read_timeout ends it
        (0.05, 1.0, DeadlineExceededError),  # a byte every 50 ms forever: total_timeout
    ],
    ids=["silent", "trickling"],
)
async def test_a_refused_open_whose_error_body_never_ends_is_bounded(
    every: float | None, total_timeout: float | None, error: type[Exception]
) -> None:
    config = Config(read_timeout=0.3, total_timeout=total_timeout, max_attempts=1)
    server = await asyncio.start_server(refusing_server(b'{"message": "go', every), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    started = asyncio.get_running_loop().time()
    try:
        async with client_for(f"http://127.0.0.1:{port}", config=config) as client:
            with pytest.raises(error) as caught:
                async with client.invoke_endpoint_with_bidirectional_stream("ep"):
                    pass  # pragma: no cover
    finally:
        server.close()
    assert asyncio.get_running_loop().time() - started < 3.0
    if isinstance(caught.value, ServiceError):  # the refusal, with what came of its body
        assert (caught.value.code, caught.value.status_code) == ("ValidationError", 400)
        assert '{"message": "go' in caught.value.message
