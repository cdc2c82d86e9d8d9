"""The ``demo`` model: a small deterministic text generator that answers like real servers.

The answer depends on the prompt (same prompt, same answer) and contains
multi-byte UTF-8 ("café", "crème brûlée", emoji) so that clients are exercised on
characters split across parts.  It is written in the shape of a common model
server (see ``_demo_formats``): TGI, LMI, OpenAI chat or completions (as vLLM,
TGI's Messages API and LMI's chat schema serve them), or bare text; whole for
``InvokeEndpoint``, one token per part for the streaming call.

The format is chosen by the custom attribute ``format=<name>``, else an accept of
``application/jsonlines`` (lmi), else the body's shape (``messages``: vllm-chat,
``prompt``: vllm-completions, anything else: tgi, or lmi when the emulator imitates
LMI).  Chat answers come in the emulator's dialect (``Emulator(dialect=...)``, or the
custom attribute ``dialect=<name>``; see ``_demo_chat``), and speak agent: with
``tools`` the model calls one, after ``tool`` messages it answers with their results,
and it reasons first when asked (see ``_demo_agent``).

It is also a stateful model: ``SessionId="NEW_SESSION"`` on ``InvokeEndpoint``
opens a session (the model makes the id; the emulator adds its expiry), later
calls with that id continue it (the answer says which turn it is and quotes the
previous prompt), and a ``{"requestType": "CLOSE"}`` body closes it.  A body of
``{"requestType": "NEW_SESSION"}`` opens one without a prompt.  These are the
request types of AWS's stateful-session sample containers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ..formats import WIRE_FORMATS, WireFormat
from ._demo_agent import ChatAsk, chat_ask, respond
from ._demo_chat import DIALECTS, DemoCall, Dialect, call_id, check_dialect
from ._demo_formats import (
    STREAM_CONTENT_TYPES,
    WHOLE_CONTENT_TYPES,
    Generation,
    count_tokens,
    split_tokens,
    stream_parts,
    whole_body,
)
from ._faults import ContainerError, ModelErrorFault
from ._types import NEW_SESSION, Invocation, ModelResponse

__all__ = ["CLOSE", "FORMATS", "NEW_SESSION", "DemoModel", "demo_answer"]

_Name = TypeVar("_Name", bound=str)

FORMATS = WIRE_FORMATS
CLOSE = "CLOSE"
MAX_SESSIONS = 4096  # the demo's session state is bounded: the least recently used goes
_OPENERS = ("Sure!", "Good question.", "Here is a thought.", "Happy to help.")
_MIDDLES = (
    "A café by the harbour serves crème brûlée 🍮 at noon.",
    "The naïve robot 🤖 counted {n} stars before the soufflé rose.",
    "In Zürich a jalapeño ☕ costs exactly {n} coins, über cheap.",
    "Every piñata holds {n} sweets, and the déjà vu is free 🎉.",
)
_QUOTE_CHARS = 60
_PIECE = 5  # characters of a tool call's arguments per streamed fragment
_CLOSERS = ("That is all for now.", "Hope this helps!", "Ask me anything else.")


def _quote(prompt: str) -> str:
    """The first five words of ``prompt`` (at most 60 characters), ``…`` if there is more."""
    words = prompt.split()
    if not words:
        return "nothing"
    quoted = " ".join(words[:5])
    if len(words) > 5 or len(quoted) > _QUOTE_CHARS:
        quoted = quoted[:_QUOTE_CHARS] + "…"
    return quoted


def demo_answer(prompt: str, *, turn: int | None = None, previous: str | None = None) -> str:
    """The deterministic answer to ``prompt`` (in a session: its ``turn``, the ``previous``)."""
    digest = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).digest()
    middle = _MIDDLES[digest[1] % len(_MIDDLES)].format(n=digest[2] % 90 + 10)
    session = f" This is turn {turn} of our session." if turn is not None else ""
    if previous is not None:
        session += f' Before, you said "{_quote(previous)}".'
    return (
        f'{_OPENERS[digest[0] % len(_OPENERS)]}{session} You said "{_quote(prompt)}". '
        f"{middle} {_CLOSERS[digest[3] % len(_CLOSERS)]}"
    )


@dataclass(frozen=True)
class _Request:
    format: WireFormat
    openai: bool  # the body is OpenAI-shaped (its errors are too)
    prompt: str
    prompt_tokens: int
    max_tokens: int | None
    details: bool
    include_usage: bool
    request_type: str | None
    dialect: Dialect
    ask: ChatAsk | None  # what a chat body asks (tools, reasoning), None for other bodies
    model: str  # the ``model`` a chat body names (answered with that name), else "demo"


def _parse(inv: Invocation, dialect: Dialect) -> _Request:
    text = inv.body.decode("utf-8", "replace")
    try:
        document: Any = json.loads(text)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, str):
        text = document
    fields = document if isinstance(document, dict) else {}
    shape, prompt, prompt_tokens, limit = _shape_of(fields, text)
    parameters = fields.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    options = fields.get("stream_options")
    kind = fields.get("requestType")
    dialect = _attribute(inv.custom_attributes, "dialect", DIALECTS) or dialect
    chosen = _attribute(inv.custom_attributes, "format", FORMATS)
    if chosen is None and inv.accept and "application/jsonlines" in inv.accept:
        chosen = "lmi"
    if chosen is None and shape == "tgi" and dialect == "lmi":
        chosen = "lmi"  # LMI answers its own schema
    return _Request(
        format=chosen or shape,
        openai=shape != "tgi",
        prompt=prompt,
        prompt_tokens=prompt_tokens,
        max_tokens=limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
        details=parameters.get("details") is True,
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        request_type=kind if isinstance(kind, str) else None,
        dialect=dialect,
        ask=chat_ask(fields) if shape == "vllm-chat" else None,
        model=_model_name(fields.get("model")),
    )


def _shape_of(fields: dict[str, Any], text: str) -> tuple[WireFormat, str, int, Any]:
    """The body's format, prompt, prompt length in tokens, and token limit."""
    parameters = fields.get("parameters")
    limit = parameters.get("max_new_tokens") if isinstance(parameters, dict) else None
    if "messages" in fields:
        messages = fields["messages"]
        prompt_tokens = sum(count_tokens(text) for text in _message_texts(messages))
        limit = fields.get("max_tokens", fields.get("max_completion_tokens", limit))
        return "vllm-chat", _last_message(messages), prompt_tokens, limit
    if "prompt" in fields:
        prompt = _first_text(fields["prompt"])
        return "vllm-completions", prompt, count_tokens(prompt), fields.get("max_tokens", limit)
    if "inputs" in fields:
        text = _first_text(fields["inputs"])
    return "tgi", text, count_tokens(text), limit


def _model_name(value: Any) -> str:
    """The ``model`` a body names, which the answer reports (as a server serving it does)."""
    return value if isinstance(value, str) and value else "demo"


def _attribute(attributes: str | None, wanted: str, names: tuple[_Name, ...]) -> _Name | None:
    """The value of ``wanted=<one of names>`` in the custom attributes, if there."""
    for item in re.split(r"[;,]", attributes or ""):
        key, _, value = item.partition("=")
        for name in names:
            if key.strip() == wanted and value.strip() == name:
                return name
    return None


def _first_text(value: Any) -> str:
    if isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else json.dumps(value)


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _message_texts(messages: Any) -> list[str]:
    if not isinstance(messages, list):
        return []
    return [_content_text(m.get("content")) for m in messages if isinstance(m, dict)]


def _last_message(messages: Any) -> str:
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role", "user") == "user":
                return _content_text(message.get("content"))
    return ""


def _refuse(request: _Request, status: int, message: str) -> ContainerError:
    """The container's error answer, in the shape of the server the body addresses."""
    if request.openai:
        body = {"object": "error", "message": message, "type": "BadRequestError", "code": status}
    else:
        body = {"error": message, "error_type": "validation"}
    return ContainerError(ModelErrorFault(status, json.dumps(body)))


def _refuse_limit(request: _Request) -> ContainerError:
    if request.openai:
        return _refuse(request, 400, f"max_tokens must be at least 1, got {request.max_tokens}.")
    message = "Input validation error: `max_new_tokens` must be strictly positive"
    return _refuse(request, 422, message)


def _generation(request: _Request, answer: str) -> Generation:
    """The answer (or the agent's turn) as generated tokens, cut by the token limit.

    Reasoning comes first, then the answer or the tool call's argument pieces; the
    end-of-sequence token needs a place too, as on real servers.
    """
    reasoning: list[str] = []
    call: DemoCall | None = None
    tokens = split_tokens(answer)
    if request.ask is not None:
        turn = respond(request.ask, answer, request.prompt)
        reasoning = split_tokens(turn.reasoning)
        tokens = split_tokens(turn.text)
        if turn.call is not None:
            name, arguments = turn.call
            call_key = call_id(request.dialect, name, arguments, request.ask.messages)
            call = DemoCall(call_key, name, _pieces(arguments))
            if request.dialect == "tgi":
                reasoning = []  # TGI's tool mode is grammar-constrained JSON: no thinking
    pieces = list(call.pieces) if call is not None else tokens
    limit = request.max_tokens
    ended = limit is None or limit > len(reasoning) + len(pieces)
    if limit is not None:
        reasoning, pieces = reasoning[:limit], pieces[: max(limit - len(reasoning), 0)]
    if call is not None and not pieces:
        return _cut(request, reasoning)  # the limit came before the call began
    return Generation(
        tokens=[] if call is not None else pieces,
        prompt=request.prompt,
        prompt_tokens=request.prompt_tokens,
        ended_by_itself=ended,
        details=request.details,
        include_usage=request.include_usage,
        reasoning=tuple(reasoning),
        call=None if call is None else DemoCall(call.id, call.name, tuple(pieces)),
        dialect=request.dialect,
        model=request.model,
    )


def _cut(request: _Request, reasoning: list[str]) -> Generation:
    """Nothing but reasoning before the token limit."""
    return Generation(
        tokens=[],
        prompt=request.prompt,
        prompt_tokens=request.prompt_tokens,
        ended_by_itself=False,
        include_usage=request.include_usage,
        reasoning=tuple(reasoning),
        dialect=request.dialect,
        model=request.model,
    )


def _pieces(arguments: str) -> tuple[str, ...]:
    """A call's arguments in pieces of a few characters, as a server streams them."""
    return tuple(arguments[i : i + _PIECE] for i in range(0, len(arguments), _PIECE)) or ("",)


@dataclass
class _Session:
    turns: int = 0
    last_prompt: str | None = None


class DemoModel:
    """The built-in ``demo`` endpoint; ``token_delay`` seconds pass between parts;
    ``dialect`` is the server whose chat answers it imitates (see ``_demo_chat``)."""

    def __init__(self, token_delay: float, dialect: str = "default") -> None:
        self.token_delay = token_delay
        self.dialect = check_dialect(dialect)
        self._sessions: OrderedDict[str, _Session] = OrderedDict()

    async def __call__(self, inv: Invocation) -> ModelResponse:
        request = _parse(inv, self.dialect)
        if request.max_tokens is not None and request.max_tokens < 1:
            raise _refuse_limit(request)
        session_reply = self._session_request(inv, request)
        if session_reply is not None:
            return session_reply
        answer, opened = self._answer(inv, request)
        gen = _generation(request, answer)
        if not inv.streaming:
            body = whole_body(request.format, gen)
            content_type = WHOLE_CONTENT_TYPES[request.format]
            return ModelResponse(body, content_type=content_type, new_session_id=opened)
        parts = stream_parts(request.format, gen)
        content_type = STREAM_CONTENT_TYPES[request.format]
        if request.format == "vllm-chat" and request.dialect == "lmi":
            content_type = "application/jsonlines"
        return ModelResponse(self._paced(parts), content_type=content_type)

    # --- sessions ------------------------------------------------------------------

    def _answer(self, inv: Invocation, request: _Request) -> tuple[str, str | None]:
        """The answer text, and the id of the session the request opened (if it did)."""
        session_id = inv.session_id
        if session_id is None:
            return demo_answer(request.prompt), None
        opened = None
        if session_id == NEW_SESSION:
            session_id = opened = str(uuid.uuid4())
        session = self._sessions.get(session_id) or self._store(session_id, _Session())
        self._sessions.move_to_end(session_id)
        previous = session.last_prompt
        session.turns += 1
        session.last_prompt = _quote(request.prompt)  # what an answer quotes: bounded
        return demo_answer(request.prompt, turn=session.turns, previous=previous), opened

    def _store(self, session_id: str, session: _Session) -> _Session:
        self._sessions[session_id] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def _session_request(self, inv: Invocation, request: _Request) -> ModelResponse | None:
        """Answer a ``requestType`` body (open or close a session), else ``None``."""
        if request.request_type == NEW_SESSION:
            if inv.session_id != NEW_SESSION:
                raise _refuse(request, 400, "open a session with SessionId NEW_SESSION")
            session_id = str(uuid.uuid4())
            self._store(session_id, _Session())
            text = f"session {session_id} opened"
            return ModelResponse(
                text.encode(), content_type="text/plain", new_session_id=session_id
            )
        if request.request_type != CLOSE:
            return None
        if inv.session_id in (None, NEW_SESSION):
            raise _refuse(request, 400, "a CLOSE request needs the SessionId of an open session")
        if inv.streaming:
            raise _refuse(
                request,
                400,
                "close a session with InvokeEndpoint: a streamed answer cannot carry "
                "X-Amzn-SageMaker-Closed-Session-Id",
            )
        session_id = inv.session_id
        assert session_id is not None
        state = self._sessions.pop(session_id, _Session())
        text = f"session {session_id} closed after {state.turns} turns"
        return ModelResponse(text.encode(), content_type="text/plain", closed_session_id=session_id)

    async def _paced(self, parts: list[bytes]) -> AsyncIterator[bytes]:
        for index, part in enumerate(parts):
            if index and self.token_delay > 0:
                await asyncio.sleep(self.token_delay)
            yield part
