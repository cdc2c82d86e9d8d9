"""``container:URL`` models: the emulator forwards to a server speaking the container contract."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from asyncsagemaker.emulator import Emulator
from tests._support import NO_AIOBOTOCORE, serving

from ._support import AKID, REGION, SECRET

aio_session = pytest.importorskip("aiobotocore.session", reason=NO_AIOBOTOCORE)

pytestmark = pytest.mark.anyio
Start = Callable[..., Emulator]
CHUNKS = [f"chunk {n:02d} ".encode() * (n + 1) for n in range(25)]


class Container:
    """A model container: POST /invocations streams CHUNKS as HTTP chunks; GET /ping."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.status = 200

    async def invocations(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(dict(request.headers))
        body = await request.read()
        if self.status != 200:
            return web.Response(status=self.status, text="container says no")
        if request.headers.get("Accept") == "application/whole":
            return web.Response(body=body.upper(), content_type="application/whole")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "X-Amzn-SageMaker-Custom-Attributes": "served-by=container",
            }
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        for chunk in CHUNKS:
            await response.write(chunk)
        await response.write_eof()
        return response

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="")


@pytest.fixture
async def container() -> AsyncIterator[tuple[Container, str]]:
    state = Container()
    app = web.Application()
    app.router.add_post("/invocations", state.invocations)
    app.router.add_get("/ping", state.ping)
    async with serving(app) as url:
        yield state, url


@pytest.fixture
async def client_factory() -> AsyncIterator[Callable[[Emulator], Any]]:
    session = aio_session.get_session()
    clients: list[Any] = []

    async def make(emu: Emulator) -> Any:
        context = session.create_client(
            "sagemaker-runtime",
            endpoint_url=emu.url,
            region_name=REGION,
            aws_access_key_id=AKID,
            aws_secret_access_key=SECRET,
        )
        clients.append(context)
        return await context.__aenter__()

    yield make
    for context in clients:
        await context.__aexit__(None, None, None)


async def test_container_chunks_become_the_same_parts_in_order(
    start: Start, container: tuple[Container, str], client_factory: Any
) -> None:
    state, url = container
    emu = start(models={"llm": f"container:{url}"})
    client = await client_factory(emu)
    response = await client.invoke_endpoint_with_response_stream(
        EndpointName="llm",
        Body=b'{"inputs": "Hi"}',
        ContentType="application/json",
        Accept="text/event-stream",
        CustomAttributes="trace=7",
        InferenceId="inf-9",
    )
    parts = [event["PayloadPart"]["Bytes"] async for event in response["Body"]]
    assert parts == CHUNKS
    assert response["ContentType"] == "text/event-stream"
    assert response["CustomAttributes"] == "served-by=container"
    received = {name.lower(): value for name, value in state.seen[0].items()}
    assert received["content-type"] == "application/json"
    assert received["accept"] == "text/event-stream"
    assert received["x-amzn-sagemaker-custom-attributes"] == "trace=7"
    assert received["x-amzn-sagemaker-inference-id"] == "inf-9"
    assert "authorization" not in received


async def test_container_whole_answer_for_invoke_endpoint(
    start: Start, container: tuple[Container, str], client_factory: Any
) -> None:
    _, url = container
    emu = start(models={"llm": f"container:{url}"})
    client = await client_factory(emu)
    response = await client.invoke_endpoint(
        EndpointName="llm", Body=b"abc", Accept="application/whole"
    )
    assert await response["Body"].read() == b"ABC"
    assert response["ContentType"] == "application/whole"


async def test_container_error_status_is_a_model_error(
    start: Start, container: tuple[Container, str], client_factory: Any
) -> None:
    state, url = container
    state.status = 418
    emu = start(models={"llm": f"container:{url}"})
    client = await client_factory(emu)
    with pytest.raises(client.exceptions.ModelError) as caught:
        await client.invoke_endpoint_with_response_stream(EndpointName="llm", Body=b"x")
    assert caught.value.response["OriginalStatusCode"] == 418
    assert caught.value.response["OriginalMessage"] == "container says no"
    assert "Received client error (418)" in caught.value.response["Error"]["Message"]


async def test_unreachable_container_is_a_model_error(start: Start, client_factory: Any) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    emu = start(models={"llm": f"container:http://127.0.0.1:{port}"})
    client = await client_factory(emu)
    with pytest.raises(client.exceptions.ModelError):
        await client.invoke_endpoint(EndpointName="llm", Body=b"x")


async def test_chunks_split_across_reads_give_no_empty_parts(
    start: Start, client_factory: Any
) -> None:
    """A chunk's end and the last chunk arriving in reads of their own add no empty part."""
    pieces = [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"5\r\nhel",
        b"lo",
        b"\r\n",
        b"5\r\nworld\r\n",
        b"0\r\n",
        b"\r\n",
    ]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        emu = start(models={"llm": f"container:http://127.0.0.1:{port}"})
        client = await client_factory(emu)
        response = await client.invoke_endpoint_with_response_stream(EndpointName="llm", Body=b"")
        parts = [event["PayloadPart"]["Bytes"] async for event in response["Body"]]
        assert parts == [b"hello", b"world"]
    finally:
        server.close()
        await server.wait_closed()
