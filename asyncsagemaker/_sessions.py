"""``StatefulSession``: the bookkeeping of a SageMaker stateful session, client side.

SageMaker routes the calls of a session to the instance whose model holds its state.
The model makes the session: an ``InvokeEndpoint`` with ``SessionId=NEW_SESSION``
gets ``X-Amzn-SageMaker-New-Session-Id: <id>; Expires=<UTC time>`` back; later calls
name the id; the model closes the session by answering a request (its own close
request, e.g. ``{"requestType": "CLOSE"}``) with ``X-Amzn-SageMaker-Closed-Session-Id``.
Only ``InvokeEndpoint`` can open or close one: the streaming call cannot send
``NEW_SESSION``.

The session object does that bookkeeping: it opens on its first call, keeps ``id`` and
``expires_at``, sends the id on every later call, refuses to be used once closed or
expired (:class:`~asyncsagemaker.errors.SessionClosedError`, before anything is sent)
and closes on exit.  (Not to be confused with the emulator's session table.)
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from ._stream_call import StreamCall
from .errors import ParamValidationError, SessionClosedError, SessionError, UsageError

if TYPE_CHECKING:
    from ._responses import InvokeEndpointResponse
    from ._stream import ResponseStream
    from .formats import Generation

__all__ = ["NEW_SESSION", "SessionCalls", "StatefulSession", "parse_new_session_id"]

NEW_SESSION = "NEW_SESSION"
_ID = r"[a-zA-Z0-9](?:-*[a-zA-Z0-9])*"  # the service model's session id pattern
_NEW_SESSION_ID = re.compile(
    rf"(?P<id>{_ID});\s*Expires=(?P<expires>\d{{4}}-\d{{2}}-\d{{2}}T\d{{2}}:\d{{2}}:\d{{2}}Z)"
)
_BARE_ID = re.compile(_ID)
_EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_STREAM = "InvokeEndpointWithResponseStream"
_WHOLE = "InvokeEndpoint"

logger = logging.getLogger("asyncsagemaker")


class SessionCalls(Protocol):
    """What a session needs of its client: the calls it makes, and two things more.

    ``members(operation)`` are the keywords of a call (a session's keywords go only
    to the calls that have them); ``chat(..., on_answer)`` is ``client.chat`` that
    shows the raw answer to ``on_answer`` first, for the session id in its headers.
    The client hands a session an object of this shape, so the session knows no
    more of the client than this.
    """

    async def members(self, operation: str) -> Collection[str]: ...

    async def invoke_endpoint(
        self, endpoint_name: str, *, body: Any, **kwargs: Any
    ) -> InvokeEndpointResponse: ...

    def invoke_endpoint_with_response_stream(
        self, endpoint_name: str, *, body: Any, **kwargs: Any
    ) -> StreamCall: ...

    def chat_stream(
        self, endpoint_name: str, messages: Sequence[Mapping[str, Any]], **kwargs: Any
    ) -> StreamCall: ...

    async def chat(
        self,
        endpoint_name: str,
        messages: Sequence[Mapping[str, Any]],
        sampling: dict[str, Any],
        kwargs: dict[str, Any],
        on_answer: Callable[[InvokeEndpointResponse], None],
    ) -> Generation: ...


def parse_new_session_id(value: str) -> tuple[str, datetime | None]:
    """``(id, expires_at)`` from an ``X-Amzn-SageMaker-New-Session-Id`` value.

    The service sends ``<id>; Expires=YYYY-MM-DDTHH:MM:SSZ``; a bare id (no expiry
    known) is accepted too.  Anything else raises :class:`SessionError`.
    """
    text = value.strip()
    match = _NEW_SESSION_ID.fullmatch(text)
    if match is not None:
        try:
            expires = datetime.strptime(match["expires"], _EXPIRES_FORMAT)
        except ValueError:  # a 13th month, a 61st second...
            raise SessionError(f"the session's expiry {match['expires']!r} is no date") from None
        return match["id"], expires.replace(tzinfo=timezone.utc)
    if _BARE_ID.fullmatch(text):
        return text, None
    raise SessionError(f"the new session id {value!r} is not '<id>; Expires=YYYY-MM-DDTHH:MM:SSZ'")


class StatefulSession:
    """One stateful session on one endpoint: ``async with client.session("ep") as s:``.

    ``s.invoke_endpoint(body=...)``, ``s.invoke_endpoint_with_response_stream(body=...)``,
    ``s.chat_stream(messages)`` and ``s.chat(messages)`` work as the client's calls of
    the same name, on the session's endpoint, with the session's keywords merged
    under their own.  The first call opens the session (see :meth:`open` for a stream
    first); ``id`` and ``expires_at`` (a timezone-aware UTC ``datetime``, or ``None``
    when the model gave no expiry) are known from then on.
    """

    def __init__(
        self,
        client: SessionCalls,
        endpoint_name: str,
        *,
        open_body: Any = None,
        close_body: Any = None,
        call_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(endpoint_name, str) or not endpoint_name:
            raise ParamValidationError("a session needs an endpoint name (a non-empty str)")
        kwargs = dict(call_kwargs or {})
        _refuse_session_id(kwargs)
        self._client = client
        self.endpoint_name = endpoint_name
        self._open_body = open_body
        self._close_body = close_body
        self._kwargs = kwargs
        self._checked = False
        self.id: str | None = None
        self.expires_at: datetime | None = None
        self._closed_why: str | None = None  # why the session can no longer be used
        self._opening = asyncio.Lock()

    def __repr__(self) -> str:
        state = "closed" if self._closed_why else ("open" if self.id else "not opened")
        return f"<StatefulSession {self.endpoint_name!r} id={self.id!r} {state}>"

    @property
    def closed(self) -> bool:
        """True once the session was closed (by you, on exit, or by the model) or expired."""
        return self._closed_why is not None or self._expired()

    # -- lifetime ------------------------------------------------------------------

    async def __aenter__(self) -> StatefulSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close(exc)

    async def aclose(self) -> None:
        """Close the session now, as leaving ``async with`` does."""
        await self._close(None)

    async def open(self) -> None:
        """Open the session now (if not yet open), by sending ``open_body``.

        Needed when the first call is a stream, which cannot open a session; done
        for you then.  Without ``open_body`` this raises :class:`UsageError`.
        """
        self._check_usable()
        if self._is_open():
            return
        async with self._opening:
            if self._is_open():  # another call opened it while this one waited
                return
            if self._open_body is None:
                raise UsageError(
                    "a streaming call cannot open a stateful session (SageMaker takes "
                    "NEW_SESSION on InvokeEndpoint only): make the first call "
                    "s.invoke_endpoint(...) or s.chat(...), or pass open_body= to "
                    'client.session(...), e.g. open_body={"requestType": "NEW_SESSION"}'
                )
            kwargs = await self._merged({}, _WHOLE)
            answer = await self._client.invoke_endpoint(
                self.endpoint_name, body=self._open_body, **kwargs, session_id=NEW_SESSION
            )
            self._opened(answer)

    async def _close(self, exc: BaseException | None) -> None:
        """Closed for use at once; then ``close_body`` goes to the model, if it can matter.

        Nothing is sent for a session never opened, already closed or expired, or
        without ``close_body``; nor when the block is left by a cancellation (or
        another ``BaseException``): the session then stays open on the endpoint until
        it expires.  When the block is left by an exception, a failed close is logged
        (warning) and the exception goes on; otherwise the close's error is raised.
        """
        if self._closed_why is not None:
            return
        session_id, was_open = self.id, self.id is not None and not self._expired()
        self._closed_why = "was closed"
        if not was_open or self._close_body is None:
            return
        if exc is not None and not isinstance(exc, Exception):
            logger.debug("session %s left open (cancelled); it expires by itself", session_id)
            return
        try:
            kwargs = await self._merged({}, _WHOLE)
            answer = await self._client.invoke_endpoint(
                self.endpoint_name, body=self._close_body, **kwargs, session_id=session_id
            )
            if answer.closed_session_id != session_id:
                raise SessionError(
                    f"the model answered the close of session {session_id} on "
                    f"{self.endpoint_name} without closing it (no "
                    "X-Amzn-SageMaker-Closed-Session-Id naming it); the endpoint keeps "
                    f"it until it expires ({_when(self.expires_at)})",
                    session_id=session_id,
                    response=answer,
                )
        except Exception as error:
            if exc is None:
                raise
            logger.warning("session %s was not closed: %s", session_id, error)

    # -- calls ---------------------------------------------------------------------

    async def invoke_endpoint(self, *, body: Any, **kwargs: Any) -> InvokeEndpointResponse:
        """``client.invoke_endpoint`` in the session; the first call opens it."""
        client = self._client
        if await self._opens_now():
            try:
                merged = await self._merged(kwargs, _WHOLE)
                answer = await client.invoke_endpoint(
                    self.endpoint_name, body=body, **merged, session_id=NEW_SESSION
                )
                self._opened(answer)
                return answer
            finally:
                self._opening.release()
        merged = await self._merged(kwargs, _WHOLE)
        answer = await client.invoke_endpoint(
            self.endpoint_name, body=body, **merged, session_id=self._usable_id()
        )
        self._answered(answer)
        return answer

    async def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: Mapping[str, Any] | None = None,
        reasoning_effort: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Generation:
        """``client.chat`` in the session; the first call opens it."""
        from .formats._chat_options import chat_options

        chosen = chat_options(
            max_tokens,
            temperature,
            top_p,
            stop,
            tools,
            tool_choice,
            parallel_tool_calls,
            response_format,
            reasoning_effort,
            extra_body,
        )
        opens = await self._opens_now()
        try:
            merged = await self._merged(kwargs, _WHOLE)
            merged["session_id"] = NEW_SESSION if opens else self._usable_id()
            on_answer = self._opened if opens else self._answered
            return await self._client.chat(self.endpoint_name, messages, chosen, merged, on_answer)
        finally:
            if opens:
                self._opening.release()

    def invoke_endpoint_with_response_stream(self, *, body: Any, **kwargs: Any) -> StreamCall:
        """``client.invoke_endpoint_with_response_stream`` in the session.

        A stream cannot open a session: before the first one, the session is opened
        with ``open_body`` (see :meth:`open`).
        """
        _refuse_session_id(kwargs)
        return StreamCall(self._stream(body, kwargs))

    def chat_stream(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: Mapping[str, Any] | None = None,
        reasoning_effort: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> StreamCall:
        """``client.chat_stream`` in the session (opened first as for a stream)."""
        _refuse_session_id(kwargs)
        from .formats._chat_options import chat_options

        chosen = chat_options(
            max_tokens,
            temperature,
            top_p,
            stop,
            tools,
            tool_choice,
            parallel_tool_calls,
            response_format,
            reasoning_effort,
            extra_body,
        )
        return StreamCall(self._chat_stream(messages, chosen, kwargs))

    async def _stream(self, body: Any, kwargs: dict[str, Any]) -> ResponseStream:
        await self.open()
        merged = await self._merged(kwargs, _STREAM)
        return await self._client.invoke_endpoint_with_response_stream(
            self.endpoint_name, body=body, **merged, session_id=self._usable_id()
        )

    async def _chat_stream(
        self, messages: Sequence[Mapping[str, Any]], chosen: dict[str, Any], kwargs: Any
    ) -> ResponseStream:
        await self.open()
        merged = await self._merged(kwargs, _STREAM)
        return await self._client.chat_stream(
            self.endpoint_name, messages, **chosen, **merged, session_id=self._usable_id()
        )

    # -- bookkeeping ---------------------------------------------------------------

    async def _opens_now(self) -> bool:
        """True when this call must open the session; it then holds the opening lock."""
        self._check_usable()
        if self._is_open():
            return False
        await self._opening.acquire()
        if not self._is_open():
            return True  # released by the caller once its answer is in
        self._opening.release()
        return False

    async def _merged(self, kwargs: dict[str, Any], operation: str) -> dict[str, Any]:
        """The session's keywords (those ``operation`` has) under the call's own."""
        _refuse_session_id(kwargs)
        client = self._client
        own = await client.members(operation)
        if not self._checked:
            members = {*await client.members(_WHOLE), *await client.members(_STREAM)}
            unknown = sorted(set(self._kwargs) - members)
            if unknown:
                raise ParamValidationError(
                    f"client.session() takes call keywords only (members of InvokeEndpoint "
                    f"or InvokeEndpointWithResponseStream), not {', '.join(unknown)}; "
                    "give model parameters to each call"
                )
            self._checked = True
        merged = {k: v for k, v in self._kwargs.items() if k in own}
        merged.update(kwargs)
        return merged

    def _opened(self, answer: InvokeEndpointResponse) -> None:
        """Take the id and expiry of the answer to ``NEW_SESSION``."""
        session_id = answer.new_session_id
        if not session_id:
            raise SessionError(
                f"the model on {self.endpoint_name} answered NEW_SESSION without opening a "
                "session (no X-Amzn-SageMaker-New-Session-Id); its answer is in .response",
                response=answer,
            )
        if not _BARE_ID.fullmatch(session_id):  # the answer kept a header it could not read
            try:
                parse_new_session_id(session_id)  # raises, saying why
            except SessionError as exc:
                exc.response, exc.request_id = answer, answer.request_id
                raise
        self.id, self.expires_at = session_id, answer.new_session_expires_at
        self._answered(answer)

    def _answered(self, answer: InvokeEndpointResponse) -> None:
        """An answer that closes the session (the model's choice) ends it here too."""
        if answer.closed_session_id is not None and answer.closed_session_id == self.id:
            self._closed_why = "was closed by the model"

    def _is_open(self) -> bool:
        return self.id is not None

    def _expired(self) -> bool:
        expires = self.expires_at
        return expires is not None and datetime.now(timezone.utc) >= expires

    def _check_usable(self) -> None:
        if self._closed_why is not None:
            raise SessionClosedError(
                f"session {self.id or '(never opened)'} on {self.endpoint_name} "
                f"{self._closed_why}; open a new one with client.session(...)",
                session_id=self.id,
            )
        if self._expired():
            raise SessionClosedError(
                f"session {self.id} on {self.endpoint_name} expired at "
                f"{_when(self.expires_at)}; open a new one with client.session(...)",
                session_id=self.id,
            )

    def _usable_id(self) -> str:
        self._check_usable()
        if self.id is None:  # not reachable through the public calls
            raise UsageError("the session is not open yet")
        return self.id


def _refuse_session_id(kwargs: Mapping[str, Any]) -> None:
    if "session_id" in kwargs:
        raise UsageError(
            "a session sends its own session_id; use client.invoke_endpoint(..., "
            "session_id=...) to name one yourself"
        )


def _when(moment: datetime | None) -> str:
    return "no expiry given" if moment is None else moment.strftime(_EXPIRES_FORMAT)
