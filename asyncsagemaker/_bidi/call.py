"""``invoke_endpoint_with_bidirectional_stream``: the duplex stream object and its opening.

:class:`DuplexCall` is what the client method returns: ``async with`` it opens the
stream (retried like any call while nothing was sent: the service's refusals and
connection failures before the response headers) and gives a
:class:`DuplexStream`.  That one sends parts (each signed into an envelope that
chains from the request's signature) and is iterated for the parts coming back;
both may run at once, from different tasks.

Leaving the ``async with`` ends the input (the signed end frame and END_STREAM)
when it was not ended yet; if the output was not read to its end, or the block
raised or was cancelled, the stream is reset with CANCEL, so the model stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import deque
from collections.abc import AsyncIterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._deadline import Deadline
from .._transports.base import Request
from ..errors import (
    ClientClosedError,
    NetworkError,
    ProtocolError,
    ReadTimeoutError,
    SageMakerError,
    StreamError,
    UsageError,
)
from ..eventstream import Decoder, Message
from .events import BidiPart, CompletionState, encode_payload_part, parse_output_event
from .model import OPERATION, check_members, parse_error, request_path
from .signing import STREAMING_PAYLOAD, EventSigner

if TYPE_CHECKING:
    from .._auth.credentials import CredentialSource
    from .._client import SageMakerRuntime, _Ready
    from .._transports.http2 import H2Stream, H2Transport

__all__ = ["BidiSide", "DuplexCall", "DuplexStream"]

SendValue = bytes | bytearray | memoryview | str | BidiPart


@dataclasses.dataclass
class BidiSide:
    """What a client keeps for bidirectional streams: their endpoint and HTTP/2 pool."""

    base_url: str
    transport: H2Transport


async def bidi_side(client: SageMakerRuntime, ready: _Ready) -> BidiSide:
    """The client's bidirectional side, resolved once (the rule set is read off the loop)."""
    side: BidiSide | None = client._bidi
    if side is not None:
        return side
    from .._transports.http2 import H2Transport
    from .endpoints import resolve_bidi_endpoint

    config = client.config

    def resolve() -> str:
        import botocore.loaders

        return resolve_bidi_endpoint(
            botocore.loaders.create_loader(),
            ready.settings.region,
            use_fips=config.use_fips_endpoint,
            use_dualstack=config.use_dualstack_endpoint,
            endpoint_url=client._bidi_endpoint_url,
        )

    base_url = await asyncio.get_running_loop().run_in_executor(None, resolve)
    if client._bidi is None:  # another task may have resolved it meanwhile
        client._bidi = BidiSide(
            base_url,
            H2Transport(
                ca_bundle=ready.settings.ca_bundle,
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
            ),
        )
    return client._bidi


class DuplexStream:
    """An open bidirectional stream: ``send()`` parts up, ``async for`` parts down.

    ``invoked_production_variant`` and ``request_id`` come from the response
    headers.  ``send`` waits while the service's flow-control window is full (a
    slow model slows the sender); data coming down is acknowledged only as parts
    are taken (a slow consumer slows the model).
    """

    def __init__(
        self,
        stream: H2Stream,
        signer: EventSigner,
        credentials: CredentialSource,
        *,
        max_message_bytes: int,
    ) -> None:
        self._stream = stream
        self._signer = signer
        self._credentials = credentials
        self.status_code = stream.status
        self.headers = stream.headers
        self.request_id: str | None = stream.headers.get("x-amzn-requestid")
        self.invoked_production_variant: str | None = stream.headers.get(
            "x-amzn-invoked-production-variant"
        )
        self._decoder = Decoder(max_message_bytes)
        self._messages: deque[Message] = deque()
        self._send_lock = asyncio.Lock()
        self._input_ended = False
        self._finished = False  # the output was read to its end
        self._closed = False
        self._pump: asyncio.Task[None] | None = None
        self._pump_error: BaseException | None = None
        self.parts_sent = 0
        self.parts_received = 0

    def __repr__(self) -> str:
        return (
            f"<DuplexStream request_id={self.request_id} sent={self.parts_sent} "
            f"received={self.parts_received}>"
        )

    @property
    def input_ended(self) -> bool:
        return self._input_ended

    def _tag(self, error: SageMakerError) -> SageMakerError:
        if error.request_id is None:
            error.request_id = self.request_id
        return error

    # -- up --------------------------------------------------------------------------

    async def send(
        self,
        data: SendValue,
        *,
        completion_state: CompletionState = "COMPLETE",
        padding: str | None = None,
    ) -> None:
        """Send one part: ``str`` as UTF8, bytes as BINARY, or a :class:`BidiPart` as it is.

        ``completion_state="PARTIAL"`` says more of the same message follows.
        ``padding`` is the ``P`` header, filler that hides the part's true size.
        """
        part = BidiPart.of(data, completion_state)
        async with self._send_lock:
            if self._input_ended or self._closed:
                raise UsageError("send() after end_input() or after the stream was closed")
            self._refresh_credentials()
            envelope = self._signer.sign(encode_payload_part(part, padding))
            try:
                await self._stream.send(envelope)
            except SageMakerError as error:
                raise self._tag(error) from None
            self.parts_sent += 1

    async def end_input(self) -> None:
        """End the input: the signed end frame, then END_STREAM.  Calling it again is a no-op."""
        async with self._send_lock:
            if self._input_ended or self._closed:
                return
            self._input_ended = True
            if self._stream.input_closed:  # the service already asked us to stop
                return
            self._refresh_credentials()
            try:
                await self._stream.send(self._signer.end_frame(), end_stream=True)
            except SageMakerError as error:
                if not self._stream.input_closed:
                    raise self._tag(error) from None

    def _refresh_credentials(self) -> None:
        fresh = self._credentials.fresh()
        if fresh is not None and fresh is not self._signer.credentials:
            self._signer.credentials = fresh

    def _start_pump(self, source: AsyncIterable[SendValue]) -> None:
        async def pump() -> None:
            try:
                async for item in source:
                    await self.send(item)
                await self.end_input()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                self._pump_error = exc
                self._stream.reset()

        self._pump = asyncio.get_running_loop().create_task(pump())

    # -- down ------------------------------------------------------------------------

    def __aiter__(self) -> DuplexStream:
        return self

    async def __anext__(self) -> BidiPart:
        while True:
            while self._messages:
                try:
                    part = parse_output_event(self._messages.popleft())
                except SageMakerError as error:
                    self._finished = True
                    self._stream.reset()
                    raise self._tag(error) from None
                if part is not None:
                    self.parts_received += 1
                    return part
            if self._finished:
                raise StopAsyncIteration
            try:
                chunk = await self._stream.read_chunk()
                if not chunk:
                    self._decoder.close()
                    self._finished = True
                    self._stream.release()
                    continue
                self._messages.extend(self._decoder.feed(chunk))
            except SageMakerError as error:
                if self._pump_error is not None:
                    raise self._pump_error from None
                self._finished = True
                if isinstance(error, ProtocolError):
                    self._stream.reset()
                raise self._tag(error) from None

    async def aclose(self) -> None:
        """Stop now: RST_STREAM(CANCEL) unless the output was read to its end."""
        self._closed = True
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
            with contextlib.suppress(BaseException):
                await self._pump
        if not (self._finished and self._input_ended):
            self._stream.reset()
        else:
            self._stream.release()


class DuplexCall:
    """``async with client.invoke_endpoint_with_bidirectional_stream(...) as duplex``."""

    def __init__(
        self,
        client: SageMakerRuntime,
        endpoint_name: str,
        *,
        target_variant: str | None = None,
        model_invocation_path: str | None = None,
        model_query_string: str | None = None,
        input: AsyncIterable[SendValue] | None = None,
    ) -> None:
        members = {
            "target_variant": target_variant,
            "model_invocation_path": model_invocation_path,
            "model_query_string": model_query_string,
        }
        self._headers = check_members(endpoint_name, members)  # bad input fails here
        self._client = client
        self._endpoint_name = endpoint_name
        self._input = input
        self._duplex: DuplexStream | None = None

    def __await__(self) -> Any:
        raise UsageError(
            "use `async with client.invoke_endpoint_with_bidirectional_stream(...) as duplex:`"
        )

    async def __aenter__(self) -> DuplexStream:
        if self._duplex is not None:
            raise UsageError("a DuplexCall can be entered once; call the method again")
        duplex = await self._open()
        self._duplex = duplex
        if self._input is not None:
            duplex._start_pump(self._input)
        return duplex

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        duplex = self._duplex
        if duplex is None:
            return
        try:
            if exc_type is None and duplex._pump is None and duplex._stream.error is None:
                with contextlib.suppress(SageMakerError):  # the stream failed meanwhile
                    await duplex.end_input()  # then a reset, below, if output was left unread
        finally:
            await duplex.aclose()
        if exc_type is None and duplex._pump_error is not None:
            raise duplex._pump_error

    async def _open(self) -> DuplexStream:
        client = self._client
        started = time.monotonic()
        ready = client._ready or await client._get_ready()
        side = await bidi_side(client, ready)
        config = client.config
        deadline = Deadline(
            config.total_timeout, config.read_timeout, config.connect_timeout, started=started
        )
        url = side.base_url + request_path(self._endpoint_name)
        label = f"{OPERATION} {self._endpoint_name}"
        with deadline.scope():
            for attempt in ready.retry.attempts(deadline, label):
                await attempt.wait()
                if client._closed:
                    raise ClientClosedError("the client was closed while the call was under way")
                credentials = ready.credentials.fresh() or await ready.credentials.get()
                headers = {
                    "Content-Type": "application/vnd.amazon.eventstream",
                    "X-Amz-Content-SHA256": STREAMING_PAYLOAD,
                    **self._headers,
                }
                headers = ready.signer.sign(
                    credentials, url, headers, b"", payload_hash=STREAMING_PAYLOAD
                )
                headers["User-Agent"] = ready.user_agent
                seed = headers["Authorization"].rsplit("Signature=", 1)[1]
                try:
                    stream = await side.transport.open(Request("POST", url, headers, b""), deadline)
                except SageMakerError as error:
                    attempt.failed(client._closed_instead(error))
                    continue
                if 200 <= stream.status < 300:
                    attempt.succeeded(stream.status, stream.headers.get("x-amzn-requestid"))
                    signer = EventSigner(seed, credentials, ready.settings.region)
                    return DuplexStream(
                        stream,
                        signer,
                        ready.credentials,
                        max_message_bytes=config.max_message_bytes,
                    )
                attempt.failed(await _refusal(stream))
        raise AssertionError("unreachable: attempts() ends by success or by raising")


async def _refusal(stream: H2Stream) -> SageMakerError:
    """The typed error of a refusal; a body cut off still tells its status."""
    try:
        body = await stream.read_all()
    except (NetworkError, ReadTimeoutError, StreamError):
        body = b""
    finally:
        stream.abort()
    return parse_error(stream.status, stream.headers, body)
