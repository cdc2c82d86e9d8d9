"""One frozen ``Config`` for a client, and the rules that resolve it against botocore's.

It can be built from a ``botocore.config.Config`` so that code written for boto3
keeps its settings.  ``None`` on a retry field means "not set here": the botocore
session's own setting (``AWS_RETRY_MODE``, ``AWS_MAX_ATTEMPTS``, ``~/.aws/config``)
applies, then the defaults below.  :meth:`Config.resolve` applies that precedence,
and reads the CA bundle and the proxy rules, once per client (it reads files: call
it off the event loop).
"""

from __future__ import annotations

import dataclasses
import os
import ssl
import urllib.request
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import botocore.config
from botocore.exceptions import InvalidRegionError
from botocore.utils import validate_region_name

from .errors import ConfigurationError

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "Config",
    "RetryMode",
    "Settings",
    "check_endpoint_url",
    "check_region",
    "proxy_for",
]

RetryMode = Literal["standard", "adaptive", "legacy"]
_RETRY_MODES = ("standard", "adaptive", "legacy")

#: Total attempts (first try included) per mode, as botocore counts them.
DEFAULT_MAX_ATTEMPTS: dict[str, int] = {"standard": 3, "adaptive": 3, "legacy": 5}


def check_region(region: str) -> str:
    """``region`` if botocore would accept it as a region name, else ConfigurationError."""
    if not isinstance(region, str):
        raise ConfigurationError(f"region_name must be a str, not {type(region).__name__}")
    if not region:
        raise ConfigurationError("region_name must not be empty (e.g. 'us-east-1')")
    try:
        validate_region_name(region)
    except InvalidRegionError:
        raise ConfigurationError(
            f"region_name {region!r} is not a region name (e.g. 'us-east-1'): only letters, "
            "digits and '-' are allowed"
        ) from None
    return region


_EXPECTED_URL = "expected an absolute URL such as 'https://host' or 'http://127.0.0.1:8080'"


def check_endpoint_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host, else ConfigurationError."""
    if not isinstance(url, str):
        raise ConfigurationError(f"endpoint_url must be a str, not {type(url).__name__}")
    problem = _url_problem(url)
    if problem:
        raise ConfigurationError(f"endpoint_url {url!r} {problem}; {_EXPECTED_URL}")
    return url


def _url_problem(url: str) -> str | None:
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "has no http:// or https:// host"
    if parts.query or parts.fragment or parts.username or parts.password:
        return "may not carry a query, a fragment or credentials"
    return "has port 0" if port == 0 else None


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a client resolved from its ``Config``, the environment and the profile."""

    region: str
    retry_mode: RetryMode
    max_attempts: int
    ca_bundle: str | None  # a CA file to trust instead of the system's, for https
    ssl_context: ssl.SSLContext | None  # built from ca_bundle
    proxy: str | None


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
    * ``bearer_token_lifetime``: seconds a bearer token of the OpenAI-compatible
      route is made for (1 to 43,200); it is refreshed ahead of its expiry.
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
    bearer_token_lifetime: int = 3600

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
        lifetime = self.bearer_token_lifetime
        if (
            isinstance(lifetime, bool)
            or not isinstance(lifetime, int)
            or not 1 <= lifetime <= 43200
        ):
            raise ConfigurationError(
                f"bearer_token_lifetime must be 1 to 43200 seconds (12 hours), not {lifetime!r}"
            )

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

    def resolve(self, session: Any, region: str | None, base_url: str) -> Settings:
        """Apply the precedence rules: what is set here, then the environment, then the
        profile (``session`` is the client's botocore session), then our defaults.

        Ours differ from botocore's in one place: the default retry mode is
        ``standard`` (botocore's is ``legacy``).  Reads files: call it off the loop.
        """
        if not region:
            raise ConfigurationError(
                "no region: SigV4 signs for a region even with endpoint_url; pass "
                "region_name=... or set AWS_REGION / AWS_DEFAULT_REGION"
            )
        mode, max_attempts = self._retry_settings(session.get_scoped_config())
        ca_bundle = session.get_config_variable("ca_bundle") or None
        return Settings(
            region=check_region(str(region)),
            retry_mode=mode,
            max_attempts=max_attempts,
            ca_bundle=ca_bundle,
            ssl_context=_ssl_context(ca_bundle) if base_url.startswith("https:") else None,
            proxy=proxy_for(base_url),
        )

    def _retry_settings(self, profile: Any) -> tuple[RetryMode, int]:
        """Retry mode and attempts: here, else ``AWS_RETRY_MODE``/``AWS_MAX_ATTEMPTS``,
        else the profile, else the mode's default."""
        mode = self.retry_mode or os.environ.get("AWS_RETRY_MODE") or profile.get("retry_mode")
        mode = mode or "standard"
        if mode not in DEFAULT_MAX_ATTEMPTS:
            raise ConfigurationError(f"unknown retry mode {mode!r}")
        attempts = (
            self.max_attempts or os.environ.get("AWS_MAX_ATTEMPTS") or profile.get("max_attempts")
        )
        try:
            max_attempts = int(attempts) if attempts else DEFAULT_MAX_ATTEMPTS[mode]
        except ValueError:
            raise ConfigurationError(
                f"max_attempts must be a whole number, not {attempts!r}"
            ) from None
        if max_attempts < 1:
            raise ConfigurationError("max_attempts counts the first attempt and must be >= 1")
        return cast(RetryMode, mode), max_attempts

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


#: The TLS context of each CA bundle, by path and the file's size and time: made once
#: per process, not per client (loading a store of the system's size is ~300 M
#: instructions).
_CONTEXTS: dict[tuple[str, int, int], ssl.SSLContext] = {}


def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext | None:
    """The context trusting ``ca_bundle``; ``None`` for the system's store, which aiohttp
    already loaded when imported (its default verified context serves every client)."""
    if not ca_bundle:
        return None
    try:
        stat = os.stat(ca_bundle)
        key = (ca_bundle, stat.st_size, stat.st_mtime_ns)
        context = _CONTEXTS.get(key)
        if context is None:
            context = _CONTEXTS[key] = ssl.create_default_context(cafile=ca_bundle)
        return context
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigurationError(
            f"the CA bundle {ca_bundle!r} (AWS_CA_BUNDLE or ca_bundle in the profile) "
            f"cannot be used: {reason}"
        ) from None


def proxy_for(url: str) -> str | None:
    """The proxy for ``url`` from HTTP(S)_PROXY / NO_PROXY, as botocore reads them (both
    transports: HTTP/1.1 through aiohttp, HTTP/2 through a CONNECT tunnel)."""
    host = urlsplit(url).hostname or ""
    if urllib.request.proxy_bypass_environment(host):  # type: ignore[attr-defined]
        return None
    scheme = url.split(":", 1)[0]
    return urllib.request.getproxies_environment().get(scheme)
