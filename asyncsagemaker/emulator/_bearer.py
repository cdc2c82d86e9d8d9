"""The OpenAI-compatible route's authentication step: a SageMaker bearer token, verified.

A token is ``sagemaker-api-key-`` and the base64 of a SigV4 pre-signed URL for the
``CallWithBearerToken`` action (docs/protocol.md §8).  The checks, in order: the
scheme and prefix, the base64, the pre-signed URL (host, action, version,
algorithm, signed headers, lifetime), the credential scope (service, region, day);
then, with ``credentials`` configured (the same mapping the SigV4 check uses), the
access key, the signature (recomputed with botocore's own SigV4 signer over the
token's query, so an implementation other than the client's checks it) and the
clock: a token is refused from ``X-Amz-Date + X-Amz-Expires`` on, and when dated
more than five minutes ahead.  The first problem found is the one reported; its
status and code are in docs/emulator.md (AWS documents none: they are ours).  The
token never appears in a message or a log line.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hmac
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ._replies import ServiceReply
from ._sigv4 import MISMATCH, SERVICE

if TYPE_CHECKING:
    from ._authentication import AuthSettings

__all__ = ["FUTURE_SKEW", "MAX_EXPIRES", "bearer", "verify_bearer"]

PREFIX = "sagemaker-api-key-"
HOST = "sagemaker.amazonaws.com"
ACTION = "CallWithBearerToken"
MAX_EXPIRES = 12 * 60 * 60
#: How far ahead of the emulator's clock a token may be dated (the IAM guide's five minutes).
FUTURE_SKEW = 5 * 60
_AMZ_FORMAT = "%Y%m%dT%H%M%SZ"
_SIGNED = ("Action", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
           "X-Amz-SignedHeaders")  # fmt: skip
_EXPECTED = (
    "Authorization: Bearer sagemaker-api-key-<base64 of a SigV4 pre-signed URL for "
    "CallWithBearerToken>, as the SageMaker SDK's token generator makes it"
)


def _refuse(code: str, message: str) -> ServiceReply:
    return ServiceReply(403, code, message)


def _malformed(problem: str) -> ServiceReply:
    return _refuse("InvalidBearerTokenException", f"The bearer token is malformed: {problem}.")


def bearer(request: web.Request, body: bytes, settings: AuthSettings) -> None:
    """The OpenAI-compatible route's step (``_routes``): a valid token for the emulator's region."""
    verify_bearer(request, settings.credentials, settings.region, settings.clock())


def verify_bearer(
    request: web.Request,
    credentials: Mapping[str, str] | None,
    region: str,
    now: float,
) -> None:
    """Raise :class:`ServiceReply` (403) unless the request carries a valid token for ``region``."""
    query = _token_query(request.headers.getall("Authorization", []))
    pairs = _pairs(query)
    signature = pairs.pop("X-Amz-Signature", None)
    version = pairs.pop("Version", None)
    if version != "1":
        raise _malformed("it must end with Version=1")
    if signature is None or len(signature) != 64:
        raise _malformed("it has no X-Amz-Signature")
    missing = [name for name in _SIGNED if name not in pairs]
    if missing:
        raise _malformed("its pre-signed URL lacks " + ", ".join(missing))
    if pairs["Action"] != ACTION:
        raise _refuse(
            "InvalidBearerTokenException",
            f"The bearer token is not for this service's action: it presigns "
            f"{unquote(pairs['Action'])!r}, not {ACTION!r}.",
        )
    if pairs["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256" or pairs["X-Amz-SignedHeaders"] != "host":
        raise _malformed("it must be signed with AWS4-HMAC-SHA256 over the host header")
    akid, day, token_region = _scope(unquote(pairs["X-Amz-Credential"]), region)
    signed_at, expires = _validity(pairs["X-Amz-Date"], pairs["X-Amz-Expires"], day)
    if credentials is None:
        return  # form and scope only, as the SigV4 check without credentials
    secret = credentials.get(akid)
    if secret is None:
        raise _refuse(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    expected = _signature(query, akid, secret, token_region, pairs)
    if not hmac.compare_digest(expected, signature):
        raise _refuse("InvalidSignatureException", MISMATCH)
    _check_clock(pairs["X-Amz-Date"], signed_at, expires, now)


def _token_query(authorization: list[str]) -> str:
    """The pre-signed URL's query from the ``Authorization`` header; refused unless a token."""
    if not authorization:
        raise _refuse(
            "MissingAuthenticationTokenException", f"Missing Authentication Token: send {_EXPECTED}"
        )
    scheme, _, value = authorization[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        what = "SigV4" if scheme.startswith("AWS4-") else f"{scheme[:20]!r}"
        raise _refuse(
            "InvalidBearerTokenException",
            f"This route authenticates with a bearer token, not {what}: send {_EXPECTED}.",
        )
    value = value.strip()
    if not value.startswith(PREFIX):
        raise _malformed(f"it must start with {PREFIX!r}")
    try:
        url = base64.b64decode(value[len(PREFIX) :], validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        raise _malformed("what follows the prefix is not standard base64 of a URL") from None
    host, sep, query = url.partition("/?")
    if not sep or host != HOST:
        raise _malformed(f"it must presign a request to {HOST}/")
    return query


def _pairs(query: str) -> dict[str, str]:
    """The query's parameters (still percent-encoded), each at most once."""
    pairs: dict[str, str] = {}
    for item in query.split("&"):
        key, _, value = item.partition("=")
        if key in pairs or not key:
            raise _malformed("its pre-signed URL repeats or lacks a parameter name")
        pairs[key] = value
    return pairs


def _scope(credential: str, region: str) -> tuple[str, str, str]:
    """``(access key id, day, region)`` of ``X-Amz-Credential``, once its scope is right."""
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise _malformed("X-Amz-Credential is not <key id>/<day>/<region>/<service>/aws4_request")
    akid, day, token_region, service = parts[:4]
    if service != SERVICE:
        raise _refuse(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{SERVICE}'. "
            f"The bearer token is scoped to '{service}'.",
        )
    if token_region != region:
        raise _refuse(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region. The bearer token is for region "
            f"'{token_region}'; this endpoint is in '{region}'.",
        )
    return akid, day, token_region


def _validity(amz_date: str, expires: str, day: str) -> tuple[int, int]:
    """``(signed at, lifetime)`` in seconds, once both are well-formed and agree with the scope."""
    try:
        signed_at = calendar.timegm(time.strptime(amz_date, _AMZ_FORMAT))
    except ValueError:
        raise _malformed("X-Amz-Date is not YYYYMMDDTHHMMSSZ") from None
    if amz_date[:8] != day:
        raise _refuse(
            "InvalidSignatureException",
            f"Date in Credential scope does not match YYYYMMDD from X-Amz-Date: "
            f"'{day}' != '{amz_date[:8]}'.",
        )
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_EXPIRES:
        raise _malformed(f"X-Amz-Expires must be 1 to {MAX_EXPIRES} seconds")
    return signed_at, int(expires)


def _signature(query: str, akid: str, secret: str, region: str, pairs: Mapping[str, str]) -> str:
    """botocore's SigV4 signature of the token's pre-signed request (its query, less the
    signature and the version appended after signing)."""
    signed_query = "&".join(
        item for item in query.split("&") if not item.startswith(("X-Amz-Signature=", "Version="))
    )
    request = AWSRequest(method="POST", url=f"https://{HOST}/?{signed_query}")
    request.headers["host"] = HOST
    request.context["timestamp"] = pairs["X-Amz-Date"]
    token = pairs.get("X-Amz-Security-Token")
    signer = SigV4Auth(Credentials(akid, secret, token and unquote(token)), SERVICE, region)
    string_to_sign = signer.string_to_sign(request, signer.canonical_request(request))
    signature: str = signer.signature(string_to_sign, request)
    return signature


def _check_clock(amz_date: str, signed_at: int, expires: int, now: float) -> None:
    now_text = time.strftime(_AMZ_FORMAT, time.gmtime(now))
    if now >= signed_at + expires:
        until = time.strftime(_AMZ_FORMAT, time.gmtime(signed_at + expires))
        raise _refuse(
            "ExpiredTokenException",
            f"The bearer token has expired: signed at {amz_date} for {expires} s, it was valid "
            f"until {until}; it is now {now_text}.",
        )
    if signed_at > now + FUTURE_SKEW:
        limit = time.strftime(_AMZ_FORMAT, time.gmtime(now + FUTURE_SKEW))
        raise _refuse(
            "InvalidSignatureException",
            f"Signature not yet current: {amz_date} is still later than {limit} "
            f"({now_text} + 5 min.)",
        )
