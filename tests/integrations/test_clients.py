"""Who owns the clients of a framework's model object, and that none is left unclosed.

One client per event loop, made on first use there and closed when that loop
finalises its async generators (``asyncio.run``, ``asyncio.Runner``), or by
``aclose()``/``close()``; synchronous calls run on the process's private loop, never
nested in the caller's.  What a user would notice: no ``ResourceWarning`` (no
"Unclosed client session") from ``invoke`` and ``ainvoke`` used from several loops
over time, at exit either; a client of theirs never closed behind their back.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest

from asyncsagemaker import SageMakerRuntime
from asyncsagemaker.emulator import Emulator
from asyncsagemaker.errors import UsageError
from asyncsagemaker.integrations._clients import LoopClients
from asyncsagemaker.integrations._runner import runner
from asyncsagemaker.integrations.langchain import ChatSageMaker
from tests._support import ROOT
from tests.examples._support import wait_until

from ._support import AKID, SECRET, emulator, settings


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with emulator() as running:
        yield running


def made_by(emu: Emulator) -> tuple[LoopClients, list[SageMakerRuntime]]:
    """LoopClients making real clients for ``emu``; the list holds every client made."""
    made: list[SageMakerRuntime] = []

    def make() -> SageMakerRuntime:
        client = SageMakerRuntime(
            "us-east-1", endpoint_url=emu.url, aws_access_key_id=AKID, aws_secret_access_key=SECRET
        )
        made.append(client)
        return client

    return LoopClients(make), made


def is_closed(client: SageMakerRuntime) -> bool:
    return repr(client).endswith("closed>")


async def use(clients: LoopClients) -> SageMakerRuntime:
    client = clients.current()
    await client.chat("demo", [{"role": "user", "content": "Hi"}], max_tokens=2)
    assert clients.current() is client  # the same loop, the same client
    return client


def test_each_loop_gets_its_client_and_closes_it_when_it_ends(emu: Emulator) -> None:
    clients, made = made_by(emu)
    first = asyncio.run(use(clients))
    second = asyncio.run(use(clients))
    assert first is not second and made == [first, second]
    assert is_closed(first) and is_closed(second)  # asyncio.run finalised each


def test_loops_running_at_once_in_two_threads_have_a_client_each(emu: Emulator) -> None:
    clients, made = made_by(emu)
    both = threading.Barrier(2)
    seen: list[SageMakerRuntime] = []

    async def both_at_once() -> None:
        client = await use(clients)
        await asyncio.get_running_loop().run_in_executor(None, both.wait, 10)
        seen.append(client)

    thread = threading.Thread(target=asyncio.run, args=(both_at_once(),))
    thread.start()
    asyncio.run(both_at_once())
    thread.join(10)
    assert len(set(map(id, seen))) == 2 and sorted(map(id, made)) == sorted(map(id, seen))
    assert all(is_closed(client) for client in made)


def test_aclose_closes_now_and_the_owner_stays_usable(emu: Emulator) -> None:
    clients, made = made_by(emu)

    async def main() -> None:
        first = await use(clients)
        await clients.aclose()
        assert is_closed(first)
        second = await use(clients)  # a new one, on demand
        assert second is not first and not is_closed(second)

    asyncio.run(main())
    assert len(made) == 2 and all(is_closed(client) for client in made)


def test_a_loop_closed_without_finalising_is_let_go(emu: Emulator) -> None:
    clients, _ = made_by(emu)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(use(clients))
    loop.close()  # by hand, without shutdown_asyncgens: nothing can close its client now
    asyncio.run(use(clients))  # the next loop's first use forgets the closed one
    assert loop not in clients._entries


def test_garbage_collection_closes_the_clients_on_their_loops(emu: Emulator) -> None:
    clients, made = made_by(emu)
    runner.call(functools.partial(use, clients))  # a client on the private loop, which stays
    del clients
    gc.collect()
    wait_until(lambda: is_closed(made[0]), 10, "the private loop's client closed")


def test_a_given_client_is_used_as_it_is_and_never_closed(emu: Emulator) -> None:
    async def main() -> None:
        async with SageMakerRuntime(
            "us-east-1", endpoint_url=emu.url, aws_access_key_id=AKID, aws_secret_access_key=SECRET
        ) as client:
            model = ChatSageMaker(endpoint_name="demo", client=client)
            answer = await model.ainvoke("Hi", max_tokens=3)
            assert answer.content
            await model.aclose()
            assert not is_closed(client)
            with pytest.raises(UsageError, match="client="):
                model.invoke("Hi")  # sync calls run on another loop than the client's

    asyncio.run(main())


def test_a_sync_call_inside_a_running_loop_is_not_nested(emu: Emulator) -> None:
    """LangChain users call invoke() from async code too: it blocks, but works."""
    model = ChatSageMaker(endpoint_name="demo", **settings(emu))

    async def main() -> str:
        return model.invoke("Hi", max_tokens=3).text

    assert asyncio.run(main())
    model.close()


def test_leaving_a_sync_stream_early_closes_it_at_once() -> None:
    with emulator(token_delay=0.05) as slow:
        model = ChatSageMaker(endpoint_name="demo", **settings(slow))
        for number, _ in enumerate(model.stream("Tell me a long story")):
            if number == 2:
                break
        wait_until(lambda: slow.records[-1].ended is not None, 10, "the stream closed")
        assert slow.records[-1].outcome == "client_disconnected"
        model.close()


_SCRIPT = """
import asyncio, gc, sys, warnings
warnings.simplefilter("always", ResourceWarning)
from asyncsagemaker.integrations.langchain import ChatSageMaker

model = ChatSageMaker(endpoint_name="demo", endpoint_url=sys.argv[1], region_name="us-east-1",
                      aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
print(model.invoke("Hi", max_tokens=3).content[:5])          # the private loop
for chunk in model.stream("Hi", max_tokens=3):
    pass

async def main():
    print((await model.ainvoke("Hi", max_tokens=3)).content[:5])  # this loop's client
    async for chunk in model.astream("Hi", max_tokens=3):
        pass

asyncio.run(main())
asyncio.run(main())                                             # another loop, later
gc.collect()
print("done")
"""


def test_several_loops_over_time_then_exit_leave_nothing_unclosed(emu: Emulator) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-c", textwrap.dedent(_SCRIPT), emu.url, AKID, SECRET],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "done"
    assert "nclosed" not in result.stderr and "ResourceWarning" not in result.stderr, result.stderr
