"""langchain-tests' standard integration suite for ChatSageMaker against the emulator.

Both routes, over real sockets to the emulator on 127.0.0.1, which checks every SigV4
signature (invoke route) and bearer token (OpenAI route) exactly; the demo model
reasons before every answer (``reasoning_effort``), so the reasoning blocks are
exercised beside text and tool calls.  Structured output is held both ways: by tool
calling (langchain-core's default) on the invoke route, by ``response_format`` (the
``json_schema`` method, and ``json_mode``) on the OpenAI route.  Tests the suite skips
(and why) are listed in docs/integrations/langchain.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

from asyncsagemaker.integrations.langchain import ChatSageMaker

from ._support import emulator, settings

_URL: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="module", autouse=True)
def _emulator() -> Iterator[None]:
    with emulator() as emu:
        _URL["settings"] = settings(emu)
        yield


class _Base(ChatModelIntegrationTests):
    route = "invoke"

    @property
    def chat_model_class(self) -> type[ChatSageMaker]:
        return ChatSageMaker

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "endpoint_name": "demo",
            "route": self.route,
            "reasoning_effort": "low",
            **_URL["settings"],
        }

    @property
    def model_override_value(self) -> str:
        return "demo-override"

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_anthropic_inputs(self) -> bool:
        return True


class TestInvokeRoute(_Base):
    route = "invoke"


class TestOpenAIRoute(_Base):
    route = "openai"

    @property
    def structured_output_kwargs(self) -> dict[str, Any]:
        return {"method": "json_schema"}


class TestInvokeRouteSGLang(_Base):
    """The invoke route against SGLang's dialect (nulls everywhere, ``call_`` ids, the finish
    reason in a chunk of its own, ``reasoning_content``), structured output by JSON schema."""

    route = "invoke"

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {**super().chat_model_params, "custom_attributes": "dialect=sglang"}

    @property
    def structured_output_kwargs(self) -> dict[str, Any]:
        return {"method": "json_schema"}
