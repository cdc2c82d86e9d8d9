"""examples/fastapi_sse.py served by a real uvicorn on 127.0.0.1, read by httpx.

The emulator and the server each run on their own loop in a thread; the test
talks HTTP to the server like a browser would and checks, in the emulator's
records, what happened to the upstream SageMaker stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from asyncsagemaker.emulator import Emulator, Faults, Invocation, ModelResponse, run_in_thread
from tests.examples._support import AKID, SECRET, Child, load_example, wait_until

SLOW_TOKENS = 400  # at 0.05 s each: 20 s, far longer than any test waits
example = load_example("fastapi_sse")


def chat_chunk(delta: dict[str, str], finish: str | None = None, **extra: Any) -> bytes:
    """One OpenAI ``chat.completion.chunk`` as an SSE event."""
    choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if delta is not None else []
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    return f"data: {json.dumps({**chunk, 'choices': choices, **extra})}\n\n".encode()


def usage_chunk(prompt: int, completion: int) -> bytes:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    usage["total_tokens"] = prompt + completion
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    return f"data: {json.dumps({**chunk, 'choices': [], 'usage': usage})}\n\n".encode()


async def chat_model(inv: Invocation) -> ModelResponse:
    """An OpenAI-style chat stream ``w0 w1 ...``: slowly and long if the prompt says "slowly"."""
    request = json.loads(inv.body)
    slow = "slowly" in request["messages"][-1]["content"]
    count = SLOW_TOKENS if slow else min(5, request["max_tokens"])

    async def parts() -> AsyncIterator[bytes]:
        for index in range(count):
            if slow and index:
                await asyncio.sleep(0.05)
            yield chat_chunk({"content": f"w{index} "})
        yield chat_chunk({}, "length" if count == request["max_tokens"] else "stop")
        yield usage_chunk(3, count)
        yield b"data: [DONE]\n\n"

    return ModelResponse(parts(), content_type="text/event-stream")


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` on uvicorn in a thread, on a free port of 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), 30, "uvicorn start-up")
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with run_in_thread(Emulator(models={"chat": chat_model})) as emu:
        yield emu


@pytest.fixture
def base_url(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AKID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    settings = example.Settings(endpoint="chat", endpoint_url=emulator.url, region="us-east-1")
    with serve(example.create_app(settings)) as url:
        yield url


def read_events(response: httpx.Response, limit: int | None = None) -> list[tuple[str, str]]:
    """(event, data) pairs of an SSE response, at most ``limit`` of them."""
    events: list[tuple[str, str]] = []
    event, data = "message", ""
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
        elif line == "" and data:
            events.append((event, data))
            event, data = "message", ""
            if limit is not None and len(events) >= limit:
                break
    return events


def test_full_answer_relays_every_token_then_done(base_url: str, emulator: Emulator) -> None:
    with (
        httpx.Client(base_url=base_url, timeout=30) as http,
        http.stream("POST", "/chat", json={"prompt": "hello", "max_tokens": 4}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        events = read_events(response)
    end = {
        "finish_reason": "length",
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }
    assert events == [
        *[("message", json.dumps(f"w{i} ")) for i in range(4)],
        ("end", json.dumps(end)),
        ("message", "[DONE]"),
    ]
    record = emulator.records[0]
    assert json.loads(record.body) == {
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 4,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert record.outcome == "ok"


def test_browser_disconnect_closes_the_upstream_stream(base_url: str, emulator: Emulator) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as http:
        with http.stream("POST", "/chat", json={"prompt": "answer slowly"}) as response:
            assert response.status_code == 200
            first = read_events(response, limit=3)
        # the rest of the body is left unread and the connection closed: the browser is gone
        assert [json.loads(data) for _, data in first] == ["w0 ", "w1 ", "w2 "]
        record = emulator.records[0]
        wait_until(
            lambda: record.outcome == "client_disconnected" and record.ended is not None,
            timeout=3,
            what="the upstream stream closed after the browser left",
        )
        assert record.parts_sent < SLOW_TOKENS
        # and the server is fine for the next browser
        with http.stream("POST", "/chat", json={"prompt": "again", "max_tokens": 2}) as response:
            assert read_events(response)[-1] == ("message", "[DONE]")


def test_a_refused_request_is_a_502_with_the_service_error(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AKID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    settings = example.Settings(endpoint="missing", endpoint_url=emulator.url)
    with serve(example.create_app(settings)) as url:
        response = httpx.post(f"{url}/chat", json={"prompt": "hi"}, timeout=30)
    assert response.status_code == 502
    assert response.json()["error"] == "ValidationError"
    assert "Endpoint missing" in response.json()["message"]


def test_a_stream_failure_becomes_an_error_event(base_url: str, emulator: Emulator) -> None:
    emulator.set_faults("chat", Faults(stream_error_after=2))
    with (
        httpx.Client(base_url=base_url, timeout=30) as http,
        http.stream("POST", "/chat", json={"prompt": "hello"}) as response,
    ):
        events = read_events(response)
    assert events[:2] == [("message", '"w0 "'), ("message", '"w1 "')]
    kind, data = events[2]
    assert kind == "error"
    assert json.loads(data)["error"] == "ModelStreamError"
    assert "ModelInvocationTimeExceeded" in json.loads(data)["message"]
    assert len(events) == 3


def test_bad_input_and_the_page(base_url: str) -> None:
    response = httpx.post(f"{base_url}/chat", json={"prompt": ""}, timeout=30)
    assert response.status_code == 422
    response = httpx.post(f"{base_url}/chat", json={"prompt": "x", "max_tokens": 0}, timeout=30)
    assert response.status_code == 422
    page = httpx.get(f"{base_url}/", timeout=30)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'fetch("/chat"' in page.text


def test_settings_from_the_environment() -> None:
    settings = example.Settings.from_env(
        {"SAGEMAKER_ENDPOINT": "llm", "AWS_REGION": "eu-west-1", "SAGEMAKER_EMULATOR": "1"}
    )
    assert settings == example.Settings("llm", None, "eu-west-1", True)
    assert example.Settings.from_env({}) == example.Settings()


def test_as_a_script_with_the_embedded_emulator() -> None:
    child = Child("fastapi_sse.py", ["--emulator", "--port", "0"])
    try:
        wait_until(lambda: "Uvicorn running on" in child.stderr, 60, "the server start-up")
        address = child.stderr.split("Uvicorn running on ", 1)[1].split()[0]
        with (
            httpx.Client(base_url=address, timeout=30) as http,
            http.stream(
                "POST", "/chat", json={"prompt": "Hello there", "max_tokens": 12}
            ) as response,
        ):
            events = read_events(response)
        tokens = [json.loads(data) for kind, data in events[:-2] if kind == "message"]
        assert len(tokens) == 12
        kind, data = events[-2]
        assert kind == "end"
        assert json.loads(data)["finish_reason"] == "length"
        assert json.loads(data)["usage"]["completion_tokens"] == 12
        assert 'You said "Hello there".' in "".join(tokens)
        assert events[-1] == ("message", "[DONE]")
        child.interrupt()
        assert child.wait(30) == 0, child.describe("exit status")
    finally:
        child.kill()


async def flood_model(inv: Invocation) -> ModelResponse:
    """Tokens as fast as they can be written: a reader that stalls fills every buffer."""

    async def parts() -> AsyncIterator[bytes]:
        for index in range(FLOOD_TOKENS):
            yield chat_chunk({"content": f"token number {index} " + "x" * 1000})
        yield chat_chunk({}, "stop")
        yield b"data: [DONE]\n\n"

    return ModelResponse(parts(), content_type="text/event-stream")


FLOOD_TOKENS = 50_000  # about 55 MB: far more than all the buffers on the way hold


def test_a_stalled_browser_that_leaves_closes_the_upstream_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AKID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    with run_in_thread(Emulator(models={"chat": flood_model})) as emulator:
        settings = example.Settings(endpoint="chat", endpoint_url=emulator.url)
        with serve(example.create_app(settings)) as url, httpx.Client(timeout=30) as http:
            with http.stream("POST", f"{url}/chat", json={"prompt": "hi"}) as response:
                lines = response.iter_lines()  # kept: dropping it would close the connection
                assert next(lines).startswith('data: "token number 0 ')
                record = emulator.records[0]
                # the relay is now blocked writing to us: the emulator stops sending
                wait_until(lambda: record.parts_sent > 0, 10, "parts sent")
                time.sleep(0.5)
                assert record.outcome == "pending" and record.parts_sent < FLOOD_TOKENS
            wait_until(
                lambda: record.outcome == "client_disconnected" and record.ended is not None,
                timeout=3,
                what="the upstream stream closed after the stalled browser left",
            )
