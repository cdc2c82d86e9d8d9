"""The ``asyncsagemaker`` command line: ``invoke``, ``duplex``, ``batch``, ``emulate``, ``demo``,
``token``.

Each sub-command lives beside the layer it drives; this module only builds the
parser and dispatches.  Only the sub-command named on the command line has its
module imported and its arguments added (the others are listed by name), so a
command loads what it runs and nothing of the others: ``invoke`` never loads the
emulator, the bidirectional call or the batch engine.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .._version import __version__


def _invoke(parser: argparse.ArgumentParser) -> None:
    from ._invoke import add_invoke_arguments

    add_invoke_arguments(parser)


def _duplex(parser: argparse.ArgumentParser) -> None:
    from ._duplex import add_duplex_arguments

    add_duplex_arguments(parser)


def _demo(parser: argparse.ArgumentParser) -> None:
    from ._invoke import add_demo_arguments

    add_demo_arguments(parser)


def _token(parser: argparse.ArgumentParser) -> None:
    from ._invoke import add_token_arguments

    add_token_arguments(parser)


def _batch(parser: argparse.ArgumentParser) -> None:
    from ._batch import add_batch_arguments

    add_batch_arguments(parser)


def _emulate(parser: argparse.ArgumentParser) -> None:
    from ..emulator import _cli as emulator_cli

    emulator_cli.add_arguments(parser)


#: Each sub-command: its help line, and what adds its arguments (importing its module).
_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "invoke": ("invoke an endpoint; print the answer or its tokens as they arrive", _invoke),
    "duplex": (
        "a bidirectional stream: stdin lines go up, parts are printed as they come",
        _duplex,
    ),
    "demo": ("stream a chat answer from an embedded emulator through the real client", _demo),
    "token": (
        "print a bearer token for the OpenAI-compatible route (curl, other languages)",
        _token,
    ),
    "batch": ("send a JSON lines file of requests; resumable", _batch),
    "emulate": ("run a local SageMaker Runtime emulator", _emulate),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; given a sub-command's name, only that one's arguments are added."""
    parser = argparse.ArgumentParser(
        prog="asyncsagemaker",
        description="asyncio SDK for Amazon SageMaker Runtime streaming, with a local emulator.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and debug logging on errors"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_line, add_arguments) in _COMMANDS.items():
        sub = commands.add_parser(name, help=help_line)
        if command is None or command == name:
            add_arguments(sub)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names (the top-level options take no value), if any."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in _COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    handler = args.handler
    result: int = handler(args)
    return result
