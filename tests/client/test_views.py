"""The views of a ResponseStream, end to end: parts split where they hurt most."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import asyncsagemaker
from asyncsagemaker.emulator import Invocation
from asyncsagemaker.emulator._demo import demo_answer
from tests._support import BOTH_LOOPS
from tests.client.test_client_emulator import (
    EmulatorFactory,
    client_for,
    slow_model,
    wait_for,
)

pytestmark = pytest.mark.anyio


def parts_model(parts: list[bytes]) -> Callable[[Invocation], AsyncIterator[bytes]]:
    async def handler(inv: Invocation) -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    return handler


async def collect(emu_factory: EmulatorFactory, parts: list[bytes], view: str) -> list[object]:
    emu = emu_factory(models={"m": parts_model(parts)})
    async with client_for(emu) as client:
        async with client.invoke_endpoint_with_response_stream("m", body=b"") as stream:
            items = [item async for item in getattr(stream, view)()]
        assert stream.closed
    return items


async def test_text_keeps_characters_split_across_parts(start_emulator: EmulatorFactory) -> None:
    text = "café 🤖 über"
    raw = text.encode()
    parts = [raw[i : i + 1] for i in range(len(raw))]  # every character cut apart
    assert "".join(await collect(start_emulator, parts, "text")) == text  # type: ignore[arg-type]


async def test_lines_yield_a_last_line_without_newline(start_emulator: EmulatorFactory) -> None:
    parts = [b"first\r", b"\nsecond\n", b"thi", b"rd"]
    assert await collect(start_emulator, parts, "lines") == ["first", "second", "third"]


async def test_json_lines_across_parts(start_emulator: EmulatorFactory) -> None:
    parts = [b'{"a": 1}\n{"b"', b': [2, 3]}\n\n{"c": "\xc3', b'\xa9"}']
    assert await collect(start_emulator, parts, "json_lines") == [
        {"a": 1},
        {"b": [2, 3]},
        {"c": "é"},
    ]


async def test_bad_json_line_is_a_typed_error_after_the_good_ones(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(models={"m": parts_model([b'{"ok": 1}\n', b"{not json}\n"])})
    seen = []
    async with client_for(emu) as client:
        with pytest.raises(asyncsagemaker.JSONLineError) as caught:
            async with client.invoke_endpoint_with_response_stream("m", body=b"") as stream:
                async for item in stream.json_lines():
                    seen.append(item)
    assert seen == [{"ok": 1}]
    assert caught.value.line == "{not json}"


async def test_sse_two_events_in_one_part_and_done(start_emulator: EmulatorFactory) -> None:
    parts = [b"data: one\n\ndata: two\n", b"\nevent: x\ndata:", b"three\n\ndata: [DONE]\n\n"]
    events = await collect(start_emulator, parts, "sse")
    assert [(e.event, e.data) for e in events] == [  # type: ignore[attr-defined]
        ("message", "one"),
        ("message", "two"),
        ("x", "three"),
    ]


@BOTH_LOOPS
@pytest.mark.parametrize(
    ("request_args", "fmt"),
    [
        ({"body": {"inputs": "Hi there", "parameters": {"max_new_tokens": 20}}}, "tgi"),
        (
            {
                "body": {"inputs": "Hi there", "parameters": {"max_new_tokens": 20}},
                "accept": "application/jsonlines",
            },
            "lmi",
        ),
        (
            {"body": {"messages": [{"role": "user", "content": "Hi there"}], "max_tokens": 20}},
            "vllm-chat",
        ),
        ({"body": {"prompt": "Hi there", "max_tokens": 20}}, "vllm-completions"),
        (
            {
                "body": {"inputs": "Hi there", "parameters": {"max_new_tokens": 20}},
                "custom_attributes": "format=text",
            },
            "text",
        ),
    ],
)
async def test_tokens_of_every_format_give_the_same_answer(
    start_emulator: EmulatorFactory, request_args: dict[str, Any], fmt: str
) -> None:
    emu = start_emulator(token_delay=0)
    expected_words = demo_answer("Hi there").split()[:20]
    async with client_for(emu) as client:
        for requested in ("auto", fmt):
            async with client.invoke_endpoint_with_response_stream(
                "demo", **request_args
            ) as stream:
                tokens = [token async for token in stream.tokens(requested)]
            assert "".join(tokens).split() == expected_words
            assert all(tokens)


async def test_read_returns_everything(start_emulator: EmulatorFactory) -> None:
    parts = [b"a" * 10, b"", b"b" * 5]
    emu = start_emulator(models={"m": parts_model(parts)})
    async with client_for(emu) as client:
        async with client.invoke_endpoint_with_response_stream("m", body=b"") as stream:
            assert await stream.read() == b"a" * 10 + b"b" * 5
            assert stream.stats.parts == 3  # the empty part is a part too


async def test_leaving_a_view_early_closes_the_connection(start_emulator: EmulatorFactory) -> None:
    closed: list[bool] = []
    emu = start_emulator(models={"slow": slow_model(closed)})
    async with client_for(emu) as client:
        stream = await client.invoke_endpoint_with_response_stream("slow", body=b"")
        async for _ in stream.text():
            break
        record = emu.records[-1]
        await wait_for(lambda: record.ended is not None, timeout=1.0)
        assert record.outcome == "client_disconnected"
        assert stream.closed
    await wait_for(lambda: bool(closed))


async def test_a_second_view_is_refused(start_emulator: EmulatorFactory) -> None:
    emu = start_emulator()
    async with client_for(emu) as client:
        async with client.invoke_endpoint_with_response_stream("echo", body=b"x\ny") as stream:
            assert [line async for line in stream.lines()] == ["x", "y"]
            with pytest.raises(asyncsagemaker.StreamConsumedError):
                [t async for t in stream.text()]
