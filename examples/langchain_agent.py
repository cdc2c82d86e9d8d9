#!/usr/bin/env python3
"""A LangChain tool-calling agent on a SageMaker endpoint, through asyncsagemaker.

    python examples/langchain_agent.py --emulator           # the demo model, no AWS account
    python examples/langchain_agent.py --endpoint my-llm    # your endpoint (vLLM, SGLang, TGI, LMI)

``ChatSageMaker`` with ``bind_tools``: the model asks for a tool, the loop runs it and
sends its result back, until the model answers in text.  The answer streams token
by token (``astream``); reasoning, where the model sends any, stays out of it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.tools import tool

from asyncsagemaker.integrations.langchain import ChatSageMaker

# Keys for the embedded emulator only; against AWS botocore's chain finds yours.
EMULATOR_KEY, EMULATOR_SECRET = "EXAMPLEKEY", "example-secret"


@tool
def get_weather(location: str) -> str:
    """The weather in a location."""
    return f"Sunny in {location}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="demo", help="endpoint name (default: demo)")
    parser.add_argument("--endpoint-url", help="send requests here instead of AWS")
    parser.add_argument("--region", default="us-east-1", help="AWS region (default: us-east-1)")
    parser.add_argument("--route", choices=["invoke", "openai"], default="invoke")
    parser.add_argument("--emulator", action="store_true", help="start a local emulator")
    parser.add_argument("question", nargs="?", default="What is the weather in 'Oslo'?")
    return parser.parse_args(argv)


@contextlib.asynccontextmanager
async def endpoint_url(args: argparse.Namespace) -> AsyncIterator[dict[str, str]]:
    """Where the model is: ``--endpoint-url``, an embedded emulator, or AWS."""
    if args.endpoint_url is None and args.emulator:
        from asyncsagemaker.emulator import Emulator

        credentials = {EMULATOR_KEY: EMULATOR_SECRET}
        async with Emulator(models={args.endpoint: "demo"}, credentials=credentials) as emu:
            yield {
                "endpoint_url": emu.url,
                "aws_access_key_id": EMULATOR_KEY,
                "aws_secret_access_key": EMULATOR_SECRET,
            }
    else:
        yield {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}


async def run(args: argparse.Namespace) -> str:
    async with endpoint_url(args) as where:
        model = ChatSageMaker(
            endpoint_name=args.endpoint, region_name=args.region, route=args.route, **where
        )
        agent = model.bind_tools([get_weather])
        messages: list[BaseMessage] = [HumanMessage(args.question)]
        try:
            for _ in range(5):  # turns: the model may call tools, then answers
                answer: AIMessageChunk | None = None
                async for chunk in agent.astream(messages):
                    print(chunk.text, end="", flush=True)
                    answer = chunk if answer is None else answer + chunk
                assert answer is not None
                messages.append(answer)
                if not answer.tool_calls:
                    print()
                    return answer.text
                for call in answer.tool_calls:
                    print(f"[{call['name']}({call['args']})]", flush=True)
                    messages.append(await get_weather.ainvoke(call))
            raise RuntimeError("no answer after 5 turns")
        finally:
            await model.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
