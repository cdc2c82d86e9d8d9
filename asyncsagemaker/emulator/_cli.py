"""``asyncsagemaker emulate``: run the emulator in the foreground until Ctrl-C.

Prints the URL it listens on (useful with ``--port 0``) and one log line per
request: method, endpoint, operation, status, parts, duration, outcome.  Never a
secret and never a body.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import sys
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``emulate`` options."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8080, help="port to bind; 0 picks a free one (default 8080)"
    )
    parser.add_argument(
        "--region",
        default="us-east-1",
        help="the region it stands for: bearer tokens of the OpenAI-compatible route must "
        "be scoped to it (default us-east-1)",
    )
    parser.add_argument(
        "--bidi-port",
        type=int,
        default=None,
        metavar="PORT",
        help="also listen for HTTP/2 bidirectional streams on PORT (0 picks a free one; "
        "the real service uses 8443); without it no HTTP/2 listener is opened",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="serve endpoint NAME with SPEC: echo, demo, package.module:function or "
        "container:http://127.0.0.1:PORT (repeatable; default: echo and demo)",
    )
    parser.add_argument(
        "--credentials",
        action="append",
        default=[],
        metavar="AKID:SECRET",
        help="accept only requests signed with these credentials (repeatable); "
        "without, any well-formed SigV4 request is accepted",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="ENDPOINT:k=v,...",
        help="inject faults, e.g. chat:throttle_first=2,stall_seconds=1.5 (repeatable)",
    )
    parser.add_argument(
        "--token-delay",
        type=float,
        default=0.02,
        metavar="SECONDS",
        help="pause between tokens of the demo model (default 0.02)",
    )
    parser.add_argument(
        "--dialect",
        default="default",
        choices=_dialects(),
        help="the model server whose chat answers (tool calls, reasoning) the demo model "
        "imitates (default: the demo's own shapes)",
    )
    parser.add_argument(
        "--tls-cert",
        default=None,
        metavar="FILE",
        help="serve HTTPS with this PEM certificate chain (needs --tls-key)",
    )
    parser.add_argument(
        "--tls-key",
        default=None,
        metavar="FILE",
        help="the PEM private key of --tls-cert",
    )
    parser.add_argument(
        "--async-dir",
        default=None,
        metavar="DIR",
        help="directory standing in for S3 for InvokeEndpointAsync (default: a temporary one)",
    )
    parser.set_defaults(handler=run)


def _dialects() -> tuple[str, ...]:
    from ._demo_chat import DIALECTS

    return DIALECTS


def _emulator_options(args: argparse.Namespace) -> dict[str, Any]:
    from ._faults import parse_fault_option

    models: dict[str, str] = {}
    for item in args.model:
        name, sep, spec = item.partition("=")
        if not sep or not name or not spec:
            raise ValueError(f"--model {item!r}: expected NAME=SPEC")
        models[name] = spec
    credentials: dict[str, str] = {}
    for item in args.credentials:
        akid, sep, secret = item.partition(":")
        if not sep or not akid or not secret:
            raise ValueError("--credentials: expected AKID:SECRET")
        credentials[akid] = secret
    faults = dict(parse_fault_option(item) for item in args.fault)
    return {
        "ssl_context": _tls_context(args.tls_cert, args.tls_key),
        "models": models or None,
        "credentials": credentials or None,
        "faults": faults or None,
        "host": args.host,
        "port": args.port,
        "token_delay": args.token_delay,
        "dialect": args.dialect,
        "async_output_dir": args.async_dir,
        "bidi_port": args.bidi_port,
        "region": args.region,
    }


def _tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """A server context for ``--tls-cert``/``--tls-key``; ValueError naming what is wrong."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("--tls-cert and --tls-key go together: give both")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"cannot load the TLS certificate {cert!r} and key {key!r}: {exc}"
        ) from None
    return context


async def _serve(options: dict[str, Any]) -> None:
    from ._server import Emulator

    emulator = Emulator(**options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(number, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
            signal.signal(number, lambda *_: loop.call_soon_threadsafe(stop.set))
    async with emulator:
        endpoints = ", ".join(emulator.endpoints)
        signatures = emulator.signature_checks
        if emulator.credentials is None:
            signatures += " (no --credentials)"
        print(f"SageMaker Runtime emulator listening on {emulator.url}", flush=True)
        if options["bidi_port"] is not None:
            print(f"bidirectional streams (HTTP/2) on {emulator.bidi_url}", flush=True)
        print(f"endpoints: {endpoints}; signatures: {signatures}; Ctrl-C stops", flush=True)
        await stop.wait()
    print("emulator stopped", flush=True)


def run(args: argparse.Namespace) -> int:
    """Run until SIGINT or SIGTERM; 0 on a clean stop, 2 on bad options."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr, force=False
    )
    logging.getLogger("asyncsagemaker.emulator").setLevel(logging.INFO)
    try:
        options = _emulator_options(args)
        asyncio.run(_serve(options))
    except (ValueError, TypeError, ImportError, AttributeError) as exc:
        print(f"asyncsagemaker emulate: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"asyncsagemaker emulate: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0
