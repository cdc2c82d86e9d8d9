"""What a misbehaving container cannot do to a decoder: grow its memory without bound, or
get a raw RecursionError out of it.

A decoder holds at most its record limit (plus one chunk) while waiting for a record,
whitespace included; past it, a typed error.  JSON nested deeper than the parser can
go is a typed DecodeError in every view and format, never a RecursionError.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import pytest

from asyncsagemaker.codecs import JSONLinesDecoder
from asyncsagemaker.errors import (
    DecodeError,
    EventTooLargeError,
    FormatError,
    JSONLineError,
    LineTooLongError,
)
from asyncsagemaker.formats import TokenDecoder, TokenFormat, detect_format, parse_generation

LIMIT = 1 << 20
CHUNK = 64 << 10


def feed_until_error(
    decoder: TokenDecoder, chunk: bytes, total: int, events: bool = False
) -> tuple[DecodeError, int, int]:
    """Feed ``chunk`` until ``total`` bytes or an error; the error, bytes fed, peak bytes."""
    feed: Callable[[bytes], object] = decoder.feed_events if events else decoder.feed
    fed = 0
    tracemalloc.start()
    try:
        while fed < total:
            feed(chunk)
            fed += len(chunk)
    except DecodeError as exc:
        peak = tracemalloc.get_traced_memory()[1]
        return exc, fed, peak
    finally:
        tracemalloc.stop()
    raise AssertionError(f"{total} bytes fed without an error")


@pytest.mark.parametrize("format", ["auto", "tgi", "lmi", "vllm-chat", "openai"])
@pytest.mark.parametrize("whitespace", [b" ", b"\n", b"\r\n\t "])
@pytest.mark.parametrize("events", [False, True])
def test_a_stream_of_whitespace_is_bounded(
    format: TokenFormat, whitespace: bytes, events: bool
) -> None:
    """48 MiB of whitespace used to be held whole, waiting for the first record."""
    chunk = whitespace * (CHUNK // len(whitespace))
    decoder = TokenDecoder(format, max_record_bytes=LIMIT)
    error, fed, peak = feed_until_error(decoder, chunk, 48 << 20, events)
    assert isinstance(error, LineTooLongError)
    assert error.limit == LIMIT
    assert "whitespace" in str(error)
    assert fed <= LIMIT + CHUNK
    assert peak < 3 * LIMIT
    with pytest.raises(LineTooLongError):  # and the decoder stays failed
        decoder.close()


@pytest.mark.parametrize(
    ("format", "head", "body", "error_type"),
    [
        ("tgi", b"data: ", b"x", LineTooLongError),  # one SSE line that never ends
        ("auto", b"data: ", b" ", LineTooLongError),
        ("vllm-chat", b'data: {"choices": [', b" ", LineTooLongError),
        ("lmi", b'{"token": {"text": "', b"x", LineTooLongError),  # a JSON line that never ends
        ("lmi", b'{"token": ', b" ", LineTooLongError),
        ("openai", b"data: a\n", b"data: \n", EventTooLargeError),  # an event of many lines
    ],
)
def test_a_record_that_never_ends_is_bounded(
    format: TokenFormat, head: bytes, body: bytes, error_type: type[DecodeError]
) -> None:
    # an event of empty lines counts one byte a line: a smaller limit keeps it quick
    limit = LIMIT if error_type is LineTooLongError else LIMIT // 8
    chunk = CHUNK if error_type is LineTooLongError else CHUNK // 8
    decoder = TokenDecoder(format, max_record_bytes=limit)
    decoder.feed(head)
    error, fed, peak = feed_until_error(decoder, body * (chunk // len(body)), 48 << 20)
    assert isinstance(error, (LineTooLongError, EventTooLargeError))
    assert type(error) is error_type
    assert error.limit == limit
    # the limit counts the record's own bytes: an event's data, not its "data: " prefixes
    assert fed <= len(body) * limit + chunk
    assert peak < 3 * limit  # an event of many empty lines is not as many strings


def test_whitespace_before_a_record_within_the_limit_is_fine() -> None:
    decoder = TokenDecoder(max_record_bytes=LIMIT)
    assert decoder.feed(b" \n" * (LIMIT // 4)) == []
    assert decoder.feed(b'{"token": {"text": "x"}}\n') == ["x"]
    assert decoder.format == "lmi"


# --- JSON nested too deeply ---------------------------------------------------------

DEEP = "[" * 100_000


@pytest.mark.parametrize(
    ("format", "stream", "error_type"),
    [
        ("auto", b'data:{"token":{"text":"a"}}\n\ndata:' + DEEP.encode() + b"\n\n", FormatError),
        ("tgi", b"data:" + DEEP.encode() + b"\n\n", FormatError),
        ("auto", b"data: " + DEEP.encode() + b"\n\n", FormatError),  # the first event
        ("auto", b'{"token": {"text": "a"}}\n{"x": ' + DEEP.encode() + b"\n", JSONLineError),
        ("lmi", b'{"token": {"text": "a"}}\n' + DEEP.encode() + b"\n", JSONLineError),
        ("auto", b'{"x": ' + DEEP.encode() + b"\n", FormatError),  # the first line
        ("vllm-chat", b'{"choices": ' + DEEP.encode() + b"\n", JSONLineError),
        ("openai", b"event: error\ndata: " + DEEP.encode() + b"\n\n", DecodeError),
    ],
)
def test_deeply_nested_json_in_any_token_format(
    format: TokenFormat, stream: bytes, error_type: type[DecodeError]
) -> None:
    for events in (False, True):
        decoder = TokenDecoder(format)
        out: list[object] = []
        with pytest.raises(error_type) as info:
            for i in range(0, len(stream), 4096):
                out += (
                    decoder.feed_events(stream[i : i + 4096])
                    if events
                    else decoder.feed(stream[i : i + 4096])
                )
            out += decoder.close_events() if events else decoder.close()
        assert not isinstance(info.value.__cause__, RecursionError)
        assert len(out) <= 1  # the token before it, when there was one


def test_deeply_nested_json_in_detect_format_json_lines_and_parse_generation() -> None:
    with pytest.raises(FormatError, match="nested too deeply"):
        detect_format(b'{"x": ' + DEEP.encode() + b"\n")
    with pytest.raises(FormatError, match="nested too deeply"):
        detect_format(b"data: " + DEEP.encode() + b"\n\n")
    decoder = JSONLinesDecoder()
    assert decoder.feed(b'{"a": 1}\n' + DEEP.encode() + b"\n") == [{"a": 1}]
    with pytest.raises(JSONLineError, match="line 2 is not valid JSON \\(nested too deeply\\)"):
        decoder.close()
    for body in (DEEP, '{"choices": ' + DEEP + "}", '{"a": 1}\n' + DEEP):
        with pytest.raises(DecodeError) as info:
            parse_generation(body.encode())
        assert not isinstance(info.value, RecursionError)
