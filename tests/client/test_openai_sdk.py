"""The real ``openai`` package and LangChain's ``ChatOpenAI`` through ``integrations.openai``.

Against the emulator on 127.0.0.1 with exact token checks: the unmodified SDKs,
sync and async, streaming and not, as they would run against AWS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from asyncsagemaker import SageMakerRuntime
from asyncsagemaker.emulator import Emulator, Invocation
from asyncsagemaker.errors import ConfigurationError
from asyncsagemaker.integrations.openai import BearerTokenAuth, async_openai
from asyncsagemaker.integrations.openai import openai as sync_openai

AKID, SECRET = "AKIDOPENAISDK", "openai/sdk+secret"
MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "user", "content": "Tell me about Zürich"}
]
EmulatorFactory = Callable[..., Emulator]
#: ChatOpenAI must have a key (never sent: the auth replaces it); a str in every version.
UNUSED_KEY: Any = "unused"


def client_for(emulator: Emulator, region: str = "us-east-1") -> SageMakerRuntime:
    return SageMakerRuntime(
        region, endpoint_url=emulator.url, aws_access_key_id=AKID, aws_secret_access_key=SECRET
    )


@pytest.fixture
def emu(start_emulator: EmulatorFactory) -> Emulator:
    return start_emulator(credentials={AKID: SECRET}, token_delay=0.001)


@pytest.mark.anyio
async def test_the_async_sdk_streams_and_answers_whole(emu: Emulator) -> None:
    async with client_for(emu) as client:
        llm = async_openai(client, "demo", max_retries=0)
        async with llm:
            whole = await llm.chat.completions.create(model="", messages=MESSAGES, max_tokens=6)
            stream = await llm.chat.completions.create(
                model="", messages=MESSAGES, max_tokens=6, stream=True,
                extra_body={"stream_options": {"include_usage": True}},  # any openai 1.x
            )  # fmt: skip
            pieces, usage = [], None
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
                usage = chunk.usage or usage
        reference = await client.chat("demo", [dict(m) for m in MESSAGES], max_tokens=6)
    assert whole.choices[0].message.content == "".join(pieces) == reference.text
    assert whole.choices[0].finish_reason == "length"
    assert whole.usage is not None and usage is not None
    assert whole.usage.completion_tokens == usage.completion_tokens == 6
    assert [r.status for r in emu.records] == [200, 200, 200]
    assert emu.records[0].headers["authorization"].startswith("Bearer <redacted")


def test_the_sync_sdk_works_without_an_event_loop(emu: Emulator) -> None:
    """A plain thread, a client never entered: the token is made in a worker thread."""
    client = client_for(emu)
    llm = sync_openai(client, "demo", max_retries=0)
    with llm:
        whole = llm.chat.completions.create(model="", messages=MESSAGES, max_tokens=5)
        pieces = [
            chunk.choices[0].delta.content or ""
            for chunk in llm.chat.completions.create(
                model="", messages=MESSAGES, max_tokens=5, stream=True
            )
            if chunk.choices
        ]
    assert whole.choices[0].message.content == "".join(pieces)
    assert len(emu.records) == 2 and all(r.status == 200 for r in emu.records)
    assert threading.active_count() < 50  # no thread per request


def test_the_sync_flow_keeps_working_across_token_refreshes(emu: Emulator) -> None:
    llm = sync_openai(client_for(emu), "demo", expires_in=1, max_retries=0)
    started = time.monotonic()
    with llm:
        while time.monotonic() - started < 2.5:
            llm.chat.completions.create(model="", messages=MESSAGES, max_tokens=1)
            time.sleep(0.05)
    tokens = {r.headers["authorization"] for r in emu.records}
    assert all(r.status == 200 for r in emu.records) and len(tokens) >= 2


@pytest.mark.anyio
async def test_langchain_chat_openai_through_the_auth(emu: Emulator) -> None:
    from langchain_openai import ChatOpenAI

    async with client_for(emu) as client:
        auth = BearerTokenAuth(client)
        async with httpx.AsyncClient(auth=auth) as async_http:
            with httpx.Client(auth=auth) as sync_http:
                llm = ChatOpenAI(
                    model="demo",
                    base_url=client.openai_base_url("demo"),
                    api_key=UNUSED_KEY,
                    http_client=sync_http,
                    http_async_client=async_http,
                    max_retries=0,
                )
                answer = await llm.ainvoke("Hello there")
                streamed = "".join(
                    [str(chunk.content) async for chunk in llm.astream("Hello there")]
                )
    assert isinstance(answer.content, str) and "Hello there" in answer.content
    assert streamed == answer.content
    assert all(r.status == 200 for r in emu.records) and len(emu.records) == 2


def test_langchain_sync_invoke(emu: Emulator) -> None:
    from langchain_openai import ChatOpenAI

    client = client_for(emu)
    with httpx.Client(auth=BearerTokenAuth(client)) as http:
        llm = ChatOpenAI(
            model="demo", base_url=client.openai_base_url("demo"), api_key=UNUSED_KEY,
            http_client=http, max_retries=0,
        )  # fmt: skip
        assert "Hello there" in str(llm.invoke("Hello there").content)


def test_an_inference_component_and_a_refusal(start_emulator: EmulatorFactory) -> None:
    seen: list[Invocation] = []

    async def model(inv: Invocation) -> bytes:
        seen.append(inv)
        return (
            b'{"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": '
            b'[{"index": 0, "message": {"role": "assistant", "content": "ok"}, '
            b'"finish_reason": "stop"}]}'
        )

    emu = start_emulator(models={"llm": model}, credentials={AKID: SECRET}, region="eu-west-1")
    with sync_openai(client_for(emu, "eu-west-1"), "llm", inference_component="ic-7") as llm:
        answer = llm.chat.completions.create(model="", messages=MESSAGES)
    assert answer.choices[0].message.content == "ok" and seen[0].inference_component_name == "ic-7"
    with (
        sync_openai(client_for(emu, "us-east-1"), "llm", max_retries=0) as llm,
        pytest.raises(openai.PermissionDeniedError, match="for region 'us-east-1'") as refused,
    ):
        llm.chat.completions.create(model="", messages=MESSAGES)
    assert refused.value.status_code == 403
    assert refused.value.response.headers["x-amzn-ErrorType"] == "InvalidSignatureException"


def test_a_base_url_of_another_region_is_refused_before_sending() -> None:
    client = SageMakerRuntime(
        "us-east-1",
        endpoint_url="https://runtime.sagemaker.eu-west-1.amazonaws.com",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
    )
    with pytest.raises(ConfigurationError, match="eu-west-1"):
        sync_openai(client, "demo")
    with pytest.raises(ConfigurationError, match="eu-west-1"):
        async_openai(client, "demo")


def test_the_auth_never_shows_its_token(emu: Emulator) -> None:
    client = client_for(emu)
    auth = BearerTokenAuth(client, expires_in=300)
    with httpx.Client(auth=auth) as http:
        response = http.post(
            emu.openai_base_url("demo") + "/chat/completions",
            json={"messages": MESSAGES, "max_tokens": 1},
        )
    assert response.status_code == 200
    token = response.request.headers["Authorization"].removeprefix("Bearer ")
    assert token.startswith("sagemaker-api-key-")
    assert token not in repr(auth) and "expires_in=300" in repr(auth)
    with pytest.raises(TypeError, match="SageMakerRuntime"):
        BearerTokenAuth("not a client")  # type: ignore[arg-type]
