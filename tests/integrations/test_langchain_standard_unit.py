"""langchain-tests' standard unit suite for ChatSageMaker, as LangChain's partner packages
run it: no network (pytest-socket refuses every socket), async tests on pytest-asyncio.
Both routes: the model's fields differ only in ``route``, and the suite must hold for each."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.unit_tests import ChatModelUnitTests

from asyncsagemaker.integrations.langchain import ChatSageMaker


@pytest.mark.disable_socket
class TestChatSageMakerUnit(ChatModelUnitTests):
    route = "invoke"

    @property
    def chat_model_class(self) -> type[ChatSageMaker]:
        return ChatSageMaker

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "endpoint_name": "my-endpoint",
            "model": "qwen3",
            "region_name": "us-east-1",
            "route": self.route,
        }


@pytest.mark.disable_socket
class TestChatSageMakerUnitOpenAIRoute(TestChatSageMakerUnit):
    route = "openai"
