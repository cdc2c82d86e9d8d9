"""``asyncsagemaker duplex``: a terminal on a bidirectional stream.

Each line of standard input goes up as one COMPLETE part (UTF8, or BINARY with
``--binary``; the line break is not sent); parts coming down are printed as they
arrive, text as it is (a COMPLETE part ends its line), binary as a short note.
The end of input ends the stream's input, and the command returns when the model
has finished; Ctrl-C closes the stream at once (RST_STREAM) and exits with 130.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import AsyncIterator
from typing import TextIO

from .._bidi.events import BidiPart
from .._client import SageMakerRuntime
from ._invoke import _run

__all__ = ["add_duplex_arguments", "run_duplex"]


def add_duplex_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("endpoint", metavar="ENDPOINT", help="the endpoint name")
    parser.add_argument(
        "--binary", action="store_true", help="send each line as a BINARY part (default UTF8)"
    )
    parser.add_argument("--model-invocation-path", help="the path the container is invoked at")
    parser.add_argument("--model-query-string", help="the query string for the container")
    parser.add_argument("--target-variant", help="the production variant to use")
    parser.add_argument("--region", help="AWS region (else from the environment/profile)")
    parser.add_argument("--profile", help="a profile of ~/.aws/config")
    parser.add_argument(
        "--endpoint-url",
        help="HTTP/2 URL to send to instead of AWS (also AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME_HTTP2)",
    )
    parser.set_defaults(handler=run_duplex)


async def _lines(fd: int, binary: bool) -> AsyncIterator[str | bytes]:
    """Lines of file descriptor ``fd``, read in a daemon thread with ``os.read``.

    Not through ``sys.stdin``: a daemon thread blocked inside its buffered reader
    would hold that reader's lock when Ctrl-C ends the interpreter.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=64)

    def put(item: bytes | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody reads any more
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    def read() -> None:
        pending = b""
        while chunk := os.read(fd, 65536):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                put(line)
        if pending:
            put(pending)
        put(None)

    threading.Thread(target=read, name="duplex-stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line if binary else line.decode("utf-8", "replace")


def _show(part: BidiPart, out: TextIO) -> None:
    if part.data_type == "UTF8":
        out.write(part.data.decode("utf-8", "replace"))
    else:
        out.write(f"<{len(part.data)} bytes>")
    if part.completion_state == "COMPLETE":
        out.write("\n")
    out.flush()


def run_duplex(args: argparse.Namespace) -> int:
    """The ``duplex`` sub-command."""

    async def main(args: argparse.Namespace) -> None:
        client = SageMakerRuntime(
            args.region, profile_name=args.profile, bidi_endpoint_url=args.endpoint_url
        )
        async with client:
            call = client.invoke_endpoint_with_bidirectional_stream(
                args.endpoint,
                target_variant=args.target_variant,
                model_invocation_path=args.model_invocation_path,
                model_query_string=args.model_query_string,
                input=_lines(sys.stdin.fileno(), args.binary),
            )
            async with call as duplex:
                print(
                    f"stream open: variant {duplex.invoked_production_variant or '-'} | "
                    f"request id {duplex.request_id or '-'}",
                    file=sys.stderr,
                    flush=True,
                )
                async for part in duplex:
                    _show(part, sys.stdout)

    return _run(main, args)
