"""The bidirectional call's endpoint: its own rule set (shipped as package data), evaluated
by botocore's ``EndpointProvider``.

The "SageMaker Runtime HTTP2" service is not in botocore's data, so its rule set
travels with this package (``data/``); the partitions (DNS suffixes, FIPS and
dual-stack support) are botocore's.  The regional endpoint is
``https://runtime.sagemaker.{region}.{dnsSuffix}:8443``.  A custom URL comes from
``bidi_endpoint_url=`` or the variable ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME_HTTP2``
(the AWS convention for a service-specific endpoint).
"""

from __future__ import annotations

import functools
import json
import os
from importlib import resources
from typing import Any

from .._config import check_endpoint_url
from .._endpoints import evaluate_rules

__all__ = ["ENDPOINT_VARIABLE", "resolve_bidi_endpoint"]

ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME_HTTP2"
_RULESET = "sagemaker-runtime-http2-endpoint-rules.json"


@functools.lru_cache(maxsize=1)
def ruleset() -> dict[str, Any]:
    """The rule set, read once per process."""
    text = resources.files(__package__).joinpath("data").joinpath(_RULESET).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def resolve_bidi_endpoint(
    loader: Any,
    region: str | None,
    *,
    use_fips: bool = False,
    use_dualstack: bool = False,
    endpoint_url: str | None = None,
) -> str:
    """The base URL of bidirectional streams (blocks on files: call it off the loop)."""
    url = endpoint_url or os.environ.get(ENDPOINT_VARIABLE) or None
    return evaluate_rules(
        ruleset(), loader, region, use_fips=use_fips, use_dualstack=use_dualstack,
        endpoint_url=check_endpoint_url(url) if url else None, what="bidirectional streams: ",
    )  # fmt: skip
