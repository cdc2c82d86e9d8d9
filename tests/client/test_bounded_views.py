"""What a misbehaving container cannot do through a stream's token views: grow the
client's memory while it waits for a record, or raise anything but a typed error."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from asyncsagemaker import SageMakerRuntime
from asyncsagemaker.codecs import DEFAULT_MAX_EVENT_BYTES
from asyncsagemaker.emulator import Emulator, Invocation
from asyncsagemaker.errors import FormatError, LineTooLongError

pytestmark = pytest.mark.anyio

EmulatorFactory = Callable[..., Emulator]
PART = 64 * 1024


async def whitespace(inv: Invocation) -> AsyncIterator[bytes]:
    """16 MiB of blank lines and spaces, and never a record."""
    for _ in range(16 * 1024 * 1024 // PART):
        yield b" \n" * (PART // 2)


async def a_json_record_of_no_known_shape(inv: Invocation) -> AsyncIterator[bytes]:
    yield b'{"predictions": [0.25, 0.75]}\n'
    yield b'{"predictions": [0.5, 0.5]}\n'


def client_for(emu: Emulator) -> SageMakerRuntime:
    return SageMakerRuntime(
        "us-east-1", endpoint_url=emu.url, aws_access_key_id="AKID", aws_secret_access_key="s"
    )


@pytest.mark.parametrize("view", ["tokens", "events"])
async def test_a_stream_of_whitespace_ends_in_a_typed_error_not_in_memory(
    start_emulator: EmulatorFactory, view: str
) -> None:
    emu = start_emulator(models={"blank": whitespace})
    async with client_for(emu) as client:
        async with client.invoke_endpoint_with_response_stream("blank", body=b"{}") as stream:
            with pytest.raises(LineTooLongError) as info:
                async for _ in stream.tokens() if view == "tokens" else stream.events():
                    pass
            parts = stream.stats.parts
    assert info.value.limit == DEFAULT_MAX_EVENT_BYTES
    assert info.value.request_id is not None
    assert parts * PART <= DEFAULT_MAX_EVENT_BYTES + PART  # stopped at the bound, not the end


async def test_a_json_record_of_no_known_shape_is_never_the_answer(
    start_emulator: EmulatorFactory,
) -> None:
    emu = start_emulator(models={"scores": a_json_record_of_no_known_shape})
    async with client_for(emu) as client:
        async with client.invoke_endpoint_with_response_stream("scores", body=b"{}") as stream:
            with pytest.raises(FormatError, match="keys 'predictions'") as info:
                async for _ in stream.tokens():
                    pass
        assert 'format="text"' in str(info.value)
        async with client.invoke_endpoint_with_response_stream("scores", body=b"{}") as stream:
            text = "".join([token async for token in stream.tokens(format="text")])
    assert text == '{"predictions": [0.25, 0.75]}\n{"predictions": [0.5, 0.5]}\n'
