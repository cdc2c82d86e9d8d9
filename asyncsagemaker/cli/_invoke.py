"""``asyncsagemaker invoke``, ``demo`` and ``token``: tokens on stdout as they arrive.

``invoke`` calls a real endpoint (or any ``--endpoint-url``), on SageMaker's own
API or (``--route openai``) its OpenAI-compatible route; ``demo`` starts the
emulator in-process on a free port and streams a chat answer through the very
same client, signer and codecs.  Both print the answer flushed token by token,
then one summary line on stderr.  ``token`` prints a bearer token for the
OpenAI-compatible route (for curl, other languages, gateways).  Errors are one
line each with an exit code per error class; ``--debug`` shows the traceback and
the SDK's debug log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO, overload

from .._client import SageMakerRuntime
from ..errors import (
    ConfigurationError,
    CredentialsError,
    ModelStreamError,
    NetworkError,
    ParamValidationError,
    SageMakerError,
    SageMakerTimeoutError,
    ServiceError,
    StreamError,
)

__all__ = [
    "EXIT_CODES",
    "add_demo_arguments",
    "add_invoke_arguments",
    "add_token_arguments",
    "exit_status",
    "run_demo",
    "run_invoke",
    "run_token",
]

#: Exit status per error class (the first match in this order wins).
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ParamValidationError, 2),
    (ConfigurationError, 2),
    (CredentialsError, 3),
    (ServiceError, 4),
    (StreamError, 5),
    (SageMakerTimeoutError, 6),
    (NetworkError, 7),
    (SageMakerError, 1),
)
_INTERRUPTED = 130


class _FormatNames(Sequence[str]):
    """Format names for ``choices=``, taken from ``formats`` when argparse first reads them.

    The token formats are imported by a command that uses them (or shows its help),
    not by every command line that has a ``--tokens`` option.
    """

    def __init__(self, pick: Callable[[Any], tuple[str, ...]]) -> None:
        self._pick = pick
        self._names: tuple[str, ...] | None = None

    def _get(self) -> tuple[str, ...]:
        if self._names is None:
            from .. import formats

            self._names = self._pick(formats)
        return self._names

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._get()[index]

    def __len__(self) -> int:
        return len(self._get())


_TOKEN_FORMATS = _FormatNames(lambda formats: ("auto", *formats.FORMATS))
_WIRE_FORMATS = _FormatNames(lambda formats: tuple(formats.WIRE_FORMATS))
#: Library words in error messages, and what a command-line user types instead.
_CLI_WORDS = (
    ("pass region_name=..., or set", "use --region REGION, or set"),
    ("pass region_name=... or set", "use --region REGION, or set"),
    (
        "pass aws_access_key_id/aws_secret_access_key, or configure them for botocore "
        "(environment, ~/.aws, SSO, roles...)",
        "use --profile NAME, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure "
        "~/.aws (aws configure, aws sso login)",
    ),
    ("region_name ", "--region "),
    ("expires_in must", "--expires-in must"),
    ("endpoint_url ", "--endpoint-url "),
)
_DEMO_KEY, _DEMO_SECRET = "DEMOACCESSKEY", "demo-secret-key"
_DEMO_PROMPT = "Tell me something nice about cafés."


# -- arguments ------------------------------------------------------------------------


def add_invoke_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("endpoint", metavar="ENDPOINT", help="the endpoint name")
    parser.add_argument(
        "--body",
        default="{}",
        help="JSON text, @file for a file's bytes, or - for standard input (default {})",
    )
    parser.add_argument(
        "--route",
        choices=("invoke", "openai"),
        default="invoke",
        help="invoke: SageMaker's InvokeEndpoint API (SigV4, the default); openai: the "
        "endpoint's OpenAI-compatible Chat Completions route (a bearer token; --body must "
        "be a Chat Completions body)",
    )
    parser.add_argument("--stream", action="store_true", help="stream the answer as it comes")
    parser.add_argument(
        "--tokens",
        nargs="?",
        const="auto",
        choices=_TOKEN_FORMATS,
        metavar="FORMAT",
        help="stream and print text tokens; FORMAT is one of %(choices)s (default auto)",
    )
    parser.add_argument("--content-type", help="the body's MIME type")
    parser.add_argument("--accept", help="the MIME type wanted back")
    parser.add_argument("--custom-attributes", help="passed to the model as is")
    parser.add_argument("--target-variant", help="the production variant to use")
    parser.add_argument(
        "--target-container-hostname", help="the container of a multi-container endpoint"
    )
    parser.add_argument(
        "--target-model", help="the model of a multi-model endpoint (not with --stream)"
    )
    parser.add_argument("--inference-component", help="the inference component to invoke")
    parser.add_argument("--inference-id", help="an id of your own for this request, for logs")
    parser.add_argument(
        "--session-id", help="a stateful session id, or NEW_SESSION (not with --stream)"
    )
    parser.add_argument(
        "--prefix-aware-id", help="routing hint of an endpoint with prefix-aware routing"
    )
    parser.add_argument("--region", help="AWS region (else AWS_REGION or the profile's)")
    parser.add_argument("--profile", help="a profile of ~/.aws/config")
    parser.add_argument("--endpoint-url", help="send here instead of the AWS endpoint")
    parser.add_argument("--read-timeout", type=float, default=60.0, help="idle timeout, s")
    parser.set_defaults(handler=run_invoke)


def add_token_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--expires-in",
        type=int,
        default=43200,
        metavar="SECONDS",
        help="the token's lifetime, 1 to 43200 (12 hours, the default); shorter when the "
        "credentials expire sooner",
    )
    parser.add_argument("--region", help="AWS region (else AWS_REGION or the profile's)")
    parser.add_argument("--profile", help="a profile of ~/.aws/config")
    parser.set_defaults(handler=run_token, endpoint_url=None, read_timeout=60.0)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", default=_DEMO_PROMPT, help="what to ask the demo model")
    parser.add_argument(
        "--route",
        choices=("invoke", "openai"),
        default="invoke",
        help="openai: through the OpenAI-compatible route with a bearer token (the answer "
        "is then in the vllm-chat format)",
    )
    parser.add_argument(
        "--format", choices=_WIRE_FORMATS, default="tgi", help="the model server format to emulate"
    )
    parser.add_argument("--max-tokens", type=int, default=48, help="answer length bound")
    parser.add_argument(
        "--token-delay", type=float, default=0.03, help="seconds between tokens (default 0.03)"
    )
    parser.set_defaults(handler=run_demo)


# -- running ----------------------------------------------------------------------------


def _read_body(text: str) -> tuple[Any, str | None]:
    """``--body`` as the client's body argument, and a default content type."""
    if text == "-":
        return sys.stdin.buffer.read(), None
    if text.startswith("@"):
        try:
            return Path(text[1:]).read_bytes(), None
        except OSError as exc:
            raise ParamValidationError(f"--body {text}: {exc.strerror}") from None
    try:
        return json.loads(text), "application/json"
    except ValueError:
        return text, None


def _error_line(exc: BaseException) -> str:
    """``error: Class: what happened``, in the words of the command line, said once."""
    name = type(exc).__name__
    if isinstance(exc, ServiceError):
        code = f", code {exc.code}" if exc.code and exc.code != name else ""
        text = f"{exc.message} (HTTP {exc.status_code}{code})"
        if exc.request_id:
            text += f" [request id {exc.request_id}]"
    elif isinstance(exc, ModelStreamError):
        text = exc.message + (f" [error code {exc.error_code}]" if exc.error_code else "")
    elif isinstance(exc, StreamError) and exc.code and exc.code != name:
        text = f"{exc.message} [{exc.code}]"
    else:
        text = str(exc)
    for library, cli in _CLI_WORDS:
        text = text.replace(library, cli)
    return f"error: {name}: {text}"


def _fail(exc: BaseException, debug: bool, err: TextIO) -> int:
    if debug:
        traceback.print_exception(exc, file=err)
    if isinstance(exc, KeyboardInterrupt):
        print("interrupted", file=err)
        return _INTERRUPTED
    print(_error_line(exc), file=err)
    return exit_status(exc)


def exit_status(exc: BaseException) -> int:
    """The exit status of an error: the first matching row of :data:`EXIT_CODES`."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


async def _print_stream(
    pieces: AsyncIterator[str], started: float, request_id: str | None, out: TextIO, err: TextIO
) -> None:
    """Print each piece at once (flushed); then the summary line on stderr."""
    first: float | None = None
    count = 0
    async for piece in pieces:
        if first is None:
            first = time.monotonic()
        count += 1
        out.write(piece)
        out.flush()
    ended = time.monotonic()
    out.write("\n")
    out.flush()
    ttft = f"{first - started:.3f} s" if first is not None else "-"
    generating = ended - first if first is not None else 0.0
    rate = f"{count / generating:.1f}" if generating > 0 else "-"
    print(
        f"time to first token {ttft} | {count} tokens | {rate} tokens/s | "
        f"request id {request_id or '-'}",
        file=err,
        flush=True,
    )


def _chat_request(body: Any) -> tuple[list[Any], dict[str, Any]]:
    """``--body`` for ``--route openai``: the messages and the other keys of a chat body."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise ParamValidationError(
            "--route openai sends a Chat Completions body: give --body a JSON object with "
            "a 'messages' list"
        )
    rest = {key: value for key, value in body.items() if key not in ("messages", "stream")}
    return body["messages"], rest


async def _invoke_route(
    client: SageMakerRuntime, args: argparse.Namespace, out: TextIO, body: Any
) -> None:
    messages, rest = _chat_request(body)
    members = {
        "content_type": args.content_type,
        "accept": args.accept,
        "custom_attributes": args.custom_attributes,
        "target_variant": args.target_variant,
        "target_container_hostname": args.target_container_hostname,
        "inference_id": args.inference_id,
        "session_id": args.session_id,
        "target_model": args.target_model,
    }
    given = {key: value for key, value in members.items() if value is not None}
    kwargs = {**rest, **given, "inference_component_name": args.inference_component}
    err = sys.stderr
    started = time.monotonic()
    if not (args.stream or args.tokens):
        answer = await client.chat(args.endpoint, messages, route="openai", **kwargs)
        out.write(answer.text + "\n")
        print(
            f"finish reason {answer.finish_reason} | {answer.usage or 'no usage'} | "
            f"{time.monotonic() - started:.3f} s | request id {answer.request_id or '-'}",
            file=err,
        )
        return
    async with client.chat_stream(args.endpoint, messages, route="openai", **kwargs) as stream:
        pieces = stream.tokens(args.tokens) if args.tokens else stream.text(errors="replace")
        await _print_stream(pieces, started, stream.request_id, out, err)


async def _invoke(client: SageMakerRuntime, args: argparse.Namespace, out: TextIO) -> None:
    body, default_type = _read_body(args.body)
    if args.route == "openai":
        await _invoke_route(client, args, out, body)
        return
    params: dict[str, Any] = {
        "body": body,
        "content_type": args.content_type or default_type,
        "accept": args.accept,
        "custom_attributes": args.custom_attributes,
        "target_variant": args.target_variant,
        "target_container_hostname": args.target_container_hostname,
        "inference_component_name": args.inference_component,
        "inference_id": args.inference_id,
        "session_id": args.session_id,
        "prefix_aware_id": args.prefix_aware_id,
    }
    if args.target_model is not None:
        params["target_model"] = args.target_model
    err = sys.stderr
    started = time.monotonic()
    if not (args.stream or args.tokens):
        answer = await client.invoke_endpoint(args.endpoint, **params)
        out.write(answer.body.decode("utf-8", "replace") + "\n")
        session = ""
        if answer.new_session_id:
            session = f" | new session {answer.new_session_id}"
            if answer.new_session_expires_at is not None:
                session += f" (expires {answer.new_session_expires_at:%Y-%m-%dT%H:%M:%SZ})"
        if answer.closed_session_id:
            session += f" | closed session {answer.closed_session_id}"
        print(
            f"{len(answer.body)} bytes in {time.monotonic() - started:.3f} s | "
            f"request id {answer.request_id or '-'}{session}",
            file=err,
        )
        return
    async with client.invoke_endpoint_with_response_stream(args.endpoint, **params) as stream:
        pieces = stream.tokens(args.tokens) if args.tokens else stream.text(errors="replace")
        await _print_stream(pieces, started, stream.request_id, out, err)


def _client_from(args: argparse.Namespace) -> SageMakerRuntime:
    from .._config import Config

    return SageMakerRuntime(
        args.region,
        endpoint_url=args.endpoint_url,
        profile_name=args.profile,
        config=Config(read_timeout=args.read_timeout),
    )


@contextlib.contextmanager
def _sigint_interrupts() -> Iterator[None]:
    """Let SIGINT interrupt the command even when it was started with SIGINT ignored.

    A shell starts background jobs so, and asyncio's runner only takes SIGINT over
    from Python's default handler: Ctrl-C or ``kill -INT`` would then be lost and
    the command would run on, where ``emulate`` and ``batch`` stop.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    ):
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _run(main: Any, args: argparse.Namespace) -> int:
    debug = bool(getattr(args, "debug", False))
    if debug:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        logging.getLogger("asyncsagemaker").setLevel(logging.DEBUG)
    try:
        with _sigint_interrupts():
            # asyncio's own runner: anyio's would import its asyncio backend (84 M
            # instructions, a third of the command's own start-up) for nothing here
            asyncio.run(main(args))
    except (SageMakerError, KeyboardInterrupt) as exc:
        return _fail(exc, debug, sys.stderr)
    except asyncio.CancelledError:
        # Ctrl-C cancels the main task; on Python 3.10 a runner may let that
        # cancellation out instead of turning it into KeyboardInterrupt.
        return _fail(KeyboardInterrupt(), debug, sys.stderr)
    return 0


def run_invoke(args: argparse.Namespace) -> int:
    """The ``invoke`` sub-command."""

    async def main(args: argparse.Namespace) -> None:
        async with _client_from(args) as client:
            await _invoke(client, args, sys.stdout)

    return _run(main, args)


def run_token(args: argparse.Namespace) -> int:
    """The ``token`` sub-command: one bearer token on stdout, nothing else there."""

    async def main(args: argparse.Namespace) -> None:
        client = _client_from(args)
        try:  # not `async with`: --expires-in is checked before credentials are looked for
            token = await client.bearer_token(args.expires_in)
        finally:
            await client.close()
        sys.stdout.write(token + "\n")
        sys.stdout.flush()

    return _run(main, args)


def _demo_request(fmt: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    """The request a client of each model server would send."""
    if fmt == "vllm-chat":
        body: Any = {
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "stream": True,
        }
    elif fmt == "vllm-completions":
        body = {"prompt": prompt, "max_tokens": max_tokens, "stream": True}
    else:
        body = {"inputs": prompt, "parameters": {"max_new_tokens": max_tokens}, "stream": True}
    request: dict[str, Any] = {"body": body}
    if fmt == "lmi":
        request["accept"] = "application/jsonlines"
    elif fmt == "text":
        request["custom_attributes"] = "format=text"
    return request


def run_demo(args: argparse.Namespace) -> int:
    """The ``demo`` sub-command: the emulator in-process, the real client against it."""
    from ..emulator import Emulator

    async def main(args: argparse.Namespace) -> None:
        err = sys.stderr
        emulator = Emulator(credentials={_DEMO_KEY: _DEMO_SECRET}, token_delay=args.token_delay)
        async with emulator:
            if args.route == "openai":
                where = "its OpenAI-compatible route (bearer token checked)"
                speaks = "OpenAI chat completions"
            else:
                where, speaks = "SigV4 checked", args.format
            print(
                f"emulator: SageMaker Runtime on {emulator.url} ({where}); "
                f"endpoint 'demo' speaks {speaks}",
                file=err,
            )
            print(f"> {args.prompt}", file=err, flush=True)
            client = SageMakerRuntime(
                "us-east-1",
                endpoint_url=emulator.url,
                aws_access_key_id=_DEMO_KEY,
                aws_secret_access_key=_DEMO_SECRET,
            )
            async with client:
                started = time.monotonic()
                if args.route == "openai":
                    messages = [{"role": "user", "content": args.prompt}]
                    async with client.chat_stream(
                        "demo", messages, max_tokens=args.max_tokens, route="openai"
                    ) as stream:
                        await _print_stream(
                            stream.tokens(), started, stream.request_id, sys.stdout, err
                        )
                    return
                request = _demo_request(args.format, args.prompt, args.max_tokens)
                async with client.invoke_endpoint_with_response_stream("demo", **request) as stream:
                    await _print_stream(
                        stream.tokens(args.format), started, stream.request_id, sys.stdout, err
                    )

    return _run(main, args)
