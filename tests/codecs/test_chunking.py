"""Part boundaries carry no meaning: every chunking of a stream decodes the same.

For each codec and sample: the sample cut at every byte boundary into two parts,
and fed one byte at a time (with empty parts in between), gives exactly what
feeding it whole gives, including where an error is raised.  Hypothesis then
checks random text (4-byte UTF-8, CRLF, lone CR, U+2028...) under random
chunking against simple reference implementations.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncsagemaker.codecs import (
    DecodeError,
    JSONLinesDecoder,
    LineDecoder,
    ServerSentEvent,
    SSEDecoder,
    TextDecoder,
)

Outcome = tuple[list[Any], str | None]


def run(factory: Callable[[], Any], chunks: list[bytes]) -> Outcome:
    """All output, then the error class (if any), whatever the chunking."""
    decoder = factory()
    out: list[Any] = []
    try:
        for chunk in chunks:
            got = decoder.feed(chunk)
            out.extend([got] if isinstance(got, str) else got)
        got = decoder.close()
        out.extend([got] if isinstance(got, str) else got)
    except DecodeError as exc:
        return out, type(exc).__name__
    return out, None


def text_run(factory: Callable[[], Any], chunks: list[bytes]) -> tuple[str, str | None]:
    out, error = run(factory, chunks)
    return "".join(out), error


def chunkings(data: bytes) -> Iterator[list[bytes]]:
    for cut in range(1, len(data)):
        yield [data[:cut], data[cut:]]
    yield [bytes([byte]) for byte in data]
    yield [piece for byte in data for piece in (b"", bytes([byte]))] + [b""]


def assert_chunking_invariant(factory: Callable[[], Any], data: bytes, *, text: bool) -> None:
    collect = text_run if text else run
    whole = collect(factory, [data])
    for chunks in chunkings(data):
        assert collect(factory, chunks) == whole, chunks


TEXT_SAMPLES = [
    "plain ascii",
    "naïve café 日本語 🍰🚀 done",
    "\U0010ffff\u0800\u07ff\x7f\x80",
]
TEXT_BAD = [b"ok\xffok", b"ok \xf0\x9f\x8d", b"\xc3", b"a\xed\xa0\x80b", b"\xf4\x90\x80\x80"]

LINE_SAMPLES = [
    b"one\ntwo\r\nthree\rfour",
    b"\r\n\r\n\n\r\r\n",
    "é\r\n日本\r🍰\n\u2028x".encode(),
    b"no newline at all",
    b"trailing\r",
]
LINE_BAD = [b"good\nbad \xff\nafter\n", b"good\n\xe6\x97"]

JSON_SAMPLES = [
    b'{"token": {"text": "caf\xc3\xa9"}}\n\n{"a": [1, 2.5, null]}\r\n"\xf0\x9f\x8d\xb0"',
    b'\xef\xbb\xbf{"bom": true}\n[]\n\n  \n{}\r\n',
]
JSON_BAD = [b'{"ok": 1}\n{"bad": \n{"ok": 2}\n', b"1\n2\n{"]

SSE_SAMPLES = [
    b'data:{"token":{"text":"caf\xc3\xa9"}}\n\ndata: {"n": 2}\n\n',
    b"\xef\xbb\xbf: comment\r\nevent: e\r\nid: 9\r\nretry: 100\r\n"
    b"data: a\r\ndata:b\r\n\r\ndata: c\rdata: d\r\r",
    b"data: 1\n\ndata: [DONE]\n\ndata: never\n\n",
    b"data: pending without blank line",
    b"event: only\n\ndata\n\nid: \x00\ndata: x\n",
]


@pytest.mark.parametrize("sample", TEXT_SAMPLES)
def test_text_every_split(sample: str) -> None:
    data = sample.encode()
    assert text_run(TextDecoder, [data]) == (sample, None)
    assert_chunking_invariant(TextDecoder, data, text=True)


@pytest.mark.parametrize("data", TEXT_BAD)
def test_text_errors_every_split(data: bytes) -> None:
    assert text_run(TextDecoder, [data])[1] == "DecodeError"
    assert_chunking_invariant(TextDecoder, data, text=True)
    replace = lambda: TextDecoder(errors="replace")  # noqa: E731
    assert text_run(replace, [data]) == (data.decode("utf-8", "replace"), None)
    assert_chunking_invariant(replace, data, text=True)


@pytest.mark.parametrize("data", LINE_SAMPLES + LINE_BAD)
def test_lines_every_split(data: bytes) -> None:
    assert_chunking_invariant(LineDecoder, data, text=False)


def test_line_limit_every_split() -> None:
    data = b"short\nexactly8\n123456789\nafter\n"
    factory = lambda: LineDecoder(max_line_bytes=8)  # noqa: E731
    assert run(factory, [data]) == (["short", "exactly8"], "LineTooLongError")
    assert_chunking_invariant(factory, data, text=False)


@pytest.mark.parametrize("data", JSON_SAMPLES + JSON_BAD)
def test_json_lines_every_split(data: bytes) -> None:
    assert_chunking_invariant(JSONLinesDecoder, data, text=False)


@pytest.mark.parametrize("data", SSE_SAMPLES)
def test_sse_every_split(data: bytes) -> None:
    assert_chunking_invariant(SSEDecoder, data, text=False)


# --- random text, random chunking ----------------------------------------------------

SPECIAL = ["\r", "\n", "\r\n", "\U0001f370", "\U0010ffff", "é", "日", "\u2028", "\x85", " ", ":"]
texts = st.lists(st.one_of(st.characters(codec="utf-8"), st.sampled_from(SPECIAL))).map("".join)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def reference_lines(text: str) -> list[str]:
    lines = re.split("\r\n|\r|\n", text)
    if lines[-1] == "":
        lines.pop()
    return lines


@settings(max_examples=300, deadline=None)
@given(st.data(), texts)
def test_text_random(data: st.DataObject, text: str) -> None:
    chunks = data.draw(chunked(text.encode()))
    assert text_run(TextDecoder, chunks) == (text, None)


@settings(max_examples=300, deadline=None)
@given(st.data(), st.binary(max_size=64))
def test_text_random_bytes_same_as_whole(data: st.DataObject, raw: bytes) -> None:
    chunks = data.draw(chunked(raw))
    assert text_run(TextDecoder, chunks) == text_run(TextDecoder, [raw])
    replace = lambda: TextDecoder(errors="replace")  # noqa: E731
    assert text_run(replace, chunks) == (raw.decode("utf-8", "replace"), None)


@settings(max_examples=300, deadline=None)
@given(st.data(), texts)
def test_lines_random(data: st.DataObject, text: str) -> None:
    chunks = data.draw(chunked(text.encode()))
    assert run(LineDecoder, chunks) == (reference_lines(text), None)


@settings(max_examples=300, deadline=None)
@given(st.data(), st.binary(max_size=64))
def test_lines_random_bytes_same_as_whole(data: st.DataObject, raw: bytes) -> None:
    chunks = data.draw(chunked(raw))
    assert run(LineDecoder, chunks) == run(LineDecoder, [raw])
    small = lambda: LineDecoder(max_line_bytes=5)  # noqa: E731
    assert run(small, chunks) == run(small, [raw])


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    st.data(),
    st.lists(
        st.tuples(json_values, st.sampled_from(["\n", "\r\n", "\r", "\n\n", "\r\n  \r\n"])),
        max_size=6,
    ),
    st.booleans(),
    st.booleans(),
)
def test_json_lines_random(
    data: st.DataObject, records: list[tuple[Any, str]], ascii_only: bool, final_newline: bool
) -> None:
    body = "".join(json.dumps(value, ensure_ascii=ascii_only) + eol for value, eol in records)
    if records and not final_newline:
        body = body.rstrip("\r\n ")
    chunks = data.draw(chunked(body.encode()))
    assert run(JSONLinesDecoder, chunks) == ([value for value, _ in records], None)


@settings(max_examples=300, deadline=None)
@given(st.data(), st.binary(max_size=64))
def test_json_lines_random_bytes_same_as_whole(data: st.DataObject, raw: bytes) -> None:
    chunks = data.draw(chunked(raw))
    assert run(JSONLinesDecoder, chunks) == run(JSONLinesDecoder, [raw])


field_text = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8", exclude_characters="\r\n"), st.just(":"))
)


@st.composite
def sse_streams(draw: st.DrawFn) -> tuple[bytes, list[ServerSentEvent]]:
    """A random event stream and the events the standard says it holds."""
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    out: list[str] = []
    events: list[ServerSentEvent] = []
    last_id: str | None = None
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            out.append(":" + draw(field_text) + eol)
        event = draw(st.one_of(st.none(), field_text))
        if event is not None:
            out.append("event: " + event + eol)
        new_id = draw(st.one_of(st.none(), field_text.filter(lambda s: "\0" not in s)))
        if new_id is not None:
            out.append("id: " + new_id + eol)
            last_id = new_id
        retry = draw(st.one_of(st.none(), st.integers(0, 10**6)))
        if retry is not None:
            out.append(f"retry:{retry}{eol}")
        lines = draw(st.lists(field_text, min_size=1, max_size=3))
        for line in lines:
            space = "" if not line.startswith(" ") and draw(st.booleans()) else " "
            out.append("data:" + space + line + eol)
        out.append(eol)
        data = "\n".join(lines)
        if data == "[DONE]":
            break
        events.append(ServerSentEvent(event or "message", data, last_id, retry))
    return "".join(out).encode(), events


@settings(max_examples=300, deadline=None)
@given(st.data(), sse_streams())
def test_sse_random(data: st.DataObject, stream: tuple[bytes, list[ServerSentEvent]]) -> None:
    body, expected = stream
    chunks = data.draw(chunked(body))
    assert run(SSEDecoder, chunks) == (expected, None)


@settings(max_examples=300, deadline=None)
@given(st.data(), st.binary(max_size=64))
def test_sse_random_bytes_same_as_whole(data: st.DataObject, raw: bytes) -> None:
    chunks = data.draw(chunked(raw))
    assert run(SSEDecoder, chunks) == run(SSEDecoder, [raw])
