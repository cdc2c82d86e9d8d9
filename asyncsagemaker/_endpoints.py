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

__all__ = ["SERVICE_NAME", "evaluate_rules", "resolve_endpoint_url"]

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
    return evaluate_rules(
        ruleset, loader, region, use_fips=use_fips, use_dualstack=use_dualstack,
        endpoint_url=endpoint_url,
    )  # fmt: skip


def evaluate_rules(
    ruleset: dict[str, Any],
    loader: Any,
    region: str | None,
    *,
    use_fips: bool,
    use_dualstack: bool,
    endpoint_url: str | None,
    what: str = "",
) -> str:
    """The URL ``ruleset`` gives for these settings, with botocore's partitions; a
    ``ConfigurationError`` (starting with ``what``) when the rules refuse them."""
    params: dict[str, Any] = {"UseFIPS": use_fips, "UseDualStack": use_dualstack}
    if region:
        params["Region"] = region
    if endpoint_url:
        params["Endpoint"] = endpoint_url
    try:
        provider = EndpointProvider(ruleset, loader.load_data("partitions"))
        endpoint = provider.resolve_endpoint(**params)
    except EndpointResolutionError as exc:
        message = str(exc)
        if "Missing Region" in message:
            message += (
                ": pass region_name=..., or set AWS_REGION / AWS_DEFAULT_REGION, "
                "or `region` in the profile of ~/.aws/config"
            )
        raise ConfigurationError(what + message) from None
    url: str = endpoint.url
    return url.rstrip("/")
