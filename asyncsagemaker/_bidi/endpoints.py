"""The bidirectional call's endpoint: its own rule set (shipped as package data), evaluated
by botocore's ``EndpointProvider``.

The "SageMaker Runtime HTTP2" service is not in botocore's data, so its rule set
travels with this package (``data/``); the partitions (DNS suffixes, FIPS and
dual-stack support) are botocore's.  The regional endpoint is
``https://runtime.sagemaker.{region}.{dnsSuffix}:8443``.  A custom URL comes from
``bidi_endpoint_url=`` or the variable ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME_HTTP2``
(the AWS convention for a service-specific endpoint).

A client whose ``endpoint_url`` (HTTP/1.1) is not an AWS host and that names no
HTTP/2 URL is refused: its streams would otherwise go to AWS while every other
call goes to the server it named (the emulator, say).  No URL is guessed from
``endpoint_url``: the HTTP/2 service listens on another port, which only the
user knows.
"""

from __future__ import annotations

import functools
import json
import os
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from .._config import check_endpoint_url
from .._endpoints import evaluate_rules
from ..errors import ConfigurationError

__all__ = ["ENDPOINT_VARIABLE", "aws_host", "resolve_bidi_endpoint"]

ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME_HTTP2"
_RULESET = "sagemaker-runtime-http2-endpoint-rules.json"


@functools.lru_cache(maxsize=1)
def ruleset() -> dict[str, Any]:
    """The rule set, read once per process."""
    text = resources.files(__package__).joinpath("data").joinpath(_RULESET).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def aws_host(url: str, loader: Any) -> bool:
    """Whether ``url``'s host lies under a DNS suffix of one of botocore's partitions."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    for partition in loader.load_data("partitions")["partitions"]:
        outputs = partition.get("outputs", {})
        for key in ("dnsSuffix", "dualStackDnsSuffix"):
            suffix = outputs.get(key)
            if suffix and (host == suffix or host.endswith("." + suffix)):
                return True
    return False


def resolve_bidi_endpoint(
    loader: Any,
    region: str | None,
    *,
    use_fips: bool = False,
    use_dualstack: bool = False,
    endpoint_url: str | None = None,
    http_endpoint_url: str | None = None,
) -> str:
    """The base URL of bidirectional streams (blocks on files: call it off the loop).

    ``http_endpoint_url`` is the client's ``endpoint_url``: when it is not an AWS
    host and no HTTP/2 URL is given, a ConfigurationError says what to set.
    """
    url = endpoint_url or os.environ.get(ENDPOINT_VARIABLE) or None
    if url is None and http_endpoint_url and not aws_host(http_endpoint_url, loader):
        raise ConfigurationError(
            f"endpoint_url {http_endpoint_url!r} is not AWS, but bidirectional streams have "
            "their own HTTP/2 endpoint and would go to AWS: pass bidi_endpoint_url=... (the "
            f"emulator's bidi_url) or set {ENDPOINT_VARIABLE}"
        )
    return evaluate_rules(
        ruleset(), loader, region, use_fips=use_fips, use_dualstack=use_dualstack,
        endpoint_url=check_endpoint_url(url) if url else None, what="bidirectional streams: ",
    )  # fmt: skip
