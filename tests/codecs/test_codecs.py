"""Behaviour of the sans-IO codecs: text, lines, JSON lines, Server-Sent Events.

Chunking invariance (every split position, one byte at a time, random chunking)
is in test_codecs_chunking.py; this file pins what each decoder returns.
"""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest

from asyncsagemaker.codecs import (
    DecodeError,
    EventTooLargeError,
    JSONLineError,
    JSONLinesDecoder,
    LineDecoder,
    LineTooLongError,
    ServerSentEvent,
    SSEDecoder,
    TextDecoder,
    UnicodeErrors,
    check_errors,
)
from asyncsagemaker.errors import ParamValidationError, SageMakerError


def lines_of(chunks: list[bytes], **kwargs: Any) -> list[str]:
    decoder = LineDecoder(**kwargs)
    out = [line for chunk in chunks for line in decoder.feed(chunk)]
    return out + decoder.close()


def events_of(chunks: list[bytes], **kwargs: Any) -> list[ServerSentEvent]:
    decoder = SSEDecoder(**kwargs)
    out = [event for chunk in chunks for event in decoder.feed(chunk)]
    return out + decoder.close()


def values_of(chunks: list[bytes], **kwargs: Any) -> list[Any]:
    decoder = JSONLinesDecoder(**kwargs)
    out = [value for chunk in chunks for value in decoder.feed(chunk)]
    return out + decoder.close()


# --- the known bugs of other SDKs, one named test each ---------------------------


def test_last_line_without_newline_is_yielded() -> None:
    assert lines_of([b"first\nlast"]) == ["first", "last"]
    assert values_of([b'{"a": 1}\n{"b": 2}']) == [{"a": 1}, {"b": 2}]
    assert lines_of([b"first\n", b"last"]) == ["first", "last"]


def test_utf8_character_split_across_two_parts() -> None:
    data = "naïve 日本 🍰".encode()
    cut = data.index("🍰".encode()) + 2  # inside the 4-byte emoji
    decoder = TextDecoder()
    first = decoder.feed(data[:cut])
    assert first == "naïve 日本 "  # the cut character is held, not mangled
    assert first + decoder.feed(data[cut:]) + decoder.close() == "naïve 日本 🍰"
    assert lines_of([data[:cut], data[cut:]]) == ["naïve 日本 🍰"]
    assert values_of([b'"' + data[:cut], data[cut:] + b'"\n']) == ["naïve 日本 🍰"]


def test_two_sse_events_in_one_part_are_both_delivered() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b'data: {"n": 1}\n\ndata: {"n": 2}\n\n')
    assert [event.json() for event in events] == [{"n": 1}, {"n": 2}]


def test_sse_done_ends_cleanly_without_json_error() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b'data: {"n": 1}\n\ndata: [DONE]\n\ndata: {"n": 2}\n\n')
    assert [event.json() for event in events] == [{"n": 1}]  # json() never sees "[DONE]"
    assert decoder.done
    assert decoder.feed(b"data: after\n\n") == []
    assert decoder.close() == []


def test_crlf_split_across_parts_is_one_line_break() -> None:
    assert lines_of([b"one\r", b"\ntwo\r\n"]) == ["one", "two"]
    assert lines_of([b"one\r", b"\n", b"\ntwo"]) == ["one", "", "two"]
    assert [e.data for e in events_of([b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"])] == ["a", "b"]


# --- TextDecoder --------------------------------------------------------------------


def test_text_decoder_passes_text_through() -> None:
    decoder = TextDecoder()
    assert decoder.feed(b"Hello, ") == "Hello, "
    assert decoder.feed("wörld".encode()) == "wörld"
    assert decoder.close() == ""


def test_text_decoder_strict_truncated_character_at_close_raises() -> None:
    decoder = TextDecoder()
    assert decoder.feed(b"ok \xf0\x9f") == "ok "
    with pytest.raises(DecodeError, match="cut short by the end of the stream at byte 3"):
        decoder.close()


def test_text_decoder_strict_invalid_byte_returns_text_before_then_raises() -> None:
    decoder = TextDecoder()
    assert decoder.feed(b"abc") == "abc"
    assert decoder.feed(b"de\xfffg") == "de"  # the good text first
    with pytest.raises(DecodeError, match=r"invalid UTF-8 at byte 5 of the stream \(b'\\xff'\)"):
        decoder.feed(b"more")
    with pytest.raises(DecodeError):  # failed for good
        decoder.close()


def test_text_decoder_invalid_byte_first_raises_at_once() -> None:
    decoder = TextDecoder()
    with pytest.raises(DecodeError) as info:
        decoder.feed(b"\x80abc")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, SageMakerError)
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


def test_text_decoder_replace_mode() -> None:
    decoder = TextDecoder(errors="replace")
    assert decoder.feed(b"a\xffb\xf0\x9f") == "a\ufffdb"
    assert decoder.close() == "\ufffd"


def test_text_decoder_keeps_bom() -> None:
    decoder = TextDecoder()
    assert decoder.feed(b"\xef\xbb\xbfhi") == "\ufeffhi"


def test_text_decoder_feed_after_close_is_a_usage_error() -> None:
    decoder = TextDecoder()
    decoder.close()
    assert decoder.close() == ""
    with pytest.raises(RuntimeError, match="after close"):
        decoder.feed(b"x")


def test_bad_arguments_are_refused() -> None:
    """ParamValidationError, which is also the ValueError older callers catch."""
    with pytest.raises(ParamValidationError, match="errors must be 'strict' or 'replace'"):
        TextDecoder(errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(ParamValidationError, match="max_line_bytes must be a positive int"):
        LineDecoder(max_line_bytes=0)
    with pytest.raises(ParamValidationError, match="max_line_bytes must be a positive int"):
        JSONLinesDecoder(max_line_bytes=True)
    with pytest.raises(ValueError, match="max_event_bytes must be a positive int"):
        SSEDecoder(max_event_bytes=-1)


def test_check_errors_accepts_exactly_the_names() -> None:
    assert [check_errors(name) for name in get_args(UnicodeErrors)] == ["strict", "replace"]
    for bad in ("ignore", "STRICT", "", None):
        with pytest.raises(ParamValidationError) as info:
            check_errors(bad)  # type: ignore[arg-type]
        assert str(info.value) == f"errors must be 'strict' or 'replace', not {bad!r}"


# --- LineDecoder --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", []),
        (b"\n", [""]),
        (b"a", ["a"]),
        (b"a\n", ["a"]),
        (b"a\r\n", ["a"]),
        (b"a\r", ["a"]),
        (b"a\n\nb", ["a", "", "b"]),
        (b"a\r\rb", ["a", "", "b"]),
        (b"a\n\r\nb\r\n\r\n", ["a", "", "b", ""]),
        (b"a\n\rb", ["a", "", "b"]),  # LF then a lone CR: two breaks
        ("x\u2028y\x85z\x0cw".encode(), ["x\u2028y\x85z\x0cw"]),  # not str.splitlines
    ],
)
def test_line_breaks(data: bytes, expected: list[str]) -> None:
    assert lines_of([data]) == expected


def test_lines_are_returned_as_soon_as_complete() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b"one\ntw") == ["one"]
    assert decoder.feed(b"o\r") == ["two"]  # a CR ends the line at once
    assert decoder.feed(b"\nthree") == []  # ... and its LF is not another line
    assert decoder.close() == ["three"]
    assert decoder.line_number == 3


def test_line_decoder_invalid_utf8_names_the_line_and_keeps_lines_before() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b"good\nalso good\nbad \xff\nnever\n") == ["good", "also good"]
    with pytest.raises(DecodeError, match="line 3 is not valid UTF-8"):
        decoder.close()


def test_line_decoder_replace_mode() -> None:
    assert lines_of([b"a\xff\n", b"\xe6\x97"], errors="replace") == ["a\ufffd", "\ufffd"]


def test_line_over_limit_raises_clear_error() -> None:
    decoder = LineDecoder(max_line_bytes=8)
    assert decoder.feed(b"12345678\n") == ["12345678"]  # exactly the limit is fine
    with pytest.raises(LineTooLongError, match=r"line 2 is longer than max_line_bytes=8") as info:
        decoder.feed(b"123456789")
    assert info.value.limit == 8
    assert isinstance(info.value, DecodeError)


def test_long_complete_line_in_one_chunk_raises_after_lines_before() -> None:
    decoder = LineDecoder(max_line_bytes=4)
    assert decoder.feed(b"ok\n0123456789\nok\n") == ["ok"]
    with pytest.raises(LineTooLongError, match="line 2"):
        decoder.feed(b"")


def test_line_limit_keeps_memory_bounded() -> None:
    limit = 1000
    decoder = LineDecoder(max_line_bytes=limit)
    chunk = b"x" * 300
    held = 0
    with pytest.raises(LineTooLongError):
        for _ in range(100):  # an endless line: must stop after about limit bytes
            decoder.feed(chunk)
            held = len(decoder._buf)
            assert held <= limit + len(chunk)
    assert held <= limit
    assert len(decoder._buf) == 0  # the buffer is released once the error is raised


# --- JSONLinesDecoder ---------------------------------------------------------------


def test_json_lines_values_blank_lines_and_crlf() -> None:
    data = b'{"a": 1}\r\n\r\n  \n[1, 2]\n"s"\n3.5\nnull\ntrue\n'
    assert values_of([data]) == [{"a": 1}, [1, 2], "s", 3.5, None, True]


def test_json_lines_bom_at_start_is_ignored() -> None:
    assert values_of([b'\xef\xbb\xbf{"a": 1}\n']) == [{"a": 1}]


def test_bad_json_line_raises_json_line_error_carrying_line() -> None:
    decoder = JSONLinesDecoder()
    assert decoder.feed(b'{"ok": 1}\n\n{"ok": 2}\n{"broken": \n{"ok": 3}\n') == [
        {"ok": 1},
        {"ok": 2},
    ]
    with pytest.raises(JSONLineError) as info:
        decoder.feed(b"")
    error = info.value
    assert error.line == '{"broken": '
    assert error.line_number == 4  # the blank line counts
    assert "line 4 is not valid JSON" in str(error)
    assert isinstance(error, DecodeError)
    assert isinstance(error, ValueError)
    assert isinstance(error.__cause__, json.JSONDecodeError)
    with pytest.raises(JSONLineError):  # failed for good
        decoder.close()


def test_bad_last_json_line_without_newline_raises_at_close() -> None:
    decoder = JSONLinesDecoder()
    assert decoder.feed(b"1\n2\n{") == [1, 2]
    with pytest.raises(JSONLineError) as info:
        decoder.close()
    assert info.value.line == "{"
    assert info.value.line_number == 3


def test_json_line_error_message_previews_a_long_line() -> None:
    decoder = JSONLinesDecoder()
    with pytest.raises(JSONLineError) as info:
        decoder.feed(b"x" * 5000 + b"\n")
    assert len(info.value.line) == 5000
    assert len(str(info.value)) < 300


def test_json_line_over_limit_raises_clear_error() -> None:
    decoder = JSONLinesDecoder(max_line_bytes=64)
    assert decoder.feed(b'{"small": 1}\n') == [{"small": 1}]
    with pytest.raises(LineTooLongError, match="max_line_bytes=64"):
        for _ in range(10):
            decoder.feed(b'{"big": "' + b"x" * 40)


def test_json_lines_memory_bounded_by_limit_plus_one_chunk() -> None:
    limit = 4096
    decoder = JSONLinesDecoder(max_line_bytes=limit)
    chunk = b"y" * 1000
    with pytest.raises(LineTooLongError):
        for _ in range(50):
            decoder.feed(chunk)
            assert len(decoder._lines._buf) <= limit + len(chunk)
    assert len(decoder._lines._buf) == 0


# --- SSEDecoder ---------------------------------------------------------------------


def test_sse_fields_as_the_standard_says() -> None:
    stream = (
        b": a comment, ignored\n"
        b"data: with space\n"
        b"data:without space\n"
        b"data:  two spaces keep one\n"
        b"\n"
        b"event: update\n"
        b"id: 7\n"
        b"retry: 1500\n"
        b"data\n"  # a field name alone: empty value
        b"\n"
        b"data: after id\n"
        b"unknown: field ignored\n"
        b"\n"
    )
    assert events_of([stream]) == [
        ServerSentEvent(data="with space\nwithout space\n two spaces keep one"),
        ServerSentEvent(event="update", data="", id="7", retry=1500),
        ServerSentEvent(data="after id", id="7"),  # the id carries over
    ]


def test_sse_blocks_without_data_dispatch_nothing() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: ping\n\nid: 4\n\nretry: 300\n\n: keep-alive\n\n") == []
    assert decoder.last_event_id == "4"
    assert decoder.retry == 300
    assert decoder.feed(b"data: x\n\n") == [ServerSentEvent(data="x", id="4")]  # event reset


@pytest.mark.parametrize("value", [b"1.5", b"-1", b"1e3", b" 10x", b"", "\u0661".encode()])
def test_sse_retry_must_be_ascii_digits(value: bytes) -> None:
    events = events_of([b"retry:" + value + b"\ndata: x\n\n"])
    assert events == [ServerSentEvent(data="x")]


def test_sse_id_with_nul_is_ignored_and_empty_id_resets() -> None:
    events = events_of([b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\nid\ndata: c\n\n"])
    assert [(event.data, event.id) for event in events] == [("a", "1"), ("b", "1"), ("c", "")]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_sse_line_endings(eol: bytes) -> None:
    stream = eol.join([b"data: a", b"data: b", b"", b"event: e", b"data: c", b"", b""])
    assert events_of([stream]) == [
        ServerSentEvent(data="a\nb"),
        ServerSentEvent(event="e", data="c"),
    ]


def test_sse_bom_at_start_only() -> None:
    assert events_of([b"\xef\xbb\xbfdata: a\n\n"]) == [ServerSentEvent(data="a")]
    split = events_of([b"\xef\xbb", b"\xbfdata: a\n\n"])
    assert split == [ServerSentEvent(data="a")]
    # a second BOM is not stripped: the line is then no "data" field
    assert events_of([b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n"]) == []


def test_sse_pending_event_without_blank_line_is_dispatched_at_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"last": true}') == []
    assert decoder.close() == [ServerSentEvent(data='{"last": true}')]
    assert events_of([b"data: a\n"]) == [ServerSentEvent(data="a")]


def test_sse_invalid_utf8_is_replaced_by_default() -> None:
    assert events_of([b"data: a\xffb\n\n"]) == [ServerSentEvent(data="a\ufffdb")]
    decoder = SSEDecoder(errors="strict")
    with pytest.raises(DecodeError, match="not valid UTF-8"):
        decoder.feed(b"data: a\xffb\n\n")


def test_sse_done_marker_can_be_disabled() -> None:
    events = events_of([b"data: [DONE]\n\ndata: more\n\n"], done_data=None)
    assert [event.data for event in events] == ["[DONE]", "more"]


def test_sse_done_in_a_later_part() -> None:
    decoder = SSEDecoder()
    assert [e.data for e in decoder.feed(b"data: 1\n\ndata: [DO")] == ["1"]
    assert not decoder.done
    assert decoder.feed(b"NE]\n\ndata: 2\n\n") == []
    assert decoder.done


def test_sse_json_helper() -> None:
    assert ServerSentEvent(data='{"a": [1]}').json() == {"a": [1]}
    with pytest.raises(ValueError, match="Expecting value"):
        ServerSentEvent(data="not json").json()


def test_sse_event_is_frozen() -> None:
    event = ServerSentEvent(data="x")
    with pytest.raises(AttributeError):
        event.data = "y"  # type: ignore[misc]


def test_sse_line_over_limit() -> None:
    decoder = SSEDecoder(max_event_bytes=32)
    with pytest.raises(LineTooLongError):
        decoder.feed(b"data: " + b"x" * 40)


def test_sse_event_data_over_limit_returns_events_before() -> None:
    decoder = SSEDecoder(max_event_bytes=32)
    many_lines = b"".join(b"data: 0123456789\n" for _ in range(5))
    assert decoder.feed(b"data: ok\n\n" + many_lines) == [ServerSentEvent(data="ok")]
    with pytest.raises(EventTooLargeError, match="max_event_bytes=32") as info:
        decoder.feed(b"\n")
    assert info.value.limit == 32


@pytest.mark.parametrize("count", [1, 63, 64, 65, 1000])
def test_sse_event_of_many_data_lines_joins_them_all(count: int) -> None:
    """Past 64 lines the data goes into one text (a list entry per tiny line would cost
    far more memory than the line): the event is the same either way."""
    lines = [f"line {i}" if i % 3 else "" for i in range(count)]
    block = "".join(f"data:{line}\n" for line in lines).encode()
    decoder = SSEDecoder()
    events = decoder.feed(block + b"\n" + block + b"\n")
    assert events == [ServerSentEvent(data="\n".join(lines))] * 2
    assert decoder.feed(b"data: next\n\n") == [ServerSentEvent(data="next")]
    decoder = SSEDecoder()
    assert decoder.feed(block) == []
    assert decoder.close() == [ServerSentEvent(data="\n".join(lines))]
