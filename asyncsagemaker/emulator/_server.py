"""The emulator: an aiohttp.web server speaking SageMaker Runtime's wire protocol.

One request goes through the same steps the service takes: route on the raw
path, read the body, check the signature, check the members, find the endpoint
and variant, apply request faults, run the model, answer (whole, streamed, or
accepted for later).  Every step that refuses raises a ``ServiceReply``, which is
rendered in one place, with ``x-amzn-RequestId`` on every answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import re
import ssl
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

from aiohttp import web

from ._async import AsyncStore
from ._bidi import BidiServer
from ._bidi_faults import BidiFaults
from ._bidi_models import bidi_specs
from ._bidi_types import BidiHandler, BidiRecord
from ._demo_chat import check_dialect
from ._faults import Faults, FaultTable, ModelErrorFault, error_reply, model_error_reply
from ._models import ContainerError, call_model, close_model, resolve_model
from ._records import DEFAULT_BODY_LIMIT, DEFAULT_MAX_RECORDS, RecordRing
from ._replies import ACCOUNT_ID, ServiceReply, render
from ._sessions import DEFAULT_SESSION_TTL, SessionError, SessionTable
from ._sigv4 import verify
from ._streaming import StreamSender
from ._types import (
    ASYNC,
    INVOKE,
    NEW_SESSION,
    STREAM,
    Handler,
    Invocation,
    ModelResponse,
    RequestRecord,
)
from ._validation import MAX_BODY, check_body_size, endpoint_name_violations, read_members

__all__ = ["DEFAULT_MODELS", "Emulator"]

logger = logging.getLogger("asyncsagemaker.emulator")

DEFAULT_MODELS: Mapping[str, str] = MappingProxyType({"echo": "echo", "demo": "demo"})
DEFAULT_VARIANT = "AllTraffic"
_OPERATIONS = {
    "invocations": INVOKE,
    "invocations-response-stream": STREAM,
    "async-invocations": ASYNC,
}
_ROUTE = re.compile(r"^/endpoints/(?P<name>[^/]*)/(?P<op>[a-z-]+)$")
_READ_LIMIT = 2 * MAX_BODY  # beyond this the body is not even read
_SHUTDOWN_GRACE = 5.0
DEFAULT_BODY_TIMEOUT = 30.0


def _joined_headers(request: web.BaseRequest) -> dict[str, str]:
    """Received headers with lower-case names; repeated headers joined with ','."""
    joined: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


class Emulator:
    """A local SageMaker Runtime; see docs/emulator.md.

    ``models`` maps endpoint names to handlers or specs (``"echo"``, ``"demo"``,
    ``"pkg.module:function"``, ``"container:http://127.0.0.1:PORT"``); ``None``
    serves ``echo`` and ``demo``.  ``credentials`` maps access key ids to secrets
    and turns on exact signature checks.  ``faults`` and ``variants`` are per
    endpoint.  ``max_records`` and ``record_body_limit`` bound what
    :attr:`records` keeps; ``body_timeout`` is how long a request body may take to
    arrive after its headers; ``session_ttl`` the lifetime of a stateful session
    whose model gives no expiry.  ``ssl_context`` (a server context with its
    certificate loaded) serves HTTPS.  ``dialect`` is the model server whose chat
    answers the ``demo`` model imitates (``"vllm"``, ``"sglang"``, ``"tgi"``, ...).
    ``bidi_port`` opens the HTTP/2 listener for bidirectional streams (``0``: a free
    port; ``None``: none), serving ``bidi_models`` (default: the ``echo``, ``demo``
    and ``container:`` specs of ``models``) with ``bidi_faults``, over TLS too with
    ``ssl_context``; see docs/bidirectional.md.  Use ``async with`` or
    ``start()``/``close()``.
    """

    def __init__(
        self,
        models: Mapping[str, Handler | str] | None = None,
        credentials: Mapping[str, str] | None = None,
        faults: Mapping[str, Faults] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token_delay: float = 0.02,
        async_output_dir: str | Path | None = None,
        variants: Mapping[str, Mapping[str, float]] | None = None,
        bidi_port: int | None = None,
        bidi_models: Mapping[str, BidiHandler | str] | None = None,
        bidi_faults: Mapping[str, BidiFaults] | None = None,
        max_records: int = DEFAULT_MAX_RECORDS,
        record_body_limit: int | None = DEFAULT_BODY_LIMIT,
        body_timeout: float | None = DEFAULT_BODY_TIMEOUT,
        session_ttl: float = DEFAULT_SESSION_TTL,
        ssl_context: ssl.SSLContext | None = None,
        dialect: str = "default",
    ) -> None:
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError(
                f"ssl_context must be an ssl.SSLContext, not {type(ssl_context).__name__}"
            )
        if body_timeout is not None and not body_timeout > 0:
            raise ValueError(f"body_timeout must be > 0 seconds or None, got {body_timeout!r}")
        check_dialect(dialect)
        specs = DEFAULT_MODELS if models is None else models
        for name in specs:
            if endpoint_name_violations(name):
                raise ValueError(f"endpoint name {name!r} is not a valid SageMaker endpoint name")
        self._models: dict[str, Handler] = {
            name: resolve_model(spec, token_delay, dialect) for name, spec in specs.items()
        }
        self.credentials: Mapping[str, str] | None = (
            dict(credentials) if credentials is not None else None
        )
        self._faults = FaultTable(Faults, faults)
        self._variants = self._check_variants(variants or {})
        self.host = host
        self.port = port
        self.token_delay = token_delay
        self.dialect = dialect
        self.records: RecordRing[RequestRecord] = RecordRing(max_records, record_body_limit)
        self._sessions = SessionTable(session_ttl)
        self.ssl_context = ssl_context
        self.body_timeout = body_timeout
        self._async_dir = Path(async_output_dir) if async_output_dir is not None else None
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        self._store: AsyncStore | None = None
        self._runner: web.AppRunner | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False
        self._random = random.Random()
        self._bidi = BidiServer(
            bidi_specs(specs) if bidi_models is None else bidi_models,
            credentials=lambda: self.credentials,
            pick_variant=self._pick_variant,
            faults=bidi_faults,
            token_delay=token_delay,
            host=host,
            port=bidi_port,
            ssl_context=ssl_context,
        )

    # --- configuration ----------------------------------------------------------

    def _check_variants(
        self, variants: Mapping[str, Mapping[str, float]]
    ) -> dict[str, dict[str, float]]:
        checked: dict[str, dict[str, float]] = {}
        for endpoint, weights in variants.items():
            if endpoint not in self._models:
                raise ValueError(f"variants given for unknown endpoint {endpoint!r}")
            if not weights or any(weight < 0 for weight in weights.values()):
                raise ValueError(f"endpoint {endpoint!r}: variant weights must be >= 0")
            if sum(weights.values()) <= 0:
                raise ValueError(f"endpoint {endpoint!r}: variant weights must not all be 0")
            for variant in weights:
                if endpoint_name_violations(variant):
                    raise ValueError(f"variant name {variant!r} is not valid")
            checked[endpoint] = dict(weights)
        return checked

    @property
    def endpoints(self) -> list[str]:
        """The endpoint names served."""
        return list(self._models)

    @property
    def faults(self) -> Mapping[str, Faults]:
        """The faults in force, per endpoint (change them with :meth:`set_faults`)."""
        return self._faults.mapping

    def set_faults(self, endpoint: str, faults: Faults | None) -> None:
        """Set (or with ``None`` clear) an endpoint's faults and restart its request count.

        Safe to call from another thread while the emulator runs.
        """
        self._faults.set(endpoint, faults)

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` once started (``https://`` with an ``ssl_context``)."""
        if self._runner is None:
            raise RuntimeError("the emulator is not running: use 'async with' or await start()")
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def signature_checks(self) -> str:
        """What is checked of each request's SigV4 signature, in a few words."""
        if self.credentials is None:
            return "any well-formed SigV4 accepted"
        keys = len(self.credentials)
        return f"checked exactly for {keys} key{'s' if keys != 1 else ''}"

    @property
    def bidi_url(self) -> str:
        """``http://HOST:PORT`` (``https://`` with an ``ssl_context``) of the HTTP/2 listener."""
        return self._bidi.url

    @property
    def bidi_records(self) -> RecordRing[BidiRecord]:
        """One record per bidirectional stream, the newest last (the last 1,000 are kept)."""
        return self._bidi.records

    def set_bidi_faults(self, endpoint: str, faults: BidiFaults | None) -> None:
        """Set (or with ``None`` clear) an endpoint's bidirectional-stream faults."""
        self._bidi.set_faults(endpoint, faults)

    @property
    def async_output_dir(self) -> Path:
        """The directory standing in for S3 (a temporary one unless given)."""
        if self._store is None:
            raise RuntimeError("the emulator is not running")
        return self._store.root

    # --- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start serving; ``port=0`` picks a free port (see :attr:`url`)."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self._closing = False
        if self._async_dir is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="sagemaker-emulator-")
            root = Path(self._temporary.name)
        else:
            root = self._async_dir
            root.mkdir(parents=True, exist_ok=True)
        self._store = AsyncStore(root)
        app = web.Application(client_max_size=_READ_LIMIT)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context).start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = int(runner.addresses[0][1])
        self._runner = runner
        try:
            await self._bidi.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop serving, finish or cancel pending async invocations, release models."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._closing = True
        await self._bidi.close()
        await runner.cleanup()
        if self._background:
            _, pending = await asyncio.wait(self._background, timeout=_SHUTDOWN_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for handler in self._models.values():
            await close_model(handler)
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # --- one request -----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        path = request.raw_path.partition("?")[0]
        if path == "/ping" and request.method in ("GET", "HEAD"):
            return web.Response(status=200, headers={"x-amzn-RequestId": request_id})
        route = _ROUTE.match(path)
        operation = _OPERATIONS.get(route["op"], "") if route else ""
        name = urllib.parse.unquote(route["name"]) if route else ""
        record = RequestRecord(
            request_id=request_id,
            operation=operation,
            endpoint_name=name,
            headers=_joined_headers(request),
            started=time.monotonic(),
        )
        self.records.append(record)
        detached = False
        try:
            if not operation or request.method != "POST":
                raise ServiceReply(404, "UnknownOperationException", "Unknown operation")
            response, detached = await self._serve(request, record)
            return response
        except ServiceReply as reply:
            record.status = reply.status
            record.outcome = reply.outcome
            if reply.close:
                return await _answer_and_close(request, render(reply, request_id))
            return render(reply, request_id)
        except asyncio.CancelledError:
            if record.outcome == "pending":
                record.outcome = "error" if self._closing else "client_disconnected"
            raise
        except Exception:
            logger.exception("emulator: unexpected failure serving %s", path)
            record.outcome = "error"
            if record.status:
                raise
            record.status = 500
            failure = ServiceReply(500, "InternalFailure", "The emulator failed unexpectedly.")
            return render(failure, request_id)
        finally:
            if not detached and record.ended is None:
                record.ended = time.monotonic()
            self._log(request.method, record)

    def _log(self, method: str, record: RequestRecord) -> None:
        duration = time.monotonic() - record.started
        logger.info(
            "%s %s %s -> %s parts=%d %.3fs %s",
            method,
            record.endpoint_name or "-",
            record.operation or "-",
            record.status or "-",
            record.parts_sent,
            duration,
            record.outcome,
        )

    async def _read_body(self, request: web.Request, record: RequestRecord) -> bytes:
        """The whole body, within ``body_timeout`` of the headers (else 408, then close)."""
        try:
            return await asyncio.wait_for(self._receive(request, record), self.body_timeout)
        except asyncio.TimeoutError:
            raise ServiceReply(
                408,
                "RequestTimeoutException",
                f"The request body did not arrive within {self.body_timeout:g} seconds "
                f"({record.body_size} bytes received).",
                outcome="body_timeout",
                close=True,
            ) from None

    async def _receive(self, request: web.Request, record: RequestRecord) -> bytes:
        chunks: list[bytes] = []
        async for chunk in request.content.iter_any():
            self.records.add_body(record, chunk)
            if record.body_size > _READ_LIMIT:
                check_body_size(record.operation, record.body_size)  # too big for any operation
            chunks.append(chunk)
        return b"".join(chunks)

    async def _serve(
        self, request: web.Request, record: RequestRecord
    ) -> tuple[web.StreamResponse, bool]:
        """The response, and whether the record is finished later (async work)."""
        operation, name = record.operation, record.endpoint_name
        body = await self._read_body(request, record)
        verify(request.method, request.raw_path, list(request.headers.items()), body,
               self.credentials)  # fmt: skip
        members = read_members(operation, name, record.headers)
        check_body_size(operation, len(body))
        handler, variant, faults = self._route(name, members)
        fields = {key: value for key, value in members.items() if key in _INVOCATION_FIELDS}
        inv = Invocation(
            endpoint_name=name,
            operation=operation,
            body=body,
            headers=MappingProxyType(dict(record.headers)),
            variant=variant,
            request_id=record.request_id,
            **fields,
        )
        if operation == ASYNC:
            return await self._accept_async(handler, inv, members, record), True
        answer = await self._run_model(handler, inv)
        if operation == INVOKE:
            if faults is not None and faults.stall_seconds > 0:
                await asyncio.sleep(faults.stall_seconds)
            return await self._respond_whole(answer, inv, record), False
        return await self._respond_stream(request, answer, inv, record, faults), False

    def _route(
        self, name: str, members: Mapping[str, str | None]
    ) -> tuple[Handler, str, Faults | None]:
        """The endpoint's model, the variant and faults, once the service would let the
        request through (endpoint known, no request fault, session open)."""
        handler = self._models.get(name)
        if handler is None:
            raise ServiceReply.validation(f"Endpoint {name} of account {ACCOUNT_ID} not found.")
        variant = self._pick_variant(name, members.get("target_variant"))
        faults = self._faults.get(name)
        served = self._faults.counter.next(name)
        if faults is not None:
            reply = error_reply(faults, name, served)
            if reply is not None:
                raise reply
        session_id = members.get("session_id")
        if session_id is not None and session_id != NEW_SESSION:
            self._sessions.check(name, session_id)
        return handler, variant, faults

    def _pick_variant(self, endpoint: str, target: str | None) -> str:
        weights = self._variants.get(endpoint, {DEFAULT_VARIANT: 1.0})
        if target is not None:
            if target not in weights:
                raise ServiceReply.validation(
                    f"Variant {target} not found for endpoint {endpoint} of account {ACCOUNT_ID}."
                )
            return target
        names = list(weights)
        return self._random.choices(names, weights=[weights[n] for n in names])[0]

    async def _run_model(self, handler: Handler, inv: Invocation) -> ModelResponse:
        try:
            return await call_model(handler, inv)
        except ContainerError as failure:
            raise model_error_reply(inv.endpoint_name, failure.fault, "error") from None
        except Exception as exc:
            logger.info("emulator: model for %s raised %r", inv.endpoint_name, exc)
            raise _model_failed(inv.endpoint_name, f"{type(exc).__name__}: {exc}") from None

    def _answer_headers(self, answer: ModelResponse, inv: Invocation) -> dict[str, str]:
        headers = {
            "x-amzn-RequestId": inv.request_id,
            "x-Amzn-Invoked-Production-Variant": inv.variant,
        }
        if answer.custom_attributes is not None:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = answer.custom_attributes
        return headers

    async def _respond_whole(
        self, answer: ModelResponse, inv: Invocation, record: RequestRecord
    ) -> web.Response:
        body = answer.body
        if not isinstance(body, bytes):
            body = await _collect(body, inv)
        headers = self._answer_headers(answer, inv)
        headers["Content-Type"] = answer.content_type or "application/json"
        try:
            if answer.new_session_id is not None:
                opened = self._sessions.open(inv.endpoint_name, answer.new_session_id)
                headers["X-Amzn-SageMaker-New-Session-Id"] = opened
            if answer.closed_session_id is not None:
                closed = self._sessions.close(inv.endpoint_name, answer.closed_session_id)
                headers["X-Amzn-SageMaker-Closed-Session-Id"] = closed
        except SessionError as exc:
            raise _model_failed(inv.endpoint_name, str(exc)) from None
        record.status = 200
        record.outcome = "ok"
        return web.Response(status=200, body=body, headers=headers)

    async def _respond_stream(
        self,
        request: web.Request,
        answer: ModelResponse,
        inv: Invocation,
        record: RequestRecord,
        faults: Faults | None,
    ) -> web.StreamResponse:
        if answer.new_session_id is not None or answer.closed_session_id is not None:
            await _close_parts(answer.body)
            raise _model_failed(
                inv.endpoint_name,
                "a streamed answer cannot open or close a session: "
                "InvokeEndpointWithResponseStream has no session headers",
            )
        headers = self._answer_headers(answer, inv)
        headers["X-Amzn-SageMaker-Content-Type"] = answer.content_type or "application/json"
        headers["Content-Type"] = "application/vnd.amazon.eventstream"
        response = web.StreamResponse(status=200, headers=headers)
        response.enable_chunked_encoding()
        parts = _as_parts(answer.body)
        try:
            writer = await response.prepare(request)
            assert writer is not None  # a fresh response always gets a writer
            record.status = 200
            outcome = await StreamSender(request, response, writer, faults, record).run(parts)
            record.outcome = outcome  # final before the client can see the end
            if outcome not in ("fault:drop_after", "fault:drop_mid_frame_after"):
                await response.write_eof()
        except ConnectionError:
            record.outcome = "client_disconnected"
        finally:
            await _close_parts(parts)
        return response

    async def _accept_async(
        self,
        handler: Handler,
        inv: Invocation,
        members: Mapping[str, str | None],
        record: RequestRecord,
    ) -> web.Response:
        store = self._store
        assert store is not None
        input_location = members["input_location"]
        if input_location is None and not inv.body:
            raise ServiceReply.validation(
                "Provide exactly one of Body and InputLocation: neither was given."
            )
        if input_location is not None:
            if inv.body:
                raise ServiceReply.validation(
                    "Body and InputLocation are mutually exclusive. Provide exactly one of them."
                )
            store.path_for(input_location)  # a bad location is refused now, not later
        inference_id = inv.inference_id or str(uuid.uuid4())
        output, failure = store.plan(
            inv.endpoint_name, members["s3_output_path_extension"], members["filename"]
        )
        task = asyncio.create_task(
            self._run_async(handler, inv, input_location, output, failure, record)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        record.status = 202
        headers = {
            "x-amzn-RequestId": inv.request_id,
            "X-Amzn-SageMaker-OutputLocation": output,
            "X-Amzn-SageMaker-FailureLocation": failure,
        }
        return web.json_response({"InferenceId": inference_id}, status=202, headers=headers)

    async def _run_async(
        self,
        handler: Handler,
        inv: Invocation,
        input_location: str | None,
        output: str,
        failure: str,
        record: RequestRecord,
    ) -> None:
        store = self._store
        assert store is not None
        try:
            if input_location is not None:
                inv = _replace_body(inv, await store.read(input_location))
            answer = await self._run_model(handler, inv)
            body = answer.body
            data = body if isinstance(body, bytes) else await _collect(body, inv)
            await store.write(output, data)
            record.outcome = "ok"
        except asyncio.CancelledError:
            record.outcome = "error"
            raise
        except Exception as exc:
            message = exc.message if isinstance(exc, ServiceReply) else f"{exc}"
            record.outcome = "error"
            with contextlib.suppress(Exception):
                await store.write(failure, message.encode())
        finally:
            record.ended = time.monotonic()


def _model_failed(endpoint: str, message: str) -> ServiceReply:
    """424 ``ModelError``: the model failed (as a container answering 500 would)."""
    return model_error_reply(endpoint, ModelErrorFault(500, message), "error")


_INVOCATION_FIELDS = frozenset(item.name for item in dataclasses.fields(Invocation))


def _replace_body(inv: Invocation, body: bytes) -> Invocation:
    return dataclasses.replace(inv, body=body)


def _as_parts(body: bytes | AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The answer as parts: the model's own iterator, or bytes as one part (none if empty)."""
    if isinstance(body, bytes):
        return _single(body)
    return body


async def _single(body: bytes) -> AsyncIterator[bytes]:
    if body:
        yield body


async def _answer_and_close(request: web.Request, response: web.Response) -> web.Response:
    """Write ``response`` now and close the connection behind it (nothing more is read)."""
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    if request.transport is not None:
        request.transport.close()  # sends what is buffered first
    return response


async def _close_parts(parts: Any) -> None:
    close = getattr(parts, "aclose", None)
    if close is not None:
        await close()


async def _collect(parts: AsyncIterator[bytes], inv: Invocation) -> bytes:
    try:
        return b"".join([bytes(part) async for part in parts])
    finally:
        await _close_parts(parts)
