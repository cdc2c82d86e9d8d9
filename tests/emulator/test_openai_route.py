"""The emulator's OpenAI-compatible route, seen by a plain HTTP client: answers and token checks.

Every refusal has the status and code docs/emulator.md's table gives, in OpenAI's
error envelope with ``x-amzn-ErrorType`` and ``x-amzn-RequestId``; a token never
appears in an answer.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials, ReadOnlyCredentials

from asyncsagemaker._auth.bearer import make_token
from asyncsagemaker.emulator import Emulator, Faults, Invocation
from tests._support import botocore_token

AKID, SECRET = "AKIDOPENAIROUTE", "route/secret+key"
MESSAGES = [{"role": "user", "content": "Tell me about Zürich"}]
EmulatorFactory = Callable[..., Emulator]


def token(
    *,
    region: str = "us-east-1",
    expires: int = 900,
    signed_at: float | None = None,
    secret: str = SECRET,
    akid: str = AKID,
) -> str:
    at = int(time.time() if signed_at is None else signed_at)
    return make_token(ReadOnlyCredentials(akid, secret, None), region, expires, at)


def post(
    emu: Emulator,
    body: Any,
    authorization: str | None,
    *,
    path: str = "/endpoints/demo/openai/v1/chat/completions",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {"Content-Type": "application/json", **(headers or {})}
    if authorization is not None:
        sent["Authorization"] = authorization
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(emu.url + path, content=data, headers=sent, timeout=10)


@pytest.fixture
def emu(start_emulator: EmulatorFactory) -> Emulator:
    return start_emulator(credentials={AKID: SECRET}, token_delay=0)


def assert_refused(response: httpx.Response, status: int, code: str, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-ErrorType"] == code
    assert response.headers["x-amzn-RequestId"]
    error = response.json()["error"]
    assert words in error["message"], error
    assert set(error) == {"message", "type", "code"}
    assert re.search(r"api-key-[A-Za-z0-9+/]{20}", response.text) is None  # no token echoed


def test_a_whole_chat_completion(emu: Emulator) -> None:
    response = post(emu, {"messages": MESSAGES, "max_tokens": 5}, f"Bearer {token()}")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    answer = response.json()
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 5
    record = emu.records[-1]
    assert (record.operation, record.status, record.outcome) == ("ChatCompletions", 200, "ok")


def test_a_streamed_chat_is_server_sent_events_ending_with_done(emu: Emulator) -> None:
    body = {"messages": MESSAGES, "max_tokens": 4, "stream": True,
            "stream_options": {"include_usage": True}}  # fmt: skip
    with httpx.stream(
        "POST",
        emu.url + "/endpoints/demo/openai/v1/chat/completions",
        content=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token()}"},
        timeout=10,
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        text = response.read().decode()
    events = [line.removeprefix("data: ") for line in text.split("\n\n") if line]
    assert events[-1] == "data: [DONE]".removeprefix("data: ")
    chunks = [json.loads(event) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4
    assert emu.records[-1].parts_sent == len(events)


def test_both_path_forms_reach_the_model_with_the_component(
    start_emulator: EmulatorFactory,
) -> None:
    seen: list[Invocation] = []

    async def model(inv: Invocation) -> bytes:
        seen.append(inv)
        return b'{"object": "chat.completion", "choices": []}'

    emu = start_emulator(models={"llm": model}, credentials={AKID: SECRET})
    body = {"messages": MESSAGES}
    assert (
        post(
            emu, body, f"Bearer {token()}", path="/endpoints/llm/openai/v1/chat/completions"
        ).status_code
        == 200
    )
    path = "/endpoints/llm/inference-components/ic-one/openai/v1/chat/completions"
    assert post(emu, body, f"Bearer {token()}", path=path).status_code == 200
    assert [(inv.operation, inv.inference_component_name, inv.streaming) for inv in seen] == [
        ("ChatCompletions", None, False),
        ("ChatCompletions", "ic-one", False),
    ]
    assert (
        emu.openai_base_url("llm", "ic-one")
        == f"{emu.url}/endpoints/llm/inference-components/ic-one/openai/v1"
    )


def test_an_expired_token_is_refused_once_the_clock_moves(emu: Emulator) -> None:
    made = token(expires=60)
    assert post(emu, {"messages": MESSAGES}, f"Bearer {made}").status_code == 200
    emu.clock = lambda: time.time() + 61
    assert_refused(post(emu, {"messages": MESSAGES}, f"Bearer {made}"), 403,
                   "ExpiredTokenException", "has expired")  # fmt: skip


def test_a_token_dated_too_far_ahead_is_refused(emu: Emulator) -> None:
    ahead = token(signed_at=time.time() + 310)  # whole seconds: a margin over the 300
    assert_refused(post(emu, {"messages": MESSAGES}, f"Bearer {ahead}"), 403,
                   "InvalidSignatureException", "not yet current")  # fmt: skip
    slightly = token(signed_at=time.time() + 200)  # within five minutes: a clock a bit ahead
    assert post(emu, {"messages": MESSAGES}, f"Bearer {slightly}").status_code == 200


def test_a_token_for_another_region_is_refused(emu: Emulator) -> None:
    response = post(emu, {"messages": MESSAGES}, f"Bearer {token(region='eu-west-1')}")
    assert_refused(response, 403, "InvalidSignatureException", "for region 'eu-west-1'")


@pytest.mark.parametrize(
    ("options", "code", "words"),
    [
        ({"service": "bedrock", "host": "sagemaker.amazonaws.com"},
         "InvalidSignatureException", "scoped to correct service"),
        ({"service": "bedrock"},
         "InvalidBearerTokenException", "presign a request to sagemaker.amazonaws.com"),
        ({"action": "GetCallerIdentity"},
         "InvalidBearerTokenException", "not for this service's action"),
        ({"service": "bedrock", "prefix": "bedrock-api-key-"},
         "InvalidBearerTokenException", "must start with"),
    ],
    ids=["service-scope", "service-host", "action", "bedrock-prefix"],
)  # fmt: skip
def test_a_token_for_another_service_or_action_is_refused(
    emu: Emulator, options: dict[str, str], code: str, words: str
) -> None:
    made = botocore_token(Credentials(AKID, SECRET), "us-east-1", 900, int(time.time()), **options)
    if options.get("service") == "bedrock" and "prefix" not in options:
        made = "sagemaker-api-key-" + made.partition("-api-key-")[2]
    assert_refused(post(emu, {"messages": MESSAGES}, f"Bearer {made}"), 403, code, words)


def test_the_botocore_construction_is_accepted(emu: Emulator) -> None:
    made = botocore_token(
        Credentials(AKID, SECRET, "session+token/="), "us-east-1", 900, int(time.time())
    )
    assert post(emu, {"messages": MESSAGES}, f"Bearer {made}").status_code == 200


def test_a_tampered_signature_or_a_wrong_secret_is_refused(emu: Emulator) -> None:
    import base64

    made = token()
    url = base64.b64decode(made.removeprefix("sagemaker-api-key-")).decode()
    signature = url.split("X-Amz-Signature=")[1][:64]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    tampered = (
        "sagemaker-api-key-" + base64.b64encode(url.replace(signature, flipped).encode()).decode()
    )
    for bad in (tampered, token(secret="not-the-secret")):
        assert_refused(post(emu, {"messages": MESSAGES}, f"Bearer {bad}"), 403,
                       "InvalidSignatureException", "signature we calculated")  # fmt: skip
    assert_refused(post(emu, {"messages": MESSAGES}, f"Bearer {token(akid='AKIDUNKNOWN')}"), 403,
                   "UnrecognizedClientException", "invalid")  # fmt: skip


@pytest.mark.parametrize(
    ("authorization", "code", "words"),
    [
        (None, "MissingAuthenticationTokenException", "Missing Authentication Token"),
        ("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sagemaker/aws4_request, "
         "SignedHeaders=host, Signature=" + "0" * 64, "InvalidBearerTokenException", "not SigV4"),
        ("Bearer sk-openai-key", "InvalidBearerTokenException", "must start with"),
        ("Bearer sagemaker-api-key-!!!", "InvalidBearerTokenException", "not standard base64"),
    ],
    ids=["missing", "sigv4", "other-prefix", "bad-base64"],
)  # fmt: skip
def test_sigv4_and_missing_or_malformed_tokens_are_refused(
    emu: Emulator, authorization: str | None, code: str, words: str
) -> None:
    assert_refused(post(emu, {"messages": MESSAGES}, authorization), 403, code, words)


def test_a_real_sigv4_request_is_refused_on_the_route(emu: Emulator) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    url = emu.url + "/endpoints/demo/openai/v1/chat/completions"
    request = AWSRequest(method="POST", url=url, data=json.dumps({"messages": MESSAGES}).encode())
    SigV4Auth(Credentials(AKID, SECRET), "sagemaker", "us-east-1").add_auth(request)
    response = httpx.post(url, content=request.body, headers=dict(request.headers.items()))
    assert_refused(response, 403, "InvalidBearerTokenException", "not SigV4")


def test_the_component_header_and_non_chat_bodies_are_refused(emu: Emulator) -> None:
    header = {"X-Amzn-SageMaker-Inference-Component": "ic-one"}
    response = post(emu, {"messages": MESSAGES}, f"Bearer {token()}", headers=header)
    assert_refused(response, 400, "ValidationError", "name the inference component in the path")
    assert response.json()["error"]["code"] == "validation_error"
    for body in ({"inputs": "Hi"}, b"not json", ["messages"]):
        assert_refused(
            post(emu, body, f"Bearer {token()}"), 400, "ValidationError", "'messages' list"
        )


def test_refusals_of_the_service_come_in_the_openai_envelope(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(credentials={AKID: SECRET}, faults={"demo": Faults(throttle_first=1)})
    throttled = post(emu, {"messages": MESSAGES}, f"Bearer {token()}")
    assert_refused(throttled, 400, "ThrottlingException", "Rate exceeded")
    unknown = post(
        emu,
        {"messages": MESSAGES},
        f"Bearer {token()}",
        path="/endpoints/nope/openai/v1/chat/completions",
    )
    assert_refused(unknown, 400, "ValidationError", "Endpoint nope of account")
    other = post(
        emu,
        {"messages": MESSAGES},
        f"Bearer {token()}",
        path="/endpoints/demo/openai/v1/embeddings",
    )
    assert_refused(other, 404, "UnknownOperationException", "Unknown operation")


def test_without_credentials_any_well_formed_token_for_the_region_is_accepted(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(token_delay=0)
    assert (
        post(
            emu,
            {"messages": MESSAGES},
            f"Bearer {token(secret='anything', expires=1, signed_at=0)}",
        ).status_code
        == 200
    )
    assert_refused(post(emu, {"messages": MESSAGES}, f"Bearer {token(region='eu-west-1')}"), 403,
                   "InvalidSignatureException", "for region")  # fmt: skip
    assert_refused(post(emu, {"messages": MESSAGES}, None), 403,
                   "MissingAuthenticationTokenException", "Missing")  # fmt: skip


def test_the_region_the_emulator_stands_for_is_a_setting(start_emulator: EmulatorFactory) -> None:
    emu = start_emulator(credentials={AKID: SECRET}, region="eu-west-1", token_delay=0)
    assert (
        post(emu, {"messages": MESSAGES}, f"Bearer {token(region='eu-west-1')}").status_code == 200
    )
    assert post(emu, {"messages": MESSAGES}, f"Bearer {token()}").status_code == 403
