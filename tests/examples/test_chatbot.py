"""examples/chatbot.py as a user runs it: questions on stdin, Ctrl-C as SIGINT.

The emulator runs in this process (its own thread and loop); its records show
what the program did to the upstream connection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import pytest

from asyncsagemaker.emulator import Emulator, Invocation, ModelResponse, run_in_thread
from tests.examples._support import Child, wait_until

SLOW_TOKENS = 400  # at 0.05 s each: 20 s, far longer than any test waits


def chat_chunk(text: str) -> bytes:
    chunk = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


async def chat_model(inv: Invocation) -> ModelResponse:
    """OpenAI-style chat chunks ``w0 w1 ...``: slowly and long if asked "slowly"."""
    question = json.loads(inv.body)["messages"][-1]["content"]
    slow = "slowly" in question

    async def parts() -> AsyncIterator[bytes]:
        for index in range(SLOW_TOKENS if slow else 5):
            if slow and index:
                await asyncio.sleep(0.05)
            yield chat_chunk(f"w{index} ")
        yield b"data: [DONE]\n\n"

    return ModelResponse(parts(), content_type="text/event-stream")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with run_in_thread(Emulator(models={"chat": chat_model})) as emu:
        yield emu


@pytest.fixture
def chatbot(emulator: Emulator) -> Iterator[Child]:
    child = Child("chatbot.py", ["--endpoint", "chat", "--endpoint-url", emulator.url])
    yield child
    child.kill()


def test_ctrl_c_stops_the_answer_closes_the_stream_and_the_chat_goes_on(
    emulator: Emulator, chatbot: Child
) -> None:
    chatbot.wait_for(lambda out: out.endswith("you> "), 20, "the first prompt")
    chatbot.send("answer me slowly\n")
    chatbot.wait_for(lambda out: "w2 " in out, 10, "the first tokens")

    chatbot.interrupt()
    first = emulator.records[0]
    wait_until(
        lambda: first.outcome == "client_disconnected" and first.ended is not None,
        timeout=3,
        what="the upstream stream closed after Ctrl-C",
    )
    assert first.parts_sent < SLOW_TOKENS
    chatbot.wait_for(lambda out: "[stopped]" in out and out.endswith("you> "), 10, "a new prompt")
    assert chatbot.process.poll() is None, "Ctrl-C during an answer must not end the program"
    shown = chatbot.stdout.split("bot> ", 1)[1].split(" [stopped]", 1)[0]

    chatbot.send("and now quickly\n")
    chatbot.wait_for(lambda out: out.count("w4 ") >= 1 and out.count("you> ") == 3, 10, "answer")
    assert "bot> w0 w1 w2 w3 w4 \nyou> " in chatbot.stdout
    second = json.loads(emulator.records[1].body)
    assert second["stream"] is True
    assert second["max_tokens"] == 256
    assert second["messages"] == [
        {"role": "user", "content": "answer me slowly"},
        {"role": "assistant", "content": shown},
        {"role": "user", "content": "and now quickly"},
    ]
    assert shown.startswith("w0 w1 w2 ")

    chatbot.close_stdin()
    assert chatbot.wait(10) == 0, chatbot.describe("exit status")
    assert emulator.records[1].outcome == "ok"


def test_ctrl_c_at_the_prompt_quits(chatbot: Child) -> None:
    chatbot.wait_for(lambda out: out.endswith("you> "), 20, "the first prompt")
    chatbot.interrupt()
    assert chatbot.wait(10) == 130, chatbot.describe("exit status")


def test_history_grows_with_each_exchange_and_exit_quits(
    emulator: Emulator, chatbot: Child
) -> None:
    chatbot.send("one\ntwo\nexit\n")
    assert chatbot.wait(20) == 0, chatbot.describe("exit status")
    assert chatbot.stdout.count("bot> w0 w1 w2 w3 w4 \n") == 2
    bodies = [json.loads(record.body) for record in emulator.records]
    assert [len(body["messages"]) for body in bodies] == [1, 3]
    assert bodies[1]["messages"][1] == {"role": "assistant", "content": "w0 w1 w2 w3 w4 "}


def test_an_error_is_reported_and_the_chat_goes_on(emulator: Emulator) -> None:
    child = Child("chatbot.py", ["--endpoint", "nope", "--endpoint-url", emulator.url])
    try:
        child.send("hello\n")
        child.close_stdin()
        assert child.wait(20) == 0, child.describe("exit status")
        assert "error: ValidationError (HTTP 400): Endpoint nope of account" in child.stderr
        assert child.stdout.count("you> ") == 2
    finally:
        child.kill()


def test_embedded_emulator_demo() -> None:
    child = Child("chatbot.py", ["--emulator"])
    try:
        child.send("Hello there\n")
        child.close_stdin()
        assert child.wait(20) == 0, child.describe("exit status")
        assert 'You said "Hello there".' in child.stdout
    finally:
        child.kill()
