"""JSON nested too deeply for Python's parser: that row's error (or bad line), never the run's end.

100,000 nested ``[`` are far past any recursion limit of every supported Python, so
each of these used to raise a bare ``RecursionError`` out of ``batch.run`` (or out of
a Ray batch) and stop everything; now the row fails alone, typed, and the rows
around it are answered.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncsagemaker import SageMakerRuntime, batch
from asyncsagemaker.emulator import Emulator, Invocation, ModelResponse
from asyncsagemaker.errors import DecodeError
from asyncsagemaker.integrations.ray import EndpointInvoker
from tests.batch._support import AKID, SECRET, read_rows

pytestmark = pytest.mark.anyio

DEPTH = 100_000
DEEP = "[" * DEPTH + "]" * DEPTH


async def deep_whole(inv: Invocation) -> ModelResponse:
    """A whole JSON answer nested too deeply, for prompts that ask for one."""
    if b"deep" in inv.body:
        return ModelResponse(DEEP.encode(), content_type="application/json")
    return ModelResponse(b'{"generated_text": "fine"}', content_type="application/json")


async def deep_stream(inv: Invocation) -> AsyncIterator[bytes]:
    """JSON lines (LMI's shape); for prompts that ask, a record nested too deeply."""
    yield b'{"token": {"text": "fine"}}\n'
    if b"deep" in inv.body:
        yield DEEP.encode() + b"\n"


@pytest.fixture
def emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    return start_emulator(
        models={"echo": "echo", "whole": deep_whole, "stream": deep_stream},
        credentials={AKID: SECRET},
    )


def client_for(emulator: Emulator) -> SageMakerRuntime:
    return SageMakerRuntime(
        "us-east-1",
        endpoint_url=emulator.url,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
    )


async def test_a_line_nested_too_deeply_is_a_bad_line_and_the_run_goes_on(
    emulator: Emulator, tmp_path: Path
) -> None:
    output = tmp_path / "out.jsonl"
    lines = [
        '{"inputs": "before"}',
        "[" * DEPTH,  # unbalanced too: either way past the parser's depth
        DEEP,
        '{"body": {"inputs": "x"}, "id": ' + DEEP + "}",
        '{"inputs": "after"}',
    ]
    async with client_for(emulator) as client:
        with anyio.fail_after(30):
            summary = await batch.run(client, "echo", lines, output)
    assert [bad.line for bad in summary.bad_lines] == [2, 3, 4]
    assert all("nested too deeply" in bad.message for bad in summary.bad_lines)
    rows = {row["line"]: row for row in read_rows(output)}
    assert sorted(rows) == [1, 5]
    assert rows[1]["output"] == {"inputs": "before"} and rows[5]["output"] == {"inputs": "after"}


async def test_a_body_of_deep_json_echoed_back_is_kept_as_text(
    emulator: Emulator, tmp_path: Path
) -> None:
    """The line is fine JSON (a string body), its answer too deep to parse: kept as text."""
    output = tmp_path / "out.jsonl"
    line = json.dumps({"body": DEEP, "content_type": "application/json", "id": "deep"})
    lines = ['{"inputs": "before"}', line, '{"inputs": "after"}']
    async with client_for(emulator) as client:
        with anyio.fail_after(30):
            summary = await batch.run(client, "echo", lines, output)
    assert (summary.succeeded, summary.failed, summary.complete) == (3, 0, True)
    rows = {row["line"]: row for row in read_rows(output)}
    assert rows[2]["error"] is None and rows[2]["output"] == DEEP  # nothing lost
    assert rows[3]["output"] == {"inputs": "after"}


@pytest.mark.parametrize(("endpoint", "stream"), [("whole", False), ("stream", True)])
async def test_an_answer_nested_too_deeply_is_that_rows_error(
    emulator: Emulator, tmp_path: Path, endpoint: str, stream: bool
) -> None:
    output = tmp_path / "out.jsonl"
    chat = json.dumps({"messages": [{"role": "user", "content": "deep"}], "id": "chat"})
    lines = ['{"inputs": "before"}', '{"inputs": "deep"}', chat, '{"inputs": "after"}']
    fmt: Any = "lmi" if stream else None
    async with client_for(emulator) as client:
        with anyio.fail_after(30):
            summary = await batch.run(client, endpoint, lines, output, stream=stream, format=fmt)
    rows = {row["line"]: row for row in read_rows(output)}
    assert sorted(rows) == [1, 2, 3, 4] and summary.complete
    assert rows[1]["error"] is None and rows[4]["error"] is None
    if stream:  # streamed: the deep record is the row's error, typed, with its request id
        error = rows[2]["error"]
        assert error["type"] in {cls.__name__ for cls in _decode_errors()}
        assert error["request_id"]
    else:  # a whole answer: kept as its text
        assert rows[2]["error"] is None and rows[2]["output"] == DEEP
    assert rows[3]["error"] is not None  # a chat answer that is no chat completion
    assert rows[3]["error"]["type"] in {cls.__name__ for cls in _decode_errors()}


async def test_a_ray_batch_with_a_value_nested_too_deeply_fails_that_row_only(
    emulator: Emulator,
) -> None:
    deep: list[Any] = []
    for _ in range(DEPTH):
        deep = [deep]
    invoker = EndpointInvoker(
        "echo",
        region_name="us-east-1",
        endpoint_url=emulator.url,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
    )
    try:
        with anyio.fail_after(30):
            columns = await invoker({"body": [deep, {"inputs": "x"}], "id": [1, 2]})
    finally:
        await invoker.aclose()
    assert columns["error_type"] == ["ParamValidationError", None]
    assert columns["output"][1] is not None and json.loads(columns["output"][1]) == {"inputs": "x"}


def _decode_errors() -> list[type[DecodeError]]:
    """DecodeError and every subclass (FormatError, JSONLineError...)."""
    found: list[type[DecodeError]] = [DecodeError]
    for cls in found:
        found.extend(cls.__subclasses__())
    return found
