"""Random token streams in every format, cut at random places: the tokens come out intact."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from asyncsagemaker.codecs import DecodeError
from asyncsagemaker.formats import GenerationAccumulator, GenerationEvent, TokenDecoder, TokenFormat
from tests.formats.test_events import events_of

SPECIAL = ["\r", "\n", "\r\n", "\U0001f370", "é", "日", "\u2028", " ", "data: ", '"', "\\"]
tokens = st.lists(
    st.lists(st.one_of(st.characters(codec="utf-8"), st.sampled_from(SPECIAL)), min_size=1).map(
        "".join
    ),
    max_size=8,
)


def tgi(toks: list[str], ascii_only: bool) -> bytes:
    def event(text: str, special: bool, final: str | None) -> str:
        body: dict[str, object] = {
            "token": {"id": 1, "text": text, "logprob": -0.1, "special": special},
            "generated_text": final,
            "details": None,
        }
        return "data:" + json.dumps(body, ensure_ascii=ascii_only) + "\n\n"

    events = [event(text, False, None) for text in toks]
    return "".join([*events, event("</s>", True, "".join(toks))]).encode()


def lmi(toks: list[str], ascii_only: bool) -> bytes:
    lines = [json.dumps({"token": {"id": 1, "text": t}}, ensure_ascii=ascii_only) for t in toks]
    return "\n".join(lines).encode()  # no newline after the last line


def chat(toks: list[str], ascii_only: bool) -> bytes:
    def chunk(delta: dict[str, str]) -> str:
        body = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}
        return "data: " + json.dumps(body, ensure_ascii=ascii_only) + "\r\n\r\n"

    parts = [chunk({"role": "assistant"}), *(chunk({"content": t}) for t in toks), chunk({})]
    return ("".join(parts) + "data: [DONE]\r\n\r\n").encode()


def completions(toks: list[str], ascii_only: bool) -> bytes:
    def chunk(text: str) -> str:
        body = {"object": "text_completion", "choices": [{"index": 0, "text": text}]}
        return "data:" + json.dumps(body, ensure_ascii=ascii_only) + "\r\r"

    return ("".join(chunk(t) for t in toks) + "data:[DONE]\r\r").encode()


FORMATTERS: dict[TokenFormat, Callable[[list[str], bool], bytes]] = {
    "tgi": tgi,
    "lmi": lmi,
    "vllm-chat": chat,
    "vllm-completions": completions,
}


@st.composite
def cut(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=16)))
    return [data[a:b] for a, b in itertools.pairwise([0, *cuts, len(data)])]


def run(format: TokenFormat, chunks: list[bytes]) -> list[str]:
    decoder = TokenDecoder(format)
    out = [token for chunk in chunks for token in decoder.feed(chunk)]
    return out + decoder.close()


@settings(max_examples=150, deadline=None)
@given(st.data(), st.sampled_from(sorted(FORMATTERS)), tokens, st.booleans())
def test_json_formats_random(
    data: st.DataObject, format: TokenFormat, toks: list[str], ascii_only: bool
) -> None:
    chunks = data.draw(cut(FORMATTERS[format](toks, ascii_only)))
    assert run(format, chunks) == toks
    assert run("openai" if format.startswith("vllm") else format, chunks) == toks
    if toks or format != "lmi":  # an empty LMI stream is empty bytes: nothing to detect
        assert run("auto", chunks) == toks


@settings(max_examples=150, deadline=None)
@given(st.data(), tokens)
def test_text_random(data: st.DataObject, toks: list[str]) -> None:
    text = "".join(toks)
    chunks = data.draw(cut(text.encode()))
    assert "".join(run("text", chunks)) == text
    decoder = TokenDecoder("auto")
    try:  # text that looks like SSE or a JSON record is refused, not misread; other text is kept
        out = [token for chunk in chunks for token in decoder.feed(chunk)] + decoder.close()
    except DecodeError:
        assert decoder.transport == "sse" or text.lstrip("\ufeff \t\r\n").startswith("{")
    else:
        if decoder.transport == "text":
            assert "".join(out) == text


@settings(max_examples=200, deadline=None)
@given(st.data(), st.binary(max_size=80), st.sampled_from(["auto", *FORMATTERS, "text"]))
def test_random_bytes_chunking_never_changes_the_outcome(
    data: st.DataObject, raw: bytes, format: TokenFormat
) -> None:
    def outcome(chunks: list[bytes]) -> tuple[str, str | None]:
        decoder = TokenDecoder(format)
        out: list[str] = []
        try:
            for chunk in chunks:
                out += decoder.feed(chunk)
            out += decoder.close()
        except DecodeError as exc:
            return "".join(out), type(exc).__name__
        return "".join(out), None

    def events_outcome(chunks: list[bytes]) -> tuple[list[str], str | None]:
        """The non-special texts of the events: for random bytes, the text of the outcome."""
        out, error = events_of(chunks, format)
        return [e.text for e in out if not e.special], type(error).__name__ if error else None

    chunks = data.draw(cut(raw))
    assert outcome(chunks) == outcome([raw])
    texts, error = events_outcome(chunks)
    assert ("".join(texts), error) == outcome([raw])


# --- events: random streams with special tokens, finish reasons and usage -------------

FINISH = {"eos_token": "stop", "stop_sequence": "stop", "length": "length", "stop": "stop"}
pieces = st.lists(st.tuples(tokens.map("".join), st.booleans()), max_size=6)  # (text, special)
endings = st.tuples(st.sampled_from(sorted(FINISH)), st.integers(0, 10**6), st.integers(0, 10**6))


def tgi_events(parts: list[tuple[str, bool]], end: tuple[str, int, int]) -> bytes:
    finish, prompt, completion = end
    events = [
        {"index": i, "token": {"id": i, "text": t, "logprob": -0.5, "special": s}}
        for i, (t, s) in enumerate(parts)
    ]
    last = {
        "token": {"id": 2, "text": "</s>", "logprob": 0.0, "special": True},
        "generated_text": "".join(t for t, s in parts if not s),
        "details": {
            "finish_reason": finish,
            "generated_tokens": completion,
            "input_length": prompt,
        },
    }
    return "".join("data:" + json.dumps(e) + "\n\n" for e in [*events, last]).encode()


def lmi_events(parts: list[tuple[str, bool]], end: tuple[str, int, int]) -> bytes:
    finish, _, completion = end
    lines: list[dict[str, Any]] = [
        {"token": {"id": i, "text": t, "log_prob": -0.25, "special_token": s}}
        for i, (t, s) in enumerate(parts)
    ]
    lines.append(
        {"generated_text": "", "details": {"finish_reason": finish, "generated_tokens": completion}}
    )
    return "\n".join(json.dumps(line) for line in lines).encode()


def chat_events(parts: list[tuple[str, bool]], end: tuple[str, int, int]) -> bytes:
    finish, prompt, completion = end
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    chunks: list[dict[str, Any]] = [{"choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
    chunks += [{"choices": [{"index": 0, "delta": {"content": t}}]} for t, _ in parts]
    chunks += [
        {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
        {"choices": [], "usage": usage},
    ]
    body = "".join(
        "data: " + json.dumps({"object": "chat.completion.chunk", **c}) + "\r\n\r\n" for c in chunks
    )
    return (body + "data: [DONE]\r\n\r\n").encode()


EVENT_FORMATTERS: dict[
    TokenFormat, Callable[[list[tuple[str, bool]], tuple[str, int, int]], bytes]
] = {
    "tgi": tgi_events,
    "lmi": lmi_events,
    "vllm-chat": chat_events,
}


def run_events(format: TokenFormat, chunks: list[bytes]) -> list[GenerationEvent]:
    decoder = TokenDecoder(format)
    out = [event for chunk in chunks for event in decoder.feed_events(chunk)]
    return out + decoder.close_events()


@settings(max_examples=150, deadline=None)
@given(st.data(), st.sampled_from(sorted(EVENT_FORMATTERS)), pieces, endings)
def test_events_random(
    data: st.DataObject,
    format: TokenFormat,
    parts: list[tuple[str, bool]],
    end: tuple[str, int, int],
) -> None:
    stream = EVENT_FORMATTERS[format](parts, end)
    chunks = data.draw(cut(stream))
    events = run_events(format, chunks)
    assert events == run_events(format, [stream])  # the chunking changes nothing
    assert run_events("auto", chunks) == events
    texts = [event.text for event in events if event.text and not event.special]
    assert run(format, chunks) == texts  # tokens() is the view of the events
    accumulator = GenerationAccumulator()
    accumulator.extend(events)
    generation = accumulator.result()
    finish, prompt, completion = end
    assert generation.text == "".join(texts)
    assert (generation.finish_reason, generation.raw_finish_reason) == (FINISH[finish], finish)
    assert generation.usage is not None
    assert generation.usage.completion_tokens == completion
    if format == "vllm-chat":
        assert generation.usage.total_tokens == prompt + completion
        assert texts == [t for t, _ in parts if t]  # chat chunks have no special flag
    else:
        assert generation.usage.total_tokens is None  # TGI and LMI send no total
        assert texts == [t for t, s in parts if t and not s]
