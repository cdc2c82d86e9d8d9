#!/usr/bin/env python3
"""A tool-calling loop through LiteLLM's ``acompletion`` on a SageMaker endpoint.

    python examples/litellm_agent.py --emulator           # the demo model, no AWS account
    python examples/litellm_agent.py --endpoint my-llm    # your endpoint (vLLM, SGLang, TGI, LMI)

``register()`` adds the ``asyncsagemaker`` provider to LiteLLM, so
``litellm.acompletion(model="asyncsagemaker/<endpoint>", stream=True, tools=...)``
streams through asyncsagemaker's client: the loop runs the tool the model asks for and
sends its result back until the model answers in text.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price list download

import litellm

from asyncsagemaker.integrations.litellm import SageMakerLLM, register

# Keys for the embedded emulator only; against AWS botocore's chain finds yours.
EMULATOR_KEY, EMULATOR_SECRET = "EXAMPLEKEY", "example-secret"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a location.",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
            },
        },
    }
]


def get_weather(location: str) -> str:
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
        provider = register(SageMakerLLM(region_name=args.region, **where))
        messages: list[dict[str, Any]] = [{"role": "user", "content": args.question}]
        try:
            for _ in range(5):  # turns: the model may call tools, then answers
                stream = await litellm.acompletion(
                    model=f"asyncsagemaker/{args.endpoint}",
                    messages=messages,
                    tools=TOOLS,
                    stream=True,
                    route=args.route,
                )
                chunks = []
                async for chunk in stream:
                    chunks.append(chunk)
                    print(chunk.choices[0].delta.content or "", end="", flush=True)
                whole: Any = litellm.stream_chunk_builder(chunks, messages=messages)
                message = whole.choices[0].message
                messages.append(message.model_dump(exclude_none=True))
                if not message.tool_calls:
                    print()
                    return str(message.content)
                for call in message.tool_calls:
                    arguments = json.loads(call.function.arguments)
                    print(f"[{call.function.name}({arguments})]", flush=True)
                    result = get_weather(**arguments)
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
            raise RuntimeError("no answer after 5 turns")
        finally:
            await provider.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    litellm.suppress_debug_info = True
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
