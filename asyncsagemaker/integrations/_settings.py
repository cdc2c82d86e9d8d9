"""A client from the settings a framework's model object holds (region, keys, timeouts).

Frameworks name their settings their own way (LangChain's ``timeout`` and
``max_retries``, LiteLLM's ``aws_region_name``); each integration gathers them into
:class:`ClientSettings`, and this makes the :class:`SageMakerRuntime` of one event
loop from them.  Only what was set replaces our defaults.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .._client import SageMakerRuntime
from .._config import Config

__all__ = ["ClientSettings"]


@dataclasses.dataclass(frozen=True)
class ClientSettings:
    """What a client is made from; ``None`` leaves botocore's chain or our default."""

    region_name: str | None = None
    endpoint_url: str | None = None
    profile_name: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    connect_timeout: float | None = None
    read_timeout: float | None = None
    total_timeout: float | None = None  # the whole call (LangChain's and LiteLLM's timeout)
    max_retries: int | None = None  # retries after the first attempt
    config: Any = None  # a Config or a botocore.config.Config, under the fields above

    def __repr__(self) -> str:
        shown = ("region_name", "endpoint_url", "profile_name", "total_timeout")
        return f"ClientSettings({', '.join(f'{k}={getattr(self, k)!r}' for k in shown)})"

    def client(self) -> SageMakerRuntime:
        """A new client (its connections are made on first use, on the caller's loop)."""
        config = Config.coerce(self.config)
        changes: dict[str, Any] = {
            name: getattr(self, name)
            for name in ("connect_timeout", "read_timeout", "total_timeout")
            if getattr(self, name) is not None
        }
        if self.max_retries is not None:
            changes["max_attempts"] = self.max_retries + 1
        return SageMakerRuntime(
            self.region_name,
            endpoint_url=self.endpoint_url,
            profile_name=self.profile_name,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            aws_session_token=self.aws_session_token,
            config=dataclasses.replace(config, **changes) if changes else config,
        )
