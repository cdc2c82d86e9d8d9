"""Client pieces that need no server: endpoints, config, validation, signing, retry rules."""

from __future__ import annotations

import datetime

import botocore.config
import botocore.session
import pytest
from botocore.credentials import ReadOnlyCredentials

import asyncsagemaker
from asyncsagemaker import Config, ConfigurationError, ParamValidationError
from asyncsagemaker._auth.sigv4 import RequestSigner
from asyncsagemaker._endpoints import resolve_endpoint_url
from asyncsagemaker._operations import load_operations
from asyncsagemaker._retries import RetryPolicy
from asyncsagemaker.errors import (
    ConnectTimeoutError,
    InternalDependencyException,
    InternalFailure,
    ModelError,
    ModelNotReadyException,
    NetworkError,
    ServiceError,
    ServiceUnavailable,
    ThrottlingException,
    ValidationError,
)

SESSION = botocore.session.get_session()
LOADER = SESSION.get_component("data_loader")
OPERATIONS = load_operations(SESSION.get_service_model("sagemaker-runtime"))
STREAM = OPERATIONS["InvokeEndpointWithResponseStream"]


# -- endpoints (docs/protocol.md §1.2, resolved by botocore's rule set) ----------------------


@pytest.mark.parametrize(
    ("region", "fips", "dualstack", "url"),
    [
        ("us-east-1", False, False, "https://runtime.sagemaker.us-east-1.amazonaws.com"),
        ("us-east-1", True, False, "https://runtime-fips.sagemaker.us-east-1.amazonaws.com"),
        ("us-east-1", False, True, "https://runtime.sagemaker.us-east-1.api.aws"),
        ("us-east-1", True, True, "https://runtime.sagemaker-fips.us-east-1.api.aws"),
        ("us-gov-west-1", True, False, "https://runtime.sagemaker.us-gov-west-1.amazonaws.com"),
        ("cn-north-1", False, False, "https://runtime.sagemaker.cn-north-1.amazonaws.com.cn"),
        (
            "cn-north-1",
            False,
            True,
            "https://runtime.sagemaker.cn-north-1.api.amazonwebservices.com.cn",
        ),
        ("us-iso-east-1", False, False, "https://runtime.sagemaker.us-iso-east-1.c2s.ic.gov"),
        ("us-isob-east-1", False, False, "https://runtime.sagemaker.us-isob-east-1.sc2s.sgov.gov"),
    ],
)
def test_endpoint_rules(region: str, fips: bool, dualstack: bool, url: str) -> None:
    assert resolve_endpoint_url(LOADER, region, use_fips=fips, use_dualstack=dualstack) == url


def test_endpoint_url_override_wins_and_trailing_slash_is_dropped() -> None:
    got = resolve_endpoint_url(LOADER, "eu-west-1", endpoint_url="http://127.0.0.1:8080/")
    assert got == "http://127.0.0.1:8080"


def test_missing_region_is_a_clear_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"Missing Region.*region_name"):
        resolve_endpoint_url(LOADER, None)


def test_fips_with_custom_endpoint_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="FIPS and custom endpoint"):
        resolve_endpoint_url(LOADER, "us-east-1", use_fips=True, endpoint_url="http://127.0.0.1:1")


@pytest.mark.anyio
async def test_client_without_region_fails_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/asyncsagemaker-test")
    client = asyncsagemaker.SageMakerRuntime(aws_access_key_id="a", aws_secret_access_key="b")
    with pytest.raises(ConfigurationError, match="region"):
        await client.__aenter__()
    await client.close()


# -- config --------------------------------------------------------------------------


def test_config_from_botocore_translates_retries_and_timeouts() -> None:
    boto = botocore.config.Config(
        connect_timeout=3,
        read_timeout=7,
        retries={"mode": "legacy", "max_attempts": 4},
        max_pool_connections=9,
        user_agent_extra="app/1",
        use_dualstack_endpoint=True,
        tcp_keepalive=True,
    )
    config = Config.coerce(boto)
    assert config.connect_timeout == 3
    assert config.read_timeout == 7
    assert config.retry_mode == "legacy"
    assert config.max_attempts == 5  # botocore's max_attempts counts retries
    assert config.max_pool_connections == 9
    assert config.user_agent_extra == "app/1"
    assert config.use_dualstack_endpoint is True
    assert config.tcp_keepalive is True
    total = Config.coerce(botocore.config.Config(retries={"total_max_attempts": 2}))
    assert total.max_attempts == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"read_timeout": 0},
        {"connect_timeout": -1},
        {"retry_mode": "eager"},
        {"max_attempts": 0},
        {"max_pool_connections": 0},
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        Config(**kwargs)  # type: ignore[arg-type]


def test_config_of_another_type_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"botocore\.config\.Config"):
        Config.coerce({"read_timeout": 1})


def test_half_explicit_keys_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="both"):
        asyncsagemaker.SageMakerRuntime("us-east-1", aws_access_key_id="only-the-id")


# -- request building from the service model -------------------------------------------


def test_every_stream_parameter_goes_to_its_model_header() -> None:
    request = STREAM.prepare(
        "my-endpoint",
        {
            "body": b"{}",
            "content_type": "application/json",
            "accept": "text/event-stream",
            "custom_attributes": "trace=abc",
            "target_variant": "v1",
            "target_container_hostname": "c1",
            "inference_id": "inf-3",
            "inference_component_name": "ic-1",
            "session_id": "sess-1",
        },
    )
    assert request.path == "/endpoints/my-endpoint/invocations-response-stream"
    assert request.headers == {
        "Content-Type": "application/json",
        "X-Amzn-SageMaker-Accept": "text/event-stream",
        "X-Amzn-SageMaker-Custom-Attributes": "trace=abc",
        "X-Amzn-SageMaker-Target-Variant": "v1",
        "X-Amzn-SageMaker-Target-Container-Hostname": "c1",
        "X-Amzn-SageMaker-Inference-Id": "inf-3",
        "X-Amzn-SageMaker-Inference-Component": "ic-1",
        "X-Amzn-SageMaker-Session-Id": "sess-1",
    }


def test_invoke_endpoint_accept_is_the_plain_header() -> None:
    request = OPERATIONS["InvokeEndpoint"].prepare("e", {"body": b"", "accept": "text/csv"})
    assert request.headers == {"Accept": "text/csv"}


@pytest.mark.parametrize(
    ("body", "wire", "content_type"),
    [
        (b"\x00raw", b"\x00raw", None),
        (bytearray(b"ba"), b"ba", None),
        ("héllo", "héllo".encode(), None),
        ({"inputs": "hé"}, '{"inputs":"hé"}'.encode(), "application/json"),
        ([1, 2], b"[1,2]", "application/json"),
    ],
)
def test_body_forms(body: object, wire: bytes, content_type: str | None) -> None:
    request = STREAM.prepare("e", {"body": body})
    assert request.body == wire
    assert request.headers.get("Content-Type") == content_type


def test_explicit_content_type_wins_over_json_default() -> None:
    request = STREAM.prepare("e", {"body": {"a": 1}, "content_type": "application/x-custom"})
    assert request.headers["Content-Type"] == "application/x-custom"


@pytest.mark.parametrize(
    ("endpoint", "params", "match"),
    [
        ("", {"body": b""}, "endpoint_name is required"),
        ("bad_name!", {"body": b""}, "pattern"),
        ("a" * 64, {"body": b""}, "at most 63"),
        ("e", {}, "body .* is required"),
        ("e", {"body": b"x" * (6 * 1024 * 1024 + 1)}, "at most 6291456"),
        ("e", {"body": b"", "custom_attributes": "a" * 1025}, "at most 1024"),
        ("e", {"body": b"", "custom_attributes": "a\r\nInjected: 1"}, "visible ASCII"),
        ("e", {"body": b"", "content_type": "text/plain\n"}, "visible ASCII"),
        ("e", {"body": b"", "custom_attributes": "caf\u00e9"}, "visible ASCII"),
        ("e", {"body": b"", "target_variant": "no_underscores"}, "pattern"),
        ("e", {"body": b"", "session_id": "NEW_SESSION"}, "only invoke_endpoint can open"),
        ("e", {"body": b"", "session_id": "bad_id"}, "pattern"),
        ("e", {"body": b"", "content_typ": "x"}, "did you mean content_type"),
        ("e", {"body": b"", "ContentType": "x"}, "did you mean content_type"),
        ("e", {"body": b"", "target_model": "m"}, "unexpected keyword argument 'target_model'"),
        ("e", {"body": object()}, "JSON-serialisable"),
        ("e", {"body": b"", "accept": 5}, "must be a str"),
    ],
)
def test_bad_arguments_are_refused_before_sending(
    endpoint: str, params: dict[str, object], match: str
) -> None:
    with pytest.raises(ParamValidationError, match=match):
        STREAM.prepare(endpoint, params)


def test_async_invocation_integers_and_ranges() -> None:
    op = OPERATIONS["InvokeEndpointAsync"]
    request = op.prepare("e", {"input_location": "s3://b/k", "request_ttl_seconds": 600})
    assert request.headers["X-Amzn-SageMaker-RequestTTLSeconds"] == "600"
    with pytest.raises(ParamValidationError, match=">= 60"):
        op.prepare("e", {"input_location": "s3://b/k", "request_ttl_seconds": 59})
    with pytest.raises(ParamValidationError, match="must be an int"):
        op.prepare("e", {"input_location": "s3://b/k", "request_ttl_seconds": True})


def test_endpoint_names_are_escaped_like_botocore() -> None:
    # Valid names never need escaping; the model's escaping is still applied verbatim.
    assert STREAM.prepare("my-Endpoint-1", {"body": b""}).path.startswith(
        "/endpoints/my-Endpoint-1/"
    )


# -- errors from the model ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "body", "cls", "code"),
    [
        (400, {"x-amzn-ErrorType": "ValidationError"}, b'{"Message":"m"}', ValidationError, None),
        (424, {"x-amzn-ErrorType": "ModelError"}, b'{"Message":"m"}', ModelError, None),
        (429, {"x-amzn-ErrorType": "ModelNotReadyException"}, b"{}", ModelNotReadyException, None),
        (500, {"x-amzn-ErrorType": "InternalFailure"}, b"{}", InternalFailure, None),
        (503, {"x-amzn-ErrorType": "ServiceUnavailable"}, b"", ServiceUnavailable, None),
        (530, {}, b'{"__type":"InternalDependencyException"}', InternalDependencyException, None),
        (400, {"x-amzn-ErrorType": "ThrottlingException"}, b"{}", ThrottlingException, None),
        (
            400,
            {"x-amzn-ErrorType": "ValidationError:http://internal.amazon.com/coral"},
            b'{"__type":"ModelError"}',
            ValidationError,
            "ValidationError",
        ),
        (502, {}, b"<html>Bad Gateway</html>", ServiceError, "502"),
        (403, {"x-amzn-ErrorType": "InvalidSignatureException"}, b"{}", ServiceError, None),
    ],
)
def test_error_codes_resolve_to_typed_errors(
    status: int, headers: dict[str, str], body: bytes, cls: type, code: str | None
) -> None:
    error = STREAM.parse_error(status, {**headers, "x-amzn-RequestId": "rid"}, body)
    assert type(error) is cls
    assert error.status_code == status
    assert error.request_id == "rid"
    if code is not None:
        assert error.code == code


def test_model_error_keeps_the_containers_answer() -> None:
    error = OPERATIONS["InvokeEndpoint"].parse_error(
        424,
        {"x-amzn-ErrorType": "ModelError"},
        b'{"Message":"Received server error (500) from primary","OriginalStatusCode":500,'
        b'"OriginalMessage":"boom","LogStreamArn":"arn:aws:logs:us-east-1:1:log-group:x"}',
    )
    assert isinstance(error, ModelError)
    assert error.original_status_code == 500
    assert error.original_message == "boom"
    assert error.log_stream_arn == "arn:aws:logs:us-east-1:1:log-group:x"
    assert "Received server error" in str(error)


# -- SigV4 ---------------------------------------------------------------------------------


def test_signature_matches_the_protocol_reference_vector() -> None:
    """docs/protocol.md §5.2: the signature derived independently with hashlib/hmac."""
    signer = RequestSigner("us-east-1")
    credentials = ReadOnlyCredentials(
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "FQoGZXIvYXdzEXAMPLETOKEN"
    )
    headers = signer.sign(
        credentials,
        "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/my-llm-endpoint/invocations-response-stream",
        {
            "Content-Type": "application/json",
            "X-Amzn-SageMaker-Accept": "text/event-stream",
            "X-Amzn-SageMaker-Inference-Component": "ic-1",
        },
        b'{"inputs":"Hello","parameters":{"max_new_tokens":32},"stream":true}',
        now=datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    )
    assert headers["X-Amz-Date"] == "20240102T030405Z"
    assert headers["X-Amz-Security-Token"] == "FQoGZXIvYXdzEXAMPLETOKEN"
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-east-1/sagemaker/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"
        "x-amzn-sagemaker-accept;x-amzn-sagemaker-inference-component, "
        "Signature=6fa91e767230ec68fca172e79ea59e2a66a503d7cc0e72c1253cc3d469c21f82"
    )


def test_cached_signing_key_follows_the_day() -> None:
    signer = RequestSigner("us-east-1")
    credentials = ReadOnlyCredentials("AKID", "SECRET", None)
    url = "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/e/invocations"
    day1 = datetime.datetime(2024, 1, 1, 23, 59, 59, tzinfo=datetime.timezone.utc)
    day2 = datetime.datetime(2024, 1, 2, 0, 0, 0, tzinfo=datetime.timezone.utc)
    first = signer.sign(credentials, url, {}, b"", now=day1)["Authorization"]
    second = signer.sign(credentials, url, {}, b"", now=day2)["Authorization"]
    fresh = RequestSigner("us-east-1").sign(credentials, url, {}, b"", now=day2)["Authorization"]
    assert "20240101/" in first
    assert second == fresh


# -- retry rules --------------------------------------------------------------------------


def _service(cls: type[ServiceError], status: int, code: str) -> ServiceError:
    return cls("m", code=code, status_code=status)


@pytest.mark.parametrize(
    ("error", "standard", "legacy"),
    [
        (_service(ValidationError, 400, "ValidationError"), False, False),
        (_service(ModelError, 424, "ModelError"), False, False),
        (_service(ModelNotReadyException, 429, "ModelNotReadyException"), True, True),
        (_service(InternalFailure, 500, "InternalFailure"), True, True),
        (_service(ServiceError, 502, "502"), True, True),
        (_service(ServiceUnavailable, 503, "ServiceUnavailable"), True, True),
        (_service(ServiceError, 504, "504"), True, True),
        (_service(ServiceError, 509, "509"), False, True),
        (_service(InternalDependencyException, 530, "InternalDependencyException"), False, False),
        (_service(ThrottlingException, 400, "ThrottlingException"), True, True),
        (_service(ServiceError, 400, "TooManyRequestsException"), True, False),
        (NetworkError("reset"), True, True),
        (ConnectTimeoutError("slow"), True, True),
    ],
)
def test_what_is_retried(
    error: asyncsagemaker.SageMakerError, standard: bool, legacy: bool
) -> None:
    assert RetryPolicy("standard", 3).is_retryable(error) is standard
    assert RetryPolicy("adaptive", 3).is_retryable(error) is standard
    assert RetryPolicy("legacy", 5).is_retryable(error) is legacy


def test_retry_quota_runs_out_and_refills() -> None:
    policy = RetryPolicy("standard", 3)
    error = _service(InternalFailure, 500, "InternalFailure")
    granted = 0
    while policy.acquire_retry(error):
        granted += 1
        assert granted <= 100
    assert granted == 100  # 500 tokens, 5 per retry
    policy.record_success(retried_cost=5)
    assert policy.acquire_retry(error)


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy("standard", 10, backoff_base=1.0, max_backoff=20.0)
    delays = [policy.backoff(attempt) for attempt in range(1, 12) for _ in range(50)]
    assert all(0 <= d <= 20.0 for d in delays)
    assert max(policy.backoff(1) for _ in range(200)) <= 1.0
