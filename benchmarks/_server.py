"""A minimal SageMaker Runtime streaming server for the end-to-end benchmark.

Run it as its own process (``python benchmarks/_server.py [--bulk=N]
[--paced=N] [--tls=CERT:KEY]``, the first options precompute those answers): it
binds 127.0.0.1 on a random port, and with ``--tls`` a second port serving the same
over TLS, prints ``PORT <n> [<tls port>]`` on stdout and serves until stdin closes
or it is terminated.  It is deliberately not the project's emulator:
the benchmark must measure clients against a server whose cost is fixed and small.

Any request with a SigV4 ``Authorization`` header is accepted (no signature
check).  ``POST /endpoints/{name}/invocations-response-stream`` answers with the
real ``PayloadPart`` frames; the endpoint name picks what is sent:

* ``bulk-<n>``: ``n`` parts of 16 bytes (``b"%016d" % i``), all frames
  precomputed and written 64 KiB at a time (many frames per write);
* ``paced-<n>-<ms>``: ``n`` parts (``b"tok%05d"``), one frame per write,
  ``ms`` milliseconds apart, the first one at once;
* ``first``: one part, ``b"first"``.

``POST /endpoints/{name}/invocations`` (``InvokeEndpoint``) answers ``b"first"`` whole.
``POST /endpoints/first/openai/v1/chat/completions`` (the OpenAI-compatible route)
answers any request with a ``Bearer sagemaker-api-key-`` token (not checked
further) with :data:`FIRST_SSE`, one write of Server-Sent Events.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import sys
import uuid
from pathlib import Path

from aiohttp import web

if __name__ == "__main__":  # as a process of its own; imported, its importer sets the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asyncsagemaker.eventstream import encode

PAYLOAD_PART = {
    ":event-type": "PayloadPart",
    ":content-type": "application/octet-stream",
    ":message-type": "event",
}
WRITE_SIZE = 64 * 1024
FIRST_PAYLOAD = b"first"


def bulk_payload(index: int) -> bytes:
    """The 16-byte payload of part ``index`` of a bulk answer."""
    return b"%016d" % index


def paced_payload(index: int) -> bytes:
    """The payload of token ``index`` of a paced answer."""
    return b"tok%05d" % index


@functools.lru_cache(maxsize=8)
def bulk_writes(count: int) -> tuple[bytes, ...]:
    data = b"".join(encode(PAYLOAD_PART, bulk_payload(i)) for i in range(count))
    return tuple(data[i : i + WRITE_SIZE] for i in range(0, len(data), WRITE_SIZE))


@functools.lru_cache(maxsize=8)
def paced_frames(count: int) -> tuple[bytes, ...]:
    return tuple(encode(PAYLOAD_PART, paced_payload(i)) for i in range(count))


FIRST_FRAME = encode(PAYLOAD_PART, FIRST_PAYLOAD)
#: The OpenAI-compatible route's answer: one chunk event, then the end marker.
FIRST_SSE = (
    b'data: {"object":"chat.completion.chunk","choices":[{"index":0,'
    b'"delta":{"content":"first"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"message": message}, status=status, headers={"x-amzn-ErrorType": code}
    )


async def invocations(request: web.Request) -> web.StreamResponse:
    if not request.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 "):
        return _error(403, "MissingAuthenticationTokenException", "not SigV4-signed")
    await request.read()
    name = request.match_info["name"]
    kind, _, args = name.partition("-")
    try:
        numbers = [int(a) for a in args.split("-")] if args else []
    except ValueError:
        numbers = [-1]
    if not (
        (kind == "bulk" and len(numbers) == 1)
        or (kind == "paced" and len(numbers) == 2)
        or (kind == "first" and not numbers)
    ) or any(n < 0 for n in numbers):
        return _error(400, "ValidationError", f"unknown benchmark endpoint {name!r}")
    response = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": "application/vnd.amazon.eventstream",
            "X-Amzn-SageMaker-Content-Type": "application/octet-stream",
            "X-Amzn-Invoked-Production-Variant": "AllTraffic",
            "x-amzn-RequestId": str(uuid.uuid4()),
        },
    )
    await response.prepare(request)
    if kind == "bulk":
        for chunk in bulk_writes(numbers[0]):
            await response.write(chunk)
    elif kind == "paced":
        count, delay_ms = numbers
        for index, frame in enumerate(paced_frames(count)):
            if index:
                await asyncio.sleep(delay_ms / 1000)
            await response.write(frame)
    else:
        await response.write(FIRST_FRAME)
    await response.write_eof()
    return response


async def whole(request: web.Request) -> web.Response:
    """``InvokeEndpoint``: the whole answer at once (the AWS CLI v1 has no streaming command)."""
    await request.read()
    headers = {"x-amzn-RequestId": str(uuid.uuid4()), "Content-Type": "application/octet-stream"}
    return web.Response(body=FIRST_PAYLOAD, headers=headers)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """The OpenAI-compatible route: a fixed SSE answer, written once."""
    if not request.headers.get("Authorization", "").startswith("Bearer sagemaker-api-key-"):
        return _error(403, "MissingAuthenticationTokenException", "no bearer token")
    await request.read()
    if request.match_info["name"] != "first":
        return _error(400, "ValidationError", "only the endpoint 'first' is served here")
    response = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream", "x-amzn-RequestId": str(uuid.uuid4())},
    )
    await response.prepare(request)
    await response.write(FIRST_SSE)
    await response.write_eof()
    return response


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/endpoints/{name}/openai/v1/chat/completions", chat_completions)
    app.router.add_post("/endpoints/{name}/invocations-response-stream", invocations)
    app.router.add_post("/endpoints/{name}/invocations", whole)
    return app


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def serve(tls: tuple[str, str] | None) -> None:
    runner = web.AppRunner(make_app(), access_log=None, handle_signals=False)
    await runner.setup()
    ports = []
    for context in (None, _tls_context(tls) if tls else None)[: 2 if tls else 1]:
        sock = _listening_socket()
        ports.append(sock.getsockname()[1])
        await web.SockSite(runner, sock, backlog=2048, ssl_context=context).start()
    print("PORT " + " ".join(map(str, ports)), flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = asyncio.Event()
    # The parent keeps our stdin open; when it exits (or dies) we stop too.
    loop.add_reader(sys.stdin.fileno(), stdin_closed.set)
    try:
        await stdin_closed.wait()
    finally:
        loop.remove_reader(sys.stdin.fileno())
        await runner.cleanup()


def _tls_context(tls: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls)
    return context


def main() -> None:
    # Frames for the sizes the benchmark will ask for are built before the port is
    # announced, so that no client's measurement includes the server encoding them.
    tls = None
    for arg in sys.argv[1:]:
        kind, _, value = arg.partition("=")
        if kind == "--tls":
            cert, _, key = value.partition(":")
            tls = (cert, key)
            continue
        {"--bulk": bulk_writes, "--paced": paced_frames}[kind](int(value))
    try:
        import uvloop
    except ImportError:  # the server's speed only shortens the run; it is not measured
        asyncio.run(serve(tls))
    else:
        uvloop.run(serve(tls))


if __name__ == "__main__":
    main()
