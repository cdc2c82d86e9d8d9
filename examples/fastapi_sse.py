#!/usr/bin/env python3
"""Tokens from a SageMaker endpoint to the browser as Server-Sent Events, with FastAPI.

    python examples/fastapi_sse.py --emulator       # then open http://127.0.0.1:8000
    SAGEMAKER_ENDPOINT=my-llm AWS_REGION=eu-west-1 uvicorn examples.fastapi_sse:app

``POST /chat`` with ``{"prompt": "...", "max_tokens": 128}`` sends the prompt as
an OpenAI-style chat (``client.chat_stream``: TGI, LMI, vLLM and SGLang containers
all take it) and answers ``text/event-stream``: one ``data:`` event per token (the
token text as a JSON string), an ``event: end`` with the finish reason and the
token usage, then ``data: [DONE]``.  A failure before the first token is an HTTP
502 with a JSON body; a failure mid-stream is an ``event: error``.  ``GET /`` is a
small page that shows the tokens as they arrive, why the answer ended and what it
cost, and can stop an answer.

One client is made at start-up (the lifespan) and closed at shutdown: it holds
the connection pool.  When the browser goes away, the SageMaker stream is closed
at once, so the endpoint stops generating tokens nobody will read.

Settings come from the environment (``SAGEMAKER_ENDPOINT``, default ``demo``;
``SAGEMAKER_ENDPOINT_URL``; ``AWS_REGION``; ``SAGEMAKER_EMULATOR=1`` for an
embedded emulator) or, when run as a script, from the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.types import Receive, Scope, Send

from asyncsagemaker import ResponseStream, SageMakerError, SageMakerRuntime, ServiceError

# Keys for the embedded emulator only; against AWS botocore's chain finds yours.
EMULATOR_KEY, EMULATOR_SECRET = "EXAMPLEKEY", "example-secret"


@dataclasses.dataclass(frozen=True)
class Settings:
    endpoint: str = "demo"
    endpoint_url: str | None = None
    region: str = "us-east-1"
    emulator: bool = False  # serve the demo model in-process when no endpoint_url is given

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            endpoint=environ.get("SAGEMAKER_ENDPOINT") or "demo",
            endpoint_url=environ.get("SAGEMAKER_ENDPOINT_URL") or None,
            region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            emulator=environ.get("SAGEMAKER_EMULATOR", "").lower() in ("1", "true", "yes"),
        )


class ChatRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=100_000)
    max_tokens: int = Field(default=256, ge=1, le=8192)


def sse(data: str, event: str | None = None) -> str:
    """One Server-Sent Event; ``data`` must be one line (JSON text is)."""
    return (f"event: {event}\n" if event else "") + f"data: {data}\n\n"


async def token_events(stream: ResponseStream) -> AsyncGenerator[str, None]:
    """The stream's tokens as SSE; at the end why it stopped and its cost, then ``[DONE]``."""
    try:
        async for token in stream.tokens():
            yield sse(json.dumps(token))  # JSON: a token may hold a newline
        generation = await stream.final()
    except SageMakerError as error:  # the stream failed after it started: tell the page
        failure = {"error": type(error).__name__, "message": str(error)}
        yield sse(json.dumps(failure), event="error")
        return
    usage = dataclasses.asdict(generation.usage) if generation.usage else None
    yield sse(json.dumps({"finish_reason": generation.finish_reason, "usage": usage}), "end")
    yield sse("[DONE]")


class UpstreamEventStream(StreamingResponse):
    """Relays a SageMaker stream as SSE and closes it however the response ends.

    Starlette cancels the response when the client disconnects; the stream is
    then closed in ``finally`` (shielded, so that cancellation cannot skip it),
    whether the relay was waiting for a token, blocked on a slow client, or had
    not even started.
    """

    def __init__(self, stream: ResponseStream) -> None:
        self.upstream = stream
        self._events = token_events(stream)
        super().__init__(
            self._events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._events.aclose()
                await self.upstream.aclose()


@asynccontextmanager
async def open_client(settings: Settings) -> AsyncIterator[SageMakerRuntime]:
    """The application's one client (and its emulator, if asked for)."""
    async with AsyncExitStack() as stack:
        if settings.endpoint_url is None and settings.emulator:
            from asyncsagemaker.emulator import Emulator

            emulator = Emulator(
                models={settings.endpoint: "demo"}, credentials={EMULATOR_KEY: EMULATOR_SECRET}
            )
            await stack.enter_async_context(emulator)
            client = SageMakerRuntime(
                settings.region,
                endpoint_url=emulator.url,
                aws_access_key_id=EMULATOR_KEY,
                aws_secret_access_key=EMULATOR_SECRET,
            )
        else:
            client = SageMakerRuntime(settings.region, endpoint_url=settings.endpoint_url)
        yield await stack.enter_async_context(client)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_client(settings) as client:
            app.state.sagemaker = client
            yield

    app = FastAPI(title="SageMaker chat", lifespan=lifespan)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE

    @app.post("/chat")
    async def chat(chat: ChatRequest, request: Request) -> Response:
        client: SageMakerRuntime = request.app.state.sagemaker
        messages = [{"role": "user", "content": chat.prompt}]
        try:
            # Open the stream here, so that a refusal is an HTTP error, not an empty 200.
            stream = await client.chat_stream(
                settings.endpoint, messages, max_tokens=chat.max_tokens
            )
        except ServiceError as error:
            detail = {"error": error.code, "message": error.message}
            return JSONResponse(detail, status_code=502)
        except SageMakerError as error:
            return JSONResponse({"error": type(error).__name__, "message": str(error)}, 502)
        return UpstreamEventStream(stream)

    return app


PAGE = """<!doctype html>
<meta charset="utf-8"><title>SageMaker chat</title>
<form id="ask"><input id="prompt" size="60" value="Tell me about cafés">
<button id="send">Ask</button> <button type="button" id="stop">Stop</button></form>
<pre id="answer" style="white-space: pre-wrap"></pre>
<p id="status"></p>
<script>
const answer = document.getElementById("answer");
const status = document.getElementById("status");
let current = null;  // the AbortController of the answer on the page: only it may write
document.getElementById("stop").onclick = () => current && current.abort();
function ended(data) {
  const end = JSON.parse(data);
  const usage = end.usage ? ` · ${end.usage.prompt_tokens} prompt + ` +
    `${end.usage.completion_tokens} completion tokens` : "";
  status.textContent = `finish: ${end.finish_reason}${usage}`;
}
function failed(message) {
  answer.textContent += (answer.textContent ? "\\n" : "") + "[error] " + message;
  status.textContent = "error: " + message;
}
document.getElementById("ask").onsubmit = async (event) => {
  event.preventDefault();
  if (current) current.abort();  // a new question stops the answer still streaming
  const controller = current = new AbortController();
  const mine = () => current === controller;
  answer.textContent = "";
  status.textContent = "streaming";
  const prompt = document.getElementById("prompt").value;
  let finished = false;
  try {
    const response = await fetch("/chat", {method: "POST", signal: controller.signal,
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({prompt})});
    if (!response.ok) {
      const text = await response.text();
      if (mine()) { answer.textContent = text; status.textContent = `error: ${response.status}`; }
      return;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (!mine()) return;
      if (done) break;
      const events = (pending + value).split("\\n\\n");
      pending = events.pop();
      for (const text of events) {
        const lines = text.split("\\n").filter((l) => l.startsWith("data:"));
        const data = lines.map((l) => l.slice(5)).join("");
        if (text.startsWith("event: error")) { failed(JSON.parse(data).message); finished = true; }
        else if (text.startsWith("event: end")) { ended(data); finished = true; }
        else if (data.trim() !== "[DONE]") answer.textContent += JSON.parse(data);
      }
    }
    if (!finished) failed("the answer ended before it was complete");
  } catch (error) {
    if (!mine()) return;  // a newer question took over; it owns the page now
    if (controller.signal.aborted) status.textContent = "stopped";
    else failed(`the server cannot be reached (${error.message})`);
  }
};
</script>
"""

# `uvicorn examples.fastapi_sse:app` reads its settings from the environment.
app = create_app(Settings.from_env())


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="demo", help="endpoint name (default: demo)")
    parser.add_argument("--endpoint-url", help="send requests here instead of AWS")
    parser.add_argument("--region", default="us-east-1", help="AWS region (default: us-east-1)")
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="without --endpoint-url: start a local emulator serving the demo model",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on")
    parser.add_argument("--port", type=int, default=8000, help="port to serve on (0: any free)")
    args = parser.parse_args(argv)
    settings = Settings(args.endpoint, args.endpoint_url, args.region, args.emulator)
    uvicorn.run(create_app(settings), host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
