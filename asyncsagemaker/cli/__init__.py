"""The ``asyncsagemaker`` command line: ``invoke``, ``duplex``, ``batch``, ``emulate``, ``demo``,
``token``.

Each sub-command lives beside the layer it drives; this module only builds the
parser and dispatches, so ``--help`` stays fast and imports nothing heavy.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncsagemaker",
        description="asyncio SDK for Amazon SageMaker Runtime streaming, with a local emulator.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and debug logging on errors"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    from ._invoke import add_demo_arguments, add_invoke_arguments, add_token_arguments

    invoke = commands.add_parser(
        "invoke", help="invoke an endpoint; print the answer or its tokens as they arrive"
    )
    add_invoke_arguments(invoke)
    from ._duplex import add_duplex_arguments

    duplex = commands.add_parser(
        "duplex", help="a bidirectional stream: stdin lines go up, parts are printed as they come"
    )
    add_duplex_arguments(duplex)
    demo = commands.add_parser(
        "demo", help="stream a chat answer from an embedded emulator through the real client"
    )
    add_demo_arguments(demo)
    token = commands.add_parser(
        "token",
        help="print a bearer token for the OpenAI-compatible route (curl, other languages)",
    )
    add_token_arguments(token)
    from ._batch import add_batch_arguments

    add_batch_arguments(
        commands.add_parser("batch", help="send a JSON lines file of requests; resumable")
    )
    from ..emulator import _cli as emulator_cli

    emulate = commands.add_parser("emulate", help="run a local SageMaker Runtime emulator")
    emulator_cli.add_arguments(emulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    handler = args.handler
    result: int = handler(args)
    return result
