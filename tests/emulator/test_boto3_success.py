"""boto3 against the emulator: what succeeds comes through byte for byte."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from asyncsagemaker.emulator import Emulator, Faults, Invocation, ModelResponse
from asyncsagemaker.emulator._demo import demo_answer
from asyncsagemaker.emulator._demo_formats import split_tokens

from ._support import NEWEST_MODEL, boto3_client, stream_parts, wait_until

Start = Callable[..., Emulator]


def parts_model(parts: list[bytes]) -> Callable[[Invocation], AsyncIterator[bytes]]:
    async def model(inv: Invocation) -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    return model


def test_demo_streams_tgi_tokens_with_multibyte_text(start: Start) -> None:
    emu = start(token_delay=0.001)
    client = boto3_client(emu)
    body = json.dumps({"inputs": "Tell me a story", "parameters": {"max_new_tokens": 200}})
    response = client.invoke_endpoint_with_response_stream(
        EndpointName="demo", Body=body, ContentType="application/json"
    )
    assert response["ContentType"] == "text/event-stream"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    events = [json.loads(e["PayloadPart"]["Bytes"].decode()[5:]) for e in response["Body"]]
    text = "".join(e["token"]["text"] for e in events if not e["token"]["special"])
    assert text == demo_answer("Tell me a story") == events[-1]["generated_text"]
    assert events[-1]["token"] == {"id": 2, "text": "</s>", "logprob": -0.5, "special": True}
    assert any(ord(c) > 0xFFFF for c in text), "an emoji exercises 4-byte UTF-8"
    assert emu.records[-1].parts_sent == len(events)
    assert emu.records[-1].outcome == "ok"


def test_demo_max_new_tokens_bounds_the_answer(start: Start) -> None:
    """A cut answer ends with its last ordinary token, not the end-of-sequence token."""
    emu = start(token_delay=0)
    body = json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 3}}).encode()
    parts = stream_parts(boto3_client(emu), "demo", body)
    assert len(parts) == 3
    last = json.loads(parts[-1][len(b"data:") :])
    assert last["token"]["special"] is False
    assert last["generated_text"] == "".join(split_tokens(demo_answer("Hi"))[:3])


def test_demo_formats_are_chosen_by_attribute_accept_and_body(start: Start) -> None:
    emu = start(token_delay=0)
    client = boto3_client(emu)
    lines = stream_parts(client, "demo", b'{"inputs": "x"}', Accept="application/jsonlines")
    assert json.loads(lines[0])["token"]["log_prob"] == -0.5
    assert json.loads(lines[-1])["generated_text"] == demo_answer("x")

    chat = {"messages": [{"role": "user", "content": "x"}], "max_tokens": 2}
    chunks = stream_parts(client, "demo", json.dumps(chat).encode())
    assert chunks[-1] == b"data: [DONE]\n\n"
    first = json.loads(chunks[0][len(b"data: ") :])
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert json.loads(chunks[-2][len(b"data: ") :])["choices"][0]["finish_reason"] == "length"
    assert len(chunks) == 4

    completion = stream_parts(client, "demo", b'{"prompt": "x", "max_tokens": 2}')
    assert [json.loads(c[6:])["object"] for c in completion[:-1]] == ["text_completion"] * 2

    text = stream_parts(client, "demo", b'{"inputs": "x"}', CustomAttributes="format=text")
    assert b"".join(text).decode() == demo_answer("x")


def test_demo_invoke_endpoint_returns_whole_answer(start: Start) -> None:
    emu = start()
    response = boto3_client(emu).invoke_endpoint(EndpointName="demo", Body=b'{"inputs": "Hi"}')
    assert response["ContentType"] == "application/json"
    assert json.loads(response["Body"].read()) == [{"generated_text": demo_answer("Hi")}]


def test_echo_streams_the_body_in_parts_of_64_bytes(start: Start) -> None:
    emu = start()
    body = os.urandom(1000)
    response = boto3_client(emu).invoke_endpoint_with_response_stream(
        EndpointName="echo", Body=body, ContentType="application/x-test"
    )
    assert response["ContentType"] == "application/x-test"
    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    assert b"".join(parts) == body
    assert [len(p) for p in parts] == [64] * 15 + [40]


def test_64_kib_parts_arrive_intact(start: Start) -> None:
    sent = [os.urandom(64 * 1024) for _ in range(12)]
    emu = start(models={"big": parts_model(sent)})
    assert stream_parts(boto3_client(emu), "big") == sent


def test_ten_thousand_tiny_parts_arrive_intact_and_in_order(start: Start) -> None:
    sent = [str(number).encode() for number in range(10_000)]
    emu = start(models={"tiny": parts_model(sent)})
    assert stream_parts(boto3_client(emu), "tiny") == sent
    assert emu.records[-1].parts_sent == 10_000


def test_byte_by_byte_writes_still_give_the_same_parts(start: Start) -> None:
    sent = [b"alpha", b"", "café ☕".encode(), b"omega" * 10]
    emu = start(models={"m": parts_model(sent)}, faults={"m": Faults(byte_writes=True)})
    assert stream_parts(boto3_client(emu), "m") == sent


def test_invoke_endpoint_round_trips_every_member(start: Start) -> None:
    seen: list[Invocation] = []

    async def model(inv: Invocation) -> ModelResponse:
        seen.append(inv)
        return ModelResponse(
            inv.body[::-1],
            content_type="text/reversed",
            custom_attributes="reply=1",
            new_session_id="sess-2",
            closed_session_id="sess-1",
        )

    emu = start(models={"m": model})
    response = boto3_client(emu).invoke_endpoint(
        EndpointName="m",
        Body=b"abc",
        ContentType="text/plain",
        Accept="text/reversed",
        CustomAttributes="trace=1",
        TargetModel="model-a.tar.gz",
        TargetContainerHostname="c1",
        InferenceId="inf-1",
        EnableExplanations="`true`",
        InferenceComponentName="ic-1",
        SessionId="NEW_SESSION",
    )
    assert response["Body"].read() == b"cba"
    assert response["ContentType"] == "text/reversed"
    assert response["CustomAttributes"] == "reply=1"
    assert response["NewSessionId"].startswith("sess-2; Expires=")
    assert response["ClosedSessionId"] == "sess-1"
    assert response["ResponseMetadata"]["RequestId"] == emu.records[-1].request_id
    inv = seen[0]
    assert (inv.operation, inv.endpoint_name, inv.body) == ("InvokeEndpoint", "m", b"abc")
    assert (inv.content_type, inv.accept, inv.custom_attributes) == (
        "text/plain",
        "text/reversed",
        "trace=1",
    )
    assert (inv.target_model, inv.target_container_hostname, inv.inference_id) == (
        "model-a.tar.gz",
        "c1",
        "inf-1",
    )
    assert (inv.enable_explanations, inv.inference_component_name, inv.session_id) == (
        "`true`",
        "ic-1",
        "NEW_SESSION",
    )
    assert inv.headers["x-amzn-sagemaker-custom-attributes"] == "trace=1"
    assert inv.variant == "AllTraffic"


def test_stream_reads_accept_from_its_own_header(start: Start) -> None:
    seen: list[Invocation] = []

    async def model(inv: Invocation) -> bytes:
        seen.append(inv)
        return b"{}"

    emu = start(models={"m": model})
    response = boto3_client(emu).invoke_endpoint_with_response_stream(
        EndpointName="m", Body=b"{}", Accept="application/jsonlines", ContentType="text/plain"
    )
    assert [e["PayloadPart"]["Bytes"] for e in response["Body"]] == [b"{}"]
    assert response["ContentType"] == "application/jsonlines"  # the default: the accept
    assert seen[0].accept == "application/jsonlines"
    assert seen[0].target_model is None


def test_variants_are_chosen_by_weight_or_by_target(start: Start) -> None:
    emu = start(variants={"echo": {"blue": 0.0, "green": 1.0}})
    client = boto3_client(emu)
    chosen = client.invoke_endpoint(EndpointName="echo", Body=b"x")
    assert chosen["InvokedProductionVariant"] == "green"
    targeted = client.invoke_endpoint_with_response_stream(
        EndpointName="echo", Body=b"x", TargetVariant="blue"
    )
    assert targeted["InvokedProductionVariant"] == "blue"


def test_invoke_endpoint_async_writes_the_output_file(start: Start, tmp_path: Path) -> None:
    emu = start(async_output_dir=tmp_path)
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "request.json").write_bytes(b'{"question": 42}')
    response = boto3_client(emu).invoke_endpoint_async(
        EndpointName="echo",
        InputLocation="s3://inputs/request.json",
        ContentType="application/json",
        InferenceId="job-7",
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert response["InferenceId"] == "job-7"
    output = response["OutputLocation"]
    assert output.startswith("s3://") and response["FailureLocation"].startswith("s3://")
    target = tmp_path / output[len("s3://") :]
    assert wait_until(target.exists)
    assert target.read_bytes() == b'{"question": 42}'
    assert wait_until(lambda: emu.records[-1].ended is not None)
    assert emu.records[-1].outcome == "ok"


@NEWEST_MODEL
def test_invoke_endpoint_async_writes_the_failure_file(start: Start, tmp_path: Path) -> None:
    async def broken(inv: Invocation) -> bytes:
        raise RuntimeError("the model fell over")

    emu = start(models={"broken": broken}, async_output_dir=tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x").write_bytes(b"x")
    response = boto3_client(emu).invoke_endpoint_async(
        EndpointName="broken", InputLocation="s3://in/x", Filename="answer.out"
    )
    assert response["OutputLocation"].endswith("/answer.out")
    failure = tmp_path / response["FailureLocation"][len("s3://") :]
    assert wait_until(failure.exists)
    assert "the model fell over" in failure.read_text()
    assert not (tmp_path / response["OutputLocation"][len("s3://") :]).exists()
