"""One frozen ``Config`` for a client: timeouts, retries, pool, endpoint variants.

It can be built from a ``botocore.config.Config`` so that code written for boto3
keeps its settings.  ``None`` on a retry field means "not set here": the botocore
session's own setting (``AWS_RETRY_MODE``, ``AWS_MAX_ATTEMPTS``, ``~/.aws/config``)
applies, then the defaults below.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import botocore.config

from .errors import ConfigurationError

__all__ = ["DEFAULT_MAX_ATTEMPTS", "Config", "RetryMode"]

RetryMode = Literal["standard", "adaptive", "legacy"]
_RETRY_MODES = ("standard", "adaptive", "legacy")

#: Total attempts (first try included) per mode, as botocore counts them.
DEFAULT_MAX_ATTEMPTS: dict[str, int] = {"standard": 3, "adaptive": 3, "legacy": 5}


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of a :class:`~asyncsagemaker.SageMakerRuntime` client.

    * ``connect_timeout``: seconds to open a TCP/TLS connection.
    * ``read_timeout``: the idle timeout: seconds without a byte, both while waiting
      for the response and between two parts of a stream.  A model that streams for
      ten minutes is fine as long as it never pauses this long.
    * ``total_timeout``: a deadline for the whole call, stream included (``None``: none).
    * ``retry_mode`` / ``max_attempts``: botocore's meaning; ``max_attempts`` counts
      the first attempt too.  ``backoff_base`` scales the full-jitter backoff
      (``random() * min(backoff_base * 2**n, max_backoff)``).
    * ``max_pool_connections``: connections kept per client.  Each open stream holds
      one for its whole life, so this also bounds concurrent streams (others wait).
    * ``max_message_bytes``: the largest event-stream frame accepted.
    """

    connect_timeout: float | None = 60.0
    read_timeout: float | None = 60.0
    total_timeout: float | None = None
    retry_mode: RetryMode | None = None
    max_attempts: int | None = None
    backoff_base: float = 1.0
    max_backoff: float = 20.0
    max_pool_connections: int = 100
    user_agent_extra: str | None = None
    use_fips_endpoint: bool = False
    use_dualstack_endpoint: bool = False
    tcp_keepalive: bool = False
    max_message_bytes: int = 16 + 128 * 1024 + 24 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "total_timeout"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigurationError(f"{name} must be a positive number of seconds or None")
        if self.retry_mode is not None and self.retry_mode not in _RETRY_MODES:
            raise ConfigurationError(
                f"retry_mode must be one of {', '.join(_RETRY_MODES)}, not {self.retry_mode!r}"
            )
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ConfigurationError("max_attempts counts the first attempt and must be >= 1")
        if self.max_pool_connections < 1:
            raise ConfigurationError("max_pool_connections must be >= 1")
        if self.backoff_base < 0 or self.max_backoff < 0:
            raise ConfigurationError("backoff_base and max_backoff must be >= 0")
        if self.max_message_bytes < 16:
            raise ConfigurationError("max_message_bytes must be at least 16 (one empty frame)")

    @classmethod
    def from_botocore(cls, config: Any) -> Config:
        """Translate a ``botocore.config.Config``, honouring the options that apply here.

        botocore's ``retries["max_attempts"]`` counts *retries*; ``total_max_attempts``
        counts attempts.  Both are converted to our attempt count.
        """
        # Only what the user set: botocore fills the rest with its own defaults
        # (a pool of 10, say), which must not replace ours.
        given = getattr(config, "_user_provided_options", None)
        given = set(given) if given is not None else set(vars(config))
        changes: dict[str, Any] = {}
        for name in (
            "connect_timeout",
            "read_timeout",
            "max_pool_connections",
            "user_agent_extra",
            "use_fips_endpoint",
            "use_dualstack_endpoint",
        ):
            value = getattr(config, name, None)
            if name in given and value is not None:
                changes[name] = value
        if "tcp_keepalive" in given and getattr(config, "tcp_keepalive", None):
            changes["tcp_keepalive"] = True
        retries = (getattr(config, "retries", None) if "retries" in given else None) or {}
        if retries.get("mode"):
            changes["retry_mode"] = retries["mode"]
        if retries.get("total_max_attempts") is not None:
            changes["max_attempts"] = int(retries["total_max_attempts"])
        elif retries.get("max_attempts") is not None:
            changes["max_attempts"] = int(retries["max_attempts"]) + 1
        return cls(**changes)

    @classmethod
    def coerce(cls, config: Config | Any | None) -> Config:
        """Accept our ``Config``, a botocore ``Config`` or ``None``."""
        if config is None:
            return cls()
        if isinstance(config, cls):
            return config
        if isinstance(config, botocore.config.Config):  # aiobotocore's AioConfig too
            return cls.from_botocore(config)
        raise ConfigurationError(
            "config must be an asyncsagemaker.Config or a botocore.config.Config, "
            f"not {type(config).__name__}"
        )
