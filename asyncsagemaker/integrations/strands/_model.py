"""``SageMakerModel``: a Strands model provider whose ``stream`` is our client's chat stream.

Natively async: each call runs on the agent's event loop, through that loop's client
(``LoopClients``: Strands' synchronous ``agent(...)`` runs each call in an
``asyncio.run`` of its own, and each such loop's client is closed with it), with our
backpressure, cancellation, deadlines and retries, and no thread per event.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal, TypedDict, TypeVar

import pydantic
from strands.models import Model

from ..._client import SageMakerRuntime
from ...errors import ConfigurationError, FormatError, SageMakerError
from ...formats import TokenFormat
from .._clients import LoopClients
from .._settings import ClientSettings
from ._errors import as_strands
from ._events import Blocks, metadata
from ._messages import openai_messages, openai_tool_choice, openai_tools

__all__ = ["SageMakerModel"]

T = TypeVar("T", bound=pydantic.BaseModel)

_MEMBERS = ("inference_component_name", "target_variant", "session_id", "custom_attributes")


class SageMakerConfig(TypedDict, total=False):
    """A ``SageMakerModel``'s configuration (``update_config``/``get_config``);
    ``endpoint_name`` is required."""

    endpoint_name: str
    inference_component_name: str
    target_variant: str
    session_id: str
    custom_attributes: str
    route: Literal["invoke", "openai"]
    model_id: str  # the body's ``model``: what the container serves
    params: dict[str, Any]  # max_tokens, temperature, reasoning_effort, ...
    format: TokenFormat  # how the answer is read (default: OpenAI-style chunks)
    context_window_limit: int


class SageMakerModel(Model):
    """A Strands model on a SageMaker endpoint (TGI, LMI, vLLM, SGLang), through asyncsagemaker.

    The configuration (``endpoint_name``, ``inference_component_name``, ``route``,
    ``params`` for the body...) is :class:`SageMakerConfig`.  The client is made from
    the keywords (``region_name``, ``endpoint_url``, keys, ``timeout`` for the whole
    call, ``max_retries``...), one per event loop; or pass ``client=`` (yours, never
    closed here).  See docs/integrations/strands.md.
    """

    def __init__(
        self,
        *,
        client: SageMakerRuntime | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        profile_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        config: Any = None,
        **model_config: Any,
    ) -> None:
        if not isinstance(model_config.get("endpoint_name"), str):
            raise ConfigurationError("SageMakerModel needs endpoint_name='<your endpoint>'")
        self.config: dict[str, Any] = dict(model_config)
        settings = ClientSettings(
            region_name=region_name,
            endpoint_url=endpoint_url,
            profile_name=profile_name,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_session_token=aws_session_token,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            total_timeout=timeout,
            max_retries=max_retries,
            config=config,
        )
        self._clients = LoopClients(settings.client, client)

    def update_config(self, **model_config: Any) -> None:
        self.config.update(model_config)

    def get_config(self) -> dict[str, Any]:
        return self.config

    def _arguments(
        self,
        messages: Sequence[Mapping[str, Any]],
        system_prompt: str | None,
        system_prompt_content: Sequence[Mapping[str, Any]] | None,
        tool_specs: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The keywords of ``client.chat_stream``/``chat``."""
        config = self.config
        arguments: dict[str, Any] = {
            "endpoint_name": config["endpoint_name"],
            "messages": openai_messages(messages, system_prompt, system_prompt_content),
            "route": config.get("route", "invoke"),
            **(config.get("params") or {}),
        }
        arguments.update(
            (member, config[member]) for member in _MEMBERS if config.get(member) is not None
        )
        if config.get("model_id"):
            arguments["model"] = config["model_id"]
        tools = openai_tools(tool_specs)
        if tools is not None:
            arguments["tools"] = tools
            choice = openai_tool_choice(tool_choice)
            if choice is not None:
                arguments["tool_choice"] = choice
        return arguments

    async def stream(
        self,
        messages: Any,
        tool_specs: Any = None,
        system_prompt: str | None = None,
        *,
        tool_choice: Any = None,
        system_prompt_content: Any = None,
        **kwargs: Any,
    ) -> AsyncGenerator[Any, None]:
        """The answer as Strands' stream events; tool calls, reasoning, usage included."""
        arguments = self._arguments(
            messages, system_prompt, system_prompt_content, tool_specs, tool_choice
        )
        blocks = Blocks()
        try:
            async with self._clients.current().chat_stream(**arguments) as stream:
                yield {"messageStart": {"role": "assistant"}}
                async for event in stream.events(self.config.get("format")):
                    for out in blocks.feed(event):
                        yield out
                final = await stream.final()
                ending = blocks.finish(final)
            for out in ending:
                yield out
            yield metadata(final, stream.stats)
        except SageMakerError as exc:
            raised = as_strands(exc)
            if raised is exc:
                raise
            raise raised from exc

    async def structured_output(
        self,
        output_model: type[T],
        prompt: Any,
        system_prompt: str | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[dict[str, T | Any], None]:
        """An ``output_model`` instance: the answer constrained to its JSON schema."""
        arguments = self._arguments(prompt, system_prompt, kwargs.get("system_prompt_content"))
        spec = {"name": output_model.__name__, "schema": output_model.model_json_schema()}
        arguments["response_format"] = {"type": "json_schema", "json_schema": spec}
        try:
            generation = await self._clients.current().chat(**arguments)
        except SageMakerError as exc:
            raised = as_strands(exc)
            if raised is exc:
                raise
            raise raised from exc
        try:
            output = output_model.model_validate_json(generation.text)
        except pydantic.ValidationError as exc:
            raise FormatError(
                f"the model's answer is not a valid {output_model.__name__}: {exc}"
            ) from exc
        yield {"output": output}

    async def aclose(self) -> None:
        """Close this model's clients: the running loop's now, the others on their loops.

        Not needed with ``asyncio.run`` (each loop's client is closed with it).
        """
        await self._clients.aclose()

    def close(self) -> None:
        """Close this model's clients, each on its own loop (without waiting)."""
        self._clients.close()
