"""Sans-IO signing of the input events of a bidirectional stream, and its verification.

Each input event travels inside an *envelope*: an event-stream message whose
headers are ``:date`` (timestamp, milliseconds) and ``:chunk-signature`` (32 raw
bytes) and whose payload is the complete encoded inner message.  The signatures
form a chain: the first one signs over the request's own SigV4 signature (the
*seed*), each next one over the previous one, so the service can tell that no
event was dropped, reordered or altered.  The end of input is an envelope with an
empty payload, signed the same way.  The string to sign for an envelope is::

    AWS4-HMAC-SHA256-PAYLOAD
    <YYYYMMDDTHHMMSSZ of :date>
    <day>/<region>/<service>/aws4_request
    <previous signature, hex>
    <hex sha256 of the :date header block>
    <hex sha256 of the payload>

and the key is SigV4's usual one for that day, region and service.  Stdlib, the
event-stream codec and the error tree only: no clock, no sockets, no credentials
lookup; callers feed those in.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import hmac
import struct
import time
from collections.abc import Callable, Mapping
from typing import Final, Literal, Protocol

from .._auth.keys import signing_key
from ..errors import ProtocolError
from ..eventstream import Message, frame

__all__ = [
    "STREAMING_PAYLOAD",
    "EventCredentials",
    "EventSignatureError",
    "EventSigner",
    "EventVerifier",
    "chunk_string_to_sign",
    "date_header_block",
]

#: The canonical payload hash of the request that opens a signed event stream.
STREAMING_PAYLOAD: Final = "STREAMING-AWS4-HMAC-SHA256-EVENTS"
SERVICE: Final = "sagemaker"
_EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()
_DATE_PREFIX: Final = b"\x05:date\x08"  # name length, name, type 8 (timestamp)
_SIGNATURE_PREFIX: Final = b"\x10:chunk-signature\x06\x00\x20"  # type 6, 32 bytes
_I64: Final = struct.Struct("!q")
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_MS: Final = _dt.timedelta(milliseconds=1)

Clock = Callable[[], _dt.datetime]


class EventCredentials(Protocol):
    """What signing needs of credentials (botocore's ``ReadOnlyCredentials`` fits)."""

    @property
    def access_key(self) -> str: ...

    @property
    def secret_key(self) -> str: ...

    @property
    def token(self) -> str | None: ...


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _millis(when: _dt.datetime) -> int:
    if when.tzinfo is None:
        raise ValueError("event signing needs a timezone-aware time (UTC)")
    return (when - _EPOCH) // _MS


def date_header_block(millis: int) -> bytes:
    """The header block holding only ``:date`` (15 bytes): what the signature hashes."""
    return _DATE_PREFIX + _I64.pack(millis)


@functools.lru_cache(maxsize=64)
def _stamp(second: int) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))


def chunk_string_to_sign(
    prior: str, millis: int, payload: bytes, region: str, service: str = SERVICE
) -> str:
    """The string to sign for one envelope with ``:date`` = ``millis`` and ``payload``."""
    stamp = _stamp(millis // 1000)
    payload_hash = hashlib.sha256(payload).hexdigest() if payload else _EMPTY_SHA256
    return "\n".join(
        (
            "AWS4-HMAC-SHA256-PAYLOAD",
            stamp,
            f"{stamp[:8]}/{region}/{service}/aws4_request",
            prior,
            hashlib.sha256(date_header_block(millis)).hexdigest(),
            payload_hash,
        )
    )


class _Keys:
    """The signing key of the last (secret, day), kept: it changes once a day at most."""

    __slots__ = ("_for", "_key", "region", "service")

    def __init__(self, region: str, service: str) -> None:
        self.region = region
        self.service = service
        self._for: tuple[str, str] = ("", "")
        self._key = b""

    def sign(self, secret_key: str, prior: str, millis: int, payload: bytes) -> bytes:
        text = chunk_string_to_sign(prior, millis, payload, self.region, self.service)
        day = _stamp(millis // 1000)[:8]
        if self._for != (secret_key, day):
            self._key = signing_key(secret_key, day, self.region, self.service)
            self._for = (secret_key, day)
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).digest()


class EventSigner:
    """Wraps each encoded inner message into a signed envelope, chaining from ``seed``.

    ``seed`` is the hex ``Signature=`` of the request's ``Authorization`` header.
    ``clock`` gives the time of each envelope (UTC; the default is the system
    clock); ``credentials`` may be replaced per event: refreshed credentials sign
    from the next event on, the chain going on from the previous signature, as the
    AWS Python SDK does (its event publisher resolves the identity for every event).
    Not thread-safe: one signer per stream.
    """

    __slots__ = ("_clock", "_ended", "_keys", "_prior", "credentials")

    def __init__(
        self,
        seed: str,
        credentials: EventCredentials,
        region: str,
        *,
        service: str = SERVICE,
        clock: Clock | None = None,
    ) -> None:
        self._prior = seed
        self.credentials = credentials
        self._keys = _Keys(region, service)
        self._clock = clock or _utc_now
        self._ended = False

    @property
    def prior(self) -> str:
        """The hex signature the next envelope chains from."""
        return self._prior

    @property
    def ended(self) -> bool:
        """True once the end frame was made: nothing can be signed after it."""
        return self._ended

    def sign(self, message: bytes, now: _dt.datetime | None = None) -> bytes:
        """The envelope for ``message`` (a complete inner event-stream message)."""
        if self._ended:
            raise ProtocolError("no event can be signed after the end frame")
        millis = _millis(now if now is not None else self._clock())
        signature = self._keys.sign(self.credentials.secret_key, self._prior, millis, message)
        self._prior = signature.hex()
        return frame(date_header_block(millis) + _SIGNATURE_PREFIX + signature, message)

    def end_frame(self, now: _dt.datetime | None = None) -> bytes:
        """The signed envelope with an empty payload that ends the input."""
        envelope = self.sign(b"", now)
        self._ended = True
        return envelope


FailureReason = Literal["unsigned", "malformed", "mismatch", "clock_skew", "after_end", "no_end"]


class EventSignatureError(ProtocolError):
    """An input envelope is unsigned, malformed or signed wrongly; ``reason`` says which.

    ``unsigned``: no ``:date`` or ``:chunk-signature``; ``malformed``: a header of
    the wrong type or size, or an unexpected one; ``mismatch``: the signature is
    not the one the chain asks for; ``clock_skew``: ``:date`` is too far from
    now; ``after_end``: an envelope after the end frame; ``no_end``: the input
    ended without the signed end frame.
    """

    def __init__(self, message: str, *, reason: FailureReason, index: int) -> None:
        super().__init__(message, code="InvalidSignatureException")
        self.reason: FailureReason = reason
        self.index = index  # 0-based position of the envelope in the stream


class EventVerifier:
    """The server's side: checks each received envelope against the chain from ``seed``.

    ``verify`` returns the inner message bytes exactly as received (hash what
    arrived, never a re-encoding), or ``None`` for the end frame.  With
    ``max_skew`` each ``:date`` must lie within that much of ``clock()``.  After a
    failure every further call fails too.

    ``secret_key`` (of ``access_key``, the request's) signs the first envelope.  A
    client whose credentials were refreshed mid-stream signs the later ones with
    the new key (an envelope does not name its key): ``keys`` (access key id to
    secret) are the other keys an envelope may then be signed with, tried only when
    the current key does not match, and kept from there on; :attr:`key_ids` lists
    the keys that signed, in order.
    """

    __slots__ = (
        "_clock",
        "_ended",
        "_failed",
        "_index",
        "_keys",
        "_known",
        "_max_skew",
        "_prior",
        "_secret",
        "key_ids",
    )

    def __init__(
        self,
        seed: str,
        secret_key: str,
        region: str,
        *,
        service: str = SERVICE,
        max_skew: _dt.timedelta | None = None,
        clock: Clock | None = None,
        keys: Mapping[str, str] | None = None,
        access_key: str = "",
    ) -> None:
        self._prior = seed
        self._secret = secret_key
        self._keys = _Keys(region, service)
        self._known = dict(keys or {})
        self.key_ids: list[str] = [access_key]
        self._max_skew = max_skew
        self._clock = clock or _utc_now
        self._ended = False
        self._failed: EventSignatureError | None = None
        self._index = 0

    @property
    def ended(self) -> bool:
        """True once the signed end frame was verified."""
        return self._ended

    @property
    def count(self) -> int:
        """Envelopes verified so far, the end frame included."""
        return self._index

    def _fail(self, message: str, reason: FailureReason) -> EventSignatureError:
        self._failed = EventSignatureError(
            f"input event {self._index}: {message}", reason=reason, index=self._index
        )
        return self._failed

    def verify(self, envelope: Message) -> bytes | None:
        """The inner message of ``envelope``, once its signature checked; ``None`` at the end."""
        if self._failed is not None:
            raise self._failed
        if self._ended:
            raise self._fail("an event arrived after the end frame", "after_end")
        headers = envelope.headers
        date = headers.get(":date")
        signature = headers.get(":chunk-signature")
        if date is None or signature is None:
            missing = ":date" if date is None else ":chunk-signature"
            raise self._fail(f"the envelope has no {missing} header", "unsigned")
        if len(headers) != 2:
            extra = sorted(set(headers) - {":date", ":chunk-signature"})
            raise self._fail(f"unexpected envelope headers {extra}", "malformed")
        if not isinstance(date, _dt.datetime):
            raise self._fail(":date must be a timestamp header (type 8)", "malformed")
        if not isinstance(signature, bytes) or len(signature) != 32:
            raise self._fail(":chunk-signature must be 32 bytes (type 6)", "malformed")
        if self._max_skew is not None:
            skew = abs(self._clock() - date)
            if skew > self._max_skew:
                raise self._fail(
                    f":date {date.isoformat()} is {skew.total_seconds():.0f} s away from the "
                    f"server's clock (at most {self._max_skew.total_seconds():.0f} s allowed)",
                    "clock_skew",
                )
        payload = envelope.payload
        millis = _millis(date)
        expected = self._keys.sign(self._secret, self._prior, millis, payload)
        if not hmac.compare_digest(expected, signature) and not self._changed_key(
            signature, millis, payload
        ):
            raise self._fail(
                "the chunk signature does not match the one calculated from the previous "
                "signature, the date and the payload",
                "mismatch",
            )
        self._prior = signature.hex()
        self._index += 1
        if not payload:
            self._ended = True
            return None
        return payload

    def _changed_key(self, signature: bytes, millis: int, payload: bytes) -> bool:
        """Whether another known key made ``signature``; if so it signs from here on."""
        for access_key, secret in self._known.items():
            if secret == self._secret:
                continue
            made = self._keys.sign(secret, self._prior, millis, payload)
            if hmac.compare_digest(made, signature):
                self._secret = secret
                self.key_ids.append(access_key)
                return True
        return False

    def finish(self) -> None:
        """Declare the end of the request body: it must have ended with the end frame."""
        if self._failed is not None:
            raise self._failed
        if not self._ended:
            raise self._fail("the input ended without the signed end frame", "no_end")
