"""The admission gate: a burst of call starts is spread over turns of the loop."""

from __future__ import annotations

import asyncio
import time

import pytest

from asyncsagemaker._admission import AdmissionGate

pytestmark = pytest.mark.anyio


def busy(seconds: float) -> None:
    """CPU work that does not yield, like signing and building a request."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def test_a_burst_of_starts_leaves_the_loop_free_between_turns() -> None:
    gate = AdmissionGate(per_turn=4)
    order: list[int] = []
    lags: list[float] = []
    done = asyncio.Event()

    async def start(number: int) -> None:
        if gate.full():
            await gate.wait()
        order.append(number)
        busy(0.002)  # 2 ms of prefix each: 100 of them would be 200 ms in one turn

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            expected = loop.time() + 0.005
            await asyncio.sleep(0.005)
            lags.append(loop.time() - expected)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    await asyncio.gather(*(start(n) for n in range(100)))
    done.set()
    await tick
    assert order == list(range(100))  # first come, first served
    assert max(lags) < 0.05  # 4 x 2 ms a turn, not 200 ms


async def test_calls_one_after_another_wait_only_once_every_few() -> None:
    gate = AdmissionGate(per_turn=16)
    waited = 0
    for _ in range(160):
        if gate.full():
            waited += 1
            await gate.wait()
    assert waited <= 10


async def test_a_caller_cancelled_in_line_gives_its_place_to_the_next() -> None:
    gate = AdmissionGate(per_turn=1)
    assert not gate.full()
    started: list[int] = []

    async def start(number: int) -> None:
        if gate.full():
            await gate.wait()
        started.append(number)

    tasks = [asyncio.create_task(start(n)) for n in range(5)]
    await asyncio.sleep(0)  # all in line
    tasks[1].cancel()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 2)
    assert started == [0, 2, 3, 4]


# -- cancellation at every point of the gate's life ------------------------------------


async def test_a_caller_cancelled_in_line_just_before_the_next_turn_gets_its_cancellation() -> None:
    """Cancelled after the next turn was scheduled: that turn takes it off the line first."""
    gate = AdmissionGate(per_turn=4)
    for _ in range(4):
        assert not gate.full()  # this turn's places are taken
    started: list[int] = []

    async def start(number: int) -> None:
        if gate.full():
            await gate.wait()
        started.append(number)

    tasks = [asyncio.create_task(start(n)) for n in range(10)]
    await asyncio.sleep(0)  # all in line; the next turn is scheduled
    tasks[0].cancel()  # the turn that runs next pops it before its task resumes
    tasks[1].cancel()
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 2)
    assert [type(o) for o in outcomes[:2]] == [asyncio.CancelledError] * 2
    assert outcomes[2:] == [None] * 8
    assert started == list(range(2, 10))
    assert_settled(gate)


async def test_a_caller_let_in_and_cancelled_before_it_starts_gives_its_place_back() -> None:
    gate = AdmissionGate(per_turn=4)
    for _ in range(4):
        assert not gate.full()
    started: list[int] = []

    async def start(number: int) -> None:
        if gate.full():
            await gate.wait()
        started.append(number)

    tasks = [asyncio.create_task(start(n)) for n in range(6)]
    await asyncio.sleep(0)  # all in line, the next turn scheduled

    def cancel_those_let_in() -> None:  # runs right after that turn let four in
        for task in tasks[:2]:
            task.cancel()

    asyncio.get_running_loop().call_soon(cancel_those_let_in)
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 2)
    assert [type(o) for o in outcomes[:2]] == [asyncio.CancelledError] * 2
    assert started == [2, 3, 4, 5]
    assert_settled(gate)


def assert_settled(gate: AdmissionGate, per_turn: int | None = None) -> None:
    """Nobody in line, no turn pending, and a count of this turn's starts in range."""
    assert not gate._waiters
    assert not gate._new_turn_due
    assert 0 <= gate._count <= (per_turn or gate._per_turn)
