"""``client.session()`` against the emulator: the model reaches the same state, and misuse
fails with a typed error before anything is sent.

The emulator's ``demo`` model is stateful: in a session each answer says which turn it
is and quotes the previous prompt, and ``{"requestType": "CLOSE"}`` closes it.  A
session is proved to be the same one by those answers, and by the emulator refusing
its id once it is closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import pytest

import asyncsagemaker
from asyncsagemaker import Config, SageMakerRuntime
from asyncsagemaker._sessions import parse_new_session_id
from asyncsagemaker.emulator import Emulator, Invocation, ModelResponse
from asyncsagemaker.testing import MockResponse, MockTransport
from tests._support import BOTH_LOOPS

pytestmark = pytest.mark.anyio

EmulatorFactory = Callable[..., Emulator]
CLOSE = {"requestType": "CLOSE"}
OPEN = {"requestType": "NEW_SESSION"}


def client_for(emu: Emulator) -> SageMakerRuntime:
    return SageMakerRuntime(
        "us-east-1",
        endpoint_url=emu.url,
        aws_access_key_id="AKIDSESSIONS",
        aws_secret_access_key="sessions/secret",
        config=Config(backoff_base=0.01, max_attempts=1),
    )


def tgi(prompt: str) -> dict[str, Any]:
    return {"inputs": prompt, "parameters": {"max_new_tokens": 200}}


def session_ids(emu: Emulator) -> list[str | None]:
    """The session id each request sent, in order."""
    return [record.headers.get("x-amzn-sagemaker-session-id") for record in emu.records]


def bodies(emu: Emulator) -> list[Any]:
    return [json.loads(record.body) for record in emu.records]


@BOTH_LOOPS
async def test_every_kind_of_call_reaches_the_same_session_and_exit_closes_it(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0, session_ttl=600)
    async with client_for(emu) as client:
        async with client.session("demo", close_body=CLOSE) as session:
            assert (session.id, session.expires_at) == (None, None)
            first = await session.invoke_endpoint(body=tgi("My name is Ada"))
            assert first.json()[0]["generated_text"].count("turn 1") == 1
            opened_at = datetime.now(timezone.utc)
            async with session.invoke_endpoint_with_response_stream(
                body=tgi("What is my name?")
            ) as stream:
                second = await stream.final_text()
            async with session.chat_stream([{"role": "user", "content": "Third"}]) as stream:
                third = await stream.final_text()
            fourth = await session.chat([{"role": "user", "content": "Fourth"}])
        assert session.closed
        opened = session.id
        assert opened is not None
        # Refused by the emulator now: the model closed it when asked on exit.
        with pytest.raises(asyncsagemaker.ValidationError, match="it was closed"):
            await client.invoke_endpoint("demo", body=tgi("Hi"), session_id=opened)
    assert "turn 2" in second and '"My name is Ada"' in second
    assert "turn 3" in third and '"What is my name?"' in third
    assert "turn 4" in fourth.text and '"Third"' in fourth.text
    assert session_ids(emu)[:6] == ["NEW_SESSION", opened, opened, opened, opened, opened]
    assert bodies(emu)[4] == CLOSE
    assert emu.records[4].operation == "InvokeEndpoint"
    expires = session.expires_at
    assert expires is not None and expires.tzinfo is not None
    assert expires.utcoffset() == timedelta(0)
    assert timedelta(seconds=598) <= expires - opened_at <= timedelta(seconds=601)


async def test_a_stream_cannot_open_a_session_without_an_open_body(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        async with client.session("demo") as session:
            with pytest.raises(asyncsagemaker.UsageError, match="open_body"):
                async with session.invoke_endpoint_with_response_stream(body=tgi("Hi")):
                    pass
            with pytest.raises(asyncsagemaker.UsageError, match="open_body"):
                await session.chat_stream([{"role": "user", "content": "Hi"}])
            assert session.id is None
    assert len(emu.records) == 0  # nothing was sent


async def test_with_an_open_body_a_first_stream_opens_the_session_first(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        async with client.session("demo", open_body=OPEN, close_body=CLOSE) as session:
            async with session.chat_stream([{"role": "user", "content": "Hello"}]) as stream:
                first = await stream.final_text()
            second = (await session.invoke_endpoint(body=tgi("Again"))).json()
    assert [r.operation for r in emu.records] == [
        "InvokeEndpoint",
        "InvokeEndpointWithResponseStream",
        "InvokeEndpoint",
        "InvokeEndpoint",
    ]
    assert bodies(emu)[0] == OPEN and session_ids(emu)[0] == "NEW_SESSION"
    assert session_ids(emu)[1:] == [session.id] * 3
    assert "turn 1" in first  # the open request carries no prompt, so no turn
    assert "turn 2" in second[0]["generated_text"]


async def test_open_sends_the_open_body_once_and_concurrent_first_calls_share_one_session(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        async with client.session("demo", open_body=OPEN) as session:
            await asyncio.gather(session.open(), session.open())
            assert session.id is not None
        async with client.session("demo") as racing:
            answers = await asyncio.gather(
                *(racing.invoke_endpoint(body=tgi(f"prompt {n}")) for n in range(4))
            )
    texts = [answer.json()[0]["generated_text"] for answer in answers]
    assert session_ids(emu).count("NEW_SESSION") == 2  # one per session
    turns = sorted(re.findall(r"turn (\d)", text)[0] for text in texts)
    assert turns == ["1", "2", "3", "4"]
    assert set(session_ids(emu)[2:]) - {"NEW_SESSION"} == {racing.id}


async def test_use_after_close_is_refused_before_anything_is_sent(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        async with client.session("demo", close_body=CLOSE) as session:
            await session.invoke_endpoint(body=tgi("Hi"))
        sent = len(emu.records)
        with pytest.raises(asyncsagemaker.SessionClosedError, match="was closed") as caught:
            await session.invoke_endpoint(body=tgi("Again"))
        assert isinstance(caught.value, asyncsagemaker.SessionError)
        assert isinstance(caught.value, RuntimeError)
        assert caught.value.session_id == session.id
        with pytest.raises(asyncsagemaker.SessionClosedError):
            await session.chat([{"role": "user", "content": "x"}])
        with pytest.raises(asyncsagemaker.SessionClosedError):
            await session.invoke_endpoint_with_response_stream(body=b"x")
        with pytest.raises(asyncsagemaker.SessionClosedError):
            await session.chat_stream([{"role": "user", "content": "x"}])
        await session.aclose()  # closing again: nothing happens
    assert len(emu.records) == sent


def expiring_model(expires: str) -> Callable[[Invocation], ModelResponse]:
    """A stateful model whose sessions expire at ``expires`` (the service's format)."""

    def model(inv: Invocation) -> ModelResponse:
        if inv.session_id == "NEW_SESSION":
            session_id = f"s-{uuid.uuid4().hex}; Expires={expires}"
            return ModelResponse(b"opened", new_session_id=session_id)
        return ModelResponse(b"in session")

    return model


async def test_use_after_expiry_is_refused_as_the_service_would(
    start_emulator: EmulatorFactory,
) -> None:
    soon = datetime.now(timezone.utc) + timedelta(seconds=1.2)
    emu = start_emulator(models={"m": expiring_model(soon.strftime("%Y-%m-%dT%H:%M:%SZ"))})
    async with client_for(emu) as client:
        async with client.session("m", close_body=b"close") as session:
            await session.invoke_endpoint(body=b"open")
            assert session.expires_at == soon.replace(microsecond=0)
            if not session.closed:
                assert (await session.invoke_endpoint(body=b"x")).body == b"in session"
            left = session.expires_at - datetime.now(timezone.utc)
            await anyio.sleep(max(0.0, left.total_seconds()) + 0.05)
            assert session.closed
            sent = len(emu.records)
            with pytest.raises(asyncsagemaker.SessionClosedError, match="expired at"):
                await session.invoke_endpoint(body=b"late")
            assert len(emu.records) == sent
            # The emulator agrees: the id is refused there too.
            with pytest.raises(asyncsagemaker.ValidationError, match="expired"):
                await client.invoke_endpoint("m", body=b"late", session_id=session.id)
        assert len(emu.records) == sent + 1  # an expired session is not closed on exit


async def test_a_model_that_opens_no_session_is_a_session_error_with_its_answer(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator()  # echo keeps no state: it answers NEW_SESSION like any call
    async with client_for(emu) as client:
        async with client.session("echo", close_body=b"bye") as session:
            with pytest.raises(asyncsagemaker.SessionError, match="without opening") as caught:
                await session.invoke_endpoint(body=b"hello")
            assert caught.value.response.body == b"hello"  # nothing is lost
            assert caught.value.request_id == caught.value.response.request_id is not None
            assert session.id is None and not session.closed
            with pytest.raises(asyncsagemaker.SessionError):
                await session.chat([{"role": "user", "content": "hi"}])
    assert session_ids(emu) == ["NEW_SESSION", "NEW_SESSION"]  # tried again; no close sent


def forgetful_closer(inv: Invocation) -> ModelResponse:
    """Opens sessions but never says it closed one."""
    if inv.session_id == "NEW_SESSION":
        return ModelResponse(b"opened", new_session_id=f"f-{uuid.uuid4().hex}")
    return ModelResponse(b"ok")


async def test_a_close_the_model_does_not_confirm_is_a_session_error_on_exit(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(models={"m": forgetful_closer})
    async with client_for(emu) as client:
        with pytest.raises(asyncsagemaker.SessionError, match="without closing it") as caught:
            async with client.session("m", close_body=b"close") as session:
                await session.invoke_endpoint(body=b"open")
        assert caught.value.session_id == session.id
        assert caught.value.response.body == b"ok"
        assert session.closed  # closed for use anyway
        # The endpoint still has it: it was not closed there.
        assert (await client.invoke_endpoint("m", body=b"x", session_id=session.id)).body == b"ok"


async def test_an_exception_in_the_block_still_closes_and_goes_on(
    start_emulator: EmulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        with pytest.raises(KeyError):
            async with client.session("demo", close_body=CLOSE) as session:
                await session.invoke_endpoint(body=tgi("Hi"))
                raise KeyError("the application failed")
        assert bodies(emu)[-1] == CLOSE
        emu2 = start_emulator(models={"m": forgetful_closer})
        async with client_for(emu2) as other:
            with caplog.at_level(logging.WARNING, "asyncsagemaker"), pytest.raises(KeyError):
                async with other.session("m", close_body=b"close") as forgetful:
                    await forgetful.invoke_endpoint(body=b"open")
                    raise KeyError("the application failed")
    assert f"session {forgetful.id} was not closed" in caplog.text


async def test_a_cancelled_block_sends_no_close(start_emulator: EmulatorFactory) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        with anyio.move_on_after(0.2):
            async with client.session("demo", close_body=CLOSE) as session:
                await session.invoke_endpoint(body=tgi("Hi"))
                await anyio.sleep(5)
        assert session.closed
        assert len(emu.records) == 1
        # Still open on the endpoint until it expires:
        answer = await client.invoke_endpoint("demo", body=tgi("still"), session_id=session.id)
    assert "turn 2" in answer.json()[0]["generated_text"]


async def test_a_session_the_model_closes_itself_is_closed_and_not_closed_again(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        async with client.session("demo", close_body=CLOSE) as session:
            await session.invoke_endpoint(body=tgi("Hi"))
            answer = await session.invoke_endpoint(body=CLOSE)
            assert answer.closed_session_id == session.id
            assert session.closed
    assert len(emu.records) == 2


async def test_session_keywords_go_to_every_call_and_a_call_overrides_them(
    start_emulator: EmulatorFactory,
) -> None:
    seen: list[Invocation] = []
    emu = start_emulator(token_delay=0)
    demo = emu._models["demo"]

    async def recording(inv: Invocation) -> Any:
        seen.append(inv)
        return await demo(inv)  # type: ignore[misc]

    emu._models["demo"] = recording
    async with client_for(emu) as client:
        session = client.session(
            "demo", close_body=CLOSE, custom_attributes="tenant=a", target_model="m.tar.gz"
        )
        async with session:
            await session.invoke_endpoint(body=tgi("Hi"))
            await session.invoke_endpoint(body=tgi("Hi"), custom_attributes="tenant=b")
            async with session.invoke_endpoint_with_response_stream(body=tgi("Hi")) as stream:
                await stream.read()
    tenants = [inv.custom_attributes for inv in seen]
    assert tenants == ["tenant=a", "tenant=b", "tenant=a", "tenant=a"]
    # target_model is not a member of the streaming call: it goes to InvokeEndpoint only.
    assert [inv.target_model for inv in seen] == ["m.tar.gz", "m.tar.gz", None, "m.tar.gz"]
    assert seen[2].headers.get("x-amzn-sagemaker-target-model") is None


async def test_misused_keywords_are_refused_before_anything_is_sent(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator()
    async with client_for(emu) as client:
        with pytest.raises(asyncsagemaker.UsageError, match="session_id"):
            client.session("demo", session_id="abc")
        async with client.session("demo") as session:
            with pytest.raises(asyncsagemaker.UsageError, match="session_id"):
                await session.invoke_endpoint(body=b"x", session_id="abc")
            with pytest.raises(asyncsagemaker.UsageError, match="session_id"):
                session.invoke_endpoint_with_response_stream(body=b"x", session_id="abc")
        async with client.session("demo", max_tokens=5) as wrong:
            with pytest.raises(asyncsagemaker.ParamValidationError, match="max_tokens"):
                await wrong.invoke_endpoint(body=b"x")
        with pytest.raises(asyncsagemaker.ParamValidationError, match="endpoint name"):
            client.session("")
    assert len(emu.records) == 0


def test_the_new_session_header_is_read_as_the_service_writes_it() -> None:
    assert parse_new_session_id("a1-b2; Expires=2026-01-01T12:20:00Z") == (
        "a1-b2",
        datetime(2026, 1, 1, 12, 20, tzinfo=timezone.utc),
    )
    assert parse_new_session_id("abc") == ("abc", None)  # no expiry known
    for bad in (
        "",
        "a b",
        "-abc; Expires=2026-01-01T12:20:00Z",
        "abc; Expires=tomorrow",
        "abc; Expires=2026-13-01T12:20:00Z",
    ):
        with pytest.raises(asyncsagemaker.SessionError):
            parse_new_session_id(bad)


async def test_a_session_repr_says_its_state(start_emulator: EmulatorFactory) -> None:
    emu = start_emulator(token_delay=0)
    async with client_for(emu) as client:
        session = client.session("demo", close_body=CLOSE)
        assert repr(session) == "<StatefulSession 'demo' id=None not opened>"
        async with session:
            await session.invoke_endpoint(body=tgi("Hi"))
            assert repr(session) == f"<StatefulSession 'demo' id={session.id!r} open>"
        assert repr(session).endswith("closed>")


async def test_many_sessions_are_independent(start_emulator: EmulatorFactory) -> None:
    emu = start_emulator(token_delay=0)

    async def conversation(client: SageMakerRuntime, name: str) -> list[str]:
        texts = []
        async with client.session("demo", close_body=CLOSE) as session:
            for turn in range(3):
                answer = await session.invoke_endpoint(body=tgi(f"{name} {turn}"))
                texts.append(answer.json()[0]["generated_text"])
        return texts

    async with client_for(emu) as client:
        results = await asyncio.gather(*(conversation(client, name) for name in ("ann", "bob")))
    for name, texts in zip(("ann", "bob"), results, strict=True):
        assert f'"{name} 1"' in texts[2]  # each quotes its own previous prompt
        assert "turn 3" in texts[2]


def answering(new_session_id: str | None) -> MockTransport:
    """A transport whose every answer carries this ``X-Amzn-SageMaker-New-Session-Id``."""
    headers = {"x-amzn-RequestId": "req-1"}
    if new_session_id is not None:
        headers["X-Amzn-SageMaker-New-Session-Id"] = new_session_id
    return MockTransport(lambda request: MockResponse(200, headers, b"answer"))


def mock_client(transport: MockTransport) -> SageMakerRuntime:
    return SageMakerRuntime(
        "us-east-1", aws_access_key_id="a", aws_secret_access_key="b", transport=transport
    )


async def test_a_session_header_that_cannot_be_read_is_a_session_error_with_the_answer() -> None:
    async with mock_client(answering("not a session id!")) as client:
        async with client.session("ep") as session:
            with pytest.raises(asyncsagemaker.SessionError, match="not a session id") as caught:
                await session.invoke_endpoint(body=b"x")
            assert caught.value.response.body == b"answer"
            assert caught.value.request_id == "req-1"
            assert session.id is None


async def test_a_session_without_an_expiry_never_expires_here() -> None:
    transport = answering("plain-id")
    async with mock_client(transport) as client:
        with pytest.raises(asyncsagemaker.SessionError, match=r"no expiry given"):
            async with client.session("ep", close_body=b"close") as session:
                await session.invoke_endpoint(body=b"x")
                assert (session.id, session.expires_at) == ("plain-id", None)
                assert not session.closed
                await session.invoke_endpoint(body=b"y")
        # The close was sent; the mock confirmed nothing, so the exit said so.
    assert [r.headers.get("X-Amzn-SageMaker-Session-Id") for r in transport.requests] == [
        "NEW_SESSION",
        "plain-id",
        "plain-id",
    ]


async def test_an_answer_gives_the_new_session_id_and_its_expiry_apart() -> None:
    transport = answering("a1-b2; Expires=2099-01-01T12:20:00Z")
    async with mock_client(transport) as client:
        answer = await client.invoke_endpoint("ep", body=b"x", session_id="NEW_SESSION")
        assert answer.new_session_id == "a1-b2"
        assert answer.new_session_expires_at == datetime(2099, 1, 1, 12, 20, tzinfo=timezone.utc)
        assert answer.headers["X-Amzn-SageMaker-New-Session-Id"].endswith("12:20:00Z")
        async with client.session("ep") as session:  # sessions read the same two
            await session.invoke_endpoint(body=b"x")
            assert (session.id, session.expires_at) == (
                answer.new_session_id,
                answer.new_session_expires_at,
            )
    async with mock_client(answering("plain-id")) as client:
        bare = await client.invoke_endpoint("ep", body=b"x")
        assert (bare.new_session_id, bare.new_session_expires_at) == ("plain-id", None)
