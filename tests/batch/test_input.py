"""The input line forms: a bare body, a request object, a chat object; and what is refused."""

from __future__ import annotations

import json

import pytest

from asyncsagemaker import ParamValidationError
from asyncsagemaker.batch._input import BatchRequest, parse_line


def test_a_bare_body_goes_out_as_written() -> None:
    line = '  {"inputs": "Hi", "parameters": {"max_new_tokens": 4}}\n'
    request = parse_line(line, stream=False)
    assert request == BatchRequest(line.strip().encode(), {"content_type": "application/json"})
    assert parse_line(b'"just a string"\n', stream=True) == BatchRequest(
        b'"just a string"', {"content_type": "application/json"}
    )
    assert parse_line("[1, 2]", stream=False) is not None


@pytest.mark.parametrize("line", ["", "   \n", "\r\n"])
def test_blank_lines_are_no_rows(line: str) -> None:
    assert parse_line(line, stream=False) is None


def test_a_request_object() -> None:
    line = json.dumps(
        {
            "body": "raw text",
            "content_type": "text/plain",
            "custom_attributes": "trace=1",
            "target_model": "m.tar.gz",
            "id": {"any": "value"},
            "session_id": None,
        }
    )
    request = parse_line(line, stream=False)
    assert request == BatchRequest(
        "raw text",
        {"content_type": "text/plain", "custom_attributes": "trace=1", "target_model": "m.tar.gz"},
        id={"any": "value"},
    )


def test_a_chat_object_builds_the_messages_body() -> None:
    line = json.dumps(
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 8,
            "temperature": 0.5,
            "seed": 7,
            "inference_component_name": "ic-1",
            "id": 3,
        }
    )
    streamed = parse_line(line, stream=True)
    assert streamed is not None and streamed.chat and streamed.id == 3
    assert streamed.call == {"inference_component_name": "ic-1"}
    assert streamed.body == {
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 8,
        "temperature": 0.5,
        "stream": True,
        "stream_options": {"include_usage": True},
        "seed": 7,
    }
    whole = parse_line(line, stream=False)
    assert whole is not None and "stream" not in whole.body


@pytest.mark.parametrize(
    ("line", "stream", "message"),
    [
        ("{oops", False, "not a JSON value"),
        ("[" * 100_000, False, "not a JSON value"),
        ('{"body": 1, "messages": []}', False, '"body" or "messages", not both'),
        ('{"body": 1, "costom_attributes": "x"}', False, "unknown key 'costom_attributes'"),
        ('{"body": 1, "a": 1, "b": 2}', False, "unknown keys 'a', 'b'"),
        ('{"body": 1, "target_model": "m"}', True, "'target_model' with --stream"),
        ('{"body": 1, "accept": 5}', False, "accept must be a string, not int"),
        ('{"messages": []}', False, "messages"),
        ('{"messages": "hi"}', False, "messages"),
        ('{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', False, "max_tokens"),
        ('{"messages": [{"role": "user", "content": "x"}], "stream": true}', True, "stream"),
    ],
)
def test_bad_lines_say_what_is_wrong(line: str, stream: bool, message: str) -> None:
    with pytest.raises(ParamValidationError, match=None) as caught:
        parse_line(line, stream=stream)
    assert message in str(caught.value)


@pytest.mark.parametrize("stream", [False, True])
def test_a_request_object_may_name_a_prefix_aware_id(stream: bool) -> None:
    line = json.dumps({"body": "x", "prefix_aware_id": "app-1"})
    request = parse_line(line, stream=stream)
    assert request is not None and request.call == {"prefix_aware_id": "app-1"}
