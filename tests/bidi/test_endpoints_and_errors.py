"""The bidirectional endpoint (the shipped rule set through botocore, every case of its own
tests), its overrides, and the parsing of refusals before the stream."""

from __future__ import annotations

import json
from typing import Any

import botocore.loaders
import pytest

from asyncsagemaker import (
    ConfigurationError,
    InternalFailure,
    ModelError,
    ServiceError,
    ServiceUnavailable,
    ThrottlingException,
    ValidationError,
)
from asyncsagemaker._bidi.endpoints import ENDPOINT_VARIABLE, resolve_bidi_endpoint, ruleset
from asyncsagemaker._bidi.model import parse_error
from tests._support import DATA

CASES: list[dict[str, Any]] = json.loads((DATA / "bidi-endpoints" / "tests.json").read_text())[
    "testCases"
]
LOADER = botocore.loaders.create_loader()


def test_the_shipped_rule_set_is_the_tested_one() -> None:
    assert ruleset() == json.loads((DATA / "bidi-endpoints" / "ruleset.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["documentation"] for c in CASES])
def test_every_rule_set_case(case: dict[str, Any]) -> None:
    params = case.get("params", {})
    kwargs = {
        "use_fips": params.get("UseFIPS", False),
        "use_dualstack": params.get("UseDualStack", False),
        "endpoint_url": params.get("Endpoint"),
    }
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(ConfigurationError) as caught:
            resolve_bidi_endpoint(LOADER, params.get("Region"), **kwargs)
        assert expect["error"] in str(caught.value)
    else:
        url = resolve_bidi_endpoint(LOADER, params.get("Region"), **kwargs)
        assert url == expect["endpoint"]["url"].rstrip("/")


def test_port_8443_in_the_main_partitions() -> None:
    assert resolve_bidi_endpoint(LOADER, "us-east-1") == (
        "https://runtime.sagemaker.us-east-1.amazonaws.com:8443"
    )
    assert resolve_bidi_endpoint(LOADER, "eu-west-1", use_fips=True) == (
        "https://runtime-fips.sagemaker.eu-west-1.amazonaws.com:8443"
    )


def test_the_variable_and_the_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENDPOINT_VARIABLE, "http://127.0.0.1:9443")
    assert resolve_bidi_endpoint(LOADER, "us-east-1") == "http://127.0.0.1:9443"
    given = resolve_bidi_endpoint(LOADER, "us-east-1", endpoint_url="https://h2.example:1")
    assert given == "https://h2.example:1"  # the argument wins
    monkeypatch.setenv(ENDPOINT_VARIABLE, "not a url")
    with pytest.raises(ConfigurationError, match="endpoint_url"):
        resolve_bidi_endpoint(LOADER, "us-east-1")


def test_a_bad_bidi_endpoint_url_is_refused_at_once() -> None:
    from asyncsagemaker import SageMakerRuntime

    with pytest.raises(ConfigurationError):
        SageMakerRuntime("us-east-1", bidi_endpoint_url="ftp://nope")


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize(
    ("status", "headers", "document", "kind", "code"),
    [
        (400, {"x-amzn-errortype": "InputValidationError"}, {"Message": "bad"}, ValidationError,
         "InputValidationError"),
        (400, {}, {"XAmznErrorType": "InputValidationError", "Message": "bad"}, ValidationError,
         "InputValidationError"),
        (400, {"x-amzn-errortype": "com.amazonaws.sagemakerruntimehttp2#InputValidationError"},
         {"Message": "bad"}, ValidationError, "InputValidationError"),
        (400, {"x-amzn-errortype": "InputValidationError:http://internal/"}, {"Message": "bad"},
         ValidationError, "InputValidationError"),
        (400, {"x-amzn-errortype": "ThrottlingException"}, {"message": "Rate exceeded"},
         ThrottlingException, "ThrottlingException"),
        (500, {"x-amzn-errortype": "InternalServerError"}, {"Message": "x"}, InternalFailure,
         "InternalServerError"),
        (503, {"x-amzn-errortype": "ServiceUnavailableError"}, {"Message": "x"},
         ServiceUnavailable, "ServiceUnavailableError"),
        (503, {}, {}, ServiceUnavailable, ""),
        (403, {"x-amzn-errortype": "InvalidSignatureException"}, {"Message": "sig"}, ServiceError,
         "InvalidSignatureException"),
    ],
)  # fmt: skip
def test_refusals_are_typed(
    status: int, headers: dict[str, str], document: dict[str, object], kind: type, code: str
) -> None:
    headers = {**headers, "x-amzn-requestid": "req-1"}
    error = parse_error(status, headers, body(**document))
    assert type(error) is kind
    assert (error.code, error.status_code, error.request_id) == (code, status, "req-1")


def test_model_error_fields_and_odd_bodies() -> None:
    error = parse_error(
        424,
        {"x-amzn-errortype": "ModelError"},
        body(Message="m", OriginalStatusCode=502, OriginalMessage="o", LogStreamArn="arn:x"),
    )
    assert isinstance(error, ModelError)
    assert (error.original_status_code, error.original_message, error.log_stream_arn) == (
        502, "o", "arn:x")  # fmt: skip
    odd = parse_error(424, {}, b"<html>gateway</html>")
    assert isinstance(odd, ModelError) and "gateway" in odd.message
    assert parse_error(418, {}, b"").message == "HTTP 418"
    assert parse_error(400, {}, b"[1, 2]").message == "[1, 2]"


@pytest.mark.parametrize(
    ("endpoint_url", "aws"),
    [
        ("https://runtime.sagemaker.us-east-1.amazonaws.com", True),
        ("https://vpce-1a2b.runtime.sagemaker.us-east-1.vpce.amazonaws.com", True),
        ("https://runtime.sagemaker.cn-north-1.amazonaws.com.cn", True),
        ("https://runtime.sagemaker.us-east-1.api.aws", True),
        ("http://127.0.0.1:8080", False),
        ("https://sagemaker.internal.example", False),
        ("https://amazonaws.com.example", False),
    ],
)
def test_only_an_aws_endpoint_url_lets_streams_go_to_the_region(
    endpoint_url: str, aws: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENDPOINT_VARIABLE, raising=False)
    if aws:
        url = resolve_bidi_endpoint(LOADER, "us-east-1", http_endpoint_url=endpoint_url)
        assert url == "https://runtime.sagemaker.us-east-1.amazonaws.com:8443"
    else:
        with pytest.raises(ConfigurationError, match="bidi_endpoint_url"):
            resolve_bidi_endpoint(LOADER, "us-east-1", http_endpoint_url=endpoint_url)
    given = "http://127.0.0.1:9443"  # an HTTP/2 URL given always wins
    chosen = resolve_bidi_endpoint(
        LOADER, "us-east-1", endpoint_url=given, http_endpoint_url=endpoint_url
    )
    assert chosen == given
