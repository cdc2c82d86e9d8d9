"""The pytest plugin's fixtures, used as a project would use them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import aiohttp
import pytest

from asyncsagemaker.emulator import Emulator, Faults

from ._support import boto3_client, path_for, post, sign


def test_fixture_from_a_sync_test(sagemaker_emulator: Emulator) -> None:
    client = boto3_client(sagemaker_emulator)
    answer = client.invoke_endpoint(EndpointName="echo", Body=b"ping")
    assert answer["Body"].read() == b"ping"
    assert sagemaker_emulator.endpoints == ["echo", "demo"]
    assert len(sagemaker_emulator.records) == 1


@pytest.mark.anyio
async def test_fixture_from_an_async_test(sagemaker_emulator: Emulator) -> None:
    url = sagemaker_emulator.url + path_for("demo")
    body = json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 2}}).encode()
    async with aiohttp.ClientSession() as session:
        response = await post(session, url, body, sign(url, body, {}))
        async with response:
            assert response.status == 200
            assert response.headers["X-Amzn-SageMaker-Content-Type"] == "text/event-stream"
            await response.read()
    assert sagemaker_emulator.records[-1].parts_sent == 2  # the tokens; cut, so no end token


def test_each_test_gets_a_fresh_emulator(sagemaker_emulator: Emulator) -> None:
    assert sagemaker_emulator.records == []


def test_factory_takes_models_and_faults(
    sagemaker_emulator_factory: Callable[..., Emulator],
) -> None:
    emu = sagemaker_emulator_factory(
        models={"chat": "demo"}, faults={"chat": Faults(not_ready_first=1)}
    )
    client = boto3_client(emu)
    with pytest.raises(client.exceptions.ModelNotReadyException):
        client.invoke_endpoint(EndpointName="chat", Body=b"{}")
    assert emu.endpoints == ["chat"]


def test_importing_the_plugin_starts_and_loads_nothing() -> None:
    code = (
        "import sys, threading; import asyncsagemaker.testing; "
        "assert 'asyncsagemaker.emulator._server' not in sys.modules; "
        "assert threading.active_count() == 1"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
