"""A server that misbehaves at the HTTP/2 level: every wait of the client stays bounded.

A server that stops reading its socket while its flow-control window stays open
fills the client's TCP send buffer: ``send()`` then waits on the socket, not on
the window, and must still end at ``total_timeout``, or after ``read_timeout``
without any progress.  A server that floods PINGs or SETTINGS and never reads the
answers must not grow what the client queues for it without limit.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from asyncsagemaker import (
    Config,
    DeadlineExceededError,
    DuplexStream,
    ReadTimeoutError,
    SageMakerRuntime,
    StreamInterruptedError,
)
from asyncsagemaker._transports.http2 import MAX_PENDING_REPLIES
from tests.bidi._rogue import Rogue, ping_frame, settings_frame

pytestmark = pytest.mark.anyio
PART = b"x" * 65_536
MOST_PARTS = 2_000  # 125 MiB: far beyond any socket buffer, so the sender must block


def client_for(url: str, config: Config) -> SageMakerRuntime:
    return SageMakerRuntime("us-east-1", bidi_endpoint_url=url, aws_access_key_id="a",
                            aws_secret_access_key="b", config=config)  # fmt: skip


async def send_until_it_fails(duplex: DuplexStream) -> int:
    """Send 64 KiB parts until ``send`` raises; how many were sent if it never does."""
    for _ in range(MOST_PARTS):
        await duplex.send(PART)
    return MOST_PARTS


async def test_total_timeout_ends_a_send_blocked_on_the_socket() -> None:
    async with Rogue(stop_reading=True).running() as rogue:
        client = client_for(rogue.url, Config(total_timeout=1.5, read_timeout=None))
        async with client:
            started = time.monotonic()
            with pytest.raises(DeadlineExceededError):
                async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
                    await asyncio.wait_for(send_until_it_fails(duplex), 10)
            assert time.monotonic() - started < 4  # the deadline, plus a sweep of the watchdog
            assert rogue.received < MOST_PARTS * len(PART)  # it did block on the socket
            closing = time.monotonic()
        assert time.monotonic() - closing < 1.5  # closing does not wait for the deaf peer


async def test_read_timeout_ends_a_send_that_makes_no_progress() -> None:
    async with Rogue(stop_reading=True).running() as rogue:
        async with client_for(rogue.url, Config(read_timeout=0.5)) as client:
            started = time.monotonic()
            with pytest.raises(ReadTimeoutError, match="stopped reading"):
                async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
                    await asyncio.wait_for(send_until_it_fails(duplex), 10)
            assert time.monotonic() - started < 4
            transport = client._bidi.transport if client._bidi else None
            assert transport is not None
            assert transport.connections(rogue.url) == []  # the stuck connection is gone
            # The next call opens a new connection (and blocks the same way, bounded again).
            with pytest.raises(ReadTimeoutError):
                async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
                    await asyncio.wait_for(send_until_it_fails(duplex), 10)
            assert rogue.accepted == 2


@pytest.mark.parametrize("frame", [ping_frame(), settings_frame()], ids=["PING", "SETTINGS"])
async def test_a_flood_the_peer_does_not_read_the_answers_to_is_cut_off(frame: bytes) -> None:
    rogue = Rogue(flood=frame, flood_bytes=64 * 1024 * 1024)
    async with rogue.running():
        async with client_for(rogue.url, Config(read_timeout=None)) as client:
            async with client.invoke_endpoint_with_bidirectional_stream("echo") as duplex:
                transport = client._bidi.transport if client._bidi else None
                assert transport is not None
                (connection,) = transport.connections(rogue.url)
                sock = connection._writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # fills sooner
                queued: list[int] = []  # what waited for the peer when the connection went
                writes = connection._writer.transport
                abort = writes.abort

                def aborting() -> None:
                    queued.append(writes.get_write_buffer_size())
                    abort()

                writes.abort = aborting  # type: ignore[method-assign]
                rogue.go.set()
                with pytest.raises(StreamInterruptedError, match="flood"):
                    await asyncio.wait_for(duplex.__anext__(), 20)
        # What waited for the peer stayed within the bound (ACKs of 9 or 17 bytes each),
        # checked after each read: plus at most the answers to one read's frames.
        assert queued and 0 < queued[0] <= MAX_PENDING_REPLIES * 17 + 65_536
        assert rogue.flooded < rogue.flood_bytes  # cut off long before the flood ended
