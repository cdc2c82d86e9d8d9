"""aiobotocore (botocore's parser on aiohttp) against the emulator, on asyncio and uvloop."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import botocore.exceptions
import pytest

from asyncsagemaker.emulator import Emulator, Faults, Invocation, ModelErrorFault
from asyncsagemaker.emulator._demo import demo_answer
from tests._support import BOTH_LOOPS, NO_AIOBOTOCORE

from ._support import AKID, REGION, SECRET

aio_session = pytest.importorskip("aiobotocore.session", reason=NO_AIOBOTOCORE)
AioConfig = pytest.importorskip("aiobotocore.config").AioConfig
pytestmark = [pytest.mark.anyio, BOTH_LOOPS]
Start = Callable[..., Emulator]
BIG = [os.urandom(64 * 1024) for _ in range(6)]


async def big_parts(inv: Invocation) -> AsyncIterator[bytes]:
    for part in BIG:
        yield part


def client_for(emu: Emulator) -> Any:
    return aio_session.get_session().create_client(
        "sagemaker-runtime",
        endpoint_url=emu.url,
        region_name=REGION,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=AioConfig(retries={"mode": "standard", "total_max_attempts": 1}),
    )


async def test_streaming_parts_and_invoke(start: Start) -> None:
    emu = start(models={"big": big_parts, "demo": "demo"}, credentials={AKID: SECRET})
    async with client_for(emu) as client:
        response = await client.invoke_endpoint_with_response_stream(EndpointName="big", Body=b"")
        assert [event["PayloadPart"]["Bytes"] async for event in response["Body"]] == BIG
        whole = await client.invoke_endpoint(EndpointName="demo", Body=b'{"inputs": "Yo"}')
        assert json.loads(await whole["Body"].read()) == [{"generated_text": demo_answer("Yo")}]


async def test_stream_error_frame_and_model_error(start: Start) -> None:
    emu = start(
        models={"big": big_parts, "echo": "echo"},
        faults={"big": Faults(stream_error_after=2, stream_error_code="StreamBroken")},
    )
    async with client_for(emu) as client:
        response = await client.invoke_endpoint_with_response_stream(EndpointName="big", Body=b"")
        received = []
        with pytest.raises(botocore.exceptions.EventStreamError) as caught:
            async for event in response["Body"]:
                received.append(event["PayloadPart"]["Bytes"])
        assert caught.value.response["Error"] == {
            "Code": "ModelStreamError",
            "Message": "Stream broken",
        }
        assert received == BIG[:2]
        emu.set_faults("echo", Faults(model_error=ModelErrorFault(original_status_code=400)))
        with pytest.raises(client.exceptions.ModelError) as model_error:
            await client.invoke_endpoint(EndpointName="echo", Body=b"x")
        assert model_error.value.response["OriginalStatusCode"] == 400
        with pytest.raises(client.exceptions.ValidationError):
            await client.invoke_endpoint(EndpointName="missing", Body=b"x")
