"""TokenDecoder: the generated text in TGI, LMI, vLLM/OpenAI and plain-text streams.

The recorded-format fixtures in tests/data/formats were written from each
server's documented streaming output (sources in each .json file); every one is
decoded with format="auto" and with its explicit format, whole, one byte at a
time and cut at every byte boundary.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from asyncsagemaker.codecs import DecodeError, JSONLineError, LineTooLongError
from asyncsagemaker.formats import (
    FORMATS,
    FormatError,
    ModelOutputError,
    TokenDecoder,
    TokenFormat,
    WireFormat,
    detect_format,
)
from tests._support import DATA

FIXTURES = DATA / "formats"
NAMES = sorted(path.stem for path in FIXTURES.glob("*.json"))


def load(name: str) -> tuple[bytes, dict[str, Any]]:
    meta = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    suffix = ".txt" if meta["format"] == "text" else ".bin"
    return (FIXTURES / f"{name}{suffix}").read_bytes(), meta


def decode(chunks: Iterable[bytes], format: TokenFormat = "auto", **kwargs: Any) -> list[str]:
    decoder = TokenDecoder(format, **kwargs)
    out = [token for chunk in chunks for token in decoder.feed(chunk)]
    return out + decoder.close()


def decode_until_error(chunks: Iterable[bytes], format: TokenFormat) -> tuple[list[str], Exception]:
    decoder = TokenDecoder(format)
    out: list[str] = []
    try:
        for chunk in chunks:
            out += decoder.feed(chunk)
        out += decoder.close()
    except DecodeError as exc:
        return out, exc
    raise AssertionError(f"no error; tokens {out!r}")


TOKEN_NAMES = [
    name for name in NAMES if "error" not in load(name)[1] and load(name)[1]["format"] != "text"
]


def one_byte_at_a_time(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def expected_text(meta: dict[str, Any]) -> str:
    return meta["text"] if "text" in meta else "".join(meta["tokens"])


# --- the recorded formats -------------------------------------------------------------


def test_every_format_has_a_fixture() -> None:
    formats = {load(name)[1]["format"] for name in NAMES}
    assert formats >= {"tgi", "lmi", "vllm-chat", "vllm-completions", "text"}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["auto", "explicit"])
def test_fixture_whole_and_byte_by_byte(name: str, mode: str) -> None:
    data, meta = load(name)
    format: TokenFormat = "auto" if mode == "auto" else meta["format"]
    for chunks in ([data], one_byte_at_a_time(data)):
        decoder = TokenDecoder(format)
        if "error" in meta:
            tokens, error = decode_until_error(chunks, format)
            assert tokens == meta["tokens"]
            assert type(error).__name__ == meta["error"]["type"]
            assert isinstance(error, ModelOutputError)
            if "message" in meta["error"]:
                assert error.message == meta["error"]["message"]
            assert error.error_type == meta["error"]["error_type"]
            continue
        tokens = [token for chunk in chunks for token in decoder.feed(chunk)]
        tokens += decoder.close()
        if meta["format"] != "text":
            assert tokens == meta["tokens"]
        assert "".join(tokens) == expected_text(meta)
        assert decoder.format == (meta["auto"] if mode == "auto" else meta["format"])
        assert decoder.transport == meta["transport"]


@pytest.mark.parametrize("name", TOKEN_NAMES)
def test_fixture_tokens_exact_whatever_the_chunking(name: str) -> None:
    """Token-framed formats give the same token list for every two-part split."""
    data, meta = load(name)
    for cut in range(1, len(data)):
        assert decode([data[:cut], data[cut:]]) == meta["tokens"], cut
    assert decode(one_byte_at_a_time(data), meta["format"]) == meta["tokens"]


@pytest.mark.parametrize("name", NAMES)
def test_fixture_every_split_same_text(name: str) -> None:
    data, meta = load(name)
    if "error" in meta:
        for cut in range(1, len(data), 7):
            tokens, _ = decode_until_error([data[:cut], data[cut:]], "auto")
            assert tokens == meta["tokens"]
        return
    for cut in range(1, len(data)):
        assert "".join(decode([data[:cut], data[cut:]])) == expected_text(meta), cut


@pytest.mark.parametrize("name", NAMES)
def test_detect_format_on_fixtures(name: str) -> None:
    data, meta = load(name)
    assert detect_format(data, final=True) == meta["auto"]
    assert detect_format(data) == meta["auto"]


# --- the shapes the emulator's demo model streams ----------------------------------

DEMO_TOKENS = ["Hello", ",", " wörld", " 🌍", "!"]


def demo_tgi() -> bytes:
    parts = [
        b'data:{"token":{"id":%d,"text":%s,"logprob":-0.5,"special":false},'
        b'"generated_text":null,"details":null}\n\n' % (i, json.dumps(tok).encode())
        for i, tok in enumerate(DEMO_TOKENS)
    ]
    parts.append(
        b'data:{"token":{"id":2,"text":"</s>","logprob":-0.5,"special":true},'
        b'"generated_text":%s,"details":null}\n\n' % json.dumps("".join(DEMO_TOKENS)).encode()
    )
    return b"".join(parts)


def demo_lmi() -> bytes:
    parts = [
        b'{"token":{"id":%d,"text":%s,"log_prob":-0.5},"generated_text":null,"details":null}\n'
        % (i, json.dumps(tok).encode())
        for i, tok in enumerate(DEMO_TOKENS[:-1])
    ]
    parts.append(
        b'{"token":{"id":9,"text":"!","log_prob":-0.5},"generated_text":%s,"details":null}\n'
        % json.dumps("".join(DEMO_TOKENS)).encode()
    )
    return b"".join(parts)


def demo_chat() -> bytes:
    def chunk(delta: dict[str, str], finish: str | None) -> bytes:
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "demo",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    parts = [chunk({"role": "assistant", "content": tok}, None) for tok in DEMO_TOKENS]
    return b"".join([*parts, chunk({}, "stop"), b"data: [DONE]\n\n"])


def demo_completions() -> bytes:
    def chunk(text: str, finish: str | None) -> bytes:
        body = {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 0,
            "model": "demo",
            "choices": [{"index": 0, "text": text, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    parts = [chunk(tok, None) for tok in DEMO_TOKENS]
    return b"".join([*parts, chunk("", "stop"), b"data: [DONE]\n\n"])


def demo_text() -> bytes:
    return "".join(DEMO_TOKENS).encode()


DEMOS: dict[WireFormat, Callable[[], bytes]] = {
    "tgi": demo_tgi,
    "lmi": demo_lmi,
    "vllm-chat": demo_chat,
    "vllm-completions": demo_completions,
    "text": demo_text,
}


@pytest.mark.parametrize("format", list(DEMOS))
def test_emulator_demo_shapes(format: WireFormat) -> None:
    data = DEMOS[format]()
    for chunks in ([data], one_byte_at_a_time(data)):
        asked: TokenFormat
        for asked in ("auto", format):
            decoder = TokenDecoder(asked)
            tokens = [token for chunk in chunks for token in decoder.feed(chunk)]
            tokens += decoder.close()
            assert "".join(tokens) == "".join(DEMO_TOKENS)
            if format != "text":
                assert tokens == DEMO_TOKENS
                assert decoder.done
            assert decoder.format == format


@pytest.mark.parametrize("format", ["openai"])
def test_openai_alias_reads_chat_and_completions(format: TokenFormat) -> None:
    assert decode([demo_chat()], format) == DEMO_TOKENS
    assert decode([demo_completions()], format) == DEMO_TOKENS
    mixed = demo_chat().replace(b"data: [DONE]\n\n", b"") + demo_completions()
    assert decode([mixed], format) == DEMO_TOKENS * 2


# --- TGI ------------------------------------------------------------------------------


def tgi_event(text: str, *, special: bool = False, final: str | None = None) -> bytes:
    body = {
        "token": {"id": 1, "text": text, "logprob": -0.1, "special": special},
        "generated_text": final,
        "details": None,
    }
    return b"data:" + json.dumps(body).encode() + b"\n\n"


def test_tgi_special_tokens_are_skipped() -> None:
    data = tgi_event("<s>", special=True) + tgi_event("Hi") + tgi_event("</s>", special=True)
    assert decode([data]) == ["Hi"]


def test_tgi_final_event_token_is_yielded_when_not_special() -> None:
    data = tgi_event("Hi") + tgi_event(" there", final="Hi there")
    assert decode([data], "tgi") == ["Hi", " there"]


def test_tgi_final_event_ends_the_stream() -> None:
    decoder = TokenDecoder("tgi")
    assert decoder.feed(tgi_event("a") + tgi_event("b", final="ab") + tgi_event("ignored")) == [
        "a",
        "b",
    ]
    assert decoder.done
    assert decoder.feed(b"anything at all") == []
    assert decoder.close() == []


def test_tgi_error_event_raises_after_the_tokens_before_it() -> None:
    decoder = TokenDecoder()
    error_event = b'data:{"error":"Input validation error: too long","error_type":"validation"}\n\n'
    assert decoder.feed(tgi_event("a") + error_event) == ["a"]
    with pytest.raises(ModelOutputError) as info:
        decoder.feed(b"")
    error = info.value
    assert error.message == "Input validation error: too long"
    assert error.error_type == "validation"
    assert str(error) == (
        "the model server reported an error [validation]: Input validation error: too long"
    )
    assert isinstance(error, DecodeError)
    assert isinstance(error, ValueError)
    with pytest.raises(ModelOutputError):
        decoder.close()


def test_error_as_first_event_raises_at_once() -> None:
    decoder = TokenDecoder()
    with pytest.raises(ModelOutputError, match="boom"):
        decoder.feed(b'data:{"error":"boom","error_type":"generation"}\n\n')
    assert decoder.format == "tgi"


def test_sse_error_event_type_raises() -> None:
    with pytest.raises(ModelOutputError, match="overloaded"):
        decode([b"event: error\ndata: overloaded\n\n"], "tgi")
    with pytest.raises(ModelOutputError) as info:
        decode([b'event: error\ndata: {"error": {"message": "too busy", "type": "x"}}\n\n'])
    assert (info.value.message, info.value.error_type) == ("too busy", "x")


def test_keep_alive_events_and_comments_are_skipped() -> None:
    data = b": ping\n\ndata:\n\n" + tgi_event("x") + b"data: \n\n"
    assert decode([data]) == ["x"]


def test_tgi_event_without_blank_line_at_end_is_used() -> None:
    data = tgi_event("a") + tgi_event("b", final="ab")[:-2]
    assert decode([data]) == ["a", "b"]


# --- LMI ------------------------------------------------------------------------------


def test_lmi_last_line_without_newline() -> None:
    data = b'{"token": {"id": 1, "text": "a", "log_prob": -1}}\n{"token": {"id": 2, "text": "b"}}'
    assert decode([data]) == ["a", "b"]


def test_lmi_special_token_is_skipped() -> None:
    data = (
        b'{"token": {"id": 1, "text": "a", "log_prob": -1}}\n'
        b'{"token": {"id": 2, "text": "</s>", "log_prob": -1, "special_token": true}}\n'
    )
    assert decode([data], "lmi") == ["a"]


def test_lmi_outputs_forms() -> None:
    data = b'{"outputs": ["This"]}\n{"outputs": [" is", " it"]}\n{"outputs": "!"}\n'
    assert decode([data]) == ["This", " is", " it", "!"]


def test_lone_generated_text_is_the_whole_answer() -> None:
    assert decode([b'{"generated_text": "All at once."}\n']) == ["All at once."]
    assert decode([b'data:{"generated_text":"SSE too."}\n\n'], "tgi") == ["SSE too."]
    # after streamed tokens it is a summary, not more text
    data = b'{"token": {"text": "a"}}\n{"generated_text": "a"}\n'
    assert decode([data], "lmi") == ["a"]


def test_lmi_validation_error_line() -> None:
    tokens, error = decode_until_error([b'{"error": "bad parameter top_p", "code": 424}\n'], "auto")
    assert tokens == []
    assert isinstance(error, ModelOutputError)
    assert error.message == "bad parameter top_p"
    code: Any = error.code  # errors.py types ModelOutputError.code as StreamError's str
    assert code == 424


def test_lmi_bad_json_line_raises_json_line_error() -> None:
    data = b'{"token": {"text": "a"}}\n{"token": \n'
    tokens, error = decode_until_error([data], "lmi")
    assert tokens == ["a"]
    assert isinstance(error, JSONLineError)
    assert error.line_number == 2


def test_lmi_over_sse_with_explicit_format() -> None:
    data = b'data:{"token": {"id": 1, "text": "x", "log_prob": -1}}\n\n'
    decoder = TokenDecoder("lmi")
    assert decoder.feed(data) + decoder.close() == ["x"]
    assert decoder.transport == "sse"


def test_record_of_unknown_shape_in_explicit_format_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="needs 'token', 'outputs', 'generated_text' or 'error'"):
        decode([b'{"something": "else"}\n'], "lmi")
    with pytest.raises(FormatError, match="must be a JSON object"):
        decode([b"[1, 2]\n"], "lmi")
    with pytest.raises(FormatError, match="needs a 'choices' list"):
        decode([demo_tgi()], "vllm-chat")
    with pytest.raises(FormatError, match="vllm-chat chunk has no 'delta'"):
        decode([demo_completions()], "vllm-chat")
    with pytest.raises(FormatError, match="vllm-completions chunk has no 'text'"):
        decode([demo_chat()], "vllm-completions")


# --- vLLM / OpenAI ----------------------------------------------------------------------


def chat_chunk(choices: list[dict[str, Any]]) -> bytes:
    body = {"object": "chat.completion.chunk", "choices": choices}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def test_chat_role_only_and_empty_deltas_give_nothing() -> None:
    data = (
        chat_chunk([{"index": 0, "delta": {"role": "assistant"}}])
        + chat_chunk([{"index": 0, "delta": {"content": ""}}])
        + chat_chunk([{"index": 0, "delta": {"content": None, "tool_calls": []}}])
        + chat_chunk([{"index": 0, "delta": {"content": "ok"}}])
        + chat_chunk([])
        + b"data: [DONE]\n\n"
    )
    assert decode([data]) == ["ok"]


def test_only_the_first_choice_is_read() -> None:
    data = chat_chunk(
        [{"index": 1, "delta": {"content": "other"}}, {"index": 0, "delta": {"content": "mine"}}]
    )
    assert decode([data], "vllm-chat") == ["mine"]


def test_done_ends_the_stream_and_later_input_is_ignored() -> None:
    decoder = TokenDecoder()
    data = chat_chunk([{"index": 0, "delta": {"content": "a"}}]) + b"data: [DONE]\n\n"
    assert decoder.feed(data + b"data: {not json\n\n") == ["a"]
    assert decoder.done
    assert decoder.feed(b"more garbage") == []
    assert decoder.close() == []


def test_done_first_is_an_empty_openai_stream() -> None:
    decoder = TokenDecoder()
    assert decoder.feed(b"data: [DONE]\n\n") + decoder.close() == []
    assert decoder.format == "openai"
    assert decoder.done


def test_openai_error_object_raises() -> None:
    error_object = {"message": "context too long", "type": "BadRequestError", "code": 400}
    data = b"data: " + json.dumps({"error": error_object}).encode() + b"\n\n"
    tokens, error = decode_until_error([data], "auto")
    assert tokens == []
    assert isinstance(error, ModelOutputError)
    code: Any = error.code
    assert (error.message, error.error_type, code) == (
        "context too long",
        "BadRequestError",
        400,
    )


def test_older_vllm_error_response_raises() -> None:
    data = b'data: {"object": "error", "message": "bad", "type": "invalid_request_error"}\n\n'
    tokens, error = decode_until_error([data], "openai")
    assert tokens == []
    assert isinstance(error, ModelOutputError)
    assert error.message == "bad"


def test_openai_chunks_as_json_lines() -> None:
    chunk = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "j"}}],
    }
    data = json.dumps(chunk).encode() + b"\n"
    decoder = TokenDecoder()
    assert decoder.feed(data) + decoder.close() == ["j"]
    assert (decoder.format, decoder.transport) == ("vllm-chat", "jsonlines")


def test_sse_event_data_not_json_is_a_format_error() -> None:
    tokens, error = decode_until_error([tgi_event("a") + b"data: oops\n\n"], "tgi")
    assert tokens == ["a"]
    assert isinstance(error, FormatError)
    assert "not JSON" in str(error)


# --- plain text ---------------------------------------------------------------------------


def test_text_is_not_held_back() -> None:
    decoder = TokenDecoder()
    assert decoder.feed(b"Hel") == ["Hel"]  # decided at once: no newline needed
    assert decoder.format == "text"
    assert decoder.feed("lo wö".encode()[:-1]) == ["lo w"]  # the cut "ö" is held
    assert decoder.feed(b"\xb6rld") == ["örld"]
    assert decoder.close() == []


def test_text_utf8_errors() -> None:
    tokens, error = decode_until_error([b"ok", b" \xff"], "text")
    assert tokens == ["ok", " "]
    assert isinstance(error, DecodeError)
    assert decode([b"ok \xff"], "text", errors="replace") == ["ok \ufffd"]


def test_text_explicit_passes_sse_through() -> None:
    data = tgi_event("x")
    assert "".join(decode(one_byte_at_a_time(data), "text")) == data.decode()


# --- auto-detection rules --------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"", None),
        (b"   \n\r\n\t", None),
        (b"\xef\xbb", None),  # maybe a BOM
        (b"d", None),
        (b"dat", None),
        (b"data", None),
        (b"data:", None),  # SSE, but the first event is still to come
        (b":", None),
        (b"{", None),  # a JSON line, or text starting with "{"
        (b'{"token": {"text": "x"}}', None),  # no newline yet: the line may go on
        (b'{"token": {"text": "x"}}\n', "lmi"),
        (b'\xef\xbb\xbf \n{"outputs": ["x"]}\r', "lmi"),
        (b'{"choices": [{"index": 0, "text": "x"}]}\n', "vllm-completions"),
        (b"{ not json\n", "text"),
        (b"Hello", "text"),
        (b"dataset", "text"),
        (b"  Hi", "text"),
        (b"Data: x", "text"),  # field names are case-sensitive
        (b"\xef\xbb\xbfx", "text"),
        (b'data:{"token":{"text":"x"}}\n\n', "tgi"),
        (b'id: 1\nevent: token\ndata: {"token": {"text": "x"}}\n\n', "tgi"),
        (b": ping\n\ndata: [DONE]\n\n", "openai"),
        (b'retry: 10\ndata: {"choices": []}\n\n', "openai"),
    ],
)
def test_detect_format(head: bytes, expected: str | None) -> None:
    assert detect_format(head) == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"", None),
        (b"  \n", "text"),
        (b"dat", "text"),
        (b'{"token": {"text": "x"}}', "lmi"),
        (b"{", "text"),
        (b'data: {"choices": [{"delta": {}}]}', "vllm-chat"),
        (b": only a comment\n", None),
    ],
)
def test_detect_format_final(head: bytes, expected: str | None) -> None:
    assert detect_format(head, final=True) == expected


def test_detect_format_unknown_sse_data_raises() -> None:
    with pytest.raises(FormatError, match=r"no known token format \(an object with keys 'hello'\)"):
        detect_format(b'data: {"hello": 1}\n\n')
    with pytest.raises(FormatError, match="not JSON"):
        detect_format(b"data: plain words\n\n")


def test_auto_unknown_sse_data_raises_clear_error() -> None:
    with pytest.raises(FormatError, match="read it with an SSE view, or name the format"):
        decode([b'data: {"hello": 1}\n\n'])


@pytest.mark.parametrize(
    ("first_line", "keys"),
    [
        (b'{"unknown": 1}', "an object with keys 'unknown'"),
        (b'{"predictions": [0.1], "model": "m"}', "an object with keys 'predictions', 'model'"),
        (b"{}", "an empty object"),
    ],
)
def test_a_first_json_line_of_no_known_shape_is_never_answer_text(
    first_line: bytes, keys: str
) -> None:
    """auto never hands out a raw JSON record as if it were the answer: it names the keys."""
    for data in (first_line + b"\n", first_line + b'\n{"more": 2}\n'):
        with pytest.raises(FormatError, match=f"no known token format \\({keys}\\)") as info:
            detect_format(data)
        assert 'format="text"' in str(info.value)
        decoder = TokenDecoder()
        with pytest.raises(FormatError, match=keys):
            decoder.feed(data)
        with pytest.raises(FormatError, match=keys):  # the decoder stays failed
            decoder.close()
        with pytest.raises(FormatError, match=keys):  # also when the stream ends unterminated
            decode([first_line])
        assert decode([data], "text") == [data.decode()]  # the way to get the raw text


def test_auto_text_starting_with_brace_waits_for_the_first_line_only() -> None:
    decoder = TokenDecoder()
    assert decoder.feed(b"{ code") == []
    assert decoder.feed(b" here\nmore") == ["{ code here\nmore"]
    assert decoder.format == "text"


def test_auto_head_is_bounded() -> None:
    decoder = TokenDecoder(max_record_bytes=100)
    assert decoder.feed(b"{" + b"x" * 50) == []
    assert decoder.feed(b"y" * 60) == ["{" + "x" * 50 + "y" * 60]  # over the limit: text
    assert decoder.format == "text"


def test_auto_whitespace_is_kept_for_text() -> None:
    assert decode([b"\n\n  Hi"]) == ["\n\n  Hi"]
    assert decode([b" \n"]) == [" \n"]


def test_empty_stream() -> None:
    decoder = TokenDecoder()
    assert decoder.close() == []
    assert decoder.format is None
    assert decoder.transport is None


def test_explicit_json_format_transport_from_first_byte() -> None:
    decoder = TokenDecoder("tgi")
    assert decoder.feed(b"\n\n d") == []
    assert decoder.transport == "sse"
    decoder = TokenDecoder("vllm-chat")
    assert decoder.feed(b"{") == []
    assert decoder.transport == "jsonlines"


# --- limits, usage ------------------------------------------------------------------------


def test_record_over_limit_raises() -> None:
    with pytest.raises(LineTooLongError):
        decode([b"data: " + b"x" * 200], "tgi", max_record_bytes=100)
    with pytest.raises(LineTooLongError):
        decode([b'{"token": "' + b"x" * 200 + b"\n"], "lmi", max_record_bytes=100)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown token format 'sagemaker'"):
        TokenDecoder("sagemaker")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="errors must be"):
        TokenDecoder(errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_record_bytes"):
        TokenDecoder(max_record_bytes=0)
    assert set(FORMATS) == {"tgi", "lmi", "vllm-chat", "vllm-completions", "openai", "text"}


def test_feed_after_close() -> None:
    decoder = TokenDecoder()
    decoder.close()
    assert decoder.close() == []
    with pytest.raises(RuntimeError, match="after close"):
        decoder.feed(b"x")


def test_long_line_one_byte_at_a_time_is_linear() -> None:
    """200 KB in 1-byte parts: a quadratic rescan would take minutes, this takes a second."""
    size = 200_000
    line = b'{"token": {"text": "' + b"x" * size + b'"}}\n'
    decoder = TokenDecoder("lmi", max_record_bytes=size + 100)
    out: list[str] = []
    for i in range(len(line)):
        out += decoder.feed(line[i : i + 1])
    assert out == ["x" * size]
