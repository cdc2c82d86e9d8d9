"""examples/{langchain,strands,litellm}_agent.py as a user runs them.

Each against an emulator in this process (its own thread and loop) that checks every
signature, on both routes, and once with its own embedded emulator (``--emulator``):
the model asks for the tool, the program runs it and sends its result back, and the
answer that names the tool's result is printed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from asyncsagemaker.emulator import Emulator, run_in_thread
from tests.examples._support import AKID, SECRET, Child

AGENTS = ["langchain_agent.py", "strands_agent.py", "litellm_agent.py"]
ANSWER = "Here is what I found: get_weather returned Sunny in Oslo."


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with run_in_thread(Emulator(credentials={AKID: SECRET}, token_delay=0)) as emu:
        yield emu


@pytest.mark.parametrize("route", ["invoke", "openai"])
@pytest.mark.parametrize("script", AGENTS)
def test_the_agent_calls_the_tool_and_answers(emulator: Emulator, script: str, route: str) -> None:
    child = Child(script, ["--endpoint-url", emulator.url, "--route", route])
    assert child.wait(60) == 0, child.describe("failed")
    assert "[get_weather({'location': 'Oslo'})]" in child.stdout
    assert child.stdout.rstrip().endswith(ANSWER)
    first, second = emulator.records
    assert first.operation == second.operation
    assert json.loads(first.body)["tools"][0]["function"]["name"] == "get_weather"
    tool_messages = [m for m in json.loads(second.body)["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == ["Sunny in Oslo"]


@pytest.mark.parametrize("script", AGENTS)
def test_the_agent_runs_on_its_own_emulator(script: str) -> None:
    child = Child(script, ["--emulator", "What is the weather in 'Oslo'?"])
    assert child.wait(60) == 0, child.describe("failed")
    assert child.stdout.rstrip().endswith(ANSWER)
