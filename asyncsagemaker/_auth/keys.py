"""SigV4's derived signing key, stdlib only: the request signer and the event signer share it."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNING_NAME", "signing_key"]

#: The service's signing name (not "sagemaker-runtime").
SIGNING_NAME = "sagemaker"


def signing_key(secret_key: str, day: str, region: str, service: str = SIGNING_NAME) -> bytes:
    """SigV4's derived key: HMAC chained over day, region, service and ``aws4_request``."""
    key = ("AWS4" + secret_key).encode("utf-8")
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key
