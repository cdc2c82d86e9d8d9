"""What a new user trips on at the door: misuse says what to write, bad settings fail early."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import warnings

import pytest

import asyncsagemaker
from asyncsagemaker import SageMakerRuntime
from asyncsagemaker.testing import MockResponse, MockTransport, event_stream
from tests._support import ROOT

pytestmark = pytest.mark.anyio


def client_with(transport: MockTransport) -> SageMakerRuntime:
    return SageMakerRuntime(
        "us-east-1", aws_access_key_id="a", aws_secret_access_key="b", transport=transport
    )


def streaming_transport() -> MockTransport:
    return MockTransport(lambda request: MockResponse(200, {}, event_stream(b"hi")))


async def test_the_streaming_call_is_a_real_coroutine_for_create_task() -> None:
    async with client_with(streaming_transport()) as client:
        task = asyncio.create_task(client.invoke_endpoint_with_response_stream("e", body=b"x"))
        stream = await task
        async with stream:
            assert [part async for part in stream] == [b"hi"]
        call = client.invoke_endpoint_with_response_stream("e", body=b"x")
        assert asyncio.iscoroutine(call)
        call.close()


async def test_async_for_over_the_call_says_what_to_write() -> None:
    transport = streaming_transport()
    async with client_with(transport) as client:
        with pytest.raises(asyncsagemaker.UsageError, match="async with") as caught:
            async for _ in client.invoke_endpoint_with_response_stream("e", body=b"x"):
                pass
    assert isinstance(caught.value, TypeError)
    assert transport.requests == []  # nothing was sent, nothing left open


async def test_a_stream_attribute_on_the_call_says_what_to_write() -> None:
    async with client_with(streaming_transport()) as client:
        call = client.invoke_endpoint_with_response_stream("e", body=b"x")
        with pytest.raises(asyncsagemaker.UsageError, match=r"stream\.tokens"):
            call.tokens()
        with pytest.raises(AttributeError):
            call.no_such_thing  # noqa: B018


async def test_a_call_never_awaited_warns_in_public_words() -> None:
    async with client_with(streaming_transport()) as client:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client.invoke_endpoint_with_response_stream("e", body=b"x")
            gc.collect()
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1, messages
    assert "invoke_endpoint_with_response_stream(...) was never awaited" in messages[0]
    assert "_open_stream" not in messages[0]


@pytest.mark.parametrize(
    "url",
    ["127.0.0.1:8080", "localhost:8080", "http://", "", "ftp://127.0.0.1", "http://h/?a=1",
     "http://h:0", "http://h:99999", "http://h/ x", " http://h"],
)  # fmt: skip
def test_an_endpoint_url_that_is_not_a_url_is_refused_when_the_client_is_made(url: str) -> None:
    with pytest.raises(asyncsagemaker.ConfigurationError) as caught:
        SageMakerRuntime("us-east-1", endpoint_url=url)
    assert repr(url) in str(caught.value)
    assert "http" in str(caught.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "https://runtime.example", "http://[::1]:80/prefix"]
)
def test_endpoint_urls_of_every_form_are_accepted(url: str) -> None:
    assert SageMakerRuntime("us-east-1", endpoint_url=url).endpoint_url == url


def test_the_pytest_plugin_and_the_package_import_nothing_heavy() -> None:
    code = (
        "import sys, asyncsagemaker.testing, asyncsagemaker.eventstream, asyncsagemaker.formats\n"
        "names = ('aiohttp', 'botocore', 'asyncsagemaker._client')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
