"""``batch.run`` in-process against the emulator: the bound, retries, streams, bad lines."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncsagemaker import Config, ParamValidationError, SageMakerRuntime, ValidationError, batch
from asyncsagemaker.cli import build_parser
from asyncsagemaker.emulator import Emulator, Faults
from asyncsagemaker.emulator._demo import demo_answer
from tests.batch._support import CountingModel, kind, prompts, read_rows

pytestmark = pytest.mark.anyio


def client_for(emulator: Emulator, **config: Any) -> SageMakerRuntime:
    return SageMakerRuntime(
        "us-east-1",
        endpoint_url=emulator.url,
        aws_access_key_id="AKIDRUN",
        aws_secret_access_key="run-secret",
        config=Config(**config),
    )


@pytest.fixture
async def demo(start_emulator: Callable[..., Emulator]) -> AsyncIterator[SageMakerRuntime]:
    emulator = start_emulator(
        models={"demo": "demo", "broken": "demo", "dropped": "demo", "throttled": "demo"},
        faults={
            "broken": Faults(stream_error_after=2),
            "dropped": Faults(drop_after=2),
            "throttled": Faults(throttle_first=3),
        },
        token_delay=0,
        max_records=1000,
    )
    async with client_for(emulator, max_attempts=1) as client:
        client.emulator = emulator  # type: ignore[attr-defined]
        yield client


async def test_concurrency_bound_is_what_the_endpoint_sees(
    start_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    model = CountingModel(delay=0.01)
    emulator = start_emulator(models={"llm": model}, max_records=400)
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(prompts(300))
    async with client_for(emulator, max_pool_connections=5) as client:
        with anyio.fail_after(30):
            summary = await batch.run(client, "llm", source, output, concurrency=5)
    assert model.most_in_flight == 5  # the bound, and reached: rows do overlap
    assert model.in_flight == 0
    assert (summary.rows, summary.skipped, summary.complete) == (300, 0, True)
    assert summary.failed == sum(kind(i) == "fail" for i in range(300)) == 30
    assert summary.errors == {"ModelError": 30}
    assert summary.latency_p50 is not None and summary.latency_p95 is not None
    assert 0.01 <= summary.latency_p50 <= summary.latency_p95
    assert summary.ttft_p50 is None  # whole answers have no first token
    rows = read_rows(output)
    assert sorted(row["line"] for row in rows) == list(range(1, 301))
    assert len(emulator.records) == 300  # a ModelError is final: not retried


async def test_a_throttled_row_is_retried_until_it_succeeds(
    demo: SageMakerRuntime, tmp_path: Path
) -> None:
    output = tmp_path / "out.jsonl"
    line = json.dumps({"inputs": "Hello", "parameters": {"max_new_tokens": 4}})
    with anyio.fail_after(30):
        summary = await batch.run(demo, "throttled", [line], output, backoff=0.01)
    (row,) = read_rows(output)
    assert row["error"] is None and row["attempts"] == 4  # the client tries once each time
    assert row["output"][0]["generated_text"].startswith(demo_answer("Hello")[:5])
    assert (summary.succeeded, summary.retried) == (1, 1)
    outcomes = [record.outcome for record in demo.emulator.records]  # type: ignore[attr-defined]
    assert outcomes == ["fault:throttle_first"] * 3 + ["ok"]


async def test_retries_have_a_limit_and_the_error_is_the_row(
    demo: SageMakerRuntime, tmp_path: Path
) -> None:
    output = tmp_path / "out.jsonl"
    with anyio.fail_after(30):
        await batch.run(demo, "throttled", ['{"inputs": "x"}'], output, retries=1, backoff=0)
    (row,) = read_rows(output)
    assert row["attempts"] == 2
    error = row["error"]
    assert error["type"] == "ThrottlingException"
    assert error["request_id"] == demo.emulator.records[-1].request_id  # type: ignore[attr-defined]
    assert "Rate exceeded" in error["message"]


async def test_streamed_rows_have_text_finish_reason_usage_and_first_token(
    demo: SageMakerRuntime, tmp_path: Path
) -> None:
    output = tmp_path / "out.jsonl"
    lines = [
        json.dumps({"inputs": "Tell me", "parameters": {"max_new_tokens": 5, "details": True}}),
        json.dumps({"body": {"inputs": "Plain"}, "id": "plain"}),
        json.dumps(
            {"messages": [{"role": "user", "content": "Hi there"}], "max_tokens": 6, "id": "chat"}
        ),
    ]
    with anyio.fail_after(30):
        summary = await batch.run(demo, "demo", lines, output, stream=True)
    rows = {row["line"]: row for row in read_rows(output)}
    tgi, plain, chat = rows[1], rows[2], rows[3]
    assert tgi["finish_reason"] == "length"  # cut by max_new_tokens, as TGI says
    assert tgi["usage"] == {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": None}
    assert demo_answer("Tell me").startswith(tgi["text"]) and tgi["text"]
    assert 0 < tgi["time_to_first_token"] <= tgi["latency"]
    assert plain["id"] == "plain" and plain["text"] == demo_answer("Plain")
    assert plain["usage"] is None  # TGI sends details only when asked: nothing invented
    assert chat["id"] == "chat" and chat["finish_reason"] == "length"
    assert chat["usage"]["completion_tokens"] == 6  # the OpenAI usage chunk
    assert demo_answer("Hi there").startswith(chat["text"])
    assert summary.ttft_p50 is not None and summary.tokens >= 5 + 6
    assert all(row["error"] is None and row["request_id"] for row in rows.values())


async def test_chat_rows_without_streaming(demo: SageMakerRuntime, tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    line = json.dumps({"messages": [{"role": "user", "content": "Hey"}], "max_tokens": 3})
    with anyio.fail_after(30):
        await batch.run(demo, "demo", [line], output)
    (row,) = read_rows(output)
    assert row["finish_reason"] == "length" and row["usage"]["completion_tokens"] == 3
    assert demo_answer("Hey").startswith(row["text"])


async def test_errors_mid_stream(demo: SageMakerRuntime, tmp_path: Path) -> None:
    first, second = tmp_path / "broken.jsonl", tmp_path / "dropped.jsonl"
    line = '{"inputs": "Tell me more", "parameters": {"max_new_tokens": 8}}'
    with anyio.fail_after(30):
        await batch.run(demo, "broken", [line], first, stream=True, backoff=0)
        await batch.run(demo, "dropped", [line], second, stream=True, retries=2, backoff=0)
    (broken,), (dropped,) = read_rows(first), read_rows(second)
    # A model's stream error is final; a connection lost mid-stream is worth another try.
    assert broken["error"]["type"] == "ModelStreamError" and broken["attempts"] == 1
    assert broken["error"]["request_id"]
    assert dropped["error"]["type"] == "StreamInterruptedError" and dropped["attempts"] == 3


async def test_bad_lines_are_reported_with_their_number_and_skipped(
    demo: SageMakerRuntime, tmp_path: Path
) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [
        '{"inputs": "one"}',
        "{not json",
        "",
        '{"body": {"inputs": "x"}, "custom_atributes": "typo"}',
        '{"messages": "not a list"}',
        '{"body": {"inputs": "x"}, "target_variant": 7}',
        '{"inputs": "two"}',
    ]
    source.write_text("\n".join(lines) + "\n")
    progress = io.StringIO()
    with anyio.fail_after(30):
        summary = await batch.run(
            demo, "demo", source, output, progress="lines", progress_file=progress
        )
    assert [bad.line for bad in summary.bad_lines] == [2, 4, 5, 6]
    messages = {bad.line: bad.message for bad in summary.bad_lines}
    assert messages[2].startswith("not a JSON value")
    assert "'custom_atributes'" in messages[4]
    assert "messages" in messages[5]
    assert messages[6] == "target_variant must be a string, not int"
    assert sorted(row["line"] for row in read_rows(output)) == [1, 7]
    assert (summary.rows, summary.succeeded, summary.complete) == (2, 2, True)
    assert "batch: line 4 skipped: unknown key 'custom_atributes'" in progress.getvalue()
    assert "bad input lines: 4 (lines 2, 4, 5, 6)" in str(summary)


async def test_stop_ends_the_run_and_keeps_what_was_written(
    start_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    model = CountingModel(delay=0.02)
    emulator = start_emulator(models={"llm": model}, max_records=400)
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(prompts(200))
    stop = anyio.Event()
    async with client_for(emulator) as client:

        async def stop_soon() -> None:
            while not output.exists() or output.stat().st_size < 2000:  # noqa: ASYNC110
                await anyio.sleep(0.01)  # the file is the thing watched: polled, as a user would
            stop.set()

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(stop_soon)
                summary = await batch.run(client, "llm", source, output, concurrency=4, stop=stop)
        assert summary.interrupted and not summary.complete
        written = read_rows(output)
        assert len(written) == summary.succeeded + summary.failed < 200
        assert summary.left == 200 - len(written)  # every row not written, in flight or not
        assert f"interrupted with {summary.left} rows left" in str(summary)
        with anyio.fail_after(30):
            rest = await batch.run(client, "llm", source, output, concurrency=4)
    assert rest.complete and rest.skipped == sum(row["error"] is None for row in written)
    assert sorted(row["line"] for row in read_rows(output)) == list(range(1, 201))


async def test_arguments_are_checked_before_anything_is_sent(
    demo: SageMakerRuntime, tmp_path: Path
) -> None:
    output = tmp_path / "out.jsonl"
    for bad in (
        {"concurrency": 0},
        {"retries": -1},
        {"progress": "loud"},
        {"progress_interval": 0},
        {"format": "nope"},
        {"stop_after_failures": -1},
        {"stop_after_failures": 2.5},
    ):
        with pytest.raises(ParamValidationError):
            await batch.run(demo, "demo", ["{}"], output, **bad)
    with pytest.raises(ParamValidationError, match="cannot read the input"):
        await batch.run(demo, "demo", tmp_path / "missing.jsonl", output)
    with pytest.raises(ParamValidationError, match="cannot read the output"):
        await batch.run(demo, "demo", ["{}"], tmp_path)  # a directory
    assert not output.exists() or output.read_bytes() == b""
    assert len(demo.emulator.records) == 0  # type: ignore[attr-defined]


async def test_answers_that_are_not_json(
    start_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    async def model(inv: Any) -> Any:
        from asyncsagemaker.emulator import ModelResponse

        kind = json.loads(inv.body)["kind"]
        body = {"text": "plain é".encode(), "bytes": b"\xff\x00"}[kind]
        return ModelResponse(body, content_type="application/octet-stream")

    emulator = start_emulator(models={"m": model})
    output = tmp_path / "out.jsonl"
    async with client_for(emulator) as client:
        await batch.run(client, "m", ['{"kind": "text"}', '{"kind": "bytes"}'], output)
    rows = {row["line"]: row for row in read_rows(output)}
    assert rows[1]["output"] == "plain é"
    assert rows[2]["output_base64"] == "/wA="
    assert rows[2]["content_type"] == "application/octet-stream"


async def test_a_run_whose_first_rows_all_fail_alike_stops_early_and_says_why(
    start_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    emulator = start_emulator(models={"llm": CountingModel()}, max_records=400)
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(prompts(200))
    async with client_for(emulator) as client:
        with anyio.fail_after(30):
            summary = await batch.run(
                client, "llm-typo", source, output, concurrency=4, stop_after_failures=5
            )
    assert isinstance(summary.stopped_by, ValidationError)
    assert "Endpoint llm-typo of account" in str(summary.stopped_by)
    assert (summary.failed, summary.succeeded, summary.left) == (5, 0, 195)
    assert not summary.complete and not summary.interrupted
    assert summary.error_rows == 5 == len(read_rows(output))
    text = str(summary)
    assert "stopped early: the first 5 rows all failed alike (ValidationError: " in text
    assert "195 rows not sent" in text
    assert len(emulator.records) <= 5 + 4  # the rows in flight at the stop, no more


async def test_a_success_or_a_retryable_error_first_means_no_early_stop(
    demo: SageMakerRuntime, start_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    output = tmp_path / "out.jsonl"
    emulator = start_emulator(models={"llm": CountingModel()})
    lines = [json.dumps({"inputs": "ok prompt 0"})]
    lines += [json.dumps({"inputs": f"fail prompt {i}"}) for i in range(12)]
    async with client_for(emulator) as client:
        with anyio.fail_after(30):  # one at a time: the success finishes first
            summary = await batch.run(
                client, "llm", lines, output, concurrency=1, stop_after_failures=3
            )
    assert summary.stopped_by is None and summary.complete
    assert (summary.succeeded, summary.failed) == (1, 12)
    # Throttled after every retry: worth retrying later, so it never stops a run.
    with anyio.fail_after(30):
        throttled = await batch.run(
            demo,
            "throttled",
            ['{"inputs": "x"}'] * 3,
            tmp_path / "throttled.jsonl",
            retries=0,
            stop_after_failures=2,
        )
    assert throttled.stopped_by is None and throttled.failed == 3
    assert throttled.errors == {"ThrottlingException": 3}


async def test_a_rerun_sends_the_error_rows_again_unless_keep_errors(
    start_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    model = CountingModel()
    emulator = start_emulator(models={"llm": model})
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(prompts(30))  # lines 4, 14 and 24 fail (a ModelError)
    async with client_for(emulator) as client:
        with anyio.fail_after(30):
            first = await batch.run(client, "llm", source, output)
            again = await batch.run(client, "llm", source, output)
            kept = await batch.run(client, "llm", source, output, keep_errors=True)
    assert (first.failed, first.error_rows) == (3, 3)
    assert (again.skipped, again.failed, again.error_rows, again.stopped_by) == (27, 3, 3, None)
    assert (kept.skipped, kept.failed, kept.error_rows, kept.succeeded) == (30, 0, 3, 0)
    assert "the output has 3 error rows" in str(kept)
    rows = read_rows(output)
    assert sorted(row["line"] for row in rows) == list(range(1, 31))  # one row per line
    assert [row["line"] for row in rows if row["error"]] == [4, 14, 24]
    assert model.seen["fail prompt 3"] == 2 and model.seen["ok prompt 0"] == 1


def test_the_commands_default_is_the_librarys() -> None:
    args = build_parser().parse_args(["batch", "in.jsonl", "-o", "out.jsonl", "--endpoint", "e"])
    assert args.stop_after_failures == batch.STOP_AFTER_FAILURES
    assert args.keep_errors is False
