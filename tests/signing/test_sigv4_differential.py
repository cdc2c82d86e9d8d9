"""The client's signer against botocore's own ``SigV4Auth``, on random requests."""

from __future__ import annotations

import datetime
import string

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from botocore.utils import percent_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncsagemaker._auth.sigv4 import RequestSigner

HEADER_NAMES = [
    "Content-Type",
    "Accept",
    "X-Amzn-SageMaker-Accept",
    "X-Amzn-SageMaker-Custom-Attributes",
    "X-Amzn-SageMaker-Target-Variant",
    "X-Amzn-SageMaker-Inference-Id",
    "X-Amzn-SageMaker-Session-Id",
    "X-Amzn-SageMaker-Inference-Component",
    "User-Agent",  # never signed
    "X-Amzn-Trace-Id",  # never signed
]
VISIBLE = st.text(alphabet=string.printable[:95], max_size=40)  # visible ASCII and space


def botocore_signature(
    credentials: ReadOnlyCredentials,
    region: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    when: datetime.datetime,
) -> dict[str, str]:
    """What botocore sends for the same request at the same time (the oracle)."""
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    signer = SigV4Auth(credentials, "sagemaker", region)
    request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
    signer._modify_request_before_signing(request)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signer._inject_signature_to_request(request, signature)
    return dict(request.headers.items())


@settings(max_examples=150, deadline=None)
@given(
    endpoint=st.text(min_size=1, max_size=20),
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), VISIBLE, max_size=6),
    body=st.binary(max_size=300),
    token=st.one_of(st.none(), st.text(string.ascii_letters + "/+=", min_size=1, max_size=30)),
    region=st.sampled_from(["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"]),
    origin=st.sampled_from(
        [
            "https://runtime.sagemaker.us-east-1.amazonaws.com",
            "https://runtime.sagemaker.us-east-1.amazonaws.com:443",
            "http://127.0.0.1:8080",
            "http://localhost",
        ]
    ),
    seconds=st.integers(min_value=0, max_value=2_000_000_000),
)
def test_signer_matches_botocore(
    endpoint: str,
    headers: dict[str, str],
    body: bytes,
    token: str | None,
    region: str,
    origin: str,
    seconds: int,
) -> None:
    credentials = ReadOnlyCredentials(
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token
    )
    url = f"{origin}/endpoints/{percent_encode(endpoint, safe='-._~')}/invocations-response-stream"
    when = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    ours = RequestSigner(region).sign(credentials, url, dict(headers), body, now=when)
    theirs = botocore_signature(credentials, region, url, headers, body, when)
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"]
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token")
