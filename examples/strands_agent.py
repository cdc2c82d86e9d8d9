#!/usr/bin/env python3
"""A Strands agent with a tool on a SageMaker endpoint, through asyncsagemaker.

    python examples/strands_agent.py --emulator           # the demo model, no AWS account
    python examples/strands_agent.py --endpoint my-llm    # your endpoint (vLLM, SGLang, TGI, LMI)

``SageMakerModel`` under a Strands ``Agent``: the agent loop runs the ``@tool`` the
model asks for and sends its result back; the answer streams as it comes
(``stream_async``).  Throttling is retried by the agent as Strands retries it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from strands import Agent, tool

from asyncsagemaker.integrations.strands import SageMakerModel

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
        model = SageMakerModel(
            endpoint_name=args.endpoint,
            route=args.route,
            params={"max_tokens": 512},
            region_name=args.region,
            **where,
        )
        agent = Agent(model=model, tools=[get_weather], callback_handler=None)
        result = None
        try:
            async for event in agent.stream_async(args.question):  # read to its end
                if "data" in event:
                    print(event["data"], end="", flush=True)
                elif "message" in event:  # a whole message: the tool calls in it
                    for block in event["message"]["content"]:
                        if "toolUse" in block:
                            use = block["toolUse"]
                            print(f"[{use['name']}({use['input']})]", flush=True)
                elif "result" in event:
                    result = event["result"]
        finally:
            await model.aclose()
        print()
        if result is None:
            raise RuntimeError("the agent ended without a result")
        return str(result)


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
