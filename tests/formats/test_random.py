"""Random token streams in every format, cut at random places: the tokens come out intact."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from asyncsagemaker.codecs import DecodeError
from asyncsagemaker.formats import TokenDecoder

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


FORMATTERS: dict[str, Callable[[list[str], bool], bytes]] = {
    "tgi": tgi,
    "lmi": lmi,
    "vllm-chat": chat,
    "vllm-completions": completions,
}


@st.composite
def cut(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=16)))
    return [data[a:b] for a, b in itertools.pairwise([0, *cuts, len(data)])]


def run(format: str, chunks: list[bytes]) -> list[str]:
    decoder = TokenDecoder(format)
    out = [token for chunk in chunks for token in decoder.feed(chunk)]
    return out + decoder.close()


@settings(max_examples=150, deadline=None)
@given(st.data(), st.sampled_from(sorted(FORMATTERS)), tokens, st.booleans())
def test_json_formats_random(
    data: st.DataObject, format: str, toks: list[str], ascii_only: bool
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
    try:  # text that looks like SSE is refused rather than misread; any other text is kept
        out = [token for chunk in chunks for token in decoder.feed(chunk)] + decoder.close()
    except DecodeError:
        assert decoder.transport == "sse"
    else:
        if decoder.transport == "text":
            assert "".join(out) == text


@settings(max_examples=200, deadline=None)
@given(st.data(), st.binary(max_size=80), st.sampled_from(["auto", *FORMATTERS, "text"]))
def test_random_bytes_chunking_never_changes_the_outcome(
    data: st.DataObject, raw: bytes, format: str
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

    assert outcome(data.draw(cut(raw))) == outcome([raw])
