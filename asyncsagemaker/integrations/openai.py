"""The OpenAI SDK (and what is built on it) against SageMaker's OpenAI-compatible route.

Since May 2026 every SageMaker real-time endpoint answers Chat Completions on
``.../endpoints/{endpoint}/openai/v1``, authenticated with a short-lived bearer
token made from AWS credentials (docs/openai-route.md).  The unmodified OpenAI SDK
works there once every request carries a fresh token::

    client = SageMakerRuntime("us-east-1")
    llm = async_openai(client, "my-endpoint")          # an openai.AsyncOpenAI
    stream = await llm.chat.completions.create(model="", messages=[...], stream=True)

:class:`BearerTokenAuth` is the ``httpx.Auth`` that does it, for an ``httpx`` client
of your own (LangChain's ``ChatOpenAI(http_client=..., http_async_client=...)``).
It puts the client's cached token on each request and refreshes it ahead of its
expiry, the token always made in a worker thread: the async flow waits for it
without blocking the event loop (on asyncio or trio), the sync flow waits in the
caller's thread, which needs no event loop.  A 401 or 403 drops the token, so the
next request gets a new one.  Needs ``pip install 'asyncsagemaker[openai]'``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING, Any, cast

import anyio
import httpx

from .._auth.bearer import TOKEN_WAIT, BearerToken, BearerTokens, check_expires_in, region_of_host
from .._client import SageMakerRuntime
from ..errors import ConfigurationError

if TYPE_CHECKING:
    import openai as openai_sdk

__all__ = ["API_KEY_PLACEHOLDER", "BearerTokenAuth", "async_openai", "openai"]

#: What the OpenAI SDK is given as ``api_key``: it must have one, and the auth replaces it.
API_KEY_PLACEHOLDER = "sagemaker-bearer-token-set-per-request"


class BearerTokenAuth(httpx.Auth):
    """An ``httpx.Auth`` that sends a SageMaker bearer token made from ``client``'s credentials.

    ``expires_in`` is each token's lifetime in seconds (1 to 43,200; default the
    client's ``Config.bearer_token_lifetime``).  Tokens are made for the client's
    region; a request to another region's SageMaker host is refused before it is
    sent (the service would refuse the token).  The ``repr`` never shows a token.
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        client: SageMakerRuntime,
        *,
        expires_in: int | None = None,
        timeout: float = TOKEN_WAIT,
    ) -> None:
        if not isinstance(client, SageMakerRuntime):
            raise TypeError(f"client must be a SageMakerRuntime, not {type(client).__name__}")
        lifetime = client.config.bearer_token_lifetime
        if expires_in is not None:
            lifetime = check_expires_in(expires_in)
        self._tokens = BearerTokens(client._token_signer, lifetime)
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"<BearerTokenAuth {self._tokens!r}>"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        token = self._tokens.wait_blocking(self._timeout)
        response = yield _authorized(request, token)
        self._after(response)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self._tokens.current()
        if token is None:
            with anyio.fail_after(self._timeout):
                token = await anyio.to_thread.run_sync(
                    self._tokens.wait_blocking, self._timeout, abandon_on_cancel=True
                )
        response = yield _authorized(request, token)
        self._after(response)

    def _after(self, response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            self._tokens.invalidate()  # expired early, revoked credentials...: make a new one


def _authorized(request: httpx.Request, token: BearerToken) -> httpx.Request:
    _check_region(request.url.host, token.region)
    request.headers["Authorization"] = "Bearer " + token.value
    return request


def _check_region(host: str, token_region: str | None) -> None:
    region = region_of_host(host)
    if region is not None and token_region is not None and region != token_region:
        raise ConfigurationError(
            f"{host} is in {region}, but the bearer token is for {token_region}: the "
            f"service would refuse it; make the client with region_name={region!r}"
        )


def _base_url(client: SageMakerRuntime, endpoint: str, inference_component: str | None) -> str:
    base_url = client.openai_base_url(endpoint, inference_component)
    _check_region(httpx.URL(base_url).host, client.region_name)
    return base_url


def async_openai(
    client: SageMakerRuntime,
    endpoint: str,
    *,
    inference_component: str | None = None,
    expires_in: int | None = None,
    http_client: httpx.AsyncClient | None = None,
    **openai_kwargs: Any,
) -> openai_sdk.AsyncOpenAI:
    """An ``openai.AsyncOpenAI`` for ``endpoint`` (or its ``inference_component``).

    Its base URL is the endpoint's OpenAI-compatible route, its requests carry
    ``client``'s bearer token (:class:`BearerTokenAuth`, set on ``http_client`` when
    you pass one).  Other keywords go to ``AsyncOpenAI`` (``max_retries``,
    ``timeout``...).  Pass ``model=""`` (or what your container expects) to its calls.
    """
    import openai as openai_sdk

    base_url = _base_url(client, endpoint, inference_component)
    auth = BearerTokenAuth(client, expires_in=expires_in)
    if http_client is None:
        http_client = httpx.AsyncClient(auth=auth)
    else:
        http_client.auth = auth
    return openai_sdk.AsyncOpenAI(
        base_url=base_url,
        api_key=API_KEY_PLACEHOLDER,
        http_client=cast(Any, http_client),  # openai 3 types httpx2's, and takes httpx's too
        **openai_kwargs,
    )


def openai(
    client: SageMakerRuntime,
    endpoint: str,
    *,
    inference_component: str | None = None,
    expires_in: int | None = None,
    http_client: httpx.Client | None = None,
    **openai_kwargs: Any,
) -> openai_sdk.OpenAI:
    """An ``openai.OpenAI`` (synchronous) for ``endpoint``: as :func:`async_openai`.

    For code without an event loop: tokens are made in a worker thread and waited
    for in the calling thread.
    """
    import openai as openai_sdk

    base_url = _base_url(client, endpoint, inference_component)
    auth = BearerTokenAuth(client, expires_in=expires_in)
    if http_client is None:
        http_client = httpx.Client(auth=auth)
    else:
        http_client.auth = auth
    return openai_sdk.OpenAI(
        base_url=base_url,
        api_key=API_KEY_PLACEHOLDER,
        http_client=cast(Any, http_client),  # openai 3 types httpx2's, and takes httpx's too
        **openai_kwargs,
    )
