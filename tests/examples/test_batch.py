"""examples/batch.py as a user runs it: 1,000 prompts against the emulator.

The model counts the requests it is serving at once, fails some prompts before
answering (ModelError for the client) and breaks others mid-stream
(ModelStreamError), so the test sees the concurrency bound, the failures kept
with their types, and every prompt accounted for.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from asyncsagemaker.emulator import Emulator, Invocation, ModelResponse, run_in_thread
from tests.examples._support import Child

PROMPTS = 1000
CONCURRENCY = 8


class CountingModel:
    """Answers ``w0 w1 w2`` (TGI events); "fail" prompts raise, "break" ones break mid-way.

    It runs on the emulator's one loop, so plain counters are safe.
    """

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, inv: Invocation) -> ModelResponse:
        prompt = json.loads(inv.body)["inputs"]
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.002)  # long enough for requests to overlap
            if prompt.startswith("fail"):
                raise RuntimeError("the model cannot answer this")
        except BaseException:
            self.in_flight -= 1
            raise
        return ModelResponse(self._parts(prompt), content_type="text/event-stream")

    async def _parts(self, prompt: str) -> AsyncIterator[bytes]:
        try:
            for index in range(3):
                if index == 1 and prompt.startswith("break"):
                    raise RuntimeError("the model broke mid-answer")
                token = {"id": 1, "text": f"w{index} ", "logprob": -0.1, "special": False}
                event = {"token": token, "generated_text": None, "details": None}
                yield f"data:{json.dumps(event)}\n\n".encode()
            end = {"id": 2, "text": "</s>", "logprob": -0.1, "special": True}
            yield f"data:{json.dumps({'token': end, 'generated_text': 'w0 w1 w2 '})}\n\n".encode()
        finally:
            self.in_flight -= 1


def kind(index: int) -> str:
    return "fail" if index % 20 == 3 else "break" if index % 25 == 7 else "ok"


@pytest.fixture
def model() -> CountingModel:
    return CountingModel()


@pytest.fixture
def emulator(model: CountingModel) -> Iterator[Emulator]:
    with run_in_thread(Emulator(models={"llm": model}, max_records=PROMPTS)) as emu:
        yield emu


def test_a_thousand_prompts_bounded_with_failures_collected(
    tmp_path: Path, emulator: Emulator, model: CountingModel
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"{kind(i)} prompt {i}\n" for i in range(PROMPTS)))
    answers = tmp_path / "answers.jsonl"
    args = ["--endpoint", "llm", "--endpoint-url", emulator.url, "--input", str(prompts)]
    args += ["--output", str(answers), "--concurrency", str(CONCURRENCY)]
    child = Child("batch.py", args)
    try:
        code = child.wait(60)
    finally:
        child.kill()
    assert code == 1, child.describe("some prompts failed: exit status 1")

    results = [json.loads(line) for line in answers.read_text().splitlines()]
    assert sorted(result["index"] for result in results) == list(range(PROMPTS))
    expected = Counter(kind(i) for i in range(PROMPTS))
    errors = Counter(result.get("error") for result in results)
    assert errors == {
        None: expected["ok"],
        "ModelError": expected["fail"],
        "ModelStreamError": expected["break"],
    }
    for result in results:
        assert result["prompt"] == f"{kind(result['index'])} prompt {result['index']}"
        assert result["ok"] is (kind(result["index"]) == "ok")
        if result["ok"]:
            assert result["text"] == "w0 w1 w2 "
            assert 0 <= result["time_to_first_token"] <= result["seconds"]
        else:
            assert result["message"]

    assert 2 <= model.most_in_flight <= CONCURRENCY
    assert len(emulator.records) == PROMPTS  # model errors are not retried
    assert model.in_flight == 0

    progress = [line for line in child.stderr.splitlines() if line.startswith("[")]
    assert len(progress) == 10
    assert progress[-1].startswith(f"[1000/1000] {expected['ok']} ok, ")
    assert "1000 prompts in " in child.stderr
    assert f"  ModelError: {expected['fail']}\n" in child.stderr
    assert f"  ModelStreamError: {expected['break']}\n" in child.stderr


def test_all_ok_to_stdout_exits_0(emulator: Emulator) -> None:
    args = ["--endpoint", "llm", "--endpoint-url", emulator.url, "--count", "40"]
    child = Child("batch.py", [*args, "--progress-every", "10"])
    try:
        assert child.wait(60) == 0, child.describe("exit status")
    finally:
        child.kill()
    results = [json.loads(line) for line in child.stdout.splitlines()]
    assert sorted(result["index"] for result in results) == list(range(40))
    assert all(result["ok"] and result["text"] == "w0 w1 w2 " for result in results)
    assert "40 prompts in " in child.stderr
    assert "0 failed" in child.stderr


def test_embedded_emulator_demo(tmp_path: Path) -> None:
    answers = tmp_path / "answers.jsonl"
    child = Child("batch.py", ["--emulator", "--count", "20", "--output", str(answers)])
    try:
        assert child.wait(60) == 0, child.describe("exit status")
    finally:
        child.kill()
    results = [json.loads(line) for line in answers.read_text(encoding="utf-8").splitlines()]
    assert len(results) == 20
    assert all('You said "Number' in result["text"] for result in results)


def test_bad_options_are_refused() -> None:
    child = Child("batch.py", ["--concurrency", "0"])
    try:
        assert child.wait(30) == 2
    finally:
        child.kill()
    assert "--concurrency" in child.stderr
