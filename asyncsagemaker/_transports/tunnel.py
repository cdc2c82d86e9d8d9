"""A TCP connection through an HTTP proxy's ``CONNECT`` tunnel, for the HTTP/2 transport.

The HTTP/1.1 transport leaves proxies to aiohttp; HTTP/2 needs a tunnel for both
of its schemes (an HTTP/1.1 proxy cannot forward h2c), so :func:`open_tunnel`
asks the proxy for ``CONNECT host:port``, and, for ``https://``, starts TLS (with
ALPN ``h2``) inside the tunnel, end to end with the service.  The proxy URL is
``Settings.proxy``'s, from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` as
botocore reads them; ``http://user:password@host:port`` sends Basic credentials.
Only ``http://`` proxies are spoken to (TLS to the proxy itself would be TLS in TLS).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import urllib.parse
from typing import Final

from ..errors import ConfigurationError, NetworkError

__all__ = ["open_tunnel", "proxy_name"]

_HEAD_END: Final = b"\r\n\r\n"


def proxy_name(proxy: str) -> str:
    """The proxy's URL without its credentials, for messages."""
    parts = urllib.parse.urlsplit(proxy)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}:{parts.port or 80}"


async def open_tunnel(
    proxy: str, host: str, port: int, *, ssl_context: ssl.SSLContext | None, limit: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams to ``host:port`` through ``proxy`` (TLS inside when ``ssl_context``).

    A refusal of the proxy is a ``NetworkError`` naming its status line (retried
    like any connection failure), except 407, a ``ConfigurationError``: the
    credentials in the proxy URL are missing or wrong, and retrying cannot help.
    """
    parts = urllib.parse.urlsplit(proxy)
    name = proxy_name(proxy)
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigurationError(
            f"the proxy {name} cannot carry bidirectional streams: only http:// proxies are "
            "supported (the tunnel still carries TLS end to end for https:// endpoints)"
        )
    try:
        reader, writer = await asyncio.open_connection(
            parts.hostname, parts.port or 80, limit=limit
        )
    except OSError as exc:
        raise NetworkError(f"could not connect to the proxy {name}: {exc}") from None
    try:
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        writer.write(_connect_request(authority, parts))
        try:
            head = await reader.readuntil(_HEAD_END)  # at most ``limit`` bytes
        except asyncio.IncompleteReadError:
            raise NetworkError(f"the proxy {name} closed the connection instead of answering "
                               f"CONNECT {authority}") from None  # fmt: skip
        except asyncio.LimitOverrunError:
            raise NetworkError(f"the proxy {name} answered CONNECT with over {limit} bytes "
                               "of headers") from None  # fmt: skip
        _check_answer(head, name, authority, parts.username is not None)
        if ssl_context is not None:
            writer = await _start_tls(reader, writer, ssl_context, host)
    except BaseException:
        writer.close()
        raise
    return reader, writer


def _connect_request(authority: str, parts: urllib.parse.SplitResult) -> bytes:
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        lines.append(f"Proxy-Authorization: Basic {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _check_answer(head: bytes, name: str, authority: str, gave_credentials: bool) -> None:
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")[:200]
    fields = status_line.split(None, 2)
    code = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
    if not fields or not fields[0].startswith("HTTP/") or not code:
        raise NetworkError(f"the proxy {name} answered CONNECT with {status_line!r}, not HTTP")
    if code == 407:
        which = "refused the credentials" if gave_credentials else "asks for credentials"
        raise ConfigurationError(
            f"the proxy {name} {which} ({status_line}): give them in the proxy URL, "
            "http://user:password@host:port"
        )
    if not 200 <= code < 300:
        raise NetworkError(f"the proxy {name} refused to open a tunnel to {authority}: "
                           f"{status_line}")  # fmt: skip


async def _start_tls(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    ssl_context: ssl.SSLContext,
    host: str,
) -> asyncio.StreamWriter:
    """TLS inside the tunnel: ``StreamWriter.start_tls`` (3.11+) or the loop's own."""
    start_tls = getattr(writer, "start_tls", None)
    if start_tls is not None:
        await start_tls(ssl_context, server_hostname=host)
        return writer
    loop = asyncio.get_running_loop()  # Python 3.10
    protocol = writer.transport.get_protocol()
    transport = await loop.start_tls(writer.transport, protocol, ssl_context, server_hostname=host)
    if transport is None:
        with contextlib.suppress(Exception):
            writer.close()
        raise NetworkError("TLS could not start inside the proxy's tunnel")
    return asyncio.StreamWriter(transport, protocol, reader, loop)
