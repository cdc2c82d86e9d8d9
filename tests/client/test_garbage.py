"""A finished call is freed at once, by reference counting: nothing of it waits for the GC.

Reference cycles per call cost a busy server twice: the memory stays until a
collection, and the collections come more often and take longer (callgrind put
the GC at ~20k instructions of a one-part streaming call while a watchdog and its
owner held each other).  The emulator runs in another process, so that only the
client's objects are counted.
"""

from __future__ import annotations

import collections
import gc
import textwrap
from collections.abc import Awaitable, Callable, Iterator

import pytest

from asyncsagemaker import SageMakerError, SageMakerRuntime
from tests._support import BOTH_LOOPS, server_process

pytestmark = pytest.mark.anyio

AKID, SECRET = "AKIDGARBAGE", "garbage-secret"
BODY = b'{"inputs": "hi", "parameters": {"max_new_tokens": 5}}'
#: Modules whose objects would mean that a cycle holds the call (asyncio's own
#: transports keep a bound method of themselves; that is the standard library's).
OURS = ("asyncsagemaker", "aiohttp", "botocore", "multidict", "yarl", "h2", "hpack")

_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from asyncsagemaker.emulator import Emulator

    async def main():
        models = {"demo": "demo", "echo": "echo"}
        async with Emulator(
            models=models, credentials={sys.argv[1]: sys.argv[2]}, bidi_port=0, token_delay=0
        ) as emu:
            print(emu.url, emu.bidi_url, flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())
    """
)


@pytest.fixture(scope="module")
def urls() -> Iterator[tuple[str, str]]:
    with server_process(_SERVER, AKID, SECRET) as (url, bidi_url):
        yield url, bidi_url


Scenario = Callable[[SageMakerRuntime], Awaitable[None]]


async def invoke(client: SageMakerRuntime) -> None:
    await client.invoke_endpoint("echo", body=b"x")


async def stream_to_the_end(client: SageMakerRuntime) -> None:
    async with client.invoke_endpoint_with_response_stream("demo", body=BODY) as stream:
        async for _ in stream:
            pass


async def tokens_then_final(client: SageMakerRuntime) -> None:
    async with client.invoke_endpoint_with_response_stream("demo", body=BODY) as stream:
        async for _ in stream.tokens("tgi"):
            pass
        await stream.final()


async def chat(client: SageMakerRuntime) -> None:
    await client.chat("demo", messages=[{"role": "user", "content": "hi"}], max_tokens=5)


async def break_early(client: SageMakerRuntime) -> None:
    async with client.invoke_endpoint_with_response_stream("demo", body=BODY) as stream:
        async for _ in stream:
            break


async def service_error(client: SageMakerRuntime) -> None:
    with pytest.raises(SageMakerError):
        await client.invoke_endpoint("nowhere", body=b"x")


async def duplex(client: SageMakerRuntime) -> None:
    async with client.invoke_endpoint_with_bidirectional_stream("echo") as stream:
        await stream.send("hello")
        await stream.end_input()
        async for _ in stream:
            pass


@BOTH_LOOPS
@pytest.mark.parametrize(
    "scenario",
    [invoke, stream_to_the_end, tokens_then_final, chat, break_early, service_error, duplex],
    ids=lambda scenario: scenario.__name__,
)
async def test_a_finished_call_leaves_nothing_for_the_gc(
    urls: tuple[str, str], scenario: Scenario
) -> None:
    url, bidi_url = urls
    client = SageMakerRuntime(
        "us-east-1",
        endpoint_url=url,
        bidi_endpoint_url=bidi_url,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
    )
    async with client:
        for _ in range(3):  # connections, caches and layouts made once
            await scenario(client)
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(10):
                await scenario(client)
            gc.collect()
            left = collections.Counter(
                f"{type(thing).__module__}.{type(thing).__qualname__}"
                for thing in gc.garbage
                if type(thing).__module__.split(".")[0] in OURS
            )
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert not left, f"held in reference cycles after 10 calls: {dict(left)}"
