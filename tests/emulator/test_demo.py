"""The demo model answers in the shapes of the servers it stands for, with honest counts.

TGI (``/invocations`` and its SSE stream), DJL LMI (JSON lines), OpenAI/vLLM
(``chat.completion``, ``text_completion``, their chunks and usage), bare text.
Token counts use the demo's tokeniser; the end-of-sequence token is a generated
token, sent where the server sends it (TGI ``</s>``, LMI's special line).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from asyncsagemaker.emulator import Emulator
from asyncsagemaker.emulator._demo import demo_answer
from asyncsagemaker.emulator._demo_formats import count_tokens, split_tokens
from asyncsagemaker.formats import TokenDecoder, TokenFormat

from ._support import boto3_client, stream_parts

Start = Callable[..., Emulator]
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Tell me about Zürich"},
]
PROMPT_TOKENS = count_tokens("You are terse.") + count_tokens("Tell me about Zürich")
ANSWER = demo_answer("Tell me about Zürich")
TOKENS = split_tokens(ANSWER)


def keys(value: dict[str, Any], required: Iterable[str]) -> None:
    """Exactly these keys: a strict check of the shape."""
    assert sorted(value) == sorted(required), value


def sse(parts: list[bytes]) -> list[Any]:
    """The data of each SSE event (one per part); ``[DONE]`` stays a string."""
    out = []
    for part in parts:
        text = part.decode()
        assert text.startswith("data:") and text.endswith("\n\n"), text
        data = text[len("data:") :].strip()
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


def decoded(parts: list[bytes], fmt: TokenFormat = "auto") -> str:
    decoder = TokenDecoder(fmt)
    tokens = [token for part in parts for token in decoder.feed(part)]
    return "".join(tokens + decoder.close())


@pytest.fixture
def client(start: Start) -> Any:
    return boto3_client(start(token_delay=0))


def invoke(client: Any, body: dict[str, Any], **kwargs: Any) -> tuple[str, bytes]:
    answer = client.invoke_endpoint(EndpointName="demo", Body=json.dumps(body), **kwargs)
    return answer["ContentType"], answer["Body"].read()


# --- OpenAI chat -------------------------------------------------------------------


def test_chat_invoke_is_a_chat_completion_with_usage(client: Any) -> None:
    content_type, body = invoke(client, {"messages": MESSAGES})
    assert content_type == "application/json"
    answer = json.loads(body)
    keys(answer, ["id", "object", "created", "model", "choices", "usage"])
    assert answer["object"] == "chat.completion"
    (choice,) = answer["choices"]
    keys(choice, ["index", "message", "logprobs", "finish_reason"])
    assert choice["message"] == {"role": "assistant", "content": ANSWER}
    assert choice["finish_reason"] == "stop"
    assert answer["usage"] == {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": len(TOKENS) + 1,  # and the end-of-sequence token
        "total_tokens": PROMPT_TOKENS + len(TOKENS) + 1,
    }


def test_chat_invoke_cut_by_max_tokens_says_length(client: Any) -> None:
    _, body = invoke(client, {"messages": MESSAGES, "max_tokens": 4})
    answer = json.loads(body)
    assert answer["choices"][0]["message"]["content"] == "".join(TOKENS[:4])
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 4


def test_max_tokens_equal_to_the_answer_leaves_no_room_for_the_end(client: Any) -> None:
    _, body = invoke(client, {"messages": MESSAGES, "max_tokens": len(TOKENS)})
    assert json.loads(body)["choices"][0]["finish_reason"] == "length"
    _, body = invoke(client, {"messages": MESSAGES, "max_tokens": len(TOKENS) + 1})
    assert json.loads(body)["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("include_usage", [True, False])
def test_chat_stream_chunks(client: Any, include_usage: bool) -> None:
    body: dict[str, Any] = {"messages": MESSAGES, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    parts = stream_parts(client, "demo", json.dumps(body).encode())
    events = sse(parts)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    for chunk in chunks:
        fields = ["id", "object", "created", "model", "choices"]
        keys(chunk, fields if chunk["choices"] else [*fields, "usage"])
        assert chunk["object"] == "chat.completion.chunk"
        for choice in chunk["choices"]:
            keys(choice, ["index", "delta", "logprobs", "finish_reason"])
    with_choices = [chunk for chunk in chunks if chunk["choices"]]
    deltas = [chunk["choices"][0]["delta"] for chunk in with_choices]
    assert deltas[0]["role"] == "assistant"
    assert all("role" not in delta for delta in deltas[1:])
    assert "".join(delta.get("content", "") for delta in deltas) == ANSWER
    reasons = [chunk["choices"][0]["finish_reason"] for chunk in with_choices]
    assert reasons[-1] == "stop" and set(reasons[:-1]) == {None}
    if include_usage:
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"] == {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": len(TOKENS) + 1,
            "total_tokens": PROMPT_TOKENS + len(TOKENS) + 1,
        }
    else:
        assert all(chunk["choices"] for chunk in chunks)
    assert decoded(parts) == decoded(parts, "vllm-chat") == decoded(parts, "openai") == ANSWER


def test_chat_stream_cut_says_length_and_counts_what_was_sent(client: Any) -> None:
    body = {"messages": MESSAGES, "max_tokens": 3, "stream_options": {"include_usage": True}}
    events = sse(stream_parts(client, "demo", json.dumps(body).encode()))
    assert events[-3]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "length",
    }
    assert events[-2]["usage"]["completion_tokens"] == 3
    contents = [e["choices"][0]["delta"].get("content") for e in events[:-2] if e["choices"]]
    assert [c for c in contents if c] == TOKENS[:3]


# --- OpenAI completions ------------------------------------------------------------


def test_prompt_invoke_is_a_text_completion_with_usage(client: Any) -> None:
    _, body = invoke(client, {"prompt": "Tell me about Zürich", "max_tokens": 5})
    answer = json.loads(body)
    keys(answer, ["id", "object", "created", "model", "choices", "usage"])
    assert answer["object"] == "text_completion"
    (choice,) = answer["choices"]
    keys(choice, ["index", "text", "logprobs", "finish_reason"])
    assert (choice["text"], choice["finish_reason"]) == ("".join(TOKENS[:5]), "length")
    prompt = count_tokens("Tell me about Zürich")
    assert answer["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": 5,
        "total_tokens": prompt + 5,
    }


def test_prompt_stream_chunks_end_with_the_finish_reason_and_usage(client: Any) -> None:
    body = {"prompt": "Tell me about Zürich", "stream_options": {"include_usage": True}}
    parts = stream_parts(client, "demo", json.dumps(body).encode())
    events = sse(parts)
    assert events[-1] == "[DONE]"
    usage_chunk, text_chunks = events[-2], events[:-2]
    assert all(chunk["object"] == "text_completion" for chunk in events[:-1])
    assert [chunk["choices"][0]["text"] for chunk in text_chunks] == TOKENS
    reasons = [chunk["choices"][0]["finish_reason"] for chunk in text_chunks]
    assert reasons == [None] * (len(TOKENS) - 1) + ["stop"]
    assert (
        usage_chunk["choices"] == []
        and usage_chunk["usage"]["completion_tokens"] == len(TOKENS) + 1
    )
    assert decoded(parts) == decoded(parts, "vllm-completions") == ANSWER


# --- TGI ---------------------------------------------------------------------------


def tgi_body(max_new_tokens: int | None = None, details: bool = False) -> bytes:
    parameters: dict[str, Any] = {"details": details} if details else {}
    if max_new_tokens is not None:
        parameters["max_new_tokens"] = max_new_tokens
    return json.dumps({"inputs": "Tell me about Zürich", "parameters": parameters}).encode()


def test_tgi_stream_that_ends_by_itself_ends_with_the_special_token(client: Any) -> None:
    events = sse(stream_parts(client, "demo", tgi_body()))
    for event in events:
        keys(event, ["index", "token", "generated_text", "details"])
        keys(event["token"], ["id", "text", "logprob", "special"])
    assert [event["index"] for event in events] == list(range(1, len(TOKENS) + 2))
    last = events[-1]
    assert last["token"] == {"id": 2, "text": "</s>", "logprob": -0.5, "special": True}
    assert last["generated_text"] == ANSWER
    assert last["details"] is None  # TGI sends details only when asked
    assert all(e["generated_text"] is None and e["details"] is None for e in events[:-1])


def test_tgi_stream_cut_ends_with_its_last_token_and_says_length(client: Any) -> None:
    events = sse(stream_parts(client, "demo", tgi_body(max_new_tokens=4, details=True)))
    assert len(events) == 4
    last = events[-1]
    assert last["token"]["special"] is False and last["token"]["text"] == TOKENS[3]
    assert last["generated_text"] == "".join(TOKENS[:4])
    assert last["details"] == {
        "finish_reason": "length",
        "generated_tokens": 4,
        "seed": None,
        "input_length": count_tokens("Tell me about Zürich"),
    }


def test_tgi_stream_details_of_a_natural_end(client: Any) -> None:
    events = sse(stream_parts(client, "demo", tgi_body(details=True)))
    assert events[-1]["details"]["finish_reason"] == "eos_token"
    assert events[-1]["details"]["generated_tokens"] == len(events) == len(TOKENS) + 1


def test_tgi_invoke_is_a_list_with_details_when_asked(client: Any) -> None:
    _, plain = invoke(client, {"inputs": "Tell me about Zürich"})
    assert json.loads(plain) == [{"generated_text": ANSWER}]
    parameters = {"details": True, "max_new_tokens": 2}
    _, body = invoke(client, {"inputs": "Tell me about Zürich", "parameters": parameters})
    (answer,) = json.loads(body)
    keys(answer, ["generated_text", "details"])
    keys(answer["details"], ["finish_reason", "generated_tokens", "seed", "prefill", "tokens"])
    assert answer["details"]["finish_reason"] == "length"
    assert [token["text"] for token in answer["details"]["tokens"]] == TOKENS[:2]
    _, body = invoke(client, {"inputs": "Tell me about Zürich", "parameters": {"details": True}})
    details = json.loads(body)[0]["details"]
    assert details["finish_reason"] == "eos_token"
    assert details["tokens"][-1]["special"] is True
    assert details["generated_tokens"] == len(TOKENS) + 1


# --- LMI ---------------------------------------------------------------------------


def lines(parts: list[bytes]) -> list[dict[str, Any]]:
    assert all(part.endswith(b"\n") for part in parts)
    return [json.loads(part) for part in parts]


def test_lmi_stream_lines(client: Any) -> None:
    parts = stream_parts(client, "demo", tgi_body(details=True), Accept="application/jsonlines")
    records = lines(parts)
    for record in records[:-1]:
        keys(record, ["token"])
        keys(record["token"], ["id", "text", "log_prob"])
    last = records[-1]
    assert last["token"] == {"id": 2, "text": "", "log_prob": -0.5, "special_token": True}
    assert last["generated_text"] == ANSWER
    assert last["details"] == {
        "finish_reason": "eos_token",
        "generated_tokens": len(TOKENS) + 1,
        "inputs": "Tell me about Zürich",
    }
    assert decoded(parts) == decoded(parts, "lmi") == ANSWER


def test_lmi_stream_cut_and_without_details(client: Any) -> None:
    cut = lines(
        stream_parts(client, "demo", tgi_body(3, details=True), CustomAttributes="format=lmi")
    )
    assert len(cut) == 3 and cut[-1]["details"]["finish_reason"] == "length"
    assert cut[-1]["details"]["generated_tokens"] == 3
    plain = lines(stream_parts(client, "demo", tgi_body(3), CustomAttributes="format=lmi"))
    keys(plain[-1], ["token", "generated_text"])  # details only when asked


def test_lmi_invoke_is_an_object(client: Any) -> None:
    _, body = invoke(client, {"inputs": "Tell me about Zürich"}, CustomAttributes="format=lmi")
    assert json.loads(body) == {"generated_text": ANSWER}
    _, body = invoke(
        client,
        {"inputs": "Tell me about Zürich", "parameters": {"details": True, "max_new_tokens": 2}},
        CustomAttributes="format=lmi",
    )
    answer = json.loads(body)
    keys(answer["details"], ["finish_reason", "generated_tokens", "inputs", "tokens"])
    assert answer["details"]["finish_reason"] == "length"


# --- text, errors, determinism -----------------------------------------------------


def test_text_invoke_is_the_bare_answer(client: Any) -> None:
    content_type, body = invoke(
        client, {"inputs": "Tell me about Zürich"}, CustomAttributes="format=text"
    )
    assert content_type == "text/plain; charset=utf-8"
    assert body.decode() == ANSWER


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"inputs": "x", "parameters": {"max_new_tokens": 0}}, 422, "strictly positive"),
        ({"messages": MESSAGES, "max_tokens": 0}, 400, "max_tokens must be at least 1"),
    ],
)
def test_a_zero_token_limit_is_the_servers_error(
    client: Any, body: dict[str, Any], status: int, fragment: str
) -> None:
    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName="demo", Body=json.dumps(body))
    assert caught.value.response["OriginalStatusCode"] == status
    assert fragment in caught.value.response["OriginalMessage"]


def test_the_same_request_gives_the_same_bytes(client: Any) -> None:
    body = json.dumps({"messages": MESSAGES, "stream_options": {"include_usage": True}}).encode()
    assert stream_parts(client, "demo", body) == stream_parts(client, "demo", body)
    assert invoke(client, {"prompt": "a"}) == invoke(client, {"prompt": "a"})
