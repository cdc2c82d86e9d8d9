#!/usr/bin/env python3
"""A browser's WebSocket relayed to a SageMaker bidirectional stream, both ways at once.

    python examples/voice_relay.py --emulator          # then connect to ws://127.0.0.1:8000/relay
    SAGEMAKER_ENDPOINT=my-voice-agent AWS_REGION=us-east-1 uvicorn examples.voice_relay:app

``/relay`` is a WebSocket: every text message the browser sends goes up as a UTF8
part, every binary message (audio, say) as a BINARY part; every part the model
sends comes back as a text or binary message, as soon as it arrives.  Both
directions run at once: the model can answer while the browser is still talking.

When the model ends its side, the WebSocket is closed normally (1000).  When the
stream fails, the browser gets one JSON text message ``{"error": ..., "message":
...}`` and the WebSocket is closed with 1011.  When the browser goes away, the
upstream stream is reset at once, so the model stops working for nobody.

Settings come from the environment: ``SAGEMAKER_ENDPOINT`` (default ``demo``),
``SAGEMAKER_BIDI_ENDPOINT_URL`` (else ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME_HTTP2``,
else the region's endpoint), ``SAGEMAKER_MODEL_INVOCATION_PATH``,
``SAGEMAKER_MODEL_QUERY_STRING``, ``AWS_REGION``, and ``SAGEMAKER_EMULATOR=1`` for
an embedded emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from asyncsagemaker import DuplexStream, SageMakerError, SageMakerRuntime

# Keys for the embedded emulator only; against AWS botocore's chain finds yours.
EMULATOR_KEY, EMULATOR_SECRET = "EXAMPLEKEY", "example-secret"


@dataclasses.dataclass(frozen=True)
class Settings:
    endpoint: str = "demo"
    bidi_endpoint_url: str | None = None
    model_invocation_path: str | None = None
    model_query_string: str | None = None
    region: str = "us-east-1"
    emulator: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            endpoint=environ.get("SAGEMAKER_ENDPOINT") or "demo",
            bidi_endpoint_url=environ.get("SAGEMAKER_BIDI_ENDPOINT_URL") or None,
            model_invocation_path=environ.get("SAGEMAKER_MODEL_INVOCATION_PATH") or None,
            model_query_string=environ.get("SAGEMAKER_MODEL_QUERY_STRING") or None,
            region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            emulator=environ.get("SAGEMAKER_EMULATOR", "").lower() in ("1", "true", "yes"),
        )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One client for the whole server (it holds the HTTP/2 connections)."""
    settings: Settings = getattr(app.state, "settings", None) or Settings.from_env()
    async with AsyncExitStack() as stack:
        key = secret = None
        url = settings.bidi_endpoint_url
        if settings.emulator and url is None:
            from asyncsagemaker.emulator import Emulator

            emulator = Emulator(bidi_port=0, credentials={EMULATOR_KEY: EMULATOR_SECRET})
            await stack.enter_async_context(emulator)
            url = emulator.bidi_url
            key, secret = EMULATOR_KEY, EMULATOR_SECRET
            print(f"embedded emulator: bidirectional streams on {url}", file=sys.stderr)
        client = SageMakerRuntime(
            settings.region,
            bidi_endpoint_url=url,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )
        app.state.client = await stack.enter_async_context(client)
        app.state.settings = settings
        yield


app = FastAPI(title="SageMaker voice relay", lifespan=lifespan)


async def browser_to_model(websocket: WebSocket, duplex: DuplexStream) -> None:
    """Each browser message up as a part; returns when the browser goes away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes") is not None:
            await duplex.send(message["bytes"])  # BINARY
        elif message.get("text") is not None:
            await duplex.send(message["text"])  # UTF8


async def model_to_browser(websocket: WebSocket, duplex: DuplexStream) -> None:
    """Each part down as a message, as soon as it arrives."""
    async for part in duplex:
        if part.data_type == "UTF8":
            await websocket.send_text(part.data.decode("utf-8", "replace"))
        else:
            await websocket.send_bytes(part.data)


@app.websocket("/relay")
async def relay(websocket: WebSocket) -> None:
    await websocket.accept()
    client: SageMakerRuntime = websocket.app.state.client
    settings: Settings = websocket.app.state.settings
    try:
        async with client.invoke_endpoint_with_bidirectional_stream(
            settings.endpoint,
            model_invocation_path=settings.model_invocation_path,
            model_query_string=settings.model_query_string,
        ) as duplex:
            browser_left = await both_ways(websocket, duplex)
    except WebSocketDisconnect:
        return  # the browser left while we wrote to it; the stream was reset on the way out
    except SageMakerError as error:
        if websocket.client_state == WebSocketState.CONNECTED:
            failure = {"error": type(error).__name__, "message": str(error)}
            await websocket.send_text(json.dumps(failure))
            await websocket.close(code=1011)
        return
    if not browser_left and websocket.client_state == WebSocketState.CONNECTED:
        await websocket.close(code=1000)


async def both_ways(websocket: WebSocket, duplex: DuplexStream) -> bool:
    """Relay until one side is done; True when it was the browser that left.

    The other direction is cancelled then; an error of either one is raised.
    """
    up = asyncio.ensure_future(browser_to_model(websocket, duplex))
    down = asyncio.ensure_future(model_to_browser(websocket, duplex))
    try:
        done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
    for task in done:
        error = task.exception()
        if error is not None:
            raise error
    return up in done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emulator", action="store_true", help="serve an embedded emulator")
    parser.add_argument("--endpoint", help="the SageMaker endpoint (default demo)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    settings = dataclasses.replace(
        settings,
        emulator=args.emulator or settings.emulator,
        endpoint=args.endpoint or settings.endpoint,
    )
    app.state.settings = settings
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
