"""A raw HTTP/2 client for the emulator's tests: h2 on asyncio streams, nothing of ours but
the sans-IO event signer and codecs.

It signs requests with botocore's ``SigV4Auth`` (the payload hash is the literal
``STREAMING-AWS4-HMAC-SHA256-EVENTS``, sent as a header, which botocore signs as
is) and events with :class:`EventSigner`.  Flow control is the real thing both
ways: received DATA is acknowledged only as a test reads events, and sending
waits for the server's window, so tests can stall either side on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import urllib.parse
from collections import deque
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from h2.errors import ErrorCodes

from asyncsagemaker._bidi.events import BidiPart, encode_payload_part, parse_output_event
from asyncsagemaker._bidi.signing import STREAMING_PAYLOAD, EventSigner
from asyncsagemaker.eventstream import Decoder, Message

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
CREDENTIALS = ReadOnlyCredentials(AKID, SECRET, None)
PATH = "/endpoints/{}/invocations-bidirectional-stream"


class Reset(Exception):
    """The server reset the stream (or the connection went away)."""

    def __init__(self, error_code: int | None, reason: str = "reset") -> None:
        super().__init__(f"{reason} (error code {error_code})")
        self.error_code = error_code
        self.reason = reason


def sign_request(
    authority: str,
    path: str,
    headers: dict[str, str],
    credentials: ReadOnlyCredentials,
    region: str,
    signed_at: str | None = None,
) -> dict[str, str]:
    """The request headers, signed as the AWS SDKs sign this operation (no host header sent).

    ``signed_at`` (``YYYYMMDDTHHMMSSZ``) fixes the signing time; default now.
    """
    signed = {
        "content-type": "application/vnd.amazon.eventstream",
        "x-amz-content-sha256": STREAMING_PAYLOAD,
        **headers,
    }
    request = AWSRequest(method="POST", url=f"https://{authority}{path}", headers=signed)
    botocore_credentials = Credentials(credentials.access_key, credentials.secret_key,
                                       credentials.token)  # fmt: skip
    signer = SigV4Auth(botocore_credentials, "sagemaker", region)
    if signed_at is None:
        signer.add_auth(request)
    else:
        request.context["timestamp"] = signed_at
        signer._modify_request_before_signing(request)
        canonical = signer.canonical_request(request)
        signature = signer.signature(signer.string_to_sign(request, canonical), request)
        signer._inject_signature_to_request(request, signature)
    out = {k.lower(): v for k, v in request.headers.items()}
    out.pop("host", None)  # HTTP/2 carries it as :authority only
    return out


class TestStream:
    """One stream: send signed parts, read output events, reset."""

    def __init__(self, client: H2TestClient, stream_id: int) -> None:
        self.client = client
        self.stream_id = stream_id
        self.status = 0
        self.headers: dict[str, str] = {}
        self.signer: EventSigner | None = None
        self._responded = asyncio.Event()
        self._chunks: deque[tuple[bytes, int]] = deque()
        self._readable = asyncio.Event()
        self.ended = False  # the server sent END_STREAM
        self.reset_code: int | None = None
        self.lost: str | None = None
        self._decoder = Decoder()
        self._events: deque[Message] = deque()
        self.received_bytes = 0

    # -- sending ----------------------------------------------------------------------

    async def send_part(self, part: BidiPart | str | bytes, padding: str | None = None) -> None:
        assert self.signer is not None
        await self.send_raw(self.signer.sign(encode_payload_part(BidiPart.of(part), padding)))

    async def end_input(self, end_frame: bool = True) -> None:
        """The signed end frame (unless told not to) and END_STREAM."""
        assert self.signer is not None
        data = self.signer.end_frame() if end_frame else b""
        await self.send_raw(data, end_stream=True)

    async def send_raw(self, data: bytes, end_stream: bool = False) -> None:
        await self.client.send(self, data, end_stream)

    def window(self) -> int:
        """How many bytes the server lets this stream send now."""
        return int(self.client.conn.local_flow_control_window(self.stream_id))

    def reset(self, error_code: int = ErrorCodes.CANCEL) -> None:
        self.client.conn.reset_stream(self.stream_id, error_code)
        self.client.flush()

    # -- receiving --------------------------------------------------------------------

    async def response(self) -> int:
        await self._responded.wait()
        if self.lost and not self.status:
            raise Reset(self.reset_code, self.lost)
        return self.status

    async def _next_chunk(self) -> bytes | None:
        while not self._chunks:
            if self.ended:
                return None
            if self.reset_code is not None or self.lost:
                raise Reset(self.reset_code, self.lost or "reset")
            self._readable.clear()
            await self._readable.wait()
        data, size = self._chunks.popleft()
        self.client.acknowledge(self.stream_id, size)
        return data

    async def body(self) -> bytes:
        chunks = []
        while (chunk := await self._next_chunk()) is not None:
            chunks.append(chunk)
        return b"".join(chunks)

    async def error(self) -> dict[str, Any]:
        """The JSON body of a refusal, with the error-type header as ``_header``."""
        document: dict[str, Any] = json.loads(await self.body())
        document["_header"] = self.headers.get("x-amzn-errortype")
        return document

    async def next_message(self) -> Message | None:
        """The next output event-stream message, None at END_STREAM."""
        while not self._events:
            chunk = await self._next_chunk()
            if chunk is None:
                self._decoder.close()
                return None
            self._events.extend(self._decoder.feed(chunk))
        return self._events.popleft()

    async def next_part(self) -> BidiPart | None:
        """The next output part (typed errors raise), None at END_STREAM."""
        while (message := await self.next_message()) is not None:
            part = parse_output_event(message)
            if part is not None:
                return part
        return None

    async def parts(self) -> list[BidiPart]:
        out = []
        while (part := await self.next_part()) is not None:
            out.append(part)
        return out

    @property
    def buffered(self) -> int:
        """Bytes received and not yet acknowledged (read)."""
        return sum(len(d) for d, _ in self._chunks)


class H2TestClient:
    """One HTTP/2 connection to the emulator."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 authority: str) -> None:  # fmt: skip
        self._reader = reader
        self._writer = writer
        self.authority = authority
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.streams: dict[int, TestStream] = {}
        self._window = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.terminated: h2.events.ConnectionTerminated | None = None
        self.closed = asyncio.Event()

    @classmethod
    async def connect(
        cls, url: str, ssl_context: ssl.SSLContext | None = None, alpn: bool = True
    ) -> H2TestClient:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "https" and ssl_context is None:
            raise ValueError("https needs an ssl_context")
        if ssl_context is not None and alpn:
            ssl_context.set_alpn_protocols(["h2"])
        assert parts.hostname is not None and parts.port is not None
        reader, writer = await asyncio.open_connection(
            parts.hostname, parts.port, ssl=ssl_context if parts.scheme == "https" else None
        )
        client = cls(reader, writer, parts.netloc)
        client.conn.initiate_connection()
        client.flush()
        client._task = asyncio.get_running_loop().create_task(client._read())
        return client

    @property
    def alpn(self) -> str | None:
        ssl_object = self._writer.get_extra_info("ssl_object")
        return None if ssl_object is None else ssl_object.selected_alpn_protocol()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)

    def acknowledge(self, stream_id: int, size: int) -> None:
        with contextlib.suppress(h2.exceptions.H2Error):
            self.conn.acknowledge_received_data(size, stream_id)
            self.flush()

    async def open(
        self,
        endpoint: str,
        *,
        headers: dict[str, str] | None = None,
        credentials: ReadOnlyCredentials = CREDENTIALS,
        region: str = "us-east-1",
        path: str | None = None,
        method: str = "POST",
        wait: bool = True,
        signed_at: str | None = None,
        unsigned: bool = False,
    ) -> TestStream:
        """Open a signed stream; with ``wait`` return once the response headers came."""
        path = path if path is not None else PATH.format(endpoint)
        if unsigned:
            signed = {"content-type": "application/vnd.amazon.eventstream", **(headers or {})}
        else:
            signed = sign_request(self.authority, path.partition("?")[0], headers or {},
                                  credentials, region, signed_at)  # fmt: skip
        stream_id = self.conn.get_next_available_stream_id()
        stream = TestStream(self, stream_id)
        self.streams[stream_id] = stream
        request = [
            (":method", method),
            (":scheme", "https" if self.alpn else "http"),
            (":authority", self.authority),
            (":path", path),
            *signed.items(),
            ("user-agent", "asyncsagemaker-tests"),
        ]
        self.conn.send_headers(stream_id, request)
        self.flush()
        seed = signed.get("authorization", "Signature=" + "0" * 64).rsplit("Signature=", 1)[1]
        stream.signer = EventSigner(seed, credentials, region)
        if wait:
            await stream.response()
        return stream

    async def send(self, stream: TestStream, data: bytes, end_stream: bool) -> None:
        view = memoryview(data)
        while True:
            if stream.reset_code is not None or stream.lost:
                raise Reset(stream.reset_code, stream.lost or "reset")
            window = self.conn.local_flow_control_window(stream.stream_id)
            size = min(window, self.conn.max_outbound_frame_size, len(view))
            if size <= 0 and view:
                event = self._window
                await event.wait()
                continue
            last = end_stream and size == len(view)
            self.conn.send_data(stream.stream_id, bytes(view[:size]), end_stream=last)
            self.flush()
            await self._writer.drain()
            view = view[size:]
            if not view:
                return

    async def _read(self) -> None:
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                try:
                    events = self.conn.receive_data(data)
                except h2.exceptions.ProtocolError:
                    break
                for event in events:
                    self._dispatch(event)
                self.flush()
        except (ConnectionError, OSError):
            pass
        finally:
            for stream in self.streams.values():
                if not stream.ended and stream.reset_code is None:
                    stream.lost = stream.lost or "connection lost"
                stream._readable.set()
                stream._responded.set()
            self._wake()
            self.closed.set()

    def _wake(self) -> None:
        self._window.set()
        self._window = asyncio.Event()

    def _dispatch(self, event: h2.events.Event) -> None:
        stream = self.streams.get(getattr(event, "stream_id", 0) or 0)
        if isinstance(event, h2.events.ResponseReceived) and stream is not None:
            stream.headers = {str(k): str(v) for k, v in event.headers or ()}
            stream.status = int(stream.headers[":status"])
            stream._responded.set()
        elif isinstance(event, h2.events.DataReceived) and stream is not None:
            data = event.data or b""
            stream._chunks.append((data, event.flow_controlled_length or 0))
            stream.received_bytes += len(data)
            stream._readable.set()
        elif isinstance(event, h2.events.StreamEnded) and stream is not None:
            stream.ended = True
            stream._readable.set()
        elif isinstance(event, h2.events.StreamReset) and stream is not None:
            stream.reset_code = int(event.error_code or 0)
            stream._readable.set()
            stream._responded.set()
            self._wake()
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self._wake()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.terminated = event
            for open_stream in self.streams.values():
                if not open_stream.ended:
                    open_stream.lost = "GOAWAY"
                open_stream._readable.set()
                open_stream._responded.set()
            self._wake()

    async def close(self) -> None:
        with contextlib.suppress(h2.exceptions.H2Error):
            self.conn.close_connection()
            self.flush()
        self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 2)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def __aenter__(self) -> H2TestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
