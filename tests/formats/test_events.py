"""TokenDecoder's event form: every field as the server sent it, for every recorded format.

Each fixture's ``.json`` lists the exact events (text, token id, logprob, special,
finish reason in our words and the server's, usage) its bytes hold; they are checked
whole, one byte at a time and cut at every place, with the named format and with
``auto``.  ``tokens`` must stay the view of the events it always was.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

import pytest

from asyncsagemaker.codecs import SSEDecoder
from asyncsagemaker.errors import DecodeError, ModelOutputError, ParamValidationError
from asyncsagemaker.formats import (
    FORMATS,
    GenerationAccumulator,
    GenerationEvent,
    TokenDecoder,
    TokenFormat,
    Usage,
    check_format,
)
from tests.formats._openai_schema import assert_chat_chunk, chat_chunk_errors
from tests.formats.test_formats import FIXTURES, NAMES, load, one_byte_at_a_time

EVENT_NAMES = [name for name in NAMES if "events" in load(name)[1]]


def events_of(
    chunks: Iterable[bytes], format: TokenFormat = "auto"
) -> tuple[list[GenerationEvent], Exception | None]:
    """The events of a stream, and the error that ended it (None if none)."""
    decoder = TokenDecoder(format)
    out: list[GenerationEvent] = []
    try:
        for chunk in chunks:
            out += decoder.feed_events(chunk)
        out += decoder.close_events()
    except DecodeError as exc:
        return out, exc
    return out, None


def fields(event: GenerationEvent) -> dict[str, Any]:
    """An event as the fixture files write it (everything but ``raw``)."""
    usage = event.usage
    return {
        "text": event.text,
        "token_id": event.token_id,
        "logprob": event.logprob,
        "special": event.special,
        "finish_reason": event.finish_reason,
        "raw_finish_reason": event.raw_finish_reason,
        "usage": None if usage is None else dataclasses.asdict(usage),
    }


def records(name: str) -> list[Any]:
    """The decoded records of a fixture, as a plain SSE / JSON-lines reader sees them."""
    data, meta = load(name)
    if meta["transport"] == "sse":
        decoder = SSEDecoder()
        return [event.json() for event in decoder.feed(data) + decoder.close()]
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


def test_every_format_has_an_event_fixture() -> None:
    formats = {load(name)[1]["format"] for name in EVENT_NAMES}
    assert formats >= {"tgi", "lmi", "vllm-chat", "vllm-completions"}


# --- the exact events of each recorded stream ---------------------------------------


@pytest.mark.parametrize("name", EVENT_NAMES)
@pytest.mark.parametrize("mode", ["auto", "explicit"])
def test_fixture_events_exact(name: str, mode: str) -> None:
    data, meta = load(name)
    format: TokenFormat = "auto" if mode == "auto" else meta["format"]
    for chunks in ([data], one_byte_at_a_time(data)):
        events, error = events_of(chunks, format)
        assert [fields(event) for event in events] == meta["events"]
        assert (error is None) == ("error" not in meta)


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_fixture_events_whatever_the_cut(name: str) -> None:
    data, _ = load(name)
    whole, error = events_of([data])
    for cut in range(1, len(data)):
        events, cut_error = events_of([data[:cut], data[cut:]])
        assert events == whole, cut
        assert type(cut_error) is type(error), cut


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_fixture_tokens_are_the_text_of_the_events(name: str) -> None:
    data, meta = load(name)
    events, _ = events_of([data], meta["format"])
    texts = [event.text for event in events if event.text and not event.special]
    assert texts == meta["tokens"]


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_fixture_event_raw_is_the_record(name: str) -> None:
    """``raw`` is the decoded record the event came from, not a copy or a part of it."""
    data, meta = load(name)
    events, _ = events_of([data], meta["format"])
    sent = records(name)
    for event in events:
        assert event.raw in sent


@pytest.mark.parametrize("name", [name for name in EVENT_NAMES if "error" in load(name)[1]])
def test_fixture_error_carries_the_whole_record(name: str) -> None:
    events, error = events_of([load(name)[0]])
    assert isinstance(error, ModelOutputError)
    assert error.payload == records(name)[len(events)]  # the record right after the events


def test_tgi_end_of_sequence_is_a_special_event_that_keeps_the_ending() -> None:
    events, _ = events_of([load("tgi")[0]])
    last = events[-1]
    assert (last.text, last.special, last.token_id) == ("</s>", True, 2)
    assert (last.finish_reason, last.raw_finish_reason) == ("stop", "eos_token")
    assert last.usage == Usage(prompt_tokens=None, completion_tokens=10, total_tokens=None)
    assert all(not event.special for event in events[:-1])


def test_accumulated_fixtures() -> None:
    """What stream.final() builds from each stream: text, last finish reason, last usage."""
    expected = {
        "tgi": ("stop", "eos_token", Usage(None, 10, None)),
        "tgi-length": ("length", "length", Usage(7, 5, None)),
        "tgi-chat": ("stop", "stop", Usage(15, 4, 19)),
        "tgi-chat-2.0": ("stop", "eos_token", None),
        "lmi": ("length", "length", Usage(None, 10, None)),
        "lmi-sse": ("length", "length", Usage(None, 10, None)),
        "lmi-vllm-async": ("stop", "stop", Usage(9, 5, None)),
        "lmi-chat": ("stop", "eos_token", None),
        "lmi-outputs": (None, None, None),
        "vllm-chat": ("stop", "stop", Usage(12, 9, 21)),
        "vllm-completions": ("length", "length", None),
        "vllm-completions-usage": ("stop", "stop", Usage(6, 2, 8)),
    }
    assert set(expected) == {name for name in EVENT_NAMES if "error" not in load(name)[1]}
    for name, (finish, raw_finish, usage) in expected.items():
        data, meta = load(name)
        accumulator = GenerationAccumulator()
        accumulator.extend(events_of([data])[0])
        generation = accumulator.result()
        assert generation.text == "".join(meta["tokens"]), name
        assert (generation.finish_reason, generation.raw_finish_reason) == (finish, raw_finish)
        assert generation.usage == usage, name
        assert generation.stats is None


# --- the chat fixtures against the strict OpenAI chunk schema ----------------------


@pytest.mark.parametrize("name", ["vllm-chat", "tgi-chat"])
def test_openai_compliant_chat_fixtures_pass_the_schema(name: str) -> None:
    for record in records(name):
        assert_chat_chunk(record)


def test_deviating_chat_fixtures_fail_the_schema_where_they_deviate() -> None:
    """The schema is strict enough to see what real servers do differently."""
    old_tgi = records("tgi-chat-2.0")
    assert any("'chat.completion.chunk' was expected" in e for e in chat_chunk_errors(old_tgi[0]))
    assert any("'eos_token'" in e for e in chat_chunk_errors(old_tgi[-1]))
    lmi = chat_chunk_errors(records("lmi-chat")[0])
    assert "$: 'model' is a required property" in lmi
    assert any(e.startswith("$.choices[0].logprobs") for e in lmi)
    with pytest.raises(AssertionError, match="model"):
        assert_chat_chunk(records("lmi-chat")[0])


# --- the rules, one by one -----------------------------------------------------------


ABSENT: Any = object()


def chunk(choices: Any = ABSENT, **fields: Any) -> bytes:
    """A chat chunk event; ``choices`` left out of it unless given (None gives null)."""
    body: dict[str, Any] = {"object": "chat.completion.chunk", **fields}
    if choices is not ABSENT:
        body["choices"] = choices
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def test_usage_only_chunk_without_choices_is_read() -> None:
    """vLLM may send the usage chunk with ``choices`` null or left out."""
    usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    data = (
        chunk([{"index": 0, "delta": {"content": "a"}, "finish_reason": "length"}])
        + chunk(usage=usage)
        + chunk(None, usage=usage)
        + b"data: [DONE]\n\n"
    )
    events, error = events_of([data], "vllm-chat")
    assert error is None
    assert [(e.text, e.finish_reason, e.usage) for e in events] == [
        ("a", "length", None),
        ("", None, Usage(3, 1, 4)),
        ("", None, Usage(3, 1, 4)),
    ]
    decoder = TokenDecoder("vllm-chat")
    assert decoder.feed(data) == ["a"]
    with pytest.raises(DecodeError, match="needs a 'choices' list"):
        TokenDecoder("vllm-chat").feed(chunk(None) + b"\n")  # no usage: not a usage chunk


def test_usage_on_every_chunk_and_usage_before_the_finish() -> None:
    """continuous_usage_stats puts usage on each chunk; some vLLM versions end usage first."""
    data = (
        chunk([{"index": 0, "delta": {"role": "assistant"}}], usage={"prompt_tokens": 5})
        + chunk(
            [{"index": 0, "delta": {"content": "x"}}],
            usage={"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        )
        + chunk([], usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})
        + chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}])
        + b"data: [DONE]\n\n"
    )
    events, _ = events_of([data])
    assert [(e.text, e.finish_reason, e.usage) for e in events] == [
        ("", None, Usage(5, None, None)),
        ("x", None, Usage(5, 1, 6)),
        ("", None, Usage(5, 2, 7)),
        ("", "tool_calls", None),
    ]
    accumulator = GenerationAccumulator()
    accumulator.extend(events)
    result = accumulator.result()
    assert (result.text, result.finish_reason, result.usage) == ("x", "tool_calls", Usage(5, 2, 7))


def test_role_only_and_empty_chunks_give_no_event() -> None:
    data = (
        chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        + chunk([{"index": 0, "delta": {"content": None, "tool_calls": []}}], usage=None)
        + chunk([{"index": 1, "delta": {"content": "other choice"}, "finish_reason": "stop"}])
        + b"data: [DONE]\n\n"
    )
    events, error = events_of([data])
    assert error is None
    # choice 0's role-only and empty deltas give nothing; choice 1's chunk is its own event
    assert [(e.choice, e.text, e.finish_reason) for e in events] == [(1, "other choice", "stop")]
    decoder = TokenDecoder()
    assert decoder.feed(data) + decoder.close() == []  # the text is choice 0's only


def test_logprobs_of_one_token_only() -> None:
    one = {"content": [{"token": "a", "logprob": -0.5, "bytes": [97], "top_logprobs": []}]}
    two = {"content": [{"token": "a", "logprob": -0.5}, {"token": "b", "logprob": -0.25}]}
    data = (
        chunk([{"index": 0, "delta": {"content": "a"}, "logprobs": one}])
        + chunk([{"index": 0, "delta": {"content": "ab"}, "logprobs": two}])
        + chunk([{"index": 0, "delta": {"content": "c"}, "logprobs": {"content": None}}])
        + chunk([{"index": 0, "delta": {"content": "d"}, "logprobs": {"content": [{"x": 1}]}}])
    )
    assert [e.logprob for e in events_of([data])[0]] == [-0.5, None, None, None]


def test_odd_token_fields_are_left_out_not_guessed() -> None:
    lines = [
        {"token": {"id": True, "text": "a", "logprob": "-1"}},  # a bool is no id, text no number
        {"token": {"id": -1, "text": None, "log_prob": -2}},  # LMI's -1: no token
        {"token": {"id": 7, "text": "b", "logprob": -1}},  # an int log-probability is a number
        {"token": {"text": "c"}, "generated_text": "abc", "details": {"finish_reason": 7}},
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    events, _ = events_of([data], "lmi")
    assert [(e.text, e.token_id, e.logprob, e.finish_reason) for e in events] == [
        ("a", None, None, None),
        ("", None, -2.0, None),
        ("b", 7, -1.0, None),
        ("c", None, None, None),
    ]


def test_details_without_counts_give_no_usage() -> None:
    details = {"finish_reason": "stop_sequence", "generated_tokens": None, "inputs": "q"}
    data = json.dumps({"token": {"text": "x"}, "generated_text": "x", "details": details})
    [event] = events_of([data.encode()], "lmi")[0]
    assert (event.finish_reason, event.raw_finish_reason, event.usage) == (
        "stop",
        "stop_sequence",
        None,
    )


def test_lone_generated_text_and_summary_records() -> None:
    [whole] = events_of(
        [b'{"generated_text": "All at once.", "details": {"finish_reason": "length"}}']
    )[0]
    assert (whole.text, whole.finish_reason) == ("All at once.", "length")
    # after tokens the final record is a summary: its ending alone, on an empty event
    data = (
        b'{"token": {"text": "a"}}\n'
        b'{"generated_text": "a", "details": {"finish_reason": "eos_token"}}\n'
    )
    events = events_of([data], "lmi")[0]
    assert [(e.text, e.finish_reason) for e in events] == [("a", None), ("", "stop")]
    # a summary that ends nothing gives no event
    data = b'{"token": {"text": "a"}}\n{"generated_text": "a"}\n'
    assert [e.text for e in events_of([data], "lmi")[0]] == ["a"]


def test_outputs_form_events() -> None:
    data = b'{"outputs": ["This", ""]}\n{"outputs": " is"}\n'
    events = events_of([data])[0]
    assert [(e.text, e.token_id, e.raw) for e in events] == [
        ("This", None, {"outputs": ["This", ""]}),
        (" is", None, {"outputs": " is"}),
    ]


def test_text_events_carry_the_text_only() -> None:
    decoder = TokenDecoder("text")
    events = decoder.feed_events("wö".encode()[:2]) + decoder.feed_events(b"\xb6rld")
    events += decoder.close_events()
    assert [(e.text, e.raw, e.token_id, e.finish_reason) for e in events] == [
        ("w", "w", None, None),
        ("örld", "örld", None, None),
    ]


def test_events_before_an_error_come_first() -> None:
    decoder = TokenDecoder()
    data = (
        b'data:{"token":{"id":1,"text":"a","logprob":-1,"special":false}}\n\n'
        b'data:{"error":"boom","error_type":"generation"}\n\n'
    )
    [event] = decoder.feed_events(data)
    assert event.text == "a"
    with pytest.raises(ModelOutputError) as info:
        decoder.feed_events(b"")
    assert info.value.payload == {"error": "boom", "error_type": "generation"}
    with pytest.raises(ModelOutputError):
        decoder.close_events()
    with pytest.raises(ModelOutputError):
        decoder.feed(b"")  # the text form shares the failed state


def test_lmi_error_details_raise_with_the_record() -> None:
    events, error = events_of([load("lmi-error")[0]])
    assert [e.text for e in events] == ["Deep "]
    assert isinstance(error, ModelOutputError)
    assert error.payload["details"]["finish_reason"] == "error"


def test_feed_events_after_close_and_after_done() -> None:
    decoder = TokenDecoder()
    assert decoder.feed_events(chunk([{"index": 0, "delta": {"content": "a"}}])) != []
    assert decoder.feed_events(b"data: [DONE]\n\ndata: more\n\n") == []
    assert decoder.done
    assert decoder.close_events() == []
    assert decoder.close_events() == []
    with pytest.raises(RuntimeError, match="after close"):
        decoder.feed_events(b"x")


def test_events_are_frozen_values() -> None:
    [event] = events_of([b'data:{"token":{"id":5,"text":"a","logprob":-1.5,"special":false}}\n\n'])[
        0
    ]
    assert type(event) is GenerationEvent
    assert event == GenerationEvent("a", 5, -1.5, False, None, None, None, event.raw)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.text = "b"  # type: ignore[misc]
    assert hash(event) == hash(GenerationEvent("a", 5, -1.5, False, None, None, None, {}))
    assert dataclasses.replace(event, text="b").text == "b"
    assert repr(event).startswith("GenerationEvent(text='a', token_id=5,")


# --- checking names before anything is sent ----------------------------------------


def test_check_format_accepts_exactly_the_names() -> None:
    for name in ("auto", *FORMATS):
        assert check_format(name) == name
    for bad in ("sagemaker", "TGI", "", None, 3):
        with pytest.raises(ParamValidationError) as info:
            check_format(bad)  # type: ignore[arg-type]
        assert isinstance(info.value, ValueError)
        assert str(info.value).endswith(
            ": use one of 'auto', 'tgi', 'lmi', 'vllm-chat', 'vllm-completions', 'openai', 'text'"
        )


def test_bad_arguments_are_param_validation_errors() -> None:
    with pytest.raises(ParamValidationError, match="unknown token format 'sagemaker'"):
        TokenDecoder("sagemaker")  # type: ignore[arg-type]
    with pytest.raises(ParamValidationError, match="errors must be 'strict' or 'replace'"):
        TokenDecoder(errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(ParamValidationError, match="max_record_bytes"):
        TokenDecoder(max_record_bytes=True)


def test_fixture_files_are_listed_in_the_readme() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert f"`{name}`" in readme, name
