"""Whole generations: the accumulator, parse_generation on every answer shape, chat_body.

The answer bodies in tests/data/formats/answers/answers.json were written from each server's
documented or coded non-streaming output (sources in the file).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from asyncsagemaker._stats import StreamStats
from asyncsagemaker.errors import DecodeError, ParamValidationError
from asyncsagemaker.formats import (
    FormatError,
    Generation,
    GenerationAccumulator,
    GenerationEvent,
    ModelOutputError,
    TokenDecoder,
    TokenFormat,
    Usage,
    chat_body,
    parse_generation,
)
from tests.formats._openai_schema import assert_chat_completion, chat_completion_errors
from tests.formats.test_events import EVENT_NAMES
from tests.formats.test_formats import FIXTURES, load

ANSWERS: dict[str, dict[str, Any]] = json.loads(
    (FIXTURES / "answers" / "answers.json").read_text(encoding="utf-8")
)


def event(
    text: str = "",
    *,
    special: bool = False,
    finish: str | None = None,
    raw_finish: str | None = None,
    usage: Usage | None = None,
) -> GenerationEvent:
    return GenerationEvent(text, None, None, special, finish, raw_finish or finish, usage, None)


# --- the accumulator ----------------------------------------------------------------


def test_accumulator_joins_text_and_keeps_the_last_ending() -> None:
    accumulator = GenerationAccumulator()
    accumulator.add(event("Hel"))
    accumulator.extend([event("<s>", special=True), event("lo"), event("", usage=Usage(3, 1, 4))])
    assert accumulator.text == "Hello"
    accumulator.add(event("", finish="stop", raw_finish="eos_token"))
    accumulator.add(event("", usage=Usage(3, 2, 5)))  # usage after the finish: both kept
    stats = StreamStats(time_to_first_part=0.01, parts=5, bytes=120, duration=0.2)
    generation = accumulator.result(stats)
    assert generation == Generation(
        "Hello",
        "stop",
        Usage(3, 2, 5),
        generation.events,
        stats,
        "eos_token",
    )
    assert [e.text for e in generation.events] == ["Hel", "<s>", "lo", "", "", ""]
    assert isinstance(generation.events, tuple)


def test_accumulator_closed_early_has_no_finish_reason() -> None:
    accumulator = GenerationAccumulator()
    accumulator.extend([event("a"), event("b", finish="length", usage=Usage(1, 2, 3))])
    early = accumulator.result(closed_early=True)
    assert (early.text, early.finish_reason, early.raw_finish_reason) == ("ab", None, None)
    assert early.usage == Usage(1, 2, 3)  # what was read is kept
    assert accumulator.result().finish_reason == "length"  # result() does not consume


def test_empty_accumulator() -> None:
    assert GenerationAccumulator().result() == Generation("", None, None, (), None, None)


def test_generation_values_are_frozen() -> None:
    generation = GenerationAccumulator().result()
    with pytest.raises(dataclasses.FrozenInstanceError):
        generation.text = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Usage(1, 2, 3).total_tokens = 4  # type: ignore[misc]


# --- parse_generation: the recorded answers --------------------------------------


@pytest.mark.parametrize("name", sorted(ANSWERS))
@pytest.mark.parametrize("mode", ["auto", "explicit"])
def test_answer_fixtures(name: str, mode: str) -> None:
    answer = ANSWERS[name]
    body = json.dumps(answer["body"], ensure_ascii=False).encode()
    format: TokenFormat = "auto" if mode == "auto" else answer["format"]
    generation = parse_generation(body, format)
    assert generation.text == answer["text"]
    assert generation.finish_reason == answer["finish_reason"]
    assert generation.raw_finish_reason == answer["raw_finish_reason"]
    usage = answer["usage"]
    assert generation.usage == (None if usage is None else Usage(**usage))
    assert generation.stats is None
    [only] = generation.events  # one event: the whole text, with the ending
    record = answer["body"][0] if isinstance(answer["body"], list) else answer["body"]
    assert (only.text, only.raw, only.usage) == (answer["text"], record, generation.usage)
    assert parse_generation(body.decode(), format) == generation  # str bodies too


def test_answer_fixtures_against_the_chat_completion_schema() -> None:
    checked = {name: a for name, a in ANSWERS.items() if "openai_schema" in a}
    assert len(checked) >= 3
    for name, answer in checked.items():
        errors = chat_completion_errors(answer["body"])
        assert (not errors) == answer["openai_schema"], (name, errors)
    assert_chat_completion(ANSWERS["tgi-chat-completion"]["body"])
    vllm = chat_completion_errors(ANSWERS["vllm-chat-completion"]["body"])
    assert any("'prompt_logprobs' was unexpected" in error for error in vllm)


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_a_body_holding_a_whole_stream_reads_as_the_stream(name: str) -> None:
    data, meta = load(name)
    if "error" in meta:
        with pytest.raises(DecodeError):
            parse_generation(data)
        return
    decoder = TokenDecoder(meta["format"])
    accumulator = GenerationAccumulator()
    accumulator.extend(decoder.feed_events(data) + decoder.close_events())
    assert parse_generation(data) == accumulator.result()
    assert parse_generation(data, meta["format"]) == accumulator.result()


def test_plain_text_bodies() -> None:
    assert parse_generation(b"Just words.").text == "Just words."
    assert parse_generation(b"42").text == "42"  # JSON, but no object: text as it is
    text = parse_generation(b'{"generated_text": "x"}', "text")
    assert text.text == '{"generated_text": "x"}'  # "text" takes the body as it is
    assert parse_generation(b"").events == ()
    assert parse_generation(b"caf\xff!", errors="replace").text == "caf\ufffd!"
    with pytest.raises(DecodeError, match="invalid UTF-8 at byte 3"):
        parse_generation(b"caf\xff!")
    with pytest.raises(DecodeError, match="cut short by the end of the stream at byte 3"):
        parse_generation(b"caf\xe9")


def test_error_objects_raise_with_the_whole_record() -> None:
    bodies = [
        {"error": "Input validation error: inputs too long", "error_type": "validation"},
        {"error": {"message": "bad", "type": "BadRequestError", "code": 400}},
        {"object": "error", "message": "old vLLM", "type": "invalid_request_error"},
        [{"error": "in a list", "error_type": "generation"}],
        {"generated_text": "", "details": {"finish_reason": "error", "generated_tokens": None}},
    ]
    for body in bodies:
        with pytest.raises(ModelOutputError) as info:
            parse_generation(json.dumps(body).encode())
        assert info.value.payload == (body[0] if isinstance(body, list) else body)


@pytest.mark.parametrize(
    ("body", "format", "message"),
    [
        (b'{"predictions": [1, 2]}', "auto", "no known answer shape"),
        (b"[]", "auto", "empty JSON list"),
        (b"[1, 2]", "auto", "no known answer shape"),
        (b'{"choices": "no"}', "auto", "needs a 'choices' list"),
        (b'{"choices": [{"index": 1, "text": "x"}]}', "auto", "no choice with index 0"),
        (b'{"choices": [{"index": 0}]}', "auto", "has no 'message' or 'text'"),
        (b'{"choices": [{"message": {"content": 3}}]}', "auto", "not a string"),
        (b'{"generated_text": 3}', "auto", "'generated_text' is not a string"),
        (b'{"choices": [{"text": "x"}]}', "vllm-chat", "has no 'message'"),
        (b'{"choices": [{"message": {"content": "x"}}]}', "vllm-completions", "has no 'text'"),
        (b'{"choices": [{"text": "x"}]}', "tgi", "needs 'generated_text'"),
        (b'{"generated_text": "x"}', "openai", "needs 'choices'"),
        (b"hello", "tgi", "no tgi record in the body"),
        (b"hello", "vllm-chat", "no vllm-chat record"),
    ],
)
def test_bodies_of_no_known_shape(body: bytes, format: TokenFormat, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_generation(body, format)


def test_streamed_chunk_alone_and_token_record_alone() -> None:
    chunk = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "x"}}],
    }
    assert parse_generation(json.dumps(chunk).encode()).text == "x"
    assert parse_generation(b'{"token": {"id": 1, "text": "y", "log_prob": -1}}').text == "y"


def test_tool_call_answer_has_empty_text() -> None:
    body = {
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
                "finish_reason": "tool_calls",
            }
        ],
    }
    generation = parse_generation(json.dumps(body).encode(), "vllm-chat")
    assert (generation.text, generation.finish_reason) == ("", "tool_calls")
    assert generation.events[0].raw == body


def test_parse_generation_checks_its_arguments() -> None:
    with pytest.raises(ParamValidationError, match="unknown token format 'gpt'"):
        parse_generation(b"x", "gpt")  # type: ignore[arg-type]
    with pytest.raises(ParamValidationError, match="errors must be"):
        parse_generation(b"x", errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(ParamValidationError, match="body must be bytes or str"):
        parse_generation({"generated_text": "x"})  # type: ignore[arg-type]
    assert parse_generation(bytearray(b"ok")).text == "ok"


# --- chat_body ----------------------------------------------------------------------

MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    },
    {"role": "tool", "content": "42", "tool_call_id": "c1"},
]


def test_chat_body_streaming() -> None:
    body = chat_body(MESSAGES, max_tokens=16, temperature=0, top_p=1, stop="\n", seed=None)
    assert body == {
        "messages": MESSAGES,
        "max_tokens": 16,
        "temperature": 0,
        "top_p": 1,
        "stop": "\n",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert body["messages"] is not MESSAGES and body["messages"][0] is not MESSAGES[0]
    assert json.loads(json.dumps(body)) == body


def test_chat_body_options() -> None:
    one = [{"role": "user", "content": "Hi"}]
    assert chat_body(one, stream=False, stream_options={"x": 1}) == {"messages": one}
    assert chat_body(one, include_usage=False) == {"messages": one, "stream": True}
    assert chat_body(one, stream_options={"continuous_usage_stats": True})["stream_options"] == {
        "include_usage": True,
        "continuous_usage_stats": True,
    }
    assert chat_body(one, stop=("a", "b"), model="tgi", logprobs=True) == {
        "messages": one,
        "stop": ["a", "b"],
        "model": "tgi",
        "logprobs": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert chat_body(tuple(one), stream=False) == {"messages": one}


@pytest.mark.parametrize(
    ("messages", "kwargs", "message"),
    [
        ([], {}, "messages must not be empty"),
        ("Hi", {}, "must be a list of"),
        ({"role": "user", "content": "Hi"}, {}, "must be a list of"),
        (None, {}, "must be a list of"),
        (["Hi"], {}, r"messages\[0\] must be a mapping"),
        ([{"content": "Hi"}], {}, r"messages\[0\] needs a 'role' string"),
        ([{"role": "", "content": "Hi"}], {}, "needs a 'role' string"),
        ([{"role": "user"}], {}, "needs a 'content'"),
        ([{"role": "user", "content": None}], {}, "has no content"),
        ([{"role": "assistant", "content": None}], {}, "has no content"),
        ([{"role": "user", "content": 3}], {}, "string or a list of content parts"),
        (None, {"max_tokens": 0}, "max_tokens must be a positive int"),
        (None, {"max_tokens": 1.5}, "max_tokens must be a positive int"),
        (None, {"max_tokens": True}, "max_tokens must be a positive int"),
        (None, {"temperature": -0.1}, "temperature must be a number >= 0"),
        (None, {"temperature": float("nan")}, "temperature must be a number >= 0"),
        (None, {"temperature": "0.5"}, "temperature must be a number >= 0"),
        (None, {"top_p": 0}, r"top_p must be a number in \(0, 1\]"),
        (None, {"top_p": 1.5}, r"top_p must be a number in \(0, 1\]"),
        (None, {"stop": ["a", 1]}, "stop must be a string or a list of strings"),
        (None, {"stop": 5}, "stop must be a string or a list of strings"),
        (None, {"stream": "yes"}, "stream must be True or False"),
        (None, {"include_usage": 1}, "include_usage must be True or False"),
        (None, {"stream_options": "x"}, "stream_options must be a mapping"),
        (None, {"seed": object()}, "the chat body is not JSON"),
        (None, {"logit_bias": {"1": float("inf")}}, "the chat body is not JSON"),
    ],
)
def test_chat_body_refuses(messages: Any, kwargs: dict[str, Any], message: str) -> None:
    if messages is None and kwargs:
        messages = [{"role": "user", "content": "Hi"}]
    with pytest.raises(ParamValidationError, match=message) as info:
        chat_body(messages, **kwargs)
    assert isinstance(info.value, ValueError)
