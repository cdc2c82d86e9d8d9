"""Bidirectional models: ``echo``, ``demo``, your own handlers, and a container's WebSocket.

Each model becomes an *opener*: called with the invocation before the stream's
response headers go out, it may refuse (a container that cannot be reached is a
424 before the stream), and returns the function that turns the input parts into
output parts once the stream runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TypeAlias

from .._bidi.events import BidiPart
from ._bidi_types import BidiHandler, BidiInvocation, BidiOutput
from ._bidi_websocket import WebSocket, WebSocketProtocolError, connect
from ._demo import demo_answer
from ._models import resolve_model

__all__ = [
    "DEFAULT_CONTAINER_PATH",
    "BidiDemo",
    "ContainerBridge",
    "ContainerStreamError",
    "Opener",
    "Runner",
    "bidi_echo",
    "bidi_specs",
    "resolve_bidi_model",
]

#: Where a container accepts the bridged stream when no ModelInvocationPath is given.
DEFAULT_CONTAINER_PATH = "invocations-bidirectional-stream"
_TOKEN = re.compile(r"\s*\S+")

Runner: TypeAlias = Callable[[AsyncIterator[BidiPart]], AsyncIterator[BidiOutput]]
Opener: TypeAlias = Callable[[BidiInvocation], Awaitable[Runner]]


class ContainerStreamError(Exception):
    """The container's WebSocket ended abnormally mid-stream (becomes ``ModelStreamError``)."""


async def bidi_echo(inv: BidiInvocation, parts: AsyncIterator[BidiPart]) -> AsyncIterator[BidiPart]:
    """The ``echo`` model: every part straight back, DataType and CompletionState kept."""
    async for part in parts:
        yield part


class BidiDemo:
    """The ``demo`` model: each COMPLETE UTF8 message gets a streamed answer.

    The answer is the HTTP/1.1 demo model's text for that message, one token per
    PARTIAL part and the last token COMPLETE, ``token_delay`` seconds apart.  A
    COMPLETE BINARY message (audio, say) is acknowledged with one UTF8 part
    ``received N bytes``.
    """

    def __init__(self, token_delay: float) -> None:
        self.token_delay = token_delay

    async def __call__(
        self, inv: BidiInvocation, parts: AsyncIterator[BidiPart]
    ) -> AsyncIterator[BidiPart]:
        text = bytearray()
        binary = 0
        async for part in parts:
            if part.data_type == "BINARY":
                binary += len(part.data)
                if part.completion_state == "COMPLETE":
                    yield BidiPart.of(f"received {binary} bytes")
                    binary = 0
                continue
            text += part.data
            if part.completion_state == "PARTIAL":
                continue
            tokens = _TOKEN.findall(demo_answer(text.decode("utf-8", "replace")))
            text.clear()
            for index, token in enumerate(tokens):
                if index and self.token_delay > 0:
                    await asyncio.sleep(self.token_delay)
                last = index == len(tokens) - 1
                yield BidiPart.of(token, "COMPLETE" if last else "PARTIAL")


class ContainerBridge:
    """Bridges a stream to a container's WebSocket, as SageMaker does for its containers.

    The WebSocket URL is ``{url}/{ModelInvocationPath or invocations-bidirectional-stream}``
    plus ``?{ModelQueryString}``.  UTF8 parts go as text frames and BINARY parts as
    binary frames; a PARTIAL part is a non-final fragment and a COMPLETE part ends
    the message.  The container's fragments come back the same way.  When the
    client ends its input the bridge sends Close (1000) and relays what the
    container still sends until it closes; the container closing with 1000 (or
    1001) ends the stream cleanly, any other code is a ``ModelStreamError``.
    """

    def __init__(self, url: str, connect_timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.connect_timeout = connect_timeout

    def websocket_url(self, inv: BidiInvocation) -> str:
        path = inv.model_invocation_path or DEFAULT_CONTAINER_PATH
        query = f"?{inv.model_query_string}" if inv.model_query_string else ""
        return f"{self.url}/{path}{query}"

    async def __call__(self, inv: BidiInvocation) -> Runner:
        """Connect before the stream starts; WebSocketRefused if the container will not."""
        websocket = await connect(self.websocket_url(inv), self.connect_timeout)
        return functools.partial(self._relay, websocket)

    @staticmethod
    async def _relay(
        websocket: WebSocket, parts: AsyncIterator[BidiPart]
    ) -> AsyncIterator[BidiPart]:
        async def forward() -> None:
            async for part in parts:
                fin = part.completion_state == "COMPLETE"
                await websocket.send(part.data, part.data_type == "UTF8", fin)
            await websocket.close(1000)

        sender = asyncio.get_running_loop().create_task(forward())
        receiving: asyncio.Future[tuple[bool, bytes, bool] | None] | None = None
        try:
            while True:
                if receiving is None:
                    receiving = asyncio.ensure_future(websocket.receive())
                if not sender.done():
                    pending: set[asyncio.Future[object]] = {receiving, sender}  # type: ignore[arg-type]
                    await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    _raise_input_failure(sender)
                    if not receiving.done():
                        continue
                try:
                    fragment = await receiving
                except (ConnectionError, WebSocketProtocolError) as exc:
                    raise ContainerStreamError(str(exc)) from None
                receiving = None
                if fragment is None:
                    break
                is_text, data, final = fragment
                yield BidiPart(data, "UTF8" if is_text else "BINARY",
                               "COMPLETE" if final else "PARTIAL")  # fmt: skip
            if websocket.close_code not in (1000, 1001):
                raise ContainerStreamError(
                    f"the container closed its WebSocket with code {websocket.close_code}"
                )
        finally:
            for task in (sender, receiving):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
            websocket.abort()


def _raise_input_failure(sender: asyncio.Task[None]) -> None:
    """Re-raise what stopped the input side, unless it is the container closing (read on)."""
    if sender.done() and not sender.cancelled():
        failure = sender.exception()
        if failure is not None and not isinstance(failure, ConnectionError):
            raise failure


def _handler_opener(handler: BidiHandler) -> Opener:
    async def open_(inv: BidiInvocation) -> Runner:
        return functools.partial(handler, inv)

    return open_


def bidi_specs(specs: Mapping[str, object]) -> dict[str, str]:
    """The HTTP/1.1 model specs that also name a bidirectional model: echo, demo, container."""
    return {
        name: spec
        for name, spec in specs.items()
        if isinstance(spec, str) and (spec in ("echo", "demo") or spec.startswith("container:"))
    }


def resolve_bidi_model(spec: BidiHandler | str, token_delay: float) -> Opener:
    """An opener from a handler, ``echo``, ``demo``, ``container:URL`` or ``pkg.mod:func``."""
    if spec == "echo":
        return _handler_opener(bidi_echo)
    if spec == "demo":
        return _handler_opener(BidiDemo(token_delay))
    if isinstance(spec, str) and spec.startswith("container:"):
        url = spec.partition(":")[2]
        if not url.startswith("http://"):
            raise ValueError(f"model spec {spec!r}: expected container:http://HOST:PORT")
        return ContainerBridge(url)
    if isinstance(spec, str):
        spec = resolve_model(spec, token_delay)  # type: ignore[assignment]  # imports pkg.mod:func
    if not callable(spec):
        raise TypeError(f"a bidirectional model must be callable, not {type(spec).__name__}")
    return _handler_opener(spec)
