"""The endpoint URL, from botocore's own endpoint rule set for ``sagemaker-runtime``.

No hand-written host names: the rule set knows the partitions (aws, aws-cn,
aws-us-gov, the iso ones), FIPS and dual-stack variants and their special cases,
so a new region or partition works as soon as botocore knows it.
"""

from __future__ import annotations

from typing import Any

from botocore.endpoint_provider import EndpointProvider
from botocore.exceptions import EndpointResolutionError

from .errors import ConfigurationError

__all__ = ["SERVICE_NAME", "resolve_endpoint_url"]

SERVICE_NAME = "sagemaker-runtime"


def resolve_endpoint_url(
    loader: Any,
    region: str | None,
    *,
    use_fips: bool = False,
    use_dualstack: bool = False,
    endpoint_url: str | None = None,
) -> str:
    """Resolve the base URL (scheme and host, no path) the client sends to.

    ``loader`` is a botocore data loader (``session.get_component("data_loader")``);
    reading its files blocks, so call this off the event loop.
    """
    ruleset = loader.load_service_model(SERVICE_NAME, "endpoint-rule-set-1")
    partitions = loader.load_data("partitions")
    params: dict[str, Any] = {"UseFIPS": use_fips, "UseDualStack": use_dualstack}
    if region:
        params["Region"] = region
    if endpoint_url:
        params["Endpoint"] = endpoint_url
    try:
        endpoint = EndpointProvider(ruleset, partitions).resolve_endpoint(**params)
    except EndpointResolutionError as exc:
        message = str(exc)
        if "Missing Region" in message:
            message += (
                ": pass region_name=..., or set AWS_REGION / AWS_DEFAULT_REGION, "
                "or `region` in the profile of ~/.aws/config"
            )
        raise ConfigurationError(message) from None
    url: str = endpoint.url
    return url.rstrip("/")
