"""Stateful sessions as the service routes them: opened by the model, checked on every call.

The model makes a session: it answers an ``InvokeEndpoint`` with a new session
id (``ModelResponse.new_session_id``), which the emulator sends back as
``X-Amzn-SageMaker-New-Session-Id: <id>; Expires=<UTC time>`` and remembers for
that endpoint.  A later call naming the id reaches the model only while the
session is open; the model closes it by answering with
``ModelResponse.closed_session_id`` (sent back as
``X-Amzn-SageMaker-Closed-Session-Id``).  A call with an id that was never
opened, was closed or has expired is refused with 400 ``ValidationError`` (the
emulator's choice: AWS documents no error for it).

The table is bounded: at most ``max_sessions`` ids (open, closed or expired) are
remembered, the oldest forgotten first (a forgotten id is then unknown).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone

from ._replies import ACCOUNT_ID, ServiceReply

__all__ = ["DEFAULT_SESSION_TTL", "MAX_SESSIONS", "SessionError", "SessionTable"]

DEFAULT_SESSION_TTL = 20 * 60.0  # seconds, as SageMaker's sample containers default
MAX_SESSIONS = 4096
_EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_ID = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")  # the service model's session id pattern
_NEW_SESSION_HEADER = re.compile(r"(?P<id>[^;]*);\sExpires=(?P<expires>\S*)")
_MAX_HEADER = 256


class SessionError(ValueError):
    """A model answered with a session id the service would not accept."""


@dataclass
class _Session:
    expires: float  # time.time()
    closed: bool = False


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime(_EXPIRES_FORMAT)


class SessionTable:
    """The sessions each endpoint's model has opened, with their expiry (thread-safe)."""

    def __init__(self, ttl: float = DEFAULT_SESSION_TTL, max_sessions: int = MAX_SESSIONS) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
            raise ValueError(f"session_ttl must be > 0 seconds, got {ttl!r}")
        self.ttl = float(ttl)
        self._max = max_sessions
        self._sessions: OrderedDict[tuple[str, str], _Session] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def check(self, endpoint: str, session_id: str) -> None:
        """Raise 400 ``ValidationError`` unless ``session_id`` is open on ``endpoint``."""
        with self._lock:
            session = self._sessions.get((endpoint, session_id))
        if session is None:
            problem = "no such session was opened"
        elif session.closed:
            problem = "it was closed"
        elif session.expires <= time.time():
            problem = f"it expired at {_utc(session.expires)}"
        else:
            return
        raise ServiceReply.validation(
            f"Session {session_id} is not open on endpoint {endpoint} of account {ACCOUNT_ID}: "
            f"{problem}."
        )

    def open(self, endpoint: str, answered: str) -> str:
        """Remember the session a model opened; the header value to send, with its expiry.

        ``answered`` is the model's ``new_session_id``: an id, or an id with its own
        ``; Expires=<UTC time>``.  Raises :class:`SessionError` if the service
        would not accept it.
        """
        match = _NEW_SESSION_HEADER.fullmatch(answered)
        session_id = match["id"] if match else answered
        if not _ID.fullmatch(session_id):
            raise SessionError(
                f"the model's new session id {session_id!r} does not match "
                "^[a-zA-Z0-9](-*[a-zA-Z0-9])*$"
            )
        if match:
            try:
                parsed = datetime.strptime(match["expires"], _EXPIRES_FORMAT)
            except ValueError:
                raise SessionError(
                    f"the model's session expiry {match['expires']!r} is not YYYY-MM-DDTHH:MM:SSZ"
                ) from None
            expires = parsed.replace(tzinfo=timezone.utc).timestamp()
        else:
            expires = time.time() + self.ttl
        header = f"{session_id}; Expires={_utc(expires)}"
        if len(header) > _MAX_HEADER:
            raise SessionError(
                f"the model's new session id is longer than {_MAX_HEADER} characters"
            )
        with self._lock:
            self._sessions[(endpoint, session_id)] = _Session(expires)
            self._sessions.move_to_end((endpoint, session_id))
            while len(self._sessions) > self._max:
                self._sessions.popitem(last=False)
        return header

    def close(self, endpoint: str, session_id: str) -> str:
        """Mark a session closed by its model; the header value to send."""
        if not _ID.fullmatch(session_id):
            raise SessionError(
                f"the model's closed session id {session_id!r} does not match "
                "^[a-zA-Z0-9](-*[a-zA-Z0-9])*$"
            )
        with self._lock:
            session = self._sessions.get((endpoint, session_id))
            if session is not None:
                session.closed = True
        return session_id
