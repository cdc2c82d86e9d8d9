"""``asyncsagemaker batch INPUT -o OUTPUT --endpoint EP``: :func:`asyncsagemaker.batch.run`
on the command line.

Ctrl-C (SIGINT) or SIGTERM stops the run cleanly: rows in flight are dropped, the rows
written stay, the summary says how many are left, and the same command finishes the
job (sending the error rows again too, unless ``--keep-errors``).  A second signal
exits at once (the output is whole either way).  A run whose first rows all fail
alike stops early and exits with the status ``invoke`` gives that error.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

import anyio

from ._invoke import _TOKEN_FORMATS, _fail, exit_status

__all__ = ["add_batch_arguments", "run_batch"]

_SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, not {text}")
    return value


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input", metavar="INPUT", help="JSON lines, one request per line (- for stdin)"
    )
    parser.add_argument(
        "-o", "--output", required=True, help="JSON lines of results; rows already there are kept"
    )
    parser.add_argument("--endpoint", required=True, help="the endpoint name")
    parser.add_argument(
        "--concurrency", type=_positive_int, default=16, help="requests in flight (default 16)"
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="stream each answer: text, finish reason, usage and time to first token per row",
    )
    parser.add_argument(
        "--tokens",
        choices=_TOKEN_FORMATS,
        metavar="FORMAT",
        help="--stream, reading tokens as FORMAT: %(choices)s",
    )
    parser.add_argument(
        "--retries",
        type=_count,
        default=3,
        help="more attempts per row after a retryable error, beyond the client's (default 3)",
    )
    parser.add_argument(
        "--backoff", type=float, default=1.0, help="base seconds of the per-row backoff (1)"
    )
    parser.add_argument(
        "--max-backoff", type=float, default=30.0, help="cap of the per-row backoff, s (30)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="start the output afresh instead of resuming"
    )
    parser.add_argument(
        "--keep-errors",
        action="store_true",
        help="resuming, keep the output's error rows as done instead of sending them again",
    )
    parser.add_argument(
        "--stop-after-failures",
        type=_count,
        default=20,
        metavar="N",
        help="stop when the first N rows all fail alike and none succeeds (default 20; 0: never)",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "bar", "lines", "off"),
        default="auto",
        help="a bar on a terminal with tqdm installed, else periodic lines (default auto)",
    )
    parser.add_argument(
        "--progress-interval",
        type=_seconds,
        default=10.0,
        help="seconds between progress lines (default 10)",
    )
    parser.add_argument("--region", help="AWS region (else AWS_REGION or the profile's)")
    parser.add_argument("--profile", help="a profile of ~/.aws/config")
    parser.add_argument("--endpoint-url", help="send here instead of the AWS endpoint")
    parser.add_argument("--read-timeout", type=_seconds, default=60.0, help="idle timeout, s")
    parser.add_argument(
        "--timeout", type=_seconds, default=None, help="seconds allowed per attempt of a row"
    )
    parser.add_argument(
        "--max-attempts",
        type=_positive_int,
        default=None,
        help="the client's own attempts per call (default: the AWS retry settings)",
    )
    parser.set_defaults(handler=run_batch)


async def _main(args: argparse.Namespace) -> int:
    from .. import batch
    from .._client import SageMakerRuntime
    from .._config import Config

    config = Config(
        max_pool_connections=args.concurrency,
        read_timeout=args.read_timeout,
        total_timeout=args.timeout,
        max_attempts=args.max_attempts,
    )
    client = SageMakerRuntime(
        args.region, endpoint_url=args.endpoint_url, profile_name=args.profile, config=config
    )
    stop = anyio.Event()
    caught: list[int] = []
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:

        async def watch() -> None:
            async for number in signals:
                if caught:  # a second signal: stop now, the output is whole anyway
                    os._exit(_SIGNAL_EXIT.get(signal.Signals(number), 130))
                caught.append(number)
                print("batch: stopping (again to exit at once)", file=sys.stderr, flush=True)
                stop.set()

        failure: Exception | None = None
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch)
            try:
                async with client:
                    summary = await batch.run(
                        client,
                        args.endpoint,
                        args.input,
                        args.output,
                        concurrency=args.concurrency,
                        stream=bool(args.stream or args.tokens),
                        format=args.tokens,
                        retries=args.retries,
                        backoff=args.backoff,
                        max_backoff=args.max_backoff,
                        resume=not args.overwrite,
                        progress=args.progress,
                        progress_interval=args.progress_interval,
                        stop=stop,
                        keep_errors=args.keep_errors,
                        stop_after_failures=args.stop_after_failures,
                    )
            except Exception as exc:  # raised as it is, not in the task group's group
                failure = exc
            finally:
                tasks.cancel_scope.cancel()
        if failure is not None:
            raise failure
    print(summary, file=sys.stderr, flush=True)
    if caught:
        return _SIGNAL_EXIT.get(signal.Signals(caught[0]), 130)
    if summary.stopped_by is not None:
        print(
            "batch: check --endpoint, --region, --endpoint-url and the input, then run "
            "again (the failed rows are sent again); --stop-after-failures 0 never stops",
            file=sys.stderr,
            flush=True,
        )
        return exit_status(summary.stopped_by)
    clean = summary.complete and not summary.error_rows and not summary.bad_lines
    return 0 if clean else 1


def run_batch(args: argparse.Namespace) -> int:
    """The ``batch`` sub-command."""
    from ..errors import SageMakerError

    if args.backoff < 0 or args.max_backoff < 0:
        print("asyncsagemaker batch: --backoff and --max-backoff must be >= 0", file=sys.stderr)
        return 2
    status: Any = 0
    try:
        status = anyio.run(_main, args)
    except (SageMakerError, KeyboardInterrupt) as exc:
        return _fail(exc, bool(getattr(args, "debug", False)), sys.stderr)
    return int(status)
