#!/usr/bin/env python3
"""A terminal chat with a model behind a SageMaker endpoint, printed token by token.

    python examples/chatbot.py --emulator           # the built-in demo model, no AWS account
    python examples/chatbot.py --endpoint my-llm    # your endpoint (region, keys as for boto3)

Every question is sent with the whole conversation so far with
``client.chat_stream``, as an OpenAI-style chat request (``{"messages": [...],
"max_tokens": N, "stream": true}``: vLLM, TGI's Messages API and LMI's chat schema
all take it), and the answer is printed as its tokens arrive.

Ctrl-C during an answer stops that answer: its task is cancelled, which leaves the
stream's ``async with`` and closes the HTTP connection, so the endpoint stops
generating (and billing for) tokens nobody reads.  What was shown stays in the
history.  Ctrl-C at the prompt, end of input (Ctrl-D) or ``exit`` quits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from asyncsagemaker import SageMakerError, SageMakerRuntime, ServiceError

# Keys for the embedded emulator only; against AWS botocore's chain finds yours.
EMULATOR_KEY, EMULATOR_SECRET = "EXAMPLEKEY", "example-secret"
INTERRUPTED = object()  # what the prompt reads when Ctrl-C is pressed there


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="demo", help="endpoint name (default: demo)")
    parser.add_argument("--endpoint-url", help="send requests here instead of AWS")
    parser.add_argument("--region", default="us-east-1", help="AWS region (default: us-east-1)")
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="without --endpoint-url: start a local emulator serving the demo model",
    )
    parser.add_argument("--max-tokens", type=int, default=256, help="answer length bound")
    parser.add_argument("--system", help="a system prompt to start the conversation with")
    return parser.parse_args(argv)


@contextlib.asynccontextmanager
async def open_client(args: argparse.Namespace) -> AsyncIterator[SageMakerRuntime]:
    """The client: to ``--endpoint-url``, to an embedded emulator, or to AWS."""
    if args.endpoint_url is None and args.emulator:
        from asyncsagemaker.emulator import Emulator

        emulator = Emulator(
            models={args.endpoint: "demo"},
            credentials={EMULATOR_KEY: EMULATOR_SECRET},
            token_delay=0.04,
        )
        async with emulator:
            client = SageMakerRuntime(
                args.region,
                endpoint_url=emulator.url,
                aws_access_key_id=EMULATOR_KEY,
                aws_secret_access_key=EMULATOR_SECRET,
            )
            async with client:
                yield client
        return
    async with SageMakerRuntime(args.region, endpoint_url=args.endpoint_url) as client:
        yield client


class LineReader:
    """Standard input, line by line, without blocking the event loop.

    A daemon thread does the blocking reads (it works for terminals, pipes and
    files alike, on every platform) and hands each line to the loop.  ``None``
    means end of input.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lines: asyncio.Queue[Any] = asyncio.Queue()
        threading.Thread(target=self._read, name="stdin-reader", daemon=True).start()

    def _read(self) -> None:
        while True:
            line = sys.stdin.readline()
            try:
                self._loop.call_soon_threadsafe(self._lines.put_nowait, line or None)
            except RuntimeError:  # the loop is gone: the program is ending
                return
            if not line:
                return

    def interrupt(self) -> None:
        """Make the pending (or next) read return ``INTERRUPTED``; call on the loop."""
        self._lines.put_nowait(INTERRUPTED)

    async def next_line(self, prompt: str) -> Any:
        print(prompt, end="", flush=True)
        return await self._lines.get()


class Conversation:
    """The history, and one streamed answer at a time."""

    def __init__(
        self, client: SageMakerRuntime, endpoint: str, max_tokens: int, system: str | None
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.max_tokens = max_tokens
        self.messages: list[dict[str, str]] = []
        if system:
            self.messages.append({"role": "system", "content": system})

    async def answer(self, question: str) -> None:
        """Stream the answer to ``question``; keep what was shown, even if cut short."""
        self.messages.append({"role": "user", "content": question})
        shown: list[str] = []
        try:
            async with self.client.chat_stream(
                self.endpoint, self.messages, max_tokens=self.max_tokens
            ) as stream:
                async for token in stream.tokens():
                    shown.append(token)
                    print(token, end="", flush=True)
        finally:
            if shown:
                self.messages.append({"role": "assistant", "content": "".join(shown)})
            else:  # nothing came back: forget the question too
                self.messages.pop()


def describe(error: BaseException | None) -> str:
    """One line: a service error names its code and status itself; others get their type."""
    return str(error) if isinstance(error, ServiceError) else f"{type(error).__name__}: {error}"


def catch_ctrl_c(
    loop: asyncio.AbstractEventLoop, callback: Callable[[], None]
) -> Callable[[], object]:
    """Run ``callback`` on the loop for each Ctrl-C; return what undoes it.

    ``loop.add_signal_handler`` is the clean way (Unix).  Where it is missing
    (Windows) a plain signal handler hands over to the loop; where neither is
    possible (not the main thread) Ctrl-C keeps its default behaviour.
    """
    try:
        loop.add_signal_handler(signal.SIGINT, callback)
        return lambda: loop.remove_signal_handler(signal.SIGINT)
    except (NotImplementedError, RuntimeError):
        pass
    try:
        previous = signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(callback))
    except ValueError:
        return lambda: None
    return lambda: signal.signal(signal.SIGINT, previous)


async def chat(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    reader = LineReader(loop)
    current: asyncio.Task[None] | None = None

    def on_ctrl_c() -> None:
        if current is not None and not current.done():
            current.cancel()  # stop this answer only
        else:
            reader.interrupt()  # at the prompt: quit

    async with open_client(args) as client:
        conversation = Conversation(client, args.endpoint, args.max_tokens, args.system)
        release = catch_ctrl_c(loop, on_ctrl_c)
        try:
            while True:
                line = await reader.next_line("you> ")
                if line is INTERRUPTED or line is None:
                    print()
                    return 130 if line is INTERRUPTED else 0
                question = line.strip()
                if question in ("exit", "quit"):
                    return 0
                if not question:
                    continue
                print("bot> ", end="", flush=True)
                current = asyncio.create_task(conversation.answer(question))
                await asyncio.wait({current})
                if current.cancelled():
                    print(" [stopped]", flush=True)
                elif isinstance(current.exception(), SageMakerError):
                    print(f"\nerror: {describe(current.exception())}", file=sys.stderr, flush=True)
                else:
                    current.result()  # re-raises anything unexpected
                    print(flush=True)
                current = None
        finally:
            release()
            if current is not None:  # we are being cancelled ourselves
                current.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(chat(args))
    except SageMakerError as error:  # e.g. no credentials or region
        print(f"error: {describe(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the chat started
        return 130


if __name__ == "__main__":
    sys.exit(main())
