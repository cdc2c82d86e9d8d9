"""A storm of calls through the client, half cancelled at random turns of the loop.

Apart from tests/client/test_admission.py, whose timing test must not pay for the
client's imports (a full garbage collection of a bigger heap is a pause of its own).
"""

from __future__ import annotations

import asyncio
import random

import pytest

from asyncsagemaker import SageMakerRuntime
from asyncsagemaker._transports.base import Request
from asyncsagemaker.errors import SageMakerError
from asyncsagemaker.testing import MockResponse, MockTransport, event_stream
from tests._support import BOTH_LOOPS
from tests.client.test_admission import assert_settled

pytestmark = pytest.mark.anyio


async def _storm(client: SageMakerRuntime, seed: int, calls: int) -> list[BaseException | None]:
    """``calls`` streams started at once, half of them cancelled after a random number of
    loop turns (0 to 6: queued, let in, let in but not started, sending, reading)."""
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()

    async def one(number: int) -> None:
        body = b"fail" if number % 7 == 0 else b"hello"  # some refused: a ServiceError
        async with client.invoke_endpoint_with_response_stream("ep", body=body) as stream:
            async for _ in stream:
                pass

    def cancel_after(task: asyncio.Task[None], turns: int) -> None:
        if turns:
            loop.call_soon(cancel_after, task, turns - 1)
        else:
            task.cancel()

    tasks = [asyncio.create_task(one(n)) for n in range(calls)]
    for task in rng.sample(tasks, calls // 2):
        cancel_after(task, rng.randrange(7))
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    return list(outcomes)


def _answer(request: Request) -> MockResponse:
    if request.body == b"fail":
        return MockResponse(400, {"x-amzn-ErrorType": "ValidationError"}, b'{"message": "no"}')
    return MockResponse(200, body=event_stream(b"a", b"b"))


@BOTH_LOOPS
async def test_a_storm_of_cancelled_calls_raises_only_cancellations_and_our_errors() -> None:
    """Regression: a call cancelled in line once raised ``ValueError: ... not in deque``."""
    client = SageMakerRuntime(
        "us-east-1",
        transport=MockTransport(_answer),
        aws_access_key_id="k",
        aws_secret_access_key="s",
        aws_session_token="t",
    )
    async with client:
        for seed in range(12):
            outcomes = await _storm(client, seed, 200)
            strays = [o for o in outcomes if not isinstance(o, (type(None), *_ALLOWED))]
            assert strays == [], f"seed {seed}: {strays[:3]!r}"
            assert any(isinstance(o, asyncio.CancelledError) for o in outcomes)
            assert any(o is None for o in outcomes)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert_settled(client._gate)
        # the gate still lets calls through, PER_TURN a turn
        answers = await asyncio.wait_for(
            asyncio.gather(*(client.invoke_endpoint("ep", body=b"x") for _ in range(40))), 10
        )
        assert len(answers) == 40


_ALLOWED = (asyncio.CancelledError, SageMakerError)
