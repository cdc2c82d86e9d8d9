"""``InvokeEndpointWithBidirectionalStream`` on the emulator's HTTP/2 listener.

One stream goes through the steps the service takes: route on ``:path`` (a
trailing ``?`` is fine), check the request signature (payload hash
``STREAMING-AWS4-HMAC-SHA256-EVENTS``, host = ``:authority``), check the members,
find the endpoint and variant, apply the endpoint's refusal faults, open the model
(a container is connected here, so an unreachable one is a 424 before the
stream), and answer ``200``.  Then two directions run at once: the model pulls
the client's parts (each envelope's chunk signature checked, DATA acknowledged
only as it pulls), and every part it yields goes out within the client's window.

How a stream ends, as the client sees it (also in docs/bidirectional.md):

* a bad chunk signature, a malformed event or a part over ``max_part_bytes``: an
  ``:message-type error`` event (``:error-code`` ``InvalidSignatureException`` or
  ``InputValidationError``), END_STREAM, and RST_STREAM(NO_ERROR) for the input;
  the model is cancelled;
* the model raising: a ``ModelStreamError`` event (``ErrorCode`` ``StreamBroken``);
* the session limit: ``ModelStreamError`` (``ModelInvocationTimeExceeded``);
* the model finishing: END_STREAM, and RST_STREAM(NO_ERROR) if the client's input
  is still open (the response is complete; the request need not be).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import logging
import re
import ssl
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from typing import Any

from h2.errors import ErrorCodes

from .._bidi.events import (
    BidiPart,
    encode_error_event,
    encode_exception_event,
    encode_payload_part,
    parse_payload_part,
)
from .._bidi.model import MEMBERS as BIDI_MEMBERS
from .._bidi.signing import STREAMING_PAYLOAD, EventSignatureError, EventVerifier
from .._events import stream_fault_event
from ..errors import ParamValidationError, ProtocolError
from ..eventstream import DEFAULT_MAX_MESSAGE_BYTES, Decoder, Message
from ._bidi_faults import BidiFaults, bidi_error_reply
from ._bidi_models import ContainerStreamError, Opener, Runner, resolve_bidi_model
from ._bidi_types import BIDI_RECORDS_KEPT, BidiHandler, BidiInvocation, BidiOutput, BidiRecord
from ._bidi_websocket import WebSocketRefused
from ._faults import FaultTable, ModelErrorFault, model_error_reply
from ._h2server import H2Listener, H2Stream, StreamGone
from ._records import RecordRing
from ._replies import ACCOUNT_ID, REGION, ServiceReply
from ._sigv4 import MAX_SKEW, verify
from ._types import Outcome
from ._validation import Member, endpoint_name_violations, raise_if_any, violations

__all__ = ["BidiServer"]

logger = logging.getLogger("asyncsagemaker.emulator")

_ROUTE = re.compile(r"^/endpoints/(?P<name>[^/]*)/invocations-bidirectional-stream$")
_SIGNATURE = re.compile(r"Signature=([0-9a-f]{64})")
_SCOPE = re.compile(r"Credential=([^/\s]+)/\d{8}/([^/\s]+)/")
MEMBERS = tuple(
    Member(m.model_name, m.attribute, m.header.lower(), m.max_length, pattern=f"^{m.pattern}$")
    for m in BIDI_MEMBERS
)
#: The refusal of a stream to an endpoint whose model serves HTTP/1.1 calls only.  What
#: the service answers there is not documented; this is the emulator's choice.
NOT_BIDIRECTIONAL = (
    f"Endpoint {{name}} of account {ACCOUNT_ID} does not support bidirectional streaming: "
    "its model container does not accept bidirectional streams."
)
_ENVELOPE_OVERHEAD = 16 + 15 + 20 + 512  # framing, :date, :chunk-signature, inner headers
_NO_FAULTS = BidiFaults()


def render(reply: ServiceReply, request_id: str) -> tuple[list[tuple[str, str]], bytes]:
    """Response headers and JSON body of a refusal before the stream.

    The error type goes both in ``x-amzn-errortype`` (smithy-python reads it) and in
    the body as ``XAmznErrorType`` (the JS SDK reads that); modeled errors also carry
    ``ErrorCode``.
    """
    code = "InputValidationError" if reply.code == "ValidationError" else reply.code
    document: dict[str, Any] = {
        "__type": code,
        "XAmznErrorType": code,
        "Message": reply.message,
        "message": reply.message,
    }
    if code in ("InputValidationError", "ModelError", "InternalServerError",
                "ServiceUnavailableError"):  # fmt: skip
        document["ErrorCode"] = code
    document.update(reply.extra)
    headers = [
        ("content-type", "application/json"),
        ("x-amzn-requestid", request_id),
        ("x-amzn-errortype", code),
    ]
    return headers, json.dumps(document).encode()


class _Failure(Exception):
    """Why the emulator ends a running stream itself: the event to send, the outcome."""

    def __init__(self, event: bytes, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.event = event
        self.outcome = outcome


class _PartTooLarge(ProtocolError):
    """An input part over ``BidiFaults.max_part_bytes``."""


class _InputParts:
    """The client's parts as the model pulls them: unwrapped, verified, parsed.

    DATA is read (and so acknowledged to the client) only when the model asks for
    a part and none is decoded yet.  A fault found after good parts in the same
    DATA frame waits until those parts were taken.
    """

    def __init__(self, session: _Session, verifier: EventVerifier | None, faults: BidiFaults):
        self._session = session
        self._stream = session.stream
        self._record = session.record
        self._verifier = verifier
        self._limit = faults.max_part_bytes
        limit = DEFAULT_MAX_MESSAGE_BYTES if self._limit is None else self._limit
        self._envelopes = Decoder(limit + _ENVELOPE_OVERHEAD)
        self._pending: deque[BidiPart] = deque()
        self._failure: _Failure | None = None
        self._ended = False

    def __aiter__(self) -> _InputParts:
        return self

    async def __anext__(self) -> BidiPart:
        while not self._pending:
            if self._failure is not None:
                self._session.fail(self._failure)
                raise asyncio.CancelledError  # the model stops here, as if cancelled
            if self._ended and self._stream.input_ended:
                raise StopAsyncIteration
            try:
                data = await self._stream.read()
            except StreamGone:
                raise asyncio.CancelledError from None  # the client went; so does the model
            try:
                self._take(data)
            except EventSignatureError as exc:
                self._failure = _Failure(
                    encode_error_event("InvalidSignatureException", str(exc)),
                    "bad_signature",
                    str(exc),
                )
            except ProtocolError as exc:
                message = str(exc)
                outcome: Outcome = "bad_input"
                if isinstance(exc, _PartTooLarge):
                    outcome = "fault:max_part_bytes"
                elif self._limit is not None and "exceeds max_message_bytes" in message:
                    outcome = "fault:max_part_bytes"  # refused from its prelude alone
                    message = f"an input event exceeds the maximum part size of {self._limit} bytes"
                event = encode_error_event("InputValidationError", message)
                self._failure = _Failure(event, outcome, message)
        part = self._pending.popleft()
        self._record.parts_received += 1
        self._record.bytes_received += len(part.data)
        return part

    def _take(self, data: bytes) -> None:
        if not data:  # END_STREAM
            self._envelopes.close()
            if self._verifier is not None:
                self._verifier.finish()
            self._ended = True
            return
        for envelope in self._envelopes.feed(data):
            inner = self._unwrap(envelope)
            if inner is None:
                continue
            decoder = Decoder()
            messages = decoder.feed(inner)
            decoder.close()
            if len(messages) != 1:
                raise ProtocolError("an envelope's payload must be exactly one event message")
            part = parse_payload_part(messages[0])
            if self._limit is not None and len(part.data) > self._limit:
                raise _PartTooLarge(
                    f"a part of {len(part.data)} bytes exceeds the maximum part size of "
                    f"{self._limit} bytes"
                )
            self._pending.append(part)

    def _unwrap(self, envelope: Message) -> bytes | None:
        """The inner message, or None for the end frame; signatures checked when configured."""
        if self._ended:
            raise ProtocolError("an input event arrived after the end frame")
        verifier = self._verifier
        if verifier is not None:
            inner = verifier.verify(envelope)
            record = self._record
            record.signatures_checked = verifier.count
            if len(record.signing_keys) != len(verifier.key_ids):
                record.signing_keys = list(verifier.key_ids)
        else:
            inner = envelope.payload or None
        if inner is None:
            self._ended = True
        return inner


class _Session:
    """One accepted stream: the model running, its output pumped, and how it ended."""

    def __init__(
        self,
        stream: H2Stream,
        record: BidiRecord,
        inv: BidiInvocation,
        runner: Runner,
        faults: BidiFaults,
        verifier: EventVerifier | None,
    ) -> None:
        self.stream = stream
        self.record = record
        self._inv = inv
        self._runner = runner
        self._faults = faults
        self._verifier = verifier
        self._pump: asyncio.Task[None] | None = None
        self._failure: _Failure | None = None
        self._ending: bytes | None = None  # a last event the pump asked for (a fault)

    def fail(self, failure: _Failure) -> None:
        """End the stream with ``failure``'s event: the model is cancelled first."""
        if self._failure is None:
            self._failure = failure
        if self._pump is not None:
            self._pump.cancel()

    def _expire(self) -> None:
        limit = self._faults.max_session_seconds
        message = f"The session reached its maximum length of {limit} seconds."
        event = encode_exception_event("ModelStreamError", message, "ModelInvocationTimeExceeded")
        self.fail(_Failure(event, "fault:max_session_seconds", message))

    async def run(self) -> None:
        stream, record = self.stream, self.record
        await stream.respond(
            200,
            [
                ("content-type", "application/vnd.amazon.eventstream"),
                ("x-amzn-requestid", self._inv.request_id),
                ("x-amzn-invoked-production-variant", self._inv.variant),
            ],
        )
        record.status = 200
        parts = _InputParts(self, self._verifier, self._faults)
        pump = self._pump = asyncio.get_running_loop().create_task(self._send(parts))
        limit = self._faults.max_session_seconds
        timer = asyncio.get_running_loop().call_later(limit, self._expire) if limit else None
        try:
            await asyncio.wait({pump})
        except asyncio.CancelledError:  # reset by the client, connection lost, shutdown
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
            self._lost()
            raise
        finally:
            if timer is not None:
                timer.cancel()
        await self._end(pump)

    def _lost(self) -> None:
        stream, record = self.stream, self.record
        if stream.reset_code is not None:
            record.outcome = "client_reset"
            record.reset_code = stream.reset_code
        elif record.outcome == "pending":
            gone = stream.gone
            closing = gone is not None and "shutting down" in gone.reason
            record.outcome = "server_closed" if closing else "client_disconnected"

    async def _end(self, pump: asyncio.Task[None]) -> None:
        stream, record = self.stream, self.record
        if stream.gone is not None:
            if record.outcome == "pending":
                self._lost()
            return
        if pump.cancelled():
            failure = self._failure
            if failure is None:  # the input side saw the client go
                self._lost()
                return
            record.outcome, record.error = failure.outcome, str(failure)
            await stream.send(failure.event, end_stream=True)
            return
        error = pump.exception()
        if error is not None:
            if isinstance(error, StreamGone):
                self._lost()
                return
            logger.info(
                "emulator: bidirectional model for %s failed: %r", record.endpoint_name, error
            )
            message = f"Model stream broken: {type(error).__name__}: {error}"
            record.outcome, record.error = "error", message
            event = encode_exception_event("ModelStreamError", message, "StreamBroken")
            await stream.send(event, end_stream=True)
            return
        if self._ending is not None:
            await stream.send(self._ending, end_stream=True)
        elif not stream.output_ended:
            await stream.end()
        if record.outcome == "pending":
            record.outcome = "ok"

    async def _send(self, parts: _InputParts) -> None:
        """Pull the model's output and send it, applying the stream faults."""
        faults, stream, record = self._faults, self.stream, self.record
        outputs: AsyncIterator[BidiOutput] = self._runner(parts)
        finished = False
        stalled = False
        try:
            while True:
                sent = record.parts_sent
                if faults.stall_seconds > 0 and not stalled and sent == faults.stall_after:
                    stalled = True
                    await asyncio.sleep(faults.stall_seconds)
                if faults.stream_error_after == sent:
                    record.outcome = "fault:stream_error_after"
                    self._ending = stream_fault_event(faults.stream_error, faults.stream_error_code)
                    return
                if faults.reset_after == sent:
                    record.outcome = "fault:reset_after"
                    stream.reset(ErrorCodes.INTERNAL_ERROR)
                    return
                if faults.goaway_after == sent:
                    record.outcome = "fault:goaway_after"
                    await stream.close_connection(ErrorCodes.NO_ERROR)
                    return
                try:
                    item = await outputs.__anext__()
                except StopAsyncIteration:
                    finished = True
                    return
                except ContainerStreamError:
                    finished = True
                    raise
                try:
                    part = BidiPart.of(item)
                except ParamValidationError as exc:
                    raise TypeError(f"a bidirectional model yielded {exc}") from None
                await stream.send(encode_payload_part(part))
                record.parts_sent = sent + 1
                record.bytes_sent += len(part.data)
        finally:
            record.model_cancelled = not finished
            close = getattr(outputs, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()


class BidiServer:
    """The emulator's HTTP/2 side: listener, endpoints, faults and records of its streams."""

    def __init__(
        self,
        models: Mapping[str, BidiHandler | str],
        *,
        credentials: Callable[[], Mapping[str, str] | None],
        pick_variant: Callable[[str, str | None], str],
        http_endpoints: Callable[[], Collection[str]] = tuple,
        faults: Mapping[str, BidiFaults] | None = None,
        token_delay: float = 0.02,
        host: str = "127.0.0.1",
        port: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        for name in models:
            if endpoint_name_violations(name):
                raise ValueError(f"endpoint name {name!r} is not a valid SageMaker endpoint name")
        self._models: dict[str, Opener] = {
            name: resolve_bidi_model(spec, token_delay) for name, spec in models.items()
        }
        self._credentials = credentials
        self._pick_variant = pick_variant
        self._http_endpoints = http_endpoints
        self._faults = FaultTable(BidiFaults, faults)
        self.records: RecordRing[BidiRecord] = RecordRing(BIDI_RECORDS_KEPT, body_limit=None)
        self._host = host
        self._port = port
        self._ssl = ssl_context
        self._listener: H2Listener | None = None

    @property
    def endpoints(self) -> list[str]:
        return list(self._models)

    @property
    def faults(self) -> Mapping[str, BidiFaults]:
        return self._faults.mapping

    def set_faults(self, endpoint: str, faults: BidiFaults | None) -> None:
        self._faults.set(endpoint, faults)

    @property
    def url(self) -> str:
        if self._listener is None:
            raise RuntimeError(
                "no HTTP/2 listener: make the emulator with bidi_port=0 (or a port) and start it"
            )
        host = f"[{self._host}]" if ":" in self._host else self._host
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://{host}:{self._listener.port}"

    async def start(self) -> None:
        if self._port is None or self._listener is not None:
            return
        listener = H2Listener(self._serve, self._host, self._port, self._ssl)
        await listener.start()
        self._listener = listener

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()

    # --- one stream ------------------------------------------------------------------

    async def _serve(self, stream: H2Stream) -> None:
        request_id = str(uuid.uuid4())
        headers: dict[str, str] = {}
        for name, value in stream.headers:
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        path = headers.get(":path", "").partition("?")[0]
        route = _ROUTE.match(path)
        record = BidiRecord(
            request_id=request_id,
            endpoint_name=urllib.parse.unquote(route["name"]) if route else "",
            headers=headers,
            started=time.monotonic(),
        )
        self.records.append(record)
        try:
            try:
                session = await self._open(stream, record, route is not None)
            except ServiceReply as reply:
                record.status, record.outcome, record.error = (
                    reply.status,
                    reply.outcome,
                    reply.message,
                )
                reply_headers, body = render(reply, request_id)
                await stream.respond(reply.status, reply_headers)
                await stream.send(body, end_stream=True)
                return
            await session.run()
        except asyncio.CancelledError:
            if record.outcome == "pending":
                record.outcome = (
                    "client_reset" if stream.reset_code is not None else "server_closed"
                )
                record.reset_code = stream.reset_code
            raise
        except StreamGone:
            if record.outcome == "pending":
                record.outcome = "client_disconnected"
        finally:
            record.ended = time.monotonic()
            _log(headers.get(":method", "-"), record)

    async def _open(self, stream: H2Stream, record: BidiRecord, routed: bool) -> _Session:
        """Every check before the stream starts; a refusal raises ServiceReply."""
        headers = record.headers
        if not routed or headers.get(":method") != "POST":
            raise ServiceReply(404, "UnknownOperationException", "Unknown operation")
        received = [(n, v) for n, v in stream.headers if not n.startswith(":")]
        received.append(("host", headers.get(":authority", "")))
        credentials = self._credentials()
        verify("POST", headers[":path"], received, b"", credentials, payload_hash=STREAMING_PAYLOAD)
        verifier = self._verifier(headers, credentials)
        if verifier is not None:
            record.signing_keys = list(verifier.key_ids)
        name = record.endpoint_name
        values = {m.attribute: headers.get(m.header) for m in MEMBERS}
        problems = endpoint_name_violations(name)
        for member in MEMBERS:
            value = values[member.attribute]
            if value is not None:
                problems += violations(member, value)
        raise_if_any(problems)
        opener = self._models.get(name)
        if opener is None:
            if name in self._http_endpoints():  # served, but by a model of HTTP/1.1 calls only
                raise ServiceReply.validation(NOT_BIDIRECTIONAL.format(name=name))
            raise ServiceReply.validation(f"Endpoint {name} of account {ACCOUNT_ID} not found.")
        variant = self._pick_variant(name, values["target_variant"])
        record.variant = variant
        faults = self._faults.get(name) or _NO_FAULTS
        reply = bidi_error_reply(faults, name, self._faults.counter.next(name))
        if reply is not None:
            raise reply
        inv = BidiInvocation(
            endpoint_name=name,
            target_variant=values["target_variant"],
            model_invocation_path=values["model_invocation_path"],
            model_query_string=values["model_query_string"],
            headers=dict(headers),
            variant=variant,
            request_id=record.request_id,
        )
        try:
            runner = await opener(inv)
        except WebSocketRefused as refused:
            raise _container_reply(name, refused) from None
        return _Session(stream, record, inv, runner, faults, verifier)

    @staticmethod
    def _verifier(
        headers: Mapping[str, str], credentials: Mapping[str, str] | None
    ) -> EventVerifier | None:
        """The chunk-signature checker, chained from the request's signature (the seed)."""
        if credentials is None:
            return None
        authorization = headers.get("authorization", "")
        seed, scope = _SIGNATURE.search(authorization), _SCOPE.search(authorization)
        if seed is None or scope is None:  # verify() refused these already
            raise ServiceReply(403, "InvalidSignatureException", "Malformed Authorization header")
        secret = credentials[scope[1]]
        # Every known key may sign the later events: the client's credentials may be
        # refreshed mid-stream, and the AWS SDKs then sign with the new ones.
        return EventVerifier(seed[1], secret, scope[2], max_skew=MAX_SKEW,
                             clock=lambda: _dt.datetime.now(_dt.timezone.utc),
                             keys=credentials, access_key=scope[1])  # fmt: skip


def _log(method: str, record: BidiRecord) -> None:
    """One line per stream, as the HTTP/1.1 listener logs one per request (docs/cli.md)."""
    logger.info(
        "%s %s %s -> %s parts=%d received=%d %.3fs %s",
        method,
        record.endpoint_name or "-",
        record.operation,
        record.status or "-",
        record.parts_sent,
        record.parts_received,
        (record.ended or record.started) - record.started,
        record.outcome,
    )


def _container_reply(endpoint: str, refused: WebSocketRefused) -> ServiceReply:
    """424 ``ModelError``: the container could not be reached, or refused the WebSocket."""
    if refused.status:
        fault = ModelErrorFault(refused.status, refused.message)
        return model_error_reply(endpoint, fault, outcome="error")
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    message = f"Failed to connect to the model container of endpoint {endpoint}: {refused.message}"
    extra = {"LogStreamArn": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{group}"}
    return ServiceReply(424, "ModelError", message, extra=extra, outcome="error")
