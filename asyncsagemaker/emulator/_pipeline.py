"""The HTTP/1.1 request pipeline: one request through the steps the service takes.

Route on the raw path (``_routes``), record the request, read the body,
authenticate as the route says, check the members, admit the request (endpoint,
variant, request faults, open session), then answer as its operation says: whole
(``_answer_whole``), streamed (``_answer_stream``) or accepted for later
(``_answer_async``).  Every step that refuses raises a ``ServiceReply``, rendered
in one place here with ``x-amzn-RequestId``, as on every answer; every request
ends with one log line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from aiohttp import web

from ._answer_async import AsyncInvocations
from ._answer_openai import answer_openai
from ._answer_stream import answer_stream
from ._answer_whole import answer_whole
from ._authentication import AuthSettings
from ._endpoint_table import EndpointTable
from ._faults import Faults, FaultTable, error_reply
from ._models import run_model
from ._records import RecordRing
from ._replies import ServiceReply, render
from ._routes import Route, find_route, is_health_check
from ._sessions import SessionTable
from ._types import (
    ASYNC,
    CHAT_COMPLETIONS,
    INVOKE,
    NEW_SESSION,
    STREAM,
    Handler,
    Invocation,
    RequestRecord,
)
from ._validation import READ_LIMIT, chat_stream_flag, check_body_size, read_members

__all__ = ["Admitted", "RequestPipeline", "Settings"]

logger = logging.getLogger("asyncsagemaker.emulator")

_INVOCATION_FIELDS = frozenset(item.name for item in dataclasses.fields(Invocation))


class Settings(AuthSettings, Protocol):
    """The emulator's settings the pipeline reads per request, so that a change applies at once."""

    @property
    def body_timeout(self) -> float | None: ...


@dataclass(frozen=True)
class Admitted:
    """A request the service lets through: its model, invocation, members and faults."""

    handler: Handler
    inv: Invocation
    members: Mapping[str, str | None]
    faults: Faults | None
    record: RequestRecord


#: An operation's answer: the response, and whether the record is finished later.
Answer = Callable[[web.Request, Admitted], Awaitable[tuple[web.StreamResponse, bool]]]


class RequestPipeline:
    """The steps of every request to the HTTP/1.1 listener, each a method, in order."""

    def __init__(
        self,
        settings: Settings,
        endpoints: EndpointTable,
        faults: FaultTable[Faults],
        records: RecordRing[RequestRecord],
        sessions: SessionTable,
        async_invocations: AsyncInvocations,
    ) -> None:
        self._settings = settings
        self._endpoints = endpoints
        self._faults = faults
        self._records = records
        self._sessions = sessions
        self._async = async_invocations
        self.closing = False  # while the emulator closes, a cancelled request is an error
        self._answers: dict[str, Answer] = {
            INVOKE: self._answer_whole,
            STREAM: self._answer_stream,
            ASYNC: self._accept,
            CHAT_COMPLETIONS: self._answer_openai,
        }

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler of every path: the steps, the record's outcome, a log line."""
        request_id = str(uuid.uuid4())
        path = request.raw_path.partition("?")[0]
        if is_health_check(request.method, path):
            return web.Response(status=200, headers={"x-amzn-RequestId": request_id})
        route = find_route(path)
        record = self._record(request, request_id, route)
        detached = False
        try:
            if not route.operation or request.method != "POST":
                raise ServiceReply(404, "UnknownOperationException", "Unknown operation")
            response, detached = await self._serve(request, route, record)
            return response
        except ServiceReply as reply:
            return await _refusal(request, reply, record, route)
        except asyncio.CancelledError:
            if record.outcome == "pending":
                record.outcome = "error" if self.closing else "client_disconnected"
            raise
        except Exception:
            logger.exception("emulator: unexpected failure serving %s", path)
            record.outcome = "error"
            if record.status:
                raise  # the answer has started: only the connection can tell
            return _internal_failure(record)
        finally:
            if not detached and record.ended is None:
                record.ended = time.monotonic()
            _log(request.method, record)

    def _record(self, request: web.Request, request_id: str, route: Route) -> RequestRecord:
        """The request's record, kept from the start so that a test sees every attempt."""
        record = RequestRecord(
            request_id=request_id,
            operation=route.operation,
            endpoint_name=route.endpoint_name,
            headers=_joined_headers(request),
            started=time.monotonic(),
        )
        self._records.append(record)
        return record

    async def _serve(
        self, request: web.Request, route: Route, record: RequestRecord
    ) -> tuple[web.StreamResponse, bool]:
        """The steps in the service's order; the response, and whether the record ends later."""
        body = await self._read_body(request, record)
        route.authenticate(request, body, self._settings)
        members = read_members(
            route.operation, route.endpoint_name, record.headers, route.component
        )
        check_body_size(route.operation, len(body))
        stream = chat_stream_flag(body) if route.operation == CHAT_COMPLETIONS else False
        admitted = self._admit(record, body, members, stream)
        return await self._answers[route.operation](request, admitted)

    async def _read_body(self, request: web.Request, record: RequestRecord) -> bytes:
        """The whole body, within ``body_timeout`` of the headers (else 408, then close)."""
        settings = self._settings
        try:
            return await asyncio.wait_for(self._receive(request, record), settings.body_timeout)
        except asyncio.TimeoutError:
            raise ServiceReply(
                408,
                "RequestTimeoutException",
                f"The request body did not arrive within {settings.body_timeout:g} seconds "
                f"({record.body_size} bytes received).",
                outcome="body_timeout",
                close=True,
            ) from None

    async def _receive(self, request: web.Request, record: RequestRecord) -> bytes:
        chunks: list[bytes] = []
        async for chunk in request.content.iter_any():
            self._records.add_body(record, chunk)
            if record.body_size > READ_LIMIT:
                check_body_size(record.operation, record.body_size)  # too big for any operation
            chunks.append(chunk)
        return b"".join(chunks)

    def _admit(
        self,
        record: RequestRecord,
        body: bytes,
        members: Mapping[str, str | None],
        stream: bool = False,
    ) -> Admitted:
        """Let the request through as the service would: endpoint known, no request fault,
        session open; the invocation its model gets."""
        name = record.endpoint_name
        handler = self._endpoints.model(name)
        variant = self._endpoints.pick_variant(name, members.get("target_variant"))
        faults = self._faults.get(name)
        served = self._faults.counter.next(name)
        if faults is not None:
            reply = error_reply(faults, name, served)
            if reply is not None:
                raise reply
        session_id = members.get("session_id")
        if session_id is not None and session_id != NEW_SESSION:
            self._sessions.check(name, session_id)
        inv = _invocation(record, body, members, variant, stream)
        return Admitted(handler, inv, members, faults, record)

    # --- the answers, by operation ------------------------------------------------------

    async def _answer_whole(
        self, request: web.Request, admitted: Admitted
    ) -> tuple[web.StreamResponse, bool]:
        answer = await run_model(admitted.handler, admitted.inv)
        response = await answer_whole(
            answer, admitted.inv, admitted.record, admitted.faults, self._sessions
        )
        return response, False

    async def _answer_stream(
        self, request: web.Request, admitted: Admitted
    ) -> tuple[web.StreamResponse, bool]:
        answer = await run_model(admitted.handler, admitted.inv)
        response = await answer_stream(
            request, answer, admitted.inv, admitted.record, admitted.faults
        )
        return response, False

    async def _answer_openai(
        self, request: web.Request, admitted: Admitted
    ) -> tuple[web.StreamResponse, bool]:
        answer = await run_model(admitted.handler, admitted.inv)
        response = await answer_openai(
            request, answer, admitted.inv, admitted.record, admitted.faults
        )
        return response, False

    async def _accept(
        self, request: web.Request, admitted: Admitted
    ) -> tuple[web.StreamResponse, bool]:
        response = await self._async.accept(
            admitted.handler, admitted.inv, admitted.members, admitted.record
        )
        return response, True  # the record ends when the output is written


def _joined_headers(request: web.BaseRequest) -> dict[str, str]:
    """Received headers with lower-case names; repeated headers joined with ','.

    A bearer token is a secret (SigV4's signature is not): a record keeps only a
    fingerprint of it, so that a test can still tell one token from another.
    """
    joined: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        if key == "authorization" and value[:7].lower() == "bearer ":
            value = _fingerprint(value)
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def _fingerprint(authorization: str) -> str:
    digest = hashlib.sha256(authorization.encode("utf-8", "surrogateescape")).hexdigest()
    return f"Bearer <redacted sha256:{digest[:16]}>"


def _invocation(
    record: RequestRecord,
    body: bytes,
    members: Mapping[str, str | None],
    variant: str,
    stream: bool,
) -> Invocation:
    """What the model sees: the body and the operation's members, decoded."""
    fields = {key: value for key, value in members.items() if key in _INVOCATION_FIELDS}
    return Invocation(
        endpoint_name=record.endpoint_name,
        operation=record.operation,
        body=body,
        headers=MappingProxyType(dict(record.headers)),
        variant=variant,
        request_id=record.request_id,
        stream=stream,
        **fields,
    )


async def _refusal(
    request: web.Request, reply: ServiceReply, record: RequestRecord, route: Route
) -> web.Response:
    """The error answer, in the route's dialect; the connection closes behind it when the
    reply says so."""
    record.status = reply.status
    record.outcome = reply.outcome
    response = route.render(reply, record.request_id)
    if not reply.close:
        return response
    response.force_close()  # write it now; nothing more is read
    await response.prepare(request)
    await response.write_eof()
    if request.transport is not None:
        request.transport.close()  # sends what is buffered first
    return response


def _internal_failure(record: RequestRecord) -> web.Response:
    """500 ``InternalFailure``: the emulator itself failed before answering."""
    record.status = 500
    failure = ServiceReply(500, "InternalFailure", "The emulator failed unexpectedly.")
    return render(failure, record.request_id)


def _log(method: str, record: RequestRecord) -> None:
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
