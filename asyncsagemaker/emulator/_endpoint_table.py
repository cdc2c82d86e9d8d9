"""The endpoints an emulator serves: each one's model and its production variants.

Names and weights are checked when the emulator is made, so a mistake fails
there (``ValueError``) rather than on the first request.  A request finds its
model and variant here; an unknown endpoint or variant is refused as the service
refuses it (400 ``ValidationError``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from types import MappingProxyType

from ._models import close_model, resolve_model
from ._replies import ACCOUNT_ID, ServiceReply
from ._types import Handler
from ._validation import endpoint_name_violations

__all__ = ["DEFAULT_MODELS", "DEFAULT_VARIANT", "EndpointTable"]

DEFAULT_MODELS: Mapping[str, str] = MappingProxyType({"echo": "echo", "demo": "demo"})
DEFAULT_VARIANT = "AllTraffic"


class EndpointTable:
    """Endpoint name -> model (``models``, a plain dict a test may swap a model in) and variants."""

    def __init__(
        self, specs: Mapping[str, Handler | str], token_delay: float, dialect: str = "default"
    ) -> None:
        for name in specs:
            if endpoint_name_violations(name):
                raise ValueError(f"endpoint name {name!r} is not a valid SageMaker endpoint name")
        self.models: dict[str, Handler] = {
            name: resolve_model(spec, token_delay, dialect) for name, spec in specs.items()
        }
        self._variants: dict[str, dict[str, float]] = {}
        self._random = random.Random()

    def set_variants(self, variants: Mapping[str, Mapping[str, float]]) -> None:
        """Weigh each endpoint's production variants; an endpoint not named has one."""
        checked: dict[str, dict[str, float]] = {}
        for endpoint, weights in variants.items():
            if endpoint not in self.models:
                raise ValueError(f"variants given for unknown endpoint {endpoint!r}")
            _check_weights(endpoint, weights)
            checked[endpoint] = dict(weights)
        self._variants = checked

    def model(self, name: str) -> Handler:
        """The endpoint's model; 400 ``ValidationError`` when no such endpoint is served."""
        handler = self.models.get(name)
        if handler is None:
            raise ServiceReply.validation(f"Endpoint {name} of account {ACCOUNT_ID} not found.")
        return handler

    def pick_variant(self, endpoint: str, target: str | None) -> str:
        """The variant asked for (checked), else one drawn by weight, as the service routes."""
        weights = self._variants.get(endpoint, {DEFAULT_VARIANT: 1.0})
        if target is not None:
            if target not in weights:
                raise ServiceReply.validation(
                    f"Variant {target} not found for endpoint {endpoint} of account {ACCOUNT_ID}."
                )
            return target
        names = list(weights)
        return self._random.choices(names, weights=[weights[n] for n in names])[0]

    async def close(self) -> None:
        """Release what the models hold (a container's HTTP session)."""
        for handler in self.models.values():
            await close_model(handler)


def _check_weights(endpoint: str, weights: Mapping[str, float]) -> None:
    if not weights or any(weight < 0 for weight in weights.values()):
        raise ValueError(f"endpoint {endpoint!r}: variant weights must be >= 0")
    if sum(weights.values()) <= 0:
        raise ValueError(f"endpoint {endpoint!r}: variant weights must not all be 0")
    for variant in weights:
        if endpoint_name_violations(variant):
            raise ValueError(f"variant name {variant!r} is not valid")
