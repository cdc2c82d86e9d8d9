"""``chat_stream``/``chat`` with ``route="openai"`` against the emulator on 127.0.0.1.

The same StreamCall, views, ``final()`` and typed errors as the invoke route, a
bearer token instead of SigV4 (checked exactly by the emulator), refreshed ahead of
its expiry without blocking the loop, and never seen in a log, an error, a span or
a record.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import botocore.session
import httpx
import pytest
from botocore.credentials import RefreshableCredentials

from asyncsagemaker import Config, SageMakerRuntime
from asyncsagemaker._openai_route import parse_route_error
from asyncsagemaker.emulator import Emulator, Faults, Invocation, ModelErrorFault
from asyncsagemaker.errors import (
    ConfigurationError,
    InternalFailure,
    ModelError,
    ModelOutputError,
    ParamValidationError,
    ReadTimeoutError,
    ServiceError,
    ThrottlingException,
    UsageError,
    ValidationError,
)
from tests._support import BOTH_LOOPS

pytestmark = pytest.mark.anyio

AKID, SECRET = "AKIDROUTECLIENT", "route/client+secret"
MESSAGES = [{"role": "user", "content": "Tell me about Zürich"}]
EmulatorFactory = Callable[..., Emulator]


def client_for(emulator: Emulator, region: str = "us-east-1", **config: Any) -> SageMakerRuntime:
    settings: dict[str, Any] = {"backoff_base": 0.01, "read_timeout": 10.0, **config}
    return SageMakerRuntime(
        region,
        endpoint_url=emulator.url,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=Config(**settings),
    )


@pytest.fixture
def emu(start_emulator: EmulatorFactory) -> Emulator:
    return start_emulator(credentials={AKID: SECRET}, token_delay=0.001)


@BOTH_LOOPS
async def test_a_streamed_chat_reads_as_on_the_invoke_route(emu: Emulator) -> None:
    async with client_for(emu) as client:
        async with client.chat_stream("demo", MESSAGES, max_tokens=8, route="openai") as stream:
            tokens = [token async for token in stream.tokens()]
            generation = await stream.final()
        async with client.chat_stream("demo", MESSAGES, max_tokens=8) as invoked:
            reference = await invoked.final()
        whole = await client.chat("demo", MESSAGES, max_tokens=8, route="openai")
    assert "".join(tokens) == generation.text == reference.text == whole.text
    assert generation.finish_reason == whole.finish_reason == "length"
    assert generation.usage == whole.usage == reference.usage
    assert stream.content_type == "text/event-stream" and stream.status_code == 200
    assert generation.request_id == stream.request_id == emu.records[0].request_id
    assert whole.request_id == emu.records[2].request_id
    stats = stream.stats
    assert stats.parts >= 1 and stats.bytes > 0 and stats.duration is not None
    assert [r.operation for r in emu.records] == [
        "ChatCompletions",
        "InvokeEndpoint" + "WithResponseStream",
        "ChatCompletions",
    ]
    sent = json.loads(emu.records[0].body)
    assert sent == {"messages": MESSAGES, "max_tokens": 8, "stream": True,
                    "stream_options": {"include_usage": True}}  # fmt: skip
    assert emu.records[0].headers["authorization"].startswith("Bearer <redacted sha256:")


async def test_every_view_and_final_work_on_a_plain_body(emu: Emulator) -> None:
    async with client_for(emu) as client:
        async with client.chat_stream("demo", MESSAGES, max_tokens=3, route="openai") as stream:
            events = [event.data async for event in stream.sse()]
            generation = await stream.final()
        chunks = [json.loads(event) for event in events]  # the view ends at data: [DONE]
        assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
        assert generation.usage is not None and generation.usage.completion_tokens == 3
        async with client.chat_stream("demo", MESSAGES, max_tokens=3, route="openai") as stream:
            raw = await stream.read()
        assert raw.endswith(b"data: [DONE]\n\n")
        stream = await client.chat_stream("demo", MESSAGES, max_tokens=3, route="openai")
        try:
            texts = [event.text async for event in stream.events()]
        finally:
            await stream.aclose()
        assert "".join(texts) == generation.text


async def test_an_inference_component_is_a_path_segment(start_emulator: EmulatorFactory) -> None:
    seen: list[Invocation] = []

    async def model(inv: Invocation) -> AsyncIterator[bytes]:
        seen.append(inv)
        yield b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n'
        yield b"data: [DONE]\n\n"

    emu = start_emulator(models={"llm": model}, credentials={AKID: SECRET})
    async with client_for(emu) as client:
        async with client.chat_stream(
            "llm", MESSAGES, route="openai", inference_component_name="ic-1", seed=7
        ) as stream:
            assert await stream.final_text() == "hi"
    assert seen[0].inference_component_name == "ic-1" and seen[0].streaming
    assert json.loads(seen[0].body)["seed"] == 7
    assert "x-amzn-sagemaker-inference-component" not in seen[0].headers


async def test_what_the_route_has_no_place_for_is_refused_before_sending(emu: Emulator) -> None:
    async with client_for(emu) as client:
        with pytest.raises(ParamValidationError, match="custom_attributes, target_variant"):
            await client.chat(
                "demo", MESSAGES, route="openai", target_variant="a", custom_attributes="x"
            )
        with pytest.raises(ParamValidationError, match="session_id"):
            await client.chat_stream("demo", MESSAGES, route="openai", session_id="s1")
        with pytest.raises(ParamValidationError, match="unknown route 'bedrock'"):
            client.chat_stream("demo", MESSAGES, route="bedrock")
        with pytest.raises(ParamValidationError, match="stream is the method's"):
            await client.chat("demo", MESSAGES, route="openai", stream=True)
        with pytest.raises(ParamValidationError, match="body"):
            await client.chat("demo", MESSAGES, route="openai", body={"inputs": "hi"})
        with pytest.raises(ParamValidationError, match="messages"):
            await client.chat("demo", [], route="openai")
        with pytest.raises(ParamValidationError, match="endpoint_name"):
            await client.chat("bad_name", MESSAGES, route="openai")
        with pytest.raises(ParamValidationError, match="expires_in"):
            await client.bearer_token(43201)
    assert len(emu.records) == 0


async def test_service_refusals_are_typed_errors_with_message_status_and_request_id(
    start_emulator: EmulatorFactory,
) -> None:
    faults = {
        "demo": Faults(throttle_first=1),
        "echo": Faults(model_error=ModelErrorFault(400, "bad request from the container")),
    }
    emu = start_emulator(credentials={AKID: SECRET}, faults=faults, token_delay=0)
    async with client_for(emu) as client:
        answer = await client.chat("demo", MESSAGES, max_tokens=2, route="openai")
        assert answer.text and [r.status for r in emu.records] == [400, 200]  # retried
        with pytest.raises(ValidationError) as unknown:
            await client.chat("nope", MESSAGES, route="openai")
        with pytest.raises(ModelError) as failed:
            await client.chat_stream("echo", MESSAGES, route="openai")
    assert unknown.value.status_code == 400 and "Endpoint nope" in unknown.value.message
    assert unknown.value.request_id == emu.records[2].request_id
    assert failed.value.status_code == 424 and "bad request from the container" in str(failed.value)


async def test_a_refused_token_says_why_and_the_next_call_makes_a_new_one(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(credentials={AKID: SECRET}, region="eu-west-1", token_delay=0)
    async with client_for(emu, region="us-east-1") as client:
        with pytest.raises(ServiceError) as wrong_region:
            await client.chat("demo", MESSAGES, route="openai")
    assert wrong_region.value.status_code == 403
    assert "another region" in wrong_region.value.message

    emu = start_emulator(credentials={AKID: SECRET}, token_delay=0)
    async with client_for(emu) as client:
        await client.chat("demo", MESSAGES, max_tokens=1, route="openai")
        emu.clock = lambda: time.time() + 2 * 3600  # the cached token is now expired there
        with pytest.raises(ServiceError) as expired:
            await client.chat("demo", MESSAGES, max_tokens=1, route="openai")
        assert expired.value.code == "ExpiredTokenException" and "token expired" in str(
            expired.value
        )
        assert client._tokens is not None and client._tokens.current() is None  # dropped
        emu.clock = time.time
        await client.chat("demo", MESSAGES, max_tokens=1, route="openai")  # a new token
    assert [r.status for r in emu.records] == [200, 403, 200]


async def test_a_token_expiring_mid_run_is_refreshed_without_stalling_the_loop(
    start_emulator: EmulatorFactory,
) -> None:
    """Tokens of 2 s, calls for 5 s: every call succeeds, the loop never waits > 20 ms."""
    emu = start_emulator(credentials={AKID: SECRET}, token_delay=0)
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            expected = loop.time() + 0.005
            await asyncio.sleep(0.005)
            lags.append(max(loop.time() - expected, 0.0))

    async with client_for(emu, bearer_token_lifetime=2) as client:
        tick = asyncio.create_task(ticker())
        started = time.monotonic()
        calls = 0
        while time.monotonic() - started < 5.0:
            async with client.chat_stream("demo", MESSAGES, max_tokens=2, route="openai") as s:
                assert (await s.final()).finish_reason == "length"
            calls += 1
            await asyncio.sleep(0.02)
        done.set()
        await tick
    tokens = {r.headers["authorization"] for r in emu.records}
    assert all(r.status == 200 for r in emu.records) and len(emu.records) == calls
    assert len(tokens) >= 3  # refreshed at least twice
    assert max(lags) < 0.02, f"the loop stalled {max(lags) * 1000:.1f} ms"


async def test_timeouts_and_a_model_failing_mid_stream(start_emulator: EmulatorFactory) -> None:
    async def failing(inv: Invocation) -> AsyncIterator[bytes]:
        yield b'data: {"choices": [{"index": 0, "delta": {"content": "so"}}]}\n\n'
        raise RuntimeError("the GPU fell over")

    faults = {"demo": Faults(stall_seconds=3, stall_after=1)}
    models = {"demo": "demo", "failing": failing}
    emu = start_emulator(credentials={AKID: SECRET}, faults=faults, models=models)
    async with client_for(emu, read_timeout=0.3) as client:
        with pytest.raises(ReadTimeoutError):
            async with client.chat_stream("demo", MESSAGES, route="openai") as stream:
                async for _ in stream.tokens():
                    pass
        got: list[str] = []
        with pytest.raises(ModelOutputError, match="the GPU fell over") as error:
            async with client.chat_stream("failing", MESSAGES, route="openai") as stream:
                async for token in stream.tokens():
                    got.append(token)
    assert got == ["so"] and error.value.request_id == emu.records[-1].request_id


async def test_a_url_of_another_region_is_refused_before_sending() -> None:
    async with SageMakerRuntime(
        "us-east-1",
        endpoint_url="https://runtime.sagemaker.eu-west-1.amazonaws.com",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
    ) as client:
        with pytest.raises(ConfigurationError, match="in eu-west-1 but this client"):
            await client.chat("demo", MESSAGES, route="openai")


async def test_the_base_url_for_the_openai_sdk() -> None:
    client = SageMakerRuntime("eu-west-1", aws_access_key_id=AKID, aws_secret_access_key=SECRET)
    with pytest.raises(UsageError, match="async with"):
        client.openai_base_url("demo")  # not resolved yet, and a loop is running
    async with client:
        assert client.openai_base_url("my-llm") == (
            "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/my-llm/openai/v1"
        )
        assert client.openai_base_url("my-llm", "ic-2").endswith(
            "/endpoints/my-llm/inference-components/ic-2/openai/v1"
        )
        with pytest.raises(ParamValidationError, match="inference_component_name"):
            client.openai_base_url("my-llm", "-bad-")
    custom = SageMakerRuntime("us-east-1", endpoint_url="http://127.0.0.1:9/")
    assert custom.openai_base_url("x") == "http://127.0.0.1:9/endpoints/x/openai/v1"


async def test_bearer_token_is_accepted_by_the_emulator_and_never_leaks(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with client_for(emu) as client:
        token = await client.bearer_token(120)
        async with client.chat_stream("demo", MESSAGES, max_tokens=2, route="openai") as stream:
            await stream.final()
        texts = [repr(client), repr(stream), repr(client._tokens)]
        with pytest.raises(ValidationError) as refused:
            await client.chat("nope", MESSAGES, route="openai")
        texts.append(str(refused.value))
        cached = client._tokens.current() if client._tokens else None
    assert token.startswith("sagemaker-api-key-") and cached is not None
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            emu.openai_base_url("demo") + "/chat/completions",
            json={"messages": MESSAGES, "max_tokens": 1},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 200, answer.text
    texts += [record.getMessage() for record in caplog.records]
    texts += [json.dumps(record.headers) for record in emu.records]
    for secret in (token, cached.value, SECRET):
        assert not any(secret in text for text in texts)


async def test_a_lifetime_cut_by_temporary_credentials_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    expiry = time.time() + 1800
    credentials = RefreshableCredentials.create_from_metadata(
        {"access_key": "ASIAROUTE", "secret_key": "s", "token": "t",
         "expiry_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry))},
        lambda: {},
        "test",
    )  # fmt: skip
    session = botocore.session.Session()
    session.get_credentials = lambda: credentials
    caplog.set_level(logging.WARNING, logger="asyncsagemaker")
    async with SageMakerRuntime("us-east-1", botocore_session=session) as client:
        await client.bearer_token(3600)
    [warning] = [r for r in caplog.records if "bearer token valid for" in r.getMessage()]
    assert "instead of the 3600 s asked" in warning.getMessage()


async def test_spans_of_the_route_carry_no_token(emu: Emulator) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with SageMakerRuntime(
        "us-east-1", endpoint_url=emu.url, aws_access_key_id=AKID,
        aws_secret_access_key=SECRET, tracer_provider=provider,
    ) as client:  # fmt: skip
        async with client.chat_stream("demo", MESSAGES, max_tokens=2, route="openai") as stream:
            await stream.final()
        token = client._tokens.current() if client._tokens else None
    assert token is not None
    spans = exporter.get_finished_spans()
    assert any(span.name == "chat demo" for span in spans)
    dumped = " ".join(json.dumps(dict(span.attributes or {})) for span in spans)
    assert token.value not in dumped and "sagemaker-api-key" not in dumped
    [call] = [span for span in spans if span.name == "chat demo"]
    assert call.attributes is not None and call.attributes["gen_ai.request.stream"] is True


_ENVELOPE = '{"error": {"message": "%s", "type": "%s", "code": "%s"}}'
_BODIES = [
    (400, {}, _ENVELOPE % ("Endpoint x of account 1 not found.", "invalid_request_error",
                           "validation_error"),
     ValidationError, "validation_error", "Endpoint x of account 1 not found."),
    (400, {}, _ENVELOPE % ("Received client error (400) from primary", "server_error",
                           "model_error"),
     ModelError, "model_error", "Received client error (400) from primary"),
    (400, {}, '{"object": "error", "message": "max_tokens too large", '
              '"type": "BadRequestError", "code": 400}',
     ValidationError, "BadRequestError", "max_tokens too large"),
    (422, {}, '{"error": "Input validation error", "error_type": "validation"}',
     ServiceError, "validation", "Input validation error"),
    (500, {"x-amzn-ErrorType": "InternalFailure"}, '{"message": "An internal failure."}',
     InternalFailure, "InternalFailure", "An internal failure."),
    (429, {}, '{"error": {"message": "Rate limit", "type": "rate_limit_error"}}',
     ThrottlingException, "TooManyRequestsException", "Rate limit"),
    (502, {}, "<html><body>502 Bad Gateway</body></html>", ServiceError, "502", "HTTP 502"),
    (403, {"x-amzn-ErrorType": "AccessDeniedException"},
     '{"Message": "User is not authorized to perform sagemaker:CallWithBearerToken"}',
     ServiceError, "AccessDeniedException", "sagemaker:CallWithBearerToken (on '*')"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "headers", "body", "cls", "code", "message"),
    _BODIES,
    ids=["openai-validation", "openai-model", "vllm", "tgi", "aws", "rate-limit", "html",
         "permission"],
)  # fmt: skip
def test_error_bodies_of_every_shape_become_typed_errors(
    status: int,
    headers: dict[str, str],
    body: str,
    cls: type[ServiceError],
    code: str,
    message: str,
) -> None:
    error = parse_route_error(status, {"x-amzn-RequestId": "rid-1", **headers}, body.encode())
    assert type(error) is cls and error.code == code and error.status_code == status
    assert message in error.message and error.request_id == "rid-1"
