"""SigV4 verification of a received request, recomputed with botocore's own signer.

The recipe is docs/protocol.md §5.3: take the request-target exactly as received (still
percent-encoded), the received ``Host``, and only the headers named in
``SignedHeaders``; reuse the client's timestamp; compare in constant time.
botocore does not check the clock or the scope, so that is done here.

With no credentials configured a request must still carry a well-formed
``Authorization`` header for service ``sagemaker`` (every SDK signs; a client that
forgot to would fail against AWS too), but the signature and clock are not checked.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from ._replies import ServiceReply

__all__ = ["MAX_SKEW", "MISMATCH", "SERVICE", "verify"]

#: How far a request's signing time may be from the clock: AWS documents that a signed
#: request must reach it within 5 minutes of its time stamp (protocol.md §5.3).
MAX_SKEW = _dt.timedelta(minutes=5)
SERVICE = "sagemaker"
_AMZ_FORMAT = "%Y%m%dT%H%M%SZ"
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<akid>[^/\s]+)/(?P<date>\d{8})/(?P<region>[^/\s]+)/"
    r"(?P<service>[^/\s]+)/aws4_request,\s*SignedHeaders=(?P<signed>[^,\s]+),\s*"
    r"Signature=(?P<sig>[0-9a-f]{64})$"
)
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


def _refuse(code: str, message: str, status: int = 403) -> ServiceReply:
    return ServiceReply(status, code, message)


class _Recomputer(SigV4Auth):  # type: ignore[misc]  # botocore is untyped
    """botocore's signer, but signing exactly the headers the client said it signed."""

    def __init__(self, credentials: Credentials, region: str, signed: Sequence[str]) -> None:
        super().__init__(credentials, SERVICE, region)
        self._signed = signed

    def headers_to_sign(self, request: Any) -> Any:
        chosen = HTTPHeaders()
        for name in self._signed:
            for value in request.headers.get_all(name) or ():
                chosen[name] = value
        return chosen


def verify(
    method: str,
    raw_target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    credentials: Mapping[str, str] | None,
    now: _dt.datetime | None = None,
    *,
    payload_hash: str | None = None,
) -> None:
    """Raise :class:`ServiceReply` (403 or 400) unless the request is signed as required.

    ``headers`` are the received (name, value) pairs in order, repeats included.
    ``payload_hash`` is the literal the body hash must be instead of the body's
    SHA-256 (``STREAMING-AWS4-HMAC-SHA256-EVENTS`` for a signed event stream).
    The checks run in a fixed order; the first problem found is the one reported.
    """
    received: dict[str, list[str]] = {}
    for name, value in headers:
        received.setdefault(name.lower(), []).append(value)
    match = _authorization(received)
    timestamp = _timestamp(received)
    signed = _signed_headers(match, timestamp, received)
    if credentials is None:
        return
    secret = credentials.get(match["akid"])
    if secret is None:
        raise _refuse(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    _check_clock(timestamp, now or _dt.datetime.now(_dt.timezone.utc))
    _check_payload_hash(received, body, payload_hash)
    request = AWSRequest(method=method, url=f"http://{received['host'][0]}{raw_target}", data=body)
    for name in signed:
        for value in received[name]:
            request.headers[name] = value  # HTTPHeaders appends; repeats are joined with ','
    request.context["timestamp"] = timestamp
    signer = _Recomputer(Credentials(match["akid"], secret), match["region"], signed)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    expected: str = signer.signature(string_to_sign, request)
    if not hmac.compare_digest(expected, match["sig"]):
        # AWS quotes both back (session token included), and so SDKs must not show them
        raise _refuse(
            "InvalidSignatureException",
            f"{MISMATCH}\n\nThe Canonical String for this request should have been\n"
            f"'{canonical}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n",
        )


def _authorization(received: Mapping[str, list[str]]) -> re.Match[str]:
    """The parts of the ``Authorization`` header; refused when it is missing or malformed."""
    authorization = received.get("authorization")
    if not authorization:
        raise _refuse("MissingAuthenticationTokenException", "Missing Authentication Token")
    match = _AUTH.match(authorization[0].strip())
    if match is None:
        raise _refuse(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
            "parameters in the form AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., "
            "Signature=...",
            status=400,
        )
    return match


def _signed_headers(
    match: re.Match[str], timestamp: str, received: Mapping[str, list[str]]
) -> list[str]:
    """The signed header names, once the scope and the headers are as the service wants them.

    Checked with or without credentials: every SDK gets these right.
    """
    if match["date"] != timestamp[:8]:
        raise _refuse(
            "InvalidSignatureException",
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{match['date']}' != '{timestamp[:8]}', from '{timestamp}'.",
        )
    if match["service"] != SERVICE:
        raise _refuse(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{SERVICE}'. ",
        )
    signed = match["signed"].split(";")
    missing = [name for name in signed if name not in received]
    if "host" not in signed or missing:
        raise _refuse(
            "InvalidSignatureException",
            "'Host' or a signed header is missing from the request: " + ", ".join(missing),
        )
    return signed


def _check_payload_hash(
    received: Mapping[str, list[str]], body: bytes, payload_hash: str | None
) -> None:
    """The claimed body hash must be the body's (or the literal a streamed body signs)."""
    claimed_hash = received.get("x-amz-content-sha256")
    wanted_hash = payload_hash or hashlib.sha256(body).hexdigest()
    if (claimed_hash and claimed_hash[0] != wanted_hash) or (payload_hash and not claimed_hash):
        raise _refuse(
            "InvalidSignatureException",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            status=400,
        )


def _timestamp(received: Mapping[str, list[str]]) -> str:
    """The signing time in ``YYYYMMDDTHHMMSSZ`` form, from X-Amz-Date or else Date."""
    if "x-amz-date" in received:
        value = received["x-amz-date"][0].strip()
        try:
            _dt.datetime.strptime(value, _AMZ_FORMAT)
        except ValueError:
            pass
        else:
            return value
    elif "date" in received:
        try:
            parsed = email.utils.parsedate_to_datetime(received["date"][0])
        except (TypeError, ValueError):
            pass
        else:
            return parsed.astimezone(_dt.timezone.utc).strftime(_AMZ_FORMAT)
    raise _refuse(
        "IncompleteSignatureException",
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        status=400,
    )


def _check_clock(timestamp: str, now: _dt.datetime) -> None:
    signed_at = _dt.datetime.strptime(timestamp, _AMZ_FORMAT).replace(tzinfo=_dt.timezone.utc)
    now_text = now.strftime(_AMZ_FORMAT)
    if signed_at < now - MAX_SKEW:
        limit = (now - MAX_SKEW).strftime(_AMZ_FORMAT)
        raise _refuse(
            "InvalidSignatureException",
            f"Signature expired: {timestamp} is now earlier than {limit} "
            f"({now_text} - {_minutes()} min.)",
        )
    if signed_at > now + MAX_SKEW:
        limit = (now + MAX_SKEW).strftime(_AMZ_FORMAT)
        raise _refuse(
            "InvalidSignatureException",
            f"Signature not yet current: {timestamp} is still later than {limit} "
            f"({now_text} + {_minutes()} min.)",
        )


def _minutes() -> str:
    """:data:`MAX_SKEW` as the service words it (``5``)."""
    return f"{MAX_SKEW.total_seconds() / 60:g}"
