"""Clients for the emulator tests: boto3 configured explicitly, and hand-signed aiohttp requests."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import boto3
import botocore
import botocore.auth
import botocore.session
import pytest
import yarl
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from asyncsagemaker.emulator import Emulator
from asyncsagemaker.eventstream import Decoder, Message

AKID, SECRET, REGION = "AKIDEMULATORTEST", "emulator/secret+key=", "us-east-1"


def _botocore_has_the_emulators_model() -> bool:
    """Whether botocore's model has what the emulator follows (botocore 1.43.68 on)."""
    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    members = model.operation_model("InvokeEndpointAsync").input_shape.members
    return {"Body", "Filename", "S3OutputPathExtension"} <= set(members)


#: The emulator follows the service's newest model (InvokeEndpointAsync's Body,
#: Filename and S3OutputPathExtension, PrefixAwareId); a test that holds it to
#: botocore's model, or sends those members through boto3, needs a botocore that has
#: them. ``python3 dev.py lowest`` installs an older one: there these tests skip.
NEWEST_MODEL = pytest.mark.skipif(
    not _botocore_has_the_emulators_model(),
    reason=f"botocore {botocore.__version__} predates the service model the emulator "
    "follows (1.43.68: InvokeEndpointAsync's Filename, S3OutputPathExtension)",
)
#: botocore 1.40.2 on takes the signing time from get_current_datetime (a test skews it).
SKEWABLE_CLOCK = pytest.mark.skipif(
    not hasattr(botocore.auth, "get_current_datetime"),
    reason=f"botocore {botocore.__version__} signs with datetime.utcnow(): no clock to skew",
)


def boto3_client(
    emulator: Emulator,
    *,
    read_timeout: float = 10.0,
    verify: str | bool | None = None,
    endpoint_url: str | None = None,
    **extra: Any,
) -> Any:
    """A sagemaker-runtime client for ``emulator`` with one attempt, so nothing is hidden.

    ``verify`` is boto3's (a CA bundle file for an HTTPS emulator); ``extra`` goes to
    botocore's ``Config``.
    """
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        read_timeout=read_timeout,
        connect_timeout=5,
        **extra,
    )
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=endpoint_url or emulator.url,
        verify=verify,
        region_name=REGION,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=config,
    )


def stream_parts(client: Any, endpoint: str, body: bytes = b"{}", **kwargs: Any) -> list[bytes]:
    """The payload parts of one streaming call made with a boto3 client."""
    response = client.invoke_endpoint_with_response_stream(
        EndpointName=endpoint, Body=body, **kwargs
    )
    return [event["PayloadPart"]["Bytes"] for event in response["Body"]]


def path_for(endpoint: str, operation: str = "invocations-response-stream") -> str:
    """The request path exactly as botocore builds it."""
    return f"/endpoints/{urllib.parse.quote(endpoint, safe='-._~')}/{operation}"


def sign(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    akid: str = AKID,
    secret: str = SECRET,
    token: str | None = None,
) -> dict[str, str]:
    """Headers for a POST to ``url`` signed with botocore's SigV4Auth (service sagemaker)."""
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(Credentials(akid, secret, token), "sagemaker", REGION).add_auth(request)
    return dict(request.headers.items())


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
) -> aiohttp.ClientResponse:
    """Send exactly these headers and bytes (no aiohttp defaults, no path re-encoding)."""
    return await session.post(
        yarl.URL(url, encoded=True),
        data=body,
        headers=dict(headers),
        skip_auto_headers=("Accept", "Content-Type", "User-Agent", "Accept-Encoding"),
    )


def frames(data: bytes) -> list[Message]:
    decoder = Decoder()
    messages = decoder.feed(data)
    decoder.close()
    return messages


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


async def wait_until_async(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()
