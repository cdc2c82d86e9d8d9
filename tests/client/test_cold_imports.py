"""What a fresh process imports, and that each lazy path works from a cold process.

A process whose streams are read as parts never loads the token formats, the codecs,
the whole-answer results, sessions, anyio or botocore's session and retry machinery
(docs/architecture.md, "Cold start").  Each of those is imported by the call that
needs it; every test here runs that call in a child interpreter where the module
was not imported yet, so a lazy import that broke would fail here, not in a user's
first call.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Loaded by none of a one-part stream's steps (import, ready, send, read, close).
NEVER_FOR_PARTS = (
    "anyio",
    "asyncsagemaker._bidi",
    "asyncsagemaker._events",
    "asyncsagemaker._responses",
    "asyncsagemaker._sessions",
    "asyncsagemaker._stats",
    "asyncsagemaker._telemetry.otel",
    "asyncsagemaker.codecs",
    "asyncsagemaker.formats",
    "botocore.client",
    "botocore.docs",
    "botocore.handlers",
    "botocore.retries",
    "botocore.session",
    "difflib",
    "h2",
)

PRELUDE = """
import asyncio, json, sys
from asyncsagemaker import Config, SageMakerRuntime
from asyncsagemaker._transports.mock import MockResponse, MockTransport, event_stream
from asyncsagemaker.eventstream import encode

TGI = [b'data: {"token": {"id": 1, "text": "Hi", "special": false}}\\n\\n']
CHAT = {"choices": [{"message": {"role": "assistant", "content": "Hello"},
         "finish_reason": "stop"}]}
CHUNKS = [b'data: {"object": "chat.completion.chunk", "choices": [{"index": 0, '
          b'"delta": {"content": "Hello"}}]}\\n\\n', b"data: [DONE]\\n\\n"]
EXCEPTION = encode({":message-type": "exception", ":exception-type": "ModelStreamError",
                   ":content-type": "application/json"},
                  b'{"Message": "the model failed", "ErrorCode": "Boom"}')
seen = {"busy": 0}

def answer(request):
    name = request.url.split("/endpoints/")[1].split("/")[0]
    if name == "busy" and not seen["busy"]:
        seen["busy"] += 1
        return MockResponse(503, body=b'{"message": "try again"}')
    if name == "chat":
        return MockResponse(200, body=json.dumps(CHAT).encode())
    if name == "chat-stream":
        return MockResponse(200, body=event_stream(*CHUNKS))
    if name == "failing":
        return MockResponse(200, body=EXCEPTION)
    if request.url.endswith("/async-invocations"):
        return MockResponse(202, {"X-Amzn-SageMaker-OutputLocation": "s3://b/o"},
                            b'{"InferenceId": "i-1"}')
    if request.url.endswith("/invocations"):
        return MockResponse(200, body=b"whole")
    return MockResponse(200, body=event_stream(*TGI))

def client(**config):
    return SageMakerRuntime("us-east-1", transport=MockTransport(answer),
                            aws_access_key_id="k", aws_secret_access_key="s",
                            config=Config(backoff_base=0.001, **config))

def loaded(*names):
    return [n for n in names if n in sys.modules]
"""


def run_child(code: str) -> Any:
    """Run ``code`` after :data:`PRELUDE` in a fresh interpreter; its last line is JSON."""
    result = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_one_part_stream_loads_none_of_what_it_does_not_use() -> None:
    found = run_child(
        f"""
        async def main():
            async with client() as c:
                async with c.invoke_endpoint_with_response_stream("e", body=b"x") as stream:
                    return [part async for part in stream]
        parts = asyncio.run(main())
        print(json.dumps([len(parts), loaded(*{NEVER_FOR_PARTS!r})]))
        """
    )
    assert found == [1, []]


#: (what is not loaded before, the body of ``async def call(c)`` that loads it, its result)
LAZY_PATHS = [
    (
        "asyncsagemaker.formats",
        """
        async with c.invoke_endpoint_with_response_stream("e", body=b"x") as stream:
            return [text async for text in stream.tokens()]
        """,
        ["Hi"],
    ),
    (
        "asyncsagemaker.formats",
        """
        async with c.invoke_endpoint_with_response_stream("e", body=b"x") as stream:
            await stream.read()
            return (await stream.final()).text
        """,
        "Hi",
    ),
    (
        "asyncsagemaker.formats",
        """
        return (await c.chat("chat", [{"role": "user", "content": "hi"}])).text
        """,
        "Hello",
    ),
    (
        "asyncsagemaker.formats",
        """
        async with c.chat_stream("chat-stream", [{"role": "user", "content": "hi"}]) as s:
            return [text async for text in s.tokens()]
        """,
        ["Hello"],
    ),
    (
        "asyncsagemaker.codecs",
        """
        async with c.invoke_endpoint_with_response_stream("e", body=b"x") as stream:
            return [line async for line in stream.text()][0][:5]
        """,
        "data:",
    ),
    (
        "asyncsagemaker._stats",
        """
        async with c.invoke_endpoint_with_response_stream("e", body=b"x") as stream:
            await stream.read()
            return stream.stats.parts
        """,
        1,
    ),
    (
        "asyncsagemaker._events",
        """
        from asyncsagemaker import ModelStreamError
        async with c.invoke_endpoint_with_response_stream("failing", body=b"x") as stream:
            try:
                await stream.read()
            except ModelStreamError as exc:
                return [exc.error_code, exc.message]
        """,
        ["Boom", "the model failed"],
    ),
    (
        "asyncsagemaker._responses",
        """
        return (await c.invoke_endpoint("e", body=b"x")).body.decode()
        """,
        "whole",
    ),
    (
        "asyncsagemaker._responses",
        """
        answer = await c.invoke_endpoint_async("e", input_location="s3://b/i")
        return [answer.inference_id, answer.output_location]
        """,
        ["i-1", "s3://b/o"],
    ),
    (
        "asyncsagemaker._sessions",
        """
        return type(c.session("e")).__name__
        """,
        "StatefulSession",
    ),
    (
        "difflib",
        """
        from asyncsagemaker import ParamValidationError
        try:
            await c.invoke_endpoint("e", body=b"x", content_typ="text/plain")
        except ParamValidationError as exc:
            return "did you mean content_type=" in str(exc)
        """,
        True,
    ),
]


@pytest.mark.parametrize(
    ("module", "call", "expected"),
    LAZY_PATHS,
    ids=[f"{module}-{i}" for i, (module, _, _) in enumerate(LAZY_PATHS)],
)
def test_each_lazy_path_works_from_a_cold_process(module: str, call: str, expected: Any) -> None:
    body = textwrap.indent(textwrap.dedent(call).strip("\n"), "    ")
    found = run_child(
        f"async def call(c):\n{body}\n"
        + f"""
async def main():
    async with client() as c:
        before = loaded({module!r})
        result = await call(c)
        return [before, result, loaded({module!r})]
print(json.dumps(asyncio.run(main())))
"""
    )
    assert found == [[], expected, [module]]


@pytest.mark.parametrize(
    ("module", "config", "endpoint"),
    [
        ("anyio", {"total_timeout": 30.0}, "e"),  # the deadline's cancel scope
        ("anyio", {}, "busy"),  # a backoff before the second attempt
        ("botocore.retries", {"retry_mode": "adaptive"}, "busy"),  # the send-rate limiter
    ],
)
def test_retries_and_deadlines_import_what_they_use_when_used(
    module: str, config: dict[str, Any], endpoint: str
) -> None:
    found = run_child(
        f"""
        async def main():
            before = loaded({module!r})
            async with client(**{config!r}) as c:
                answer = await c.invoke_endpoint({endpoint!r}, body=b"x")
                return [before, answer.body.decode(), loaded({module!r})]
        print(json.dumps(asyncio.run(main())))
        """
    )
    assert found == [[], "whole", [module]]


def test_the_public_names_are_imported_on_first_use() -> None:
    code = (
        "import json, sys, asyncsagemaker\n"
        "heavy = ('asyncsagemaker._stream_call', 'asyncsagemaker._client', 'aiohttp', 'botocore')\n"
        "before = [m for m in heavy if m in sys.modules]\n"
        "names = [asyncsagemaker.StreamCall.__name__, asyncsagemaker.ResponseStream.__name__]\n"
        "print(json.dumps([before, names]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == [[], ["StreamCall", "ResponseStream"]]
