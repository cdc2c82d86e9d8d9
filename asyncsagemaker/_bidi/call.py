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
import time
from collections import deque
from collections.abc import AsyncIterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import DeadlineExceededError, ProtocolError, SageMakerError, UsageError
from ..eventstream import Decoder, Message
from .events import BidiPart, CompletionState, encode_payload_part, parse_output_event
from .model import OPERATION, check_members, parse_error, request_path
from .signing import STREAMING_PAYLOAD, EventSigner

if TYPE_CHECKING:
    from botocore.credentials import ReadOnlyCredentials

    from .._auth.credentials import CredentialSource
    from .._core import Core, Ready
    from .._deadline import Deadline
    from .._telemetry.front import Telemetry
    from .._telemetry.hooks import Observer
    from .._transports.http2 import H2Stream, H2Transport

__all__ = ["BidiSide", "DuplexCall", "DuplexStream"]

SendValue = bytes | bytearray | memoryview | str | BidiPart


class BidiSide:
    """What a client keeps for bidirectional streams: its core, its telemetry, their
    endpoint and HTTP/2 pool (both made at the first stream; the rule set is read off
    the loop)."""

    def __init__(self, core: Core, telemetry: Telemetry, endpoint_url: str | None) -> None:
        self.core = core
        self.telemetry = telemetry
        self._endpoint_url = endpoint_url
        self._connected: tuple[str, H2Transport] | None = None

    @property
    def transport(self) -> H2Transport | None:
        """The HTTP/2 pool, once the first stream made it."""
        return None if self._connected is None else self._connected[1]

    async def connect(self, ready: Ready) -> tuple[str, H2Transport]:
        """The endpoint's base URL and the HTTP/2 transport (with the proxy that
        ``HTTP(S)_PROXY`` / ``NO_PROXY`` choose for that URL), resolved once."""
        if self._connected is not None:
            return self._connected
        from .._config import proxy_for
        from .._transports.http2 import H2Transport
        from .endpoints import resolve_bidi_endpoint

        config = self.core.config

        def resolve() -> tuple[str, str | None]:
            import botocore.loaders

            url = resolve_bidi_endpoint(
                botocore.loaders.create_loader(),
                ready.settings.region,
                use_fips=config.use_fips_endpoint,
                use_dualstack=config.use_dualstack_endpoint,
                endpoint_url=self._endpoint_url,
                http_endpoint_url=self.core.endpoint_url,
            )
            return url, proxy_for(url)

        base_url, proxy = await asyncio.get_running_loop().run_in_executor(None, resolve)
        if self._connected is None:  # another task may have resolved it meanwhile
            transport = H2Transport(
                ca_bundle=ready.settings.ca_bundle,
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
                proxy=proxy,
            )
            self._connected = (base_url, transport)
        return self._connected

    async def aclose(self) -> None:
        """Close the HTTP/2 pool; streams still open end with it."""
        if self._connected is not None:
            await self._connected[1].aclose()


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
        observer: Observer,
        deadline: Deadline | None = None,
    ) -> None:
        self._stream = stream
        self._observer = observer
        self._deadline = deadline
        self._failure: BaseException | None = None  # the first error the stream raised
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
        """An error leaving the stream: it names the call, and telemetry is told at the end."""
        if error.request_id is None:
            error.request_id = self.request_id
        if self._failure is None:
            self._failure = error
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
            # the credentials in force now sign this event (refreshed ones from here on)
            self._signer.credentials = self._credentials.fresh() or await self._refresh()
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
            self._signer.credentials = self._credentials.fresh() or await self._refresh()
            try:
                await self._stream.send(self._signer.end_frame(), end_stream=True)
            except SageMakerError as error:
                if not self._stream.input_closed:
                    raise self._tag(error) from None

    async def _refresh(self) -> ReadOnlyCredentials:
        """The credentials after the shared refresh, within the call's total deadline.

        Each event is signed with the credentials in force when it is sent, as the
        AWS Python SDK does (it resolves its identity for every event); near expiry
        (botocore's mandatory window) that means waiting for the refresh first.
        """
        deadline = self._deadline
        remaining = None if deadline is None else deadline.remaining()
        try:
            return await asyncio.wait_for(self._credentials.get(), remaining)
        except asyncio.TimeoutError:
            error = DeadlineExceededError("the call did not finish within total_timeout")
            raise self._tag(error) from None
        except SageMakerError as error:
            raise self._tag(error) from None

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
                if self._failure is None:
                    self._failure = exc
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
                    on_part = self._observer.on_part
                    if on_part is not None:
                        on_part()
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
        observer = self._observer
        if observer.watches_streams:
            observer.stream_ended(self._failure, None, self.request_id)


class DuplexCall:
    """``async with client.invoke_endpoint_with_bidirectional_stream(...) as duplex``."""

    def __init__(
        self,
        side: BidiSide,
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
        self._members = members
        self._side = side
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
        side = self._side
        core = side.core
        started = time.monotonic()
        ready = core.ready or await core.get_ready()
        base_url, transport = await side.connect(ready)
        name = self._endpoint_name
        observer = side.telemetry.start(ready, OPERATION, name, self._members, server=base_url)
        deadline = core.deadline(started)
        headers = {
            "Content-Type": "application/vnd.amazon.eventstream",
            "X-Amz-Content-SHA256": STREAMING_PAYLOAD,
            **self._headers,
        }
        stream, request, credentials = await core.send(
            ready,
            base_url + request_path(name),
            headers,
            b"",
            deadline=deadline,
            label=f"{OPERATION} {name}",
            observer=observer,
            send=transport.open,
            parse_error=parse_error,
            payload_hash=STREAMING_PAYLOAD,
        )
        # Every event's signature chains from the request's (protocol.md §6).
        assert credentials is not None  # signed with SigV4: no authorizer was passed
        seed = request.headers["Authorization"].rsplit("Signature=", 1)[1]
        return DuplexStream(
            stream,
            EventSigner(seed, credentials, ready.settings.region),
            ready.credentials,
            max_message_bytes=core.config.max_message_bytes,
            observer=observer,
            deadline=deadline,
        )
