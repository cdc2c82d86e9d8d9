"""Sans-IO codec for ``application/vnd.amazon.eventstream``.

Bytes in, messages out: no sockets, no asyncio, stdlib only, so the same code
serves the client, the emulator and anyone's tests.  The wire format::

    total_length u32 | headers_length u32 | prelude_crc u32 | headers | payload | message_crc u32

Both checksums are CRC-32 (zlib).  The decoder is strict where botocore is lax:
every fault is a :class:`~asyncsagemaker.errors.ProtocolError` naming what was
wrong, a frame over ``max_message_bytes`` is refused from its prelude alone, a
stream that ends inside a frame is an error at :meth:`Decoder.close`, and after
an error the decoder refuses further input (a stream is never resynchronised).

It is also fast: each byte goes through ``zlib.crc32`` once and the payload is
the only copy made of it; a message that spans reads is checked and joined from
views of the input pieces; a header block equal to the previous one (every
``PayloadPart`` carries the same three headers) is reused, not re-parsed; and a
chunk that is exactly one valid message (a token stream's usual chunk) takes a
short path that checks it whole.
"""

from __future__ import annotations

import datetime as _dt
import struct
import uuid
import zlib
from collections.abc import Callable, Mapping
from itertools import repeat
from types import MappingProxyType
from typing import NamedTuple, NoReturn, TypeAlias

from .errors import ProtocolError

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "Decoder",
    "HeaderValue",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "Message",
    "encode",
    "encode_headers",
    "frame",
]

#: botocore's own limits (128 KiB of headers, 24 MiB of payload) plus the framing.
DEFAULT_MAX_MESSAGE_BYTES = 16 + 128 * 1024 + 24 * 1024 * 1024

_PRELUDE = struct.Struct("!III")
_LENGTHS = struct.Struct("!II")
_U32 = struct.Struct("!I")
_CRC_PRELUDE = struct.Struct("!IIII")  # a message checksum and the next prelude
_MIN_MESSAGE = 16
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_MAX_VALUE_LEN = 0xFFFF


class Int8(int):
    """An ``int`` that encodes as a one-byte header value (type 2)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Int8({int(self)})"


class Int16(int):
    """An ``int`` that encodes as a two-byte header value (type 3)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Int16({int(self)})"


class Int32(int):
    """An ``int`` that encodes as a four-byte header value (type 4), like a plain ``int``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Int32({int(self)})"


class Int64(int):
    """An ``int`` that encodes as an eight-byte header value (type 5)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Int64({int(self)})"


HeaderValue: TypeAlias = bool | int | bytes | str | _dt.datetime | uuid.UUID
Headers: TypeAlias = Mapping[str, HeaderValue]


class Message(NamedTuple):
    """One decoded event-stream message.

    ``headers`` is a read-only mapping in wire order; decoded integers of types
    2, 3 and 5 come back as :class:`Int8`, :class:`Int16`, :class:`Int64` (plain
    ``int`` subclasses) so that ``encode(msg.headers, msg.payload)`` reproduces
    the original bytes.
    """

    headers: Headers
    payload: bytes


# --- decoding ---------------------------------------------------------------------

# type code -> (fixed value size, converter); sizes of types 6/7 come from the wire.
_FIXED_INTS: dict[int, tuple[int, struct.Struct, type[int]]] = {
    2: (1, struct.Struct("!b"), Int8),
    3: (2, struct.Struct("!h"), Int16),
    4: (4, struct.Struct("!i"), int),
    5: (8, struct.Struct("!q"), Int64),
}
_I64 = struct.Struct("!q")
_U16 = struct.Struct("!H")


def _parse_headers(raw: bytes) -> Headers:
    """Parse one header block; every malformation is a ProtocolError naming it."""
    headers: dict[str, HeaderValue] = {}
    pos = 0
    end = len(raw)
    while pos < end:
        name, pos = _header_name(raw, pos, end)
        if name in headers:
            raise ProtocolError(f"duplicate header name {name!r}")
        type_code = raw[pos]
        read_value = _VALUE_READERS.get(type_code)
        if read_value is None:
            raise ProtocolError(f"unknown header type {type_code} for header {name!r}")
        value, pos = read_value(raw, pos + 1, end, name, type_code)
        headers[name] = value
    return MappingProxyType(headers)


def _header_name(raw: bytes, pos: int, end: int) -> tuple[str, int]:
    """The name of the header at ``pos`` and the offset of its type byte (checked present)."""
    name_len = raw[pos]
    if name_len == 0:
        raise ProtocolError(f"header name of length 0 at header offset {pos}")
    name_end = pos + 1 + name_len
    if name_end >= end:
        raise ProtocolError(f"truncated header name or type at header offset {pos}")
    try:
        return raw[pos + 1 : name_end].decode("utf-8"), name_end
    except UnicodeDecodeError:
        raise ProtocolError(f"header name at offset {pos} is not valid UTF-8") from None


# A header value's reader: (block, value offset, block end, name, type code) ->
# (value, offset after it).  The name and code are there to name a fault.
_ValueReader: TypeAlias = Callable[[bytes, int, int, str, int], tuple[HeaderValue, int]]


def _true(raw: bytes, pos: int, end: int, name: str, code: int) -> tuple[bool, int]:
    """Type 0 has no value bytes: the type is the value."""
    return True, pos


def _false(raw: bytes, pos: int, end: int, name: str, code: int) -> tuple[bool, int]:
    """Type 1 has no value bytes: the type is the value."""
    return False, pos


def _fixed_int(raw: bytes, pos: int, end: int, name: str, code: int) -> tuple[int, int]:
    """Types 2-5, as the ``int`` subclass that encodes back to the same width."""
    size, fmt, cls = _FIXED_INTS[code]
    if pos + size > end:
        raise ProtocolError(f"truncated value of header {name!r} (type {code})")
    return cls(fmt.unpack_from(raw, pos)[0]), pos + size


def _sized(raw: bytes, pos: int, end: int, name: str, code: int) -> tuple[bytes, int]:
    """Type 6, and the bytes of type 7: a u16 length, then that many bytes."""
    if pos + 2 > end:
        raise ProtocolError(f"truncated length of header {name!r} (type {code})")
    (length,) = _U16.unpack_from(raw, pos)
    pos += 2
    if pos + length > end:
        raise ProtocolError(
            f"truncated value of header {name!r}: {length} bytes declared, "
            f"{end - pos} left in the header block"
        )
    return raw[pos : pos + length], pos + length


def _string(raw: bytes, pos: int, end: int, name: str, code: int) -> tuple[str, int]:
    """Type 7: sized bytes that must be UTF-8."""
    data, pos = _sized(raw, pos, end, name, code)
    try:
        return data.decode("utf-8"), pos
    except UnicodeDecodeError:
        raise ProtocolError(f"string header {name!r} is not valid UTF-8") from None


def _timestamp(raw: bytes, pos: int, end: int, name: str, code: int) -> tuple[_dt.datetime, int]:
    """Type 8: milliseconds since the epoch, as an aware UTC datetime."""
    if pos + 8 > end:
        raise ProtocolError(f"truncated value of timestamp header {name!r}")
    (millis,) = _I64.unpack_from(raw, pos)
    try:
        return _EPOCH + _dt.timedelta(milliseconds=millis), pos + 8
    except OverflowError:
        raise ProtocolError(
            f"timestamp header {name!r} ({millis} ms) is outside the datetime range"
        ) from None


def _uuid(raw: bytes, pos: int, end: int, name: str, code: int) -> tuple[uuid.UUID, int]:
    """Type 9: sixteen raw bytes."""
    if pos + 16 > end:
        raise ProtocolError(f"truncated value of uuid header {name!r}")
    return uuid.UUID(bytes=raw[pos : pos + 16]), pos + 16


_VALUE_READERS: dict[int, _ValueReader] = {
    0: _true,
    1: _false,
    2: _fixed_int,
    3: _fixed_int,
    4: _fixed_int,
    5: _fixed_int,
    6: _sized,
    7: _string,
    8: _timestamp,
    9: _uuid,
}

_SHARED_HEADERS: dict[bytes, Headers] = {}  # header blocks seen, parsed (bounded)
_SHARED_HEADERS_MAX = 256  # blocks kept, the first ones seen; never evicted
_SHARED_BLOCK_MAX = 1024  # bytes: a larger block is parsed per decoder, never kept
_EMPTY_HEADERS: Headers = MappingProxyType({})
_new_message = tuple.__new__  # Message(...) without the extra Python-level frame
# One global lookup each on the one-whole-message path, not a global and an attribute.
_crc32 = zlib.crc32
_unpack_prelude = _PRELUDE.unpack_from
_unpack_u32 = _U32.unpack_from


class Decoder:
    """Incremental event-stream decoder: feed it bytes in any chunking, get messages.

    ``max_message_bytes`` bounds memory: a frame whose prelude announces more is
    refused at once, so the decoder never holds more than one partial message,
    and that one is always smaller than ``max_message_bytes``.

    Both checksums are always verified.  The prelude checksum is computed over the
    8 length bytes; the message checksum continues from it over the rest, which
    equals ``crc32(message[:-4])`` once the first one matched.  A prelude identical
    to the last one verified in the same ``feed`` (a run of equal-size messages)
    is known good and not recomputed.

    A message is read in four states: its prelude (the lengths and their checksum),
    its headers, its payload and its trailer (the message checksum).  Each way a
    chunk can hold messages has its own path: exactly one whole message (inline in
    :meth:`feed`), the end of the message held from earlier chunks
    (:meth:`_finish_held`, else :meth:`_resume`), every whole message after it
    (:meth:`_whole_messages`, the hot loop) and the start of one at the end
    (:meth:`_keep_tail`).  The fast paths check the states inline; the checks that
    name a fault are :meth:`_check_prelude`, :meth:`_headers_for` (with
    :func:`_parse_headers`) and :meth:`_fail_checksum`.
    """

    __slots__ = (
        "_deferred",
        "_error",
        "_held",
        "_hlen",
        "_last_headers",
        "_last_raw",
        "_max",
        "_need",
        "_parts",
    )

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        if max_message_bytes < _MIN_MESSAGE:
            raise ValueError(f"max_message_bytes must be at least {_MIN_MESSAGE}")
        self._max = max_message_bytes
        # The one partial message carried between feeds, as the input pieces that
        # hold it (large ones by reference, small ones gathered into a bytearray).
        self._parts: list[bytes | bytearray | memoryview] = []
        self._held = 0
        self._need = 0  # its total length once its prelude was checked, else 0
        self._hlen = 0  # its headers length, valid when _need is set
        self._error: ProtocolError | None = None
        self._deferred = False  # _error waits for the next call (good messages came first)
        self._last_raw = b""  # the empty header block, which parses to no headers
        self._last_headers: Headers = _EMPTY_HEADERS

    @property
    def failed(self) -> bool:
        """True once a fault was found (raised already, or waiting for the next call)."""
        return self._error is not None

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete message held until more input arrives."""
        return self._held

    def feed(self, data: bytes | bytearray | memoryview) -> list[Message]:
        """Consume ``data`` and return every message it completes, in order.

        A fault raises :class:`ProtocolError`.  When good messages came before the
        fault in the same ``data``, they are returned first and the fault is raised
        by the next call (``feed``, even ``feed(b"")``, or ``close``): nothing that
        arrived intact is lost.
        """
        if self._error is None and not self._held and type(data) is bytes and len(data) >= 16:
            # The usual chunk of a token stream is exactly one whole message, checked
            # here inline (a method call would cost a few percent of it): prelude,
            # trailer (one CRC pass over the rest), headers, payload.  A fault is
            # left to the general path, which names it.
            total, headers_len, prelude_crc = _unpack_prelude(data)
            crc_at = total - 4
            if (
                total == len(data)
                and 16 + headers_len <= total <= self._max
                and _crc32(data[:8]) == prelude_crc
                and _crc32(memoryview(data)[8:crc_at], prelude_crc) == _unpack_u32(data, crc_at)[0]
            ):
                payload_at = 12 + headers_len
                raw = data[12:payload_at]
                headers = self._last_headers if raw == self._last_raw else self._headers_for(raw)
                return [_new_message(Message, (headers, data[payload_at:crc_at]))]
        return self._feed(data)

    def close(self) -> None:
        """Declare the end of input; a partial message left over is a truncation."""
        if self._deferred:
            self._raise_deferred()
        if self._held and self._error is None:
            wanted = f" of {self._need}" if self._need else ""
            self._fail(
                "truncated stream: input ended inside a message "
                f"({self._held}{wanted} bytes received)"
            )

    # -- the paths through a chunk -------------------------------------------------

    def _feed(self, data: bytes | bytearray | memoryview) -> list[Message]:
        """The general path: end the held message, take the whole ones, keep the rest.

        A fault that follows good messages waits for the next call, so that they
        are returned first.
        """
        if self._error is not None:
            self._raise_deferred()
        if type(data) is not bytes:
            data = bytes(data)  # also a private copy of a caller's mutable buffer
        out: list[Message] = []
        found: list[tuple[Headers, bytes]] = []  # the hot loop's, made Messages in one C pass
        try:
            try:
                view = memoryview(data)
                pos = self._finish_held(data, view, out) if self._held else 0
                if not self._held:  # nothing held, or the held message ended in data
                    if len(data) - pos >= 12:  # a whole prelude to start from
                        pos = self._whole_messages(data, view, pos, found)
                    if pos < len(data):
                        self._keep_tail(data, view, pos)
            finally:  # also after a fault: the messages found before it came intact
                if found:
                    out += map(_new_message, repeat(Message), found)
        except ProtocolError:
            if not out:
                raise
            self._deferred = True
        return out

    def _finish_held(self, data: bytes, view: memoryview, out: list[Message]) -> int:
        """Continue the held message with ``data``; return how much of it was used.

        The usual way a message spans chunks is one held piece with its prelude
        (checked on arrival) and headers, and the rest of the payload and the
        trailer at the start of ``data``: checked here, in one CRC pass over both.
        Any other split is for :meth:`_resume`.
        """
        stop = self._need - self._held  # where the held message ends in data (need > 0)
        payload_at = 12 + self._hlen
        if not (4 <= stop <= len(data) and len(self._parts) == 1 and self._held >= payload_at):
            return self._resume(data, out)
        first = self._parts[0]
        crc_at = stop - 4
        actual = zlib.crc32(view[:crc_at], zlib.crc32(first))
        (expected,) = _U32.unpack_from(data, crc_at)
        if actual != expected:
            self._fail_checksum(expected, actual)
        raw = bytes(first[12:payload_at])
        headers = self._last_headers if raw == self._last_raw else self._headers_for(raw)
        payload = b"".join((first[payload_at:], view[:crc_at]))
        out.append(_new_message(Message, (headers, payload)))
        self._parts = []
        self._held = self._need = 0
        return stop

    def _resume(self, data: bytes, out: list[Message]) -> int:
        """Continue the held partial message with ``data``; return how much of it was used."""
        used = 0
        if not self._need:  # the prelude itself is still incomplete
            used = min(12 - self._held, len(data))
            self._hold(data[:used])
            if not self._need:
                return used
        stop = used + self._need - self._held  # where the message ends in data
        if stop > len(data):
            self._hold(memoryview(data)[used:])
            return len(data)
        self._parts.append(memoryview(data)[used:stop])
        out.append(_new_message(Message, self._decode_parts(self._need)))
        self._parts = []
        self._held = self._need = 0
        return stop

    def _whole_messages(
        self, data: bytes, view: memoryview, pos: int, found: list[tuple[Headers, bytes]]
    ) -> int:
        """Decode each message lying whole in ``data`` from the prelude at ``pos``.

        Appends its headers and payload to ``found`` and returns where they end.
        The hot loop, so its tricks are deliberate: globals and attributes read into
        locals once; no Python call of our own unless a checksum fails or a header
        block differs from the previous one; a prelude equal to the last one checked
        is not re-checked; a message's checksum and the next prelude are unpacked in
        one call; no Message made here (the caller makes them all in one C-level
        pass).  A bad prelude stops the loop; :meth:`_keep_tail` names the fault.
        """
        crc32 = zlib.crc32
        unpack_u32 = _U32.unpack_from
        unpack_crc_prelude = _CRC_PRELUDE.unpack_from
        append = found.append
        last_raw = self._last_raw
        last_headers = self._last_headers
        max_bytes = self._max
        size = len(data)
        good_crc = good_total = good_hlen = -1
        total, headers_len, prelude_crc = _PRELUDE.unpack_from(data, pos)
        end = pos + total
        while end <= size:  # the message at pos lies whole in data
            # Prelude: checked unless equal to the last one checked (equal sizes).
            if prelude_crc != good_crc or total != good_total or headers_len != good_hlen:
                if (
                    16 + headers_len <= total <= max_bytes
                    and crc32(data[pos : pos + 8]) == prelude_crc
                ):
                    good_crc, good_total, good_hlen = prelude_crc, total, headers_len
                else:
                    break
            # Trailer: the message checksum continues the prelude's over the rest.
            crc_at = end - 4
            actual = crc32(view[pos + 8 : crc_at], prelude_crc)
            payload_at = pos + 12 + headers_len
            raw = data[pos + 12 : payload_at]
            if size - end >= 12:  # this checksum and the next prelude in one call
                expected, total, headers_len, prelude_crc = unpack_crc_prelude(data, crc_at)
            else:  # no next prelude in data
                expected = unpack_u32(data, crc_at)[0]
                total = size  # moves end past the data: the loop ends
            # Headers: the previous block's while the bytes are equal.
            if actual != expected or raw != last_raw:
                last_headers = self._trailer_and_headers(expected, actual, raw)
                last_raw = self._last_raw
            # Payload: the one copy made of it.
            append((last_headers, data[payload_at:crc_at]))
            pos = end
            end += total
        return pos

    def _trailer_and_headers(self, expected: int, actual: int, raw: bytes) -> Headers:
        """The hot loop's rare case, out of its way: a bad checksum or a new header block."""
        if actual != expected:
            self._fail_checksum(expected, actual)
        return self._headers_for(raw)

    def _keep_tail(self, data: bytes, view: memoryview, pos: int) -> None:
        """Hold the start of a message left at the end of ``data``; check its prelude if whole."""
        rest = len(data) - pos
        if rest >= 12:
            total, headers_len, prelude_crc = _PRELUDE.unpack_from(data, pos)
            if (
                16 + headers_len <= total <= self._max
                and zlib.crc32(data[pos : pos + 8]) == prelude_crc
            ):
                self._need = total
                self._hlen = headers_len
            else:
                self._check_prelude(data, pos)  # raises, naming the fault
        # Large pieces by reference (data is immutable bytes), small ones gathered.
        self._parts = [view[pos:] if rest >= 4096 else bytearray(view[pos:])]
        self._held = rest

    # -- the held message ----------------------------------------------------------

    def _hold(self, piece: bytes | memoryview) -> None:
        """Keep ``piece`` of a partial message; check its prelude once it is whole."""
        parts = self._parts
        if len(piece) >= 4096:
            parts.append(piece)  # input is immutable bytes: keep a reference, not a copy
        elif parts and type(parts[-1]) is bytearray:
            parts[-1] += piece
        else:
            parts.append(bytearray(piece))
        self._held += len(piece)
        if not self._need and self._held >= 12:
            self._need = self._check_prelude(b"".join(self._span(0, 12)), 0)

    def _span(self, start: int, stop: int) -> list[memoryview]:
        """Views of bytes ``[start, stop)`` of the held pieces, without copying them."""
        views = []
        offset = 0
        for part in self._parts:
            size = len(part)
            if offset + size > start:
                views.append(
                    memoryview(part)[start - offset if start > offset else 0 : stop - offset]
                )
            offset += size
            if offset >= stop:
                break
        return views

    def _decode_parts(self, total: int) -> tuple[Headers, bytes]:
        """Decode the message held in any number of pieces: one CRC pass, one payload copy."""
        payload_at = 12 + self._hlen
        crc_at = total - 4
        head = b"".join(self._span(0, payload_at))
        payload_views = self._span(payload_at, crc_at)
        actual = zlib.crc32(head)  # from byte 0: the prelude was checked on arrival
        for view in payload_views:
            actual = zlib.crc32(view, actual)
        (expected,) = _U32.unpack(b"".join(self._span(crc_at, total)))
        if actual != expected:
            self._fail_checksum(expected, actual)
        return self._headers_for(head[12:]), b"".join(payload_views)

    # -- the checks that name a fault, and the faults ------------------------------

    def _check_prelude(self, buf: bytes, pos: int) -> int:
        """Validate the prelude at ``pos``; return the total length, keep the headers length."""
        total, headers_len, prelude_crc = _PRELUDE.unpack_from(buf, pos)
        actual = zlib.crc32(buf[pos : pos + 8])
        if actual != prelude_crc:
            self._fail(
                f"prelude checksum mismatch: expected 0x{prelude_crc:08x}, "
                f"calculated 0x{actual:08x}"
            )
        if total < _MIN_MESSAGE:
            self._fail(f"total length {total} is below the minimum message size {_MIN_MESSAGE}")
        if headers_len > total - _MIN_MESSAGE:
            self._fail(f"headers length {headers_len} does not fit in total length {total}")
        if total > self._max:
            self._fail(
                f"message of {total} bytes exceeds max_message_bytes={self._max}; "
                "refused before buffering it"
            )
        self._hlen = headers_len
        return int(total)

    def _headers_for(self, raw: bytes | bytearray | memoryview) -> Headers:
        """Parsed headers of ``raw``, reusing the last block's when the bytes are equal.

        Blocks are also shared between decoders (every stream's PayloadParts carry
        the same three headers); parsed headers are read-only, so sharing is safe.
        """
        if raw != self._last_raw:
            raw = bytes(raw)
            headers = _SHARED_HEADERS.get(raw)
            if headers is None:
                try:
                    headers = _parse_headers(raw)
                except ProtocolError as exc:
                    self._fail(str(exc))
                if len(raw) <= _SHARED_BLOCK_MAX and len(_SHARED_HEADERS) < _SHARED_HEADERS_MAX:
                    _SHARED_HEADERS[raw] = headers
            self._last_headers = headers
            self._last_raw = raw
        return self._last_headers

    def _fail_checksum(self, expected: int, actual: int) -> NoReturn:
        """The trailer's fault."""
        self._fail(
            f"message checksum mismatch: expected 0x{expected:08x}, calculated 0x{actual:08x}"
        )

    def _fail(self, reason: str) -> NoReturn:
        """Record the fault and drop the held message: the stream is never resynchronised."""
        self._error = ProtocolError(reason)
        self._parts = []
        self._held = self._need = 0
        raise self._error

    def _raise_deferred(self) -> None:
        """Raise the recorded fault: as itself if good messages went first, else as a refusal."""
        if self._error is not None:
            if self._deferred:
                self._deferred = False
                # Raised afresh: the traceback shows the call that reports it.
                raise self._error.with_traceback(None)
            raise ProtocolError(f"decoder refused input after an earlier error: {self._error}")


# --- encoding ---------------------------------------------------------------------


def _encode_value(name: str, value: HeaderValue) -> bytes:
    if value is True:
        return b"\x00"
    if value is False:
        return b"\x01"
    if isinstance(value, int):
        code, fmt = _int_format(value)
        try:
            return bytes((code,)) + fmt.pack(value)
        except struct.error:
            raise ValueError(
                f"header {name!r}: {int(value)} does not fit in type {type(value).__name__}; "
                "wrap it in Int64 for a 64-bit value"
            ) from None
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return b"\x06" + _with_length(name, raw)
    if isinstance(value, str):
        return b"\x07" + _with_length(name, value.encode("utf-8"))
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"header {name!r}: timestamps must be timezone-aware")
        millis = (value - _EPOCH) // _dt.timedelta(milliseconds=1)
        return b"\x08" + _I64.pack(millis)
    if isinstance(value, uuid.UUID):
        return b"\x09" + value.bytes
    raise TypeError(f"header {name!r}: unsupported value type {type(value).__name__}")


def _int_format(value: int) -> tuple[int, struct.Struct]:
    for code, (_size, fmt, cls) in _FIXED_INTS.items():
        if cls is not int and isinstance(value, cls):
            return code, fmt
    return 4, _FIXED_INTS[4][1]


def _with_length(name: str, raw: bytes) -> bytes:
    if len(raw) > _MAX_VALUE_LEN:
        raise ValueError(f"header {name!r}: value of {len(raw)} bytes exceeds {_MAX_VALUE_LEN}")
    return _U16.pack(len(raw)) + raw


def encode_headers(headers: Headers) -> bytes:
    """Encode a header block; reuse the result with :func:`frame` for many messages."""
    parts: list[bytes] = []
    for name, value in headers.items():
        if not isinstance(name, str):
            raise TypeError(f"header names must be str, not {type(name).__name__}: {name!r}")
        raw_name = name.encode("utf-8")
        if not 1 <= len(raw_name) <= 255:
            raise ValueError(f"header name {name!r} must be 1 to 255 bytes of UTF-8")
        parts.append(bytes((len(raw_name),)) + raw_name + _encode_value(name, value))
    return b"".join(parts)


def frame(raw_headers: bytes, payload: bytes | bytearray | memoryview = b"") -> bytes:
    """Wrap an already encoded header block and a payload into one message."""
    total = _MIN_MESSAGE + len(raw_headers) + len(payload)
    if total > 0xFFFFFFFF:
        raise ValueError(f"message of {total} bytes exceeds the 4 GiB format limit")
    lengths = _LENGTHS.pack(total, len(raw_headers))
    head = lengths + _U32.pack(zlib.crc32(lengths)) + raw_headers
    return head + bytes(payload) + _U32.pack(zlib.crc32(payload, zlib.crc32(head)))


def encode(headers: Headers, payload: bytes | bytearray | memoryview = b"") -> bytes:
    """Encode one message: ``Decoder().feed(encode(h, p))`` gives back ``h`` and ``p``."""
    return frame(encode_headers(headers), payload)
