"""Signature checks: requests signed by botocore's SigV4Auth, sent (or tampered) by aiohttp."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import aiohttp
import botocore.auth
import pytest

from asyncsagemaker.emulator import Emulator

from ._support import AKID, SECRET, SKEWABLE_CLOCK, boto3_client, path_for, post, sign

pytestmark = pytest.mark.anyio
Start = Callable[..., Emulator]
BODY = b'{"inputs": "Hi"}'
HEADERS = {"Content-Type": "application/json", "X-Amzn-SageMaker-Custom-Attributes": "a=1"}


async def send(
    emu: Emulator,
    headers: dict[str, str],
    body: bytes = BODY,
    path: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session:
        response = await post(
            session, emu.url + (path or path_for("echo", "invocations")), body, headers
        )
        async with response:
            return response.status, dict(response.headers), await response.read()


def signed(emu: Emulator, path: str | None = None, **kwargs: str | None) -> dict[str, str]:
    return sign(emu.url + (path or path_for("echo", "invocations")), BODY, HEADERS, **kwargs)  # type: ignore[arg-type]


async def refused(
    emu: Emulator, headers: dict[str, str], body: bytes = BODY, status: int = 403
) -> tuple[str, str]:
    got, response_headers, content = await send(emu, headers, body)
    assert got == status
    assert response_headers["x-amzn-RequestId"] == emu.records[-1].request_id
    document = json.loads(content)
    assert document["Message"] == document["message"]
    assert emu.records[-1].outcome == "error"
    return response_headers["x-amzn-ErrorType"], document["Message"]


async def test_correct_signature_passes(start: Start) -> None:
    emu = start(credentials={AKID: SECRET})
    status, headers, content = await send(emu, signed(emu))
    assert (status, content) == (200, BODY)
    assert headers["x-amzn-RequestId"] == emu.records[-1].request_id


async def test_session_token_and_unsigned_extra_headers_pass(start: Start) -> None:
    emu = start(credentials={AKID: SECRET})
    headers = signed(emu, token="SESSION/TOKEN")
    headers["User-Agent"] = "changed-after-signing"
    headers["amz-sdk-request"] = "attempt=1"
    status, _, _ = await send(emu, headers)
    assert status == 200


async def test_wrong_secret_is_invalid_signature(start: Start) -> None:
    emu = start(credentials={AKID: SECRET})
    code, message = await refused(emu, signed(emu, secret="not-the-secret"))
    assert code == "InvalidSignatureException"
    assert message.startswith("The request signature we calculated does not match")


async def test_tampered_signed_header_is_invalid_signature(start: Start) -> None:
    emu = start(credentials={AKID: SECRET})
    headers = signed(emu)
    headers["X-Amzn-SageMaker-Custom-Attributes"] = "a=2"
    code, _ = await refused(emu, headers)
    assert code == "InvalidSignatureException"


async def test_tampered_body_is_invalid_signature(start: Start) -> None:
    emu = start(credentials={AKID: SECRET})
    code, _ = await refused(emu, signed(emu), body=BODY.replace(b"Hi", b"Ho"))
    assert code == "InvalidSignatureException"


async def test_unknown_access_key_is_unrecognized_client(start: Start) -> None:
    emu = start(credentials={AKID: SECRET})
    code, message = await refused(emu, signed(emu, akid="AKIDSOMEONEELSE"))
    assert code == "UnrecognizedClientException"
    assert "security token" in message


async def test_missing_authorization_is_missing_token(start: Start) -> None:
    emu = start(credentials={AKID: SECRET})
    headers = signed(emu)
    del headers["Authorization"]
    code, _ = await refused(emu, headers)
    assert code == "MissingAuthenticationTokenException"


@SKEWABLE_CLOCK
@pytest.mark.parametrize(
    ("minutes", "wording"),
    [
        (-20, "Signature expired"),
        (20, "Signature not yet current"),
        (-6, "Signature expired"),  # AWS's window is 5 minutes (protocol.md §5.3)
        (6, "Signature not yet current"),
    ],
)
async def test_date_more_than_5_minutes_off_is_refused(
    start: Start, monkeypatch: pytest.MonkeyPatch, minutes: int, wording: str
) -> None:
    emu = start(credentials={AKID: SECRET})
    skewed = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(minutes=minutes)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: skewed)
    code, message = await refused(emu, signed(emu))
    assert code == "InvalidSignatureException"
    assert message.startswith(wording)
    assert message.endswith(f"{'-' if minutes < 0 else '+'} 5 min.)")  # as the service words it


async def test_wrong_service_in_scope_is_refused(start: Start) -> None:
    emu = start(credentials={AKID: SECRET})
    headers = signed(emu)
    headers["Authorization"] = headers["Authorization"].replace(
        "/sagemaker/", "/sagemaker-runtime/"
    )
    code, message = await refused(emu, headers)
    assert code == "InvalidSignatureException"
    assert "'sagemaker'" in message


async def test_malformed_authorization_is_incomplete_signature(start: Start) -> None:
    emu = start()
    headers = signed(emu)
    headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=oops"
    code, _ = await refused(emu, headers, status=400)
    assert code == "IncompleteSignatureException"


@pytest.mark.parametrize("name", ["bad_name!", "a/b", "tilde~name"])
async def test_percent_encoded_paths_verify_then_fail_validation(start: Start, name: str) -> None:
    """The canonical URI is built from the raw path: odd names pass the signature check."""
    emu = start(credentials={AKID: SECRET})
    path = path_for(name, "invocations")
    status, headers, _ = await send(emu, signed(emu, path=path), path=path)
    assert status == 400
    assert headers["x-amzn-ErrorType"].startswith("ValidationError")
    assert emu.records[-1].endpoint_name == name


async def test_without_credentials_any_signature_passes_but_unsigned_does_not(
    start: Start,
) -> None:
    emu = start()
    status, _, _ = await send(emu, signed(emu, secret="anything", akid="ANYONE"))
    assert status == 200
    code, _ = await refused(emu, dict(HEADERS))
    assert code == "MissingAuthenticationTokenException"


def test_boto3_with_the_right_and_wrong_credentials(start: Start) -> None:
    emu = start(credentials={AKID: SECRET})
    assert boto3_client(emu).invoke_endpoint(EndpointName="echo", Body=b"x")["Body"].read()
    other = start(credentials={AKID: "other-secret"})
    client = boto3_client(other)
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.invoke_endpoint(EndpointName="echo", Body=b"x")
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
