"""Stateful sessions: the model opens and closes them; the emulator routes and checks them.

The demo model keeps per-session state (its answer says which turn it is and
quotes the previous prompt), so these tests can prove that later calls, whole or
streamed, reached the same session.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Any

import pytest

import asyncsagemaker.emulator._demo as demo_module
from asyncsagemaker.emulator import Emulator, Invocation, ModelResponse
from asyncsagemaker.emulator._demo import DemoModel, demo_answer
from asyncsagemaker.emulator._sessions import SessionTable
from asyncsagemaker.formats import TokenDecoder

from ._support import boto3_client, stream_parts

Start = Callable[..., Emulator]
NEW_SESSION_HEADER = re.compile(
    r"^(?P<id>[a-zA-Z0-9](-*[a-zA-Z0-9])*);\sExpires="
    r"(?P<expires>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)$"
)  # botocore's pattern for NewSessionId


def chat(prompt: str) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": prompt}]}).encode()


def chat_text(body: bytes) -> str:
    return str(json.loads(body)["choices"][0]["message"]["content"])


def streamed_text(parts: list[bytes]) -> str:
    decoder = TokenDecoder()
    return "".join([t for part in parts for t in decoder.feed(part)] + decoder.close())


def open_session(client: Any, body: bytes, endpoint: str = "demo") -> tuple[str, datetime, Any]:
    answer = client.invoke_endpoint(EndpointName=endpoint, Body=body, SessionId="NEW_SESSION")
    match = NEW_SESSION_HEADER.match(answer["NewSessionId"])
    assert match is not None, answer["NewSessionId"]
    expires = datetime.strptime(match["expires"], "%Y-%m-%dT%H:%M:%SZ")
    return match["id"], expires.replace(tzinfo=timezone.utc), answer


def refused(client: Any, **kwargs: Any) -> str:
    with pytest.raises(client.exceptions.ValidationError) as caught:
        if kwargs.pop("stream", False):
            client.invoke_endpoint_with_response_stream(EndpointName="demo", **kwargs)
        else:
            client.invoke_endpoint(EndpointName="demo", **kwargs)
    return str(caught.value.response["Error"]["Message"])


def test_a_session_remembers_its_turns_whole_and_streamed(start: Start) -> None:
    emu = start(token_delay=0)
    client = boto3_client(emu)
    session_id, expires, first = open_session(client, chat("Tell me about Zürich"))
    uuid.UUID(session_id)
    lifetime = (expires - datetime.now(timezone.utc)).total_seconds()
    assert 20 * 60 - 5 <= lifetime <= 20 * 60  # the default session_ttl
    assert chat_text(first["Body"].read()) == demo_answer("Tell me about Zürich", turn=1)
    assert "ClosedSessionId" not in first

    second = client.invoke_endpoint(
        EndpointName="demo", Body=chat("And about Bern"), SessionId=session_id
    )
    text = chat_text(second["Body"].read())
    assert text == demo_answer("And about Bern", turn=2, previous="Tell me about Zürich")
    assert 'This is turn 2 of our session. Before, you said "Tell me about Zürich".' in text
    assert "NewSessionId" not in second

    parts = stream_parts(client, "demo", chat("What of Basel?"), SessionId=session_id)
    assert streamed_text(parts) == demo_answer("What of Basel?", turn=3, previous="And about Bern")

    closed = client.invoke_endpoint(
        EndpointName="demo", Body=b'{"requestType": "CLOSE"}', SessionId=session_id
    )
    assert closed["ClosedSessionId"] == session_id
    assert closed["Body"].read() == f"session {session_id} closed after 3 turns".encode()

    message = refused(client, Body=chat("Still there?"), SessionId=session_id)
    assert message == (
        f"Session {session_id} is not open on endpoint demo of account 123456789012: it was closed."
    )
    assert "it was closed" in refused(client, Body=chat("x"), SessionId=session_id, stream=True)


def test_without_a_session_the_answer_is_stateless(start: Start) -> None:
    client = boto3_client(start())
    for _ in range(2):
        answer = client.invoke_endpoint(EndpointName="demo", Body=chat("Hi"))
        assert chat_text(answer["Body"].read()) == demo_answer("Hi")


def test_a_request_type_body_opens_a_session_without_a_prompt(start: Start) -> None:
    client = boto3_client(start())
    session_id, _, answer = open_session(client, b'{"requestType": "NEW_SESSION"}')
    assert answer["ContentType"] == "text/plain"
    assert answer["Body"].read() == f"session {session_id} opened".encode()
    turn = client.invoke_endpoint(EndpointName="demo", Body=chat("Hello"), SessionId=session_id)
    assert chat_text(turn["Body"].read()) == demo_answer("Hello", turn=1)


def test_an_unknown_session_is_refused(start: Start) -> None:
    client = boto3_client(start())
    message = refused(client, Body=chat("x"), SessionId="no-such-session")
    assert message == (
        "Session no-such-session is not open on endpoint demo of account 123456789012: "
        "no such session was opened."
    )


def test_an_expired_session_is_refused(start: Start) -> None:
    client = boto3_client(start(session_ttl=0.4))
    session_id, expires, _ = open_session(client, chat("Hi"))
    assert (expires - datetime.now(timezone.utc)).total_seconds() <= 1
    time.sleep(0.5)
    message = refused(client, Body=chat("Hi again"), SessionId=session_id)
    assert re.fullmatch(
        rf"Session {session_id} is not open on endpoint demo of account 123456789012: "
        r"it expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\.",
        message,
    ), message


def test_sessions_belong_to_their_endpoint(start: Start) -> None:
    client = boto3_client(start(models={"a": "demo", "b": "demo"}))
    session_id, _, _ = open_session(client, chat("Hi"), endpoint="a")
    with pytest.raises(client.exceptions.ValidationError, match="endpoint b of account"):
        client.invoke_endpoint(EndpointName="b", Body=chat("Hi"), SessionId=session_id)


def test_the_streaming_call_cannot_open_or_close_a_session(start: Start) -> None:
    client = boto3_client(start())
    assert "'sessionId' failed to satisfy constraint" in refused(
        client, Body=chat("x"), SessionId="NEW_SESSION", stream=True
    )
    session_id, _, _ = open_session(client, chat("Hi"))
    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint_with_response_stream(
            EndpointName="demo", Body=b'{"requestType": "CLOSE"}', SessionId=session_id
        )
    assert caught.value.response["OriginalStatusCode"] == 400
    assert "close a session with InvokeEndpoint" in caught.value.response["OriginalMessage"]


@pytest.mark.parametrize(
    ("body", "kwargs", "fragment"),
    [
        (b'{"requestType": "CLOSE"}', {}, "needs the SessionId of an open session"),
        (b'{"requestType": "NEW_SESSION"}', {}, "open a session with SessionId NEW_SESSION"),
    ],
)
def test_request_types_out_of_place_are_the_models_errors(
    start: Start, body: bytes, kwargs: dict[str, str], fragment: str
) -> None:
    client = boto3_client(start())
    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName="demo", Body=body, **kwargs)
    assert fragment in caught.value.response["OriginalMessage"]


# --- sessions in your own handler --------------------------------------------------


class Counter:
    """A stateful handler: ``inv.session_id`` in, ``ModelResponse`` session ids out."""

    def __init__(self, expires: str | None = None) -> None:
        self.counts: dict[str, int] = {}
        self.expires = expires

    async def __call__(self, inv: Invocation) -> ModelResponse:
        if inv.session_id == "NEW_SESSION":
            session_id = f"s{len(self.counts) + 1}"
            self.counts[session_id] = 0
            opened = f"{session_id}; Expires={self.expires}" if self.expires else session_id
            return ModelResponse(b"opened", new_session_id=opened)
        if inv.session_id is None:
            return ModelResponse(b"stateless")
        if inv.body == b"bye":
            del self.counts[inv.session_id]
            return ModelResponse(b"closed", closed_session_id=inv.session_id)
        self.counts[inv.session_id] += 1
        return ModelResponse(str(self.counts[inv.session_id]).encode())


def test_a_handler_keeps_its_own_sessions(start: Start) -> None:
    counter = Counter()
    emu = start(models={"count": counter})
    client = boto3_client(emu)
    opened = client.invoke_endpoint(EndpointName="count", Body=b"hi", SessionId="NEW_SESSION")
    session_id = opened["NewSessionId"].partition(";")[0]
    assert session_id == "s1"
    for expected in (b"1", b"2"):
        answer = client.invoke_endpoint(EndpointName="count", Body=b"+", SessionId=session_id)
        assert answer["Body"].read() == expected
    parts = stream_parts(client, "count", b"+", SessionId=session_id)
    assert parts == [b"3"]
    bye = client.invoke_endpoint(EndpointName="count", Body=b"bye", SessionId=session_id)
    assert bye["ClosedSessionId"] == "s1"
    with pytest.raises(client.exceptions.ValidationError, match="it was closed"):
        client.invoke_endpoint(EndpointName="count", Body=b"+", SessionId=session_id)


def test_a_handlers_own_expiry_is_sent_and_kept(start: Start) -> None:
    emu = start(models={"count": Counter(expires="2001-01-01T00:00:00Z")})
    client = boto3_client(emu)
    opened = client.invoke_endpoint(EndpointName="count", Body=b"hi", SessionId="NEW_SESSION")
    assert opened["NewSessionId"] == "s1; Expires=2001-01-01T00:00:00Z"
    with pytest.raises(client.exceptions.ValidationError, match="it expired at 2001-01-01T"):
        client.invoke_endpoint(EndpointName="count", Body=b"+", SessionId="s1")


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (ModelResponse(b"", new_session_id="under_score"), "does not match"),
        (ModelResponse(b"", new_session_id="ok; Expires=tomorrow"), "is not YYYY-MM-DDTHH:MM:SSZ"),
        (ModelResponse(b"", closed_session_id="a b"), "does not match"),
    ],
)
def test_session_ids_the_service_would_refuse_are_model_errors(
    start: Start, answer: ModelResponse, fragment: str
) -> None:
    async def model(inv: Invocation) -> ModelResponse:
        return answer

    client = boto3_client(start(models={"m": model}))
    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName="m", Body=b"x", SessionId="NEW_SESSION")
    assert fragment in caught.value.response["OriginalMessage"]


def test_a_streamed_answer_cannot_carry_session_ids(start: Start) -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b"never sent"

    async def model(inv: Invocation) -> ModelResponse:
        return ModelResponse(parts(), new_session_id="abc")

    client = boto3_client(start(models={"m": model}))
    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint_with_response_stream(EndpointName="m", Body=b"x")
    assert "cannot open or close a session" in caught.value.response["OriginalMessage"]


# --- bounded state -----------------------------------------------------------------


def test_the_session_table_is_bounded() -> None:
    table = SessionTable(ttl=60, max_sessions=3)
    for number in range(5):
        table.open("e", f"s{number}")
    assert len(table) == 3
    table.check("e", "s4")
    with pytest.raises(Exception, match="no such session was opened"):
        table.check("e", "s0")


@pytest.mark.anyio
async def test_the_demo_state_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_module, "MAX_SESSIONS", 3)
    model = DemoModel(token_delay=0)
    for _ in range(5):
        inv = Invocation(
            endpoint_name="demo", operation="InvokeEndpoint", body=chat("x" * 10_000),
            session_id="NEW_SESSION",
        )  # fmt: skip
        await model(inv)
    assert len(model._sessions) == 3
    assert all(len(state.last_prompt or "") < 100 for state in model._sessions.values())


@pytest.mark.parametrize("ttl", [0, -1, "soon"])
def test_bad_session_ttl_is_refused(ttl: object) -> None:
    with pytest.raises(ValueError, match="session_ttl"):
        Emulator(session_ttl=ttl)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_the_sdk_client_sees_the_session_headers() -> None:
    from asyncsagemaker import SageMakerRuntime

    async with (
        Emulator(token_delay=0) as emu,
        SageMakerRuntime(
            "us-east-1", endpoint_url=emu.url, aws_access_key_id="a", aws_secret_access_key="b"
        ) as client,
    ):
        opened = await client.invoke_endpoint("demo", body=chat("Hi"), session_id="NEW_SESSION")
        assert opened.new_session_id is not None
        match = NEW_SESSION_HEADER.match(opened.headers["X-Amzn-SageMaker-New-Session-Id"])
        assert match is not None
        assert match["id"] == opened.new_session_id  # the id alone; the expiry apart
        assert opened.new_session_expires_at is not None
        async with client.invoke_endpoint_with_response_stream(
            "demo", body=chat("Again"), session_id=match["id"]
        ) as stream:
            text = "".join([token async for token in stream.tokens()])
        assert text == demo_answer("Again", turn=2, previous="Hi")
        closed = await client.invoke_endpoint(
            "demo", body={"requestType": "CLOSE"}, session_id=match["id"]
        )
        assert closed.closed_session_id == match["id"]
