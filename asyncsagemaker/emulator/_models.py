"""Models: built-in ones, handlers loaded by name, and local model containers.

Every model ends up as a :data:`Handler`; :func:`call_model` turns whatever a
handler returns (bytes, an async iterator, a :class:`ModelResponse`, awaited or
not) into one :class:`ModelResponse`.  :func:`run_model` reports a handler that
raises before its answer starts as the container failing (424 ``ModelError``).
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp

from ._demo import DemoModel
from ._faults import ContainerError, ModelErrorFault, model_error_reply
from ._replies import ServiceReply
from ._types import Handler, Invocation, ModelResponse

__all__ = [
    "ContainerError",
    "ContainerModel",
    "call_model",
    "echo",
    "model_failed",
    "resolve_model",
    "run_model",
]

logger = logging.getLogger("asyncsagemaker.emulator")

ECHO_PART_BYTES = 64
_FORWARDED = (
    "x-amzn-sagemaker-custom-attributes",
    "x-amzn-sagemaker-target-model",
    "x-amzn-sagemaker-inference-id",
    "x-amzn-sagemaker-session-id",
    "x-amzn-sagemaker-enable-explanations",
)
_MAX_CONTAINER_PART = 1024 * 1024


async def echo(inv: Invocation) -> ModelResponse:
    """The ``echo`` endpoint: the body back, streamed in parts of at most 64 bytes."""
    content_type = inv.content_type or default_content_type(inv)
    if not inv.streaming:
        return ModelResponse(inv.body, content_type=content_type)
    return ModelResponse(_chunks(inv.body, ECHO_PART_BYTES), content_type=content_type)


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def default_content_type(inv: Invocation) -> str:
    """The content type of a bare answer: the accept, else the request's type, else JSON."""
    return inv.accept or inv.content_type or "application/json"


class ContainerModel:
    """Forwards to a server implementing the SageMaker container contract.

    ``POST {url}/invocations`` with the request's content type, accept and the
    SageMaker headers a container receives; each chunk of its chunked answer
    becomes one PayloadPart (chunk boundaries are kept, up to 1 MiB per part).
    """

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, inv: Invocation) -> ModelResponse:
        if self._session is None:
            self._session = aiohttp.ClientSession(auto_decompress=False)
        headers = {name: inv.headers[name] for name in _FORWARDED if name in inv.headers}
        if inv.content_type is not None:
            headers["Content-Type"] = inv.content_type
        if inv.accept is not None:
            headers["Accept"] = inv.accept
        response = await self._session.post(
            f"{self.url}/invocations",
            data=inv.body,
            headers=headers,
            skip_auto_headers=("Content-Type", "Accept"),
        )
        try:
            if response.status != 200:
                text = (await response.read()).decode("utf-8", "replace")
                raise ContainerError(ModelErrorFault(response.status, text))
            meta = {
                "content_type": response.headers.get("Content-Type"),
                "custom_attributes": response.headers.get("X-Amzn-SageMaker-Custom-Attributes"),
            }
            if not inv.streaming:
                return ModelResponse(await response.read(), **meta)
        except BaseException:
            response.release()
            raise
        return ModelResponse(self._relay(response), **meta)

    @staticmethod
    async def _relay(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        chunked = "chunked" in response.headers.get("Transfer-Encoding", "").lower()
        pending = bytearray()
        try:
            async for data, end_of_chunk in response.content.iter_chunks():
                if not chunked:
                    if data:
                        yield data
                    continue
                pending += data
                # An HTTP chunk is never empty: an empty end marker (the last chunk,
                # or the end of a chunk already passed on) gives no part.
                if pending and (end_of_chunk or len(pending) >= _MAX_CONTAINER_PART):
                    yield bytes(pending)
                    pending.clear()
            if pending:
                yield bytes(pending)
        finally:
            response.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def resolve_model(spec: Handler | str, token_delay: float, dialect: str = "default") -> Handler:
    """A handler from a callable, ``echo``, ``demo`` (speaking ``dialect``), ``pkg.mod:func``
    or ``container:URL``."""
    if callable(spec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a model must be a handler or a string spec, not {type(spec).__name__}")
    if spec == "echo":
        return echo
    if spec == "demo":
        return DemoModel(token_delay, dialect)
    if spec.startswith("container:"):
        url = spec.partition(":")[2]
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"model spec {spec!r}: expected container:http://HOST:PORT")
        return ContainerModel(url)
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(
            f"model spec {spec!r}: expected echo, demo, package.module:function or container:URL"
        )
    target: Any = importlib.import_module(module_name)
    for name in attribute.split("."):
        target = getattr(target, name)
    if not callable(target):
        raise TypeError(f"model spec {spec!r} does not name a callable")
    return cast(Handler, target)


async def call_model(handler: Handler, inv: Invocation) -> ModelResponse:
    """Run ``handler`` up to the start of its answer and normalise what it returned."""
    result: Any = handler(inv)
    if inspect.isawaitable(result):
        result = await result
    response = result if isinstance(result, ModelResponse) else ModelResponse(result)
    body = response.body
    if isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    elif isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, bytes) and not hasattr(body, "__anext__"):
        raise TypeError(
            f"a model must return bytes, an async iterator of bytes or a ModelResponse, "
            f"not {type(body).__name__}"
        )
    content_type = response.content_type or default_content_type(inv)
    return ModelResponse(
        body,
        content_type=content_type,
        custom_attributes=response.custom_attributes,
        new_session_id=response.new_session_id,
        closed_session_id=response.closed_session_id,
    )


async def run_model(handler: Handler, inv: Invocation) -> ModelResponse:
    """:func:`call_model`, with a failure answered as the service answers a failing container."""
    try:
        return await call_model(handler, inv)
    except ContainerError as failure:
        raise model_error_reply(inv.endpoint_name, failure.fault, "error") from None
    except Exception as exc:
        logger.info("emulator: model for %s raised %r", inv.endpoint_name, exc)
        raise model_failed(inv.endpoint_name, f"{type(exc).__name__}: {exc}") from None


def model_failed(endpoint: str, message: str) -> ServiceReply:
    """424 ``ModelError``: the model failed (as a container answering 500 would)."""
    return model_error_reply(endpoint, ModelErrorFault(500, message), "error")


async def close_model(handler: Handler) -> None:
    """Release what a model holds (a container's HTTP session)."""
    close = getattr(handler, "close", None)
    if close is not None and inspect.iscoroutinefunction(close):
        await close()
