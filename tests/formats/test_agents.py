"""Agent streams: tool calls, reasoning, several choices, LMI 3p, in the servers' real shapes.

The fixtures in tests/data/formats/agents (provenance in its README) are decoded whole,
line by line, one byte at a time and cut at random places, with their named format,
``auto`` and (for OpenAI chunks) ``openai``.  Each must give exactly the choices of
``expected.json``: answer text, reasoning kept apart, tool calls assembled, finish
reasons and usage per choice; ``tokens`` stays choice 0's answer text.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncsagemaker.errors import DecodeError, FormatError, ModelOutputError
from asyncsagemaker.formats import (
    Generation,
    GenerationAccumulator,
    GenerationEvent,
    TokenDecoder,
    TokenFormat,
    ToolCall,
    ToolCallDelta,
    Usage,
    parse_generation,
)
from tests.formats.test_formats import FIXTURES, one_byte_at_a_time

AGENTS = FIXTURES / "agents"
EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (AGENTS / "expected.json").read_text(encoding="utf-8")
)
STREAMS = sorted(name for name, entry in EXPECTED.items() if not entry.get("whole"))
WHOLES = sorted(name for name, entry in EXPECTED.items() if entry.get("whole"))


def data_of(name: str) -> bytes:
    return (AGENTS / name).read_bytes()


@dataclasses.dataclass
class Decoded:
    tokens: list[str]
    events: list[GenerationEvent]
    generations: tuple[Generation, ...]
    tokens_error: Exception | None
    events_error: Exception | None
    format: str | None
    transport: str | None


def decode(chunks: Iterable[bytes], format: TokenFormat) -> Decoded:
    """Both forms of one stream: the texts (``feed``) and the events (``feed_events``)."""
    chunks = list(chunks)
    texts = TokenDecoder(format)
    tokens: list[str] = []
    tokens_error = None
    try:
        for chunk in chunks:
            tokens += texts.feed(chunk)
        tokens += texts.close()
    except DecodeError as exc:
        tokens_error = exc
    decoder = TokenDecoder(format)
    events: list[GenerationEvent] = []
    events_error = None
    try:
        for chunk in chunks:
            events += decoder.feed_events(chunk)
        events += decoder.close_events()
    except DecodeError as exc:
        events_error = exc
    accumulator = GenerationAccumulator()
    accumulator.extend(events)
    return Decoded(
        tokens,
        events,
        accumulator.results(),
        tokens_error,
        events_error,
        decoder.format,
        decoder.transport,
    )


def as_expected(generation: Generation) -> dict[str, Any]:
    """A generation as expected.json writes a choice."""
    return {
        "index": generation.index,
        "text": generation.text,
        "reasoning": generation.reasoning,
        "tool_calls": [dataclasses.asdict(call) for call in generation.tool_calls],
        "finish_reason": generation.finish_reason,
        "raw_finish_reason": generation.raw_finish_reason,
        "usage": None if generation.usage is None else dataclasses.asdict(generation.usage),
    }


def check(name: str, chunks: Iterable[bytes], format: TokenFormat) -> None:
    expected = EXPECTED[name]
    out = decode(chunks, format)
    assert [as_expected(g) for g in out.generations] == expected["choices"], name
    assert out.tokens == expected["tokens"]
    # tokens() is choice 0's answer text, never reasoning nor another choice's text
    assert [e.text for e in out.events if e.text and not e.choice] == expected["tokens"]
    fragments = [sum(len(e.tool_calls) for e in g.events) for g in out.generations]
    assert fragments == expected["fragments"]
    assert {e.choice for e in out.events} <= {c["index"] for c in expected["choices"]}
    for error in (out.tokens_error, out.events_error):
        if "error" not in expected:
            assert error is None, error
            continue
        assert isinstance(error, ModelOutputError)
        wanted = expected["error"]
        code: Any = error.code
        assert (error.message, error.error_type, code) == (
            wanted["message"],
            wanted["error_type"],
            wanted["code"],
        )
    if format == "auto":
        assert out.format == expected["auto"]
    assert out.transport == expected["transport"]


def formats_of(name: str) -> list[TokenFormat]:
    explicit: TokenFormat = EXPECTED[name]["format"]
    names: list[TokenFormat] = ["auto", explicit]
    if explicit.startswith("vllm"):
        names.append("openai")  # what chat_stream reads with
    return names


def per_line(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


# --- every fixture, every chunking --------------------------------------------------


def test_the_fixtures_cover_every_server_and_shape() -> None:
    sources = " ".join(entry["source"] for entry in EXPECTED.values())
    for server in ("vLLM 0.10.2", "vLLM 0.11.1", "vLLM 0.16", "SGLang", "TGI 3.2", "TGI up to 3.1"):
        assert server in sources, server
    for server in ("LMI", "3p_stream", "3p whole", "error", "n=2", "4 prompts"):
        assert server in sources, server
    readme = (AGENTS / "README.md").read_text(encoding="utf-8")
    for name in EXPECTED:
        assert f"`{name}`" in readme, name
        assert (AGENTS / name).is_file()
    assert sorted(path.name for path in AGENTS.iterdir()) == sorted(
        [*EXPECTED, "README.md", "expected.json"]
    )


@pytest.mark.parametrize("name", STREAMS)
def test_fixture_whole_per_line_and_per_byte(name: str) -> None:
    data = data_of(name)
    for format in formats_of(name):
        for chunks in ([data], per_line(data), one_byte_at_a_time(data)):
            check(name, chunks, format)


@st.composite
def cuts(draw: st.DrawFn) -> tuple[str, list[bytes]]:
    name = draw(st.sampled_from(STREAMS))
    data = data_of(name)
    points = sorted(draw(st.lists(st.integers(0, len(data)), max_size=24)))
    return name, [data[a:b] for a, b in itertools.pairwise([0, *points, len(data)])]


@settings(max_examples=200, deadline=None)
@given(cuts(), st.sampled_from(["auto", "explicit"]))
def test_fixture_cut_at_random_places(case: tuple[str, list[bytes]], mode: str) -> None:
    name, chunks = case
    check(name, chunks, "auto" if mode == "auto" else EXPECTED[name]["format"])


@pytest.mark.parametrize("name", WHOLES)
def test_whole_answers(name: str) -> None:
    [expected] = EXPECTED[name]["choices"]
    data = data_of(name)
    assert as_expected(parse_generation(data)) == expected
    assert as_expected(parse_generation(data.decode())) == expected
    if expected["tool_calls"]:
        assert as_expected(parse_generation(data, "vllm-chat")) == expected


# --- what a user reads off them ------------------------------------------------------


def final(name: str, format: TokenFormat = "auto") -> Generation:
    return decode([data_of(name)], format).generations[0]


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("vllm-chat-tools.sse", {"city": "Paris", "unit": "celsius"}),
        ("sglang-chat-tools.sse", {"city": "Paris", "unit": "celsius"}),
        ("tgi-messages-tools.sse", {"location": "Brooklyn, NY", "format": "fahrenheit"}),
        ("tgi-messages-tools-legacy.sse", {"location": "San Francisco, CA", "format": "celsius"}),
    ],
)
def test_streamed_tool_calls_parse_to_their_arguments(name: str, arguments: dict[str, str]) -> None:
    [call] = final(name).tool_calls
    assert call.parse_arguments() == arguments
    assert call.name in ("get_weather", "get_current_weather")
    assert final(name).text == ""  # the arguments are never answer text


def test_a_streamed_call_equals_the_servers_whole_answer() -> None:
    [streamed] = final("vllm-chat-tools.sse").tool_calls
    [whole] = parse_generation(data_of("vllm-chat-nonstream-tools.json")).tool_calls
    assert streamed.name == whole.name
    assert streamed.parse_arguments() == whole.parse_arguments()
    # vLLM 0.10's hermes parser forwards the newline before </tool_call>: kept, exactly
    assert streamed.arguments == whole.arguments + "\n"


def test_tgi_repeats_the_id_on_every_fragment_and_one_call_comes_out() -> None:
    out = decode([data_of("tgi-messages-tools.sse")], "openai")
    deltas = [delta for event in out.events for delta in event.tool_calls]
    assert len(deltas) == 17 and {d.id for d in deltas} == {"0"}
    assert [d.name for d in deltas][:2] == ["get_current_weather", None]
    assert out.generations[0].tool_calls == (
        ToolCall("0", "get_current_weather", "".join(d.arguments for d in deltas)),
    )
    assert out.generations[0].finish_reason is None  # TGI sends none in tool mode


def test_tgi_legacy_calls_are_unwrapped_and_the_end_token_dropped() -> None:
    """TGI up to 3.1 never names the function: the grammar wraps it in the arguments."""
    out = decode([data_of("tgi-messages-tools-legacy.sse")], "vllm-chat")
    deltas = [delta for event in out.events for delta in event.tool_calls]
    joined = "".join(d.arguments for d in deltas)
    assert joined.startswith('{"function": {"_name": "get_current_weather"')
    assert joined.endswith("}}<|eot_id|>")
    assert {(d.index, d.id, d.name) for d in deltas} == {(0, None, None)}  # "" is no id
    [call] = out.generations[0].tool_calls
    assert call == ToolCall(
        None, "get_current_weather", '{"location": "San Francisco, CA", "format": "celsius"}'
    )
    assert out.generations[0].finish_reason == "stop"


def test_reasoning_is_the_same_in_every_server_and_field_and_never_text() -> None:
    """reasoning_content (vLLM <= 0.11.0, SGLang), both (0.11.1-0.15), reasoning (0.16+)."""
    names = [
        "vllm-chat-reasoning-old.sse",
        "vllm-chat-reasoning-transitional.sse",
        "vllm-chat-reasoning.sse",
        "sglang-chat-reasoning.sse",
        "lmi-async-chat-stream.jsonl",
    ]
    results = {(final(name).reasoning, final(name).text) for name in names}
    assert results == {("Okay, the user asks what 2+2 is. That's 4.\n", "\n\n2 + 2 = 4.")}
    whole = parse_generation(data_of("vllm-chat-nonstream-reasoning.json"))
    assert (whole.reasoning, whole.text) == results.pop()
    events = decode([data_of("vllm-chat-reasoning-transitional.sse")], "auto").events
    assert all(not (e.reasoning and e.text) for e in events)
    assert [e.reasoning for e in events if e.reasoning][:3] == ["Okay", ",", " the"]


def test_n2_each_choice_has_its_text_and_the_request_usage() -> None:
    out = decode([data_of("vllm-chat-n2-usage.sse")], "openai")
    first, second = out.generations
    assert (first.index, first.text) == (0, "Hello! How can I help?")
    assert (second.index, second.text) == (1, "Hi there! What's up?")
    assert "".join(out.tokens) == first.text
    # each chunk's usage counts its own choice; the last, usage-only chunk the request
    assert [e.usage for e in out.events if e.choice == 1][-1] == Usage(16, 8, 24)
    assert first.usage == second.usage == Usage(16, 16, 32)
    # the role chunks carry only usage: an event of their own choice each
    assert [(e.choice, e.text, e.usage) for e in out.events][:3] == [
        (0, "", Usage(16, 0, 16)),
        (1, "", Usage(16, 0, 16)),
        (0, "Hello", Usage(16, 1, 17)),
    ]


def test_several_prompts_each_keep_their_own_usage() -> None:
    out = decode([data_of("tgi-completions-multi-prompt-usage.sse")], "auto")
    assert [g.index for g in out.generations] == [0, 1, 2, 3]
    assert [g.usage for g in out.generations] == [
        Usage(6, 10, 16),
        Usage(5, 10, 15),
        Usage(8, 10, 18),
        Usage(3, 10, 13),
    ]
    assert all(g.finish_reason == "length" for g in out.generations)
    assert out.generations[2].text.startswith(" Paris\nWhat is the capital of France?")


def test_lmi_3p_stream_and_its_error_line() -> None:
    generation = final("lmi-3p-stream.jsonl", "lmi")
    assert (generation.text, generation.finish_reason) == ("Hello world", "length")
    assert generation.usage == Usage(prompt_tokens=5, completion_tokens=3, total_tokens=None)
    decoder = TokenDecoder("lmi")
    assert decoder.feed(data_of("lmi-3p-stream.jsonl")) == ["He", "llo", " world"]
    assert decoder.done  # the line with a stop_reason ends it
    out = decode([data_of("lmi-3p-stream-error.jsonl")], "auto")
    assert out.tokens == ["He", "llo", " world"]
    assert isinstance(out.events_error, ModelOutputError)
    assert str(out.events_error) == "the model server reported an error: some error"


@pytest.mark.parametrize("name", ["lmi-error-line.jsonl", "lmi-error-frontend-override.jsonl"])
def test_lmi_errors_keep_the_servers_message(name: str) -> None:
    out = decode([data_of(name)], "lmi")
    assert out.tokens == ["He", "llo"]
    error = out.events_error
    assert isinstance(error, ModelOutputError)
    assert error.message == "exception occurred during rolling batch inference"
    assert "finish_reason" not in error.message


# --- the rules, one by one -----------------------------------------------------------


def sse(*chunks: dict[str, Any]) -> bytes:
    lines = [b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks]
    return b"".join([*lines, b"data: [DONE]\n\n"])


def delta_chunk(delta: dict[str, Any], index: int = 0, finish: str | None = None) -> dict[str, Any]:
    choice = {"index": index, "delta": delta, "finish_reason": finish}
    return {"object": "chat.completion.chunk", "choices": [choice]}


def calls_of(data: bytes) -> tuple[ToolCall, ...]:
    return decode([data], "auto").generations[0].tool_calls


def test_fragments_without_index_follow_their_id() -> None:
    """SGLang up to 0.4 sent no index and the call's number as the id, on every fragment."""

    def fragment(call_id: str | None, name: str | None, arguments: str) -> dict[str, Any]:
        body = {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        return delta_chunk({"tool_calls": [body]})

    data = sse(
        fragment("0", "a", '{"x": '),
        fragment("0", None, "1}"),
        fragment("1", "b", "{}"),
        fragment(None, None, ""),  # no id: the last call's
    )
    assert calls_of(data) == (ToolCall("0", "a", '{"x": 1}'), ToolCall("1", "b", "{}"))


def test_two_calls_interleaved_by_index_and_the_first_id_and_name_kept() -> None:
    def fragment(index: int, **fields: Any) -> dict[str, Any]:
        return {"index": index, **fields}

    data = sse(
        delta_chunk({"tool_calls": [fragment(0, id="c0", function={"name": "f"})]}),
        delta_chunk({"tool_calls": [fragment(1, id="c1", function={"name": "g"})]}),
        delta_chunk({"tool_calls": [fragment(0, id="other", function={"arguments": '{"a"'})]}),
        delta_chunk(
            {
                "tool_calls": [
                    fragment(1, function={"name": "h", "arguments": "{}"}),
                    fragment(0, function={"arguments": ": 1}"}),
                ]
            },
            finish="tool_calls",
        ),
    )
    assert calls_of(data) == (ToolCall("c0", "f", '{"a": 1}'), ToolCall("c1", "g", "{}"))


def test_deltas_say_none_for_what_a_fragment_does_not_carry() -> None:
    data = sse(
        delta_chunk({"tool_calls": [{"index": 0, "id": "", "function": {"name": ""}}]}),
        delta_chunk({"tool_calls": [{"index": 0, "function": {"arguments": None}}]}),
        delta_chunk({"tool_calls": [{"index": 0, "function": "not an object"}]}),
    )
    deltas = [d for e in decode([data], "auto").events for d in e.tool_calls]
    assert deltas == [ToolCallDelta(0, None, None, "")] * 3


@pytest.mark.parametrize(
    ("tool_calls", "message"),
    [
        (5, "'tool_calls' must be a list of objects"),
        (["x"], "a 'tool_calls' entry must be an object"),
    ],
)
def test_malformed_tool_calls_are_format_errors_in_both_forms(
    tool_calls: Any, message: str
) -> None:
    data = sse(delta_chunk({"content": "a"}), delta_chunk({"tool_calls": tool_calls}))
    out = decode([data], "vllm-chat")
    assert out.tokens == ["a"]
    for error in (out.tokens_error, out.events_error):
        assert isinstance(error, FormatError)
        assert message in str(error)


@pytest.mark.parametrize("index", [-1, "0", 1.0, True, None])
def test_a_choice_index_must_be_a_non_negative_int(index: Any) -> None:
    data = sse({"choices": [{"index": index, "delta": {"content": "x"}}]})
    out = decode([data], "auto")
    assert isinstance(out.events_error, FormatError)
    assert isinstance(out.tokens_error, FormatError)
    assert "'index' must be a non-negative int" in str(out.events_error)


def test_usage_rules_per_choice_and_for_the_whole_request() -> None:
    own = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    data = sse(
        delta_chunk({"content": "a"}),
        {**delta_chunk({"content": "b"}, index=1, finish="stop"), "usage": own},
        delta_chunk({}, finish="length"),
    )
    first, second = decode([data], "auto").generations
    assert (first.usage, second.usage) == (None, Usage(1, 2, 3))  # only the choice that carried it
    shared = {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    data = sse(
        delta_chunk({"content": "a"}, finish="stop"),
        {**delta_chunk({"content": "b"}, index=1, finish="stop"), "usage": own},
        {"object": "chat.completion.chunk", "choices": [], "usage": shared},
    )
    first, second = decode([data], "auto").generations
    assert first.usage == second.usage == Usage(5, 4, 9)  # the later, whole-request one


def test_a_record_with_reasoning_content_and_a_tool_call_at_once() -> None:
    data = sse(
        delta_chunk(
            {
                "reasoning": "think",
                "reasoning_content": "think",
                "content": "say",
                "tool_calls": [
                    {"index": 0, "id": "t", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            finish="tool_calls",
        )
    )
    [event] = decode([data], "auto").events
    assert (event.text, event.reasoning, event.finish_reason) == ("say", "think", "tool_calls")
    assert event.tool_calls == (ToolCallDelta(0, "t", "f", "{}"),)


def test_parse_arguments() -> None:
    assert ToolCall("1", "f", '{"a": [1, "é"]}').parse_arguments() == {"a": [1, "é"]}
    assert ToolCall("1", "f", "").parse_arguments() == {}  # no parameters: servers send ""
    assert ToolCall("1", "f", " \n").parse_arguments() == {}
    with pytest.raises(FormatError, match=r"tool call 'f' \(id '1'\) are not valid JSON"):
        ToolCall("1", "f", '{"a": ').parse_arguments()
    with pytest.raises(FormatError, match="nested too deeply"):
        ToolCall(None, "g", "[" * 100_000).parse_arguments()


def test_new_fields_keep_the_old_positional_forms() -> None:
    event = GenerationEvent("a", None, None, False, None, None, None, None)
    assert (event.choice, event.reasoning, event.tool_calls) == (0, "", ())
    generation = Generation("a", None, None, ())
    assert (generation.index, generation.reasoning, generation.tool_calls) == (0, "", ())
    assert GenerationAccumulator().results() == (GenerationAccumulator().result(),)
