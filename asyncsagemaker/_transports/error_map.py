"""The error map at the transport boundary: rows of exception families, first match wins.

Every transport translates what its library, asyncio, the OS and the TLS layer raise
into our error tree through one :class:`ErrorMap`: its own rows (its library's
exceptions, most specific first) followed by :data:`GENERIC_ROWS` (what any socket
code raises).  Nothing else leaves the seam.  A transport passes its rows in, so the
HTTP/2 transport needs nothing of the HTTP/1.1 one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .._redact import redact_headers
from ..errors import (
    CertificateError,
    ClientClosedError,
    NetworkError,
    ParamValidationError,
    ReadTimeoutError,
    SageMakerError,
)

__all__ = ["BODY", "GENERIC_ROWS", "REQUEST", "ErrorMap", "Row", "certificate_error", "describe"]

#: What was under way when an exception was raised (it goes into the message).
REQUEST = "the request"
BODY = "reading the response body"

#: An exception family (a type or a tuple of types) and how to make our error of it.
Row = tuple[Any, Callable[[Any, str], SageMakerError]]


def describe(exc: BaseException) -> str:
    """``Type: message`` (or the type alone): what an error message quotes of a cause."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def certificate_error(problem: object, where: str) -> CertificateError:
    """The certificate of ``where`` was refused because of ``problem``."""
    return CertificateError(
        f"the TLS certificate of {where} was not accepted: {problem} "
        "(a private CA? pass its bundle as AWS_CA_BUNDLE or ca_bundle in the profile)"
    )


def _scrub(exc: BaseException) -> None:
    """Mask the request headers a library's exception keeps (aiohttp's ``request_info``).

    The exception becomes the ``__cause__`` of ours, and its ``repr`` (in a traceback,
    a log's ``exc_info``, an error tracker) would show ``Authorization`` and the
    session token.  Its class, message and status stay, for whoever debugs.
    """
    info: Any = getattr(exc, "request_info", None)
    headers = getattr(info, "headers", None)
    if headers is None or not hasattr(info, "_replace"):
        return
    with contextlib.suppress(Exception):  # a shape we do not know: leave it
        masked = info._replace(headers=redact_headers(headers))
        exc.request_info = masked  # type: ignore[attr-defined]
        exc.args = tuple(masked if arg is info else arg for arg in exc.args)


def _bad_arguments(exc: BaseException, during: str) -> SageMakerError:
    if during == REQUEST:
        return ParamValidationError(f"the request could not be sent as given: {describe(exc)}")
    return NetworkError(f"unexpected failure during {during}: {describe(exc)}")


#: What asyncio, the OS and TLS raise, after a transport's own rows.
GENERIC_ROWS: tuple[Row, ...] = (
    (ssl.SSLCertVerificationError, lambda e, during: certificate_error(e, "the server")),
    (
        (asyncio.TimeoutError, TimeoutError),
        lambda e, during: ReadTimeoutError(
            f"no data for read_timeout during {during}: {describe(e)}"
        ),
    ),
    (ssl.SSLError, lambda e, during: NetworkError(f"TLS failed during {during}: {describe(e)}")),
    (OSError, lambda e, during: NetworkError(f"{describe(e)} (during {during})")),
    ((ValueError, TypeError), _bad_arguments),
)


class ErrorMap:
    """A transport's error map: ``rows`` in order, and what a closed client turns into.

    ``when_closed`` are the exception families that mean "the connection went away";
    raised while a request is sent by a client that was closed meanwhile, the close is
    the reason, and the error says so (:class:`ClientClosedError`).
    """

    __slots__ = ("_rows", "_when_closed")

    def __init__(self, rows: Sequence[Row], *, when_closed: Any = (OSError, RuntimeError)) -> None:
        self._rows = tuple(rows)
        self._when_closed = when_closed

    def translate(self, exc: BaseException, *, during: str, closed: bool = False) -> SageMakerError:
        """An exception from below the seam as one of ours (ours pass through as they are).

        ``during`` says what was under way (:data:`REQUEST` or :data:`BODY`); ``closed``
        whether the client was closed meanwhile (a body cut off by it is a lost
        connection, which the stream reports as such).
        """
        if isinstance(exc, SageMakerError):
            return exc
        _scrub(exc)  # it becomes our error's __cause__
        if closed and during == REQUEST and isinstance(exc, self._when_closed):
            return ClientClosedError("the client was closed while the call was under way")
        for kinds, make in self._rows:
            if isinstance(exc, kinds):
                return make(exc, during)
        return NetworkError(f"unexpected failure during {during}: {describe(exc)}")

    @contextlib.contextmanager
    def mapped(self, *, during: str, closed: Callable[[], bool] = lambda: False) -> Iterator[None]:
        """Translate whatever escapes the block."""
        try:
            yield
        except SageMakerError:
            raise
        except Exception as exc:
            raise self.translate(exc, during=during, closed=closed()) from exc
