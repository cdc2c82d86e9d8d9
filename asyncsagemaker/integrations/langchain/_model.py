"""``ChatSageMaker``: a LangChain chat model whose calls are our client's chat calls.

``_astream`` and ``_agenerate`` are native: they run on the caller's event loop,
through that loop's client (``LoopClients``), with our backpressure, cancellation,
deadlines and retries.  The synchronous ``_stream``/``_generate`` (LangChain's
``invoke``, ``stream``, ``batch``) hand the same coroutines to the process's private
loop (``_runner``) and wait in the caller's thread: never a loop nested in a running
one, never a loop (and a connection pool) per call.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr

from ..._client import SageMakerRuntime
from ...errors import SageMakerError
from ...formats import TokenFormat
from .._clients import LoopClients
from .._runner import runner
from .._settings import ClientSettings
from ._chunks import ChunkMaker, finish_reason, message_of
from ._errors import as_langchain
from ._messages import openai_messages, openai_tool_choice
from ._structured import RESPONSE_FORMAT_METHODS, structured

__all__ = ["ChatSageMaker"]

#: The call's members a model's fields set (on the invoke route; the OpenAI route
#: takes only ``inference_component_name`` and refuses the others by name).
_MEMBERS = ("inference_component_name", "target_variant", "session_id", "custom_attributes")


class ChatSageMaker(BaseChatModel):
    """A chat model on a SageMaker endpoint (TGI, LMI, vLLM, SGLang), through asyncsagemaker.

    ``endpoint_name`` (and ``inference_component_name``) say where; ``route="openai"``
    sends to the endpoint's OpenAI-compatible route (a bearer token) instead of
    ``InvokeEndpointWithResponseStream``.  The client is made from ``region_name``,
    ``endpoint_url``, ``profile_name`` or the AWS keys (else botocore's chain), with
    ``connect_timeout``, ``read_timeout``, ``timeout`` (the whole call) and
    ``max_retries``; or pass ``client=`` (yours: used from your loop, never closed
    here).  ``model`` is the body's ``model`` (what the container serves);
    ``model_kwargs`` go into every body.  See docs/integrations/langchain.md.
    """

    endpoint_name: str
    model: str | None = None
    route: Literal["invoke", "openai"] = "invoke"
    inference_component_name: str | None = None
    target_variant: str | None = None
    session_id: str | None = None
    custom_attributes: str | None = None
    format: TokenFormat | None = None
    """How the answer is read: ``None`` reads OpenAI-style chat chunks (what the
    containers send a chat body), ``"auto"`` detects the format."""

    region_name: str | None = None
    endpoint_url: str | None = None
    profile_name: str | None = None
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    connect_timeout: float | None = None
    read_timeout: float | None = None
    timeout: float | None = None
    """Seconds for the whole call, stream included (``None``: no limit of its own)."""
    max_retries: int | None = None
    config: Any = Field(default=None, exclude=True)
    """An ``asyncsagemaker.Config`` or ``botocore.config.Config`` under the fields above."""
    client: SageMakerRuntime | None = Field(default=None, exclude=True)

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = Field(default=None, alias="stop_sequences")
    reasoning_effort: str | None = None
    extra_body: dict[str, Any] | None = None
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    streaming: bool = False

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    _clients: LoopClients = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._clients = LoopClients(_client_maker(weakref.ref(self)), self.client)

    # -- LangChain's description of the model ------------------------------------

    @property
    def _llm_type(self) -> str:
        return "amazon_sagemaker"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "endpoint_name": self.endpoint_name,
            "inference_component_name": self.inference_component_name,
            "model": self.model,
            "route": self.route,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="amazon_sagemaker",
            ls_model_name=_model_name(kwargs.get("model")) or self.model or self.endpoint_name,
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        stop = stop or self.stop
        if stop:
            params["ls_stop"] = stop
        return params

    # -- tools and structured output ----------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        parallel_tool_calls: bool | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Tools in OpenAI's shape; ``tool_choice`` a tool's name, ``"auto"``, ``"any"``
        (a call is required) or ``"none"``.  Other keywords are bound as they are."""
        formatted = [convert_to_openai_tool(tool, strict=strict) for tool in tools]
        choice = openai_tool_choice(tool_choice)
        if choice is not None:
            kwargs["tool_choice"] = choice
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """``method="function_calling"`` (the default: a forced tool call),
        ``"json_schema"`` or ``"json_mode"`` (``response_format``: the answer is JSON)."""
        method = kwargs.get("method", "function_calling")
        if method in RESPONSE_FORMAT_METHODS:
            unexpected = set(kwargs) - {"method", "strict"}
            if unexpected:
                raise ValueError(f"unexpected keyword arguments: {sorted(unexpected)}")
            return structured(
                self, schema, method, include_raw=include_raw, strict=kwargs.get("strict")
            )
        return super().with_structured_output(schema, include_raw=include_raw, **kwargs)

    # -- calls ----------------------------------------------------------------------

    def _chat_arguments(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """The keywords of ``client.chat_stream``/``chat``: fields first, then the call's."""
        arguments: dict[str, Any] = dict(self.model_kwargs)
        fields = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": stop or self.stop or None,
            "reasoning_effort": self.reasoning_effort,
            "extra_body": self.extra_body,
            **{member: getattr(self, member) for member in _MEMBERS},
        }
        arguments.update((key, value) for key, value in fields.items() if value is not None)
        arguments.update(_call_keywords(kwargs))
        return {
            "endpoint_name": self.endpoint_name,
            "messages": openai_messages(messages),
            "route": self.route,
            **arguments,
        }

    def _metadata(self, request_id: str | None) -> dict[str, Any]:
        return {"endpoint_name": self.endpoint_name, "request_id": request_id}

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        arguments = self._chat_arguments(messages, stop, kwargs)
        maker = ChunkMaker(_model_name(arguments.get("model")) or self.endpoint_name)
        try:
            client = self._clients.current()
            async with client.chat_stream(**arguments) as stream:
                async for event in stream.events(self.format):
                    for message in maker.chunks(event):
                        chunk = ChatGenerationChunk(message=message)
                        if run_manager is not None:
                            await run_manager.on_llm_new_token(message.text, chunk=chunk)
                        yield chunk
                final = await stream.final()
                request_id = stream.request_id
        except SageMakerError as exc:
            raise as_langchain(exc) from exc
        last = maker.last(final, self._metadata(request_id))
        yield ChatGenerationChunk(
            message=last, generation_info={"finish_reason": finish_reason(final)}
        )

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        arguments = self._chat_arguments(messages, stop, kwargs)
        try:
            generation = await self._clients.current().chat(**arguments)
        except SageMakerError as exc:
            raise as_langchain(exc) from exc
        model_name = _model_name(arguments.get("model")) or self.endpoint_name
        message = message_of(generation, model_name, self._metadata(generation.request_id))
        info = {"finish_reason": finish_reason(generation)}
        return ChatResult(generations=[ChatGeneration(message=message, generation_info=info)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        self._clients.check_sync()
        for chunk in runner.iterate(lambda: self._astream(messages, stop, None, **kwargs)):
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._clients.check_sync()
        return runner.call(lambda: self._agenerate(messages, stop, None, **kwargs))

    # -- the clients' lifetime ----------------------------------------------------

    async def aclose(self) -> None:
        """Close this model's clients: the running loop's now, the others on their loops.

        Not needed with ``asyncio.run`` (or any loop that finalises its async generators
        before it closes): each loop's client is closed with it.  The model stays usable.
        """
        await self._clients.aclose()

    def close(self) -> None:
        """Close this model's clients, each on its own loop (without waiting)."""
        self._clients.close()


def _client_maker(model: weakref.ref[ChatSageMaker]) -> Callable[[], SageMakerRuntime]:
    """Makes a loop's client from the model's settings as they are then."""

    def make() -> SageMakerRuntime:
        chat = model()
        if chat is None:  # pragma: no cover - a call holds its model
            raise RuntimeError("the model is gone")
        return ClientSettings(
            region_name=chat.region_name,
            endpoint_url=chat.endpoint_url,
            profile_name=chat.profile_name,
            aws_access_key_id=_secret(chat.aws_access_key_id),
            aws_secret_access_key=_secret(chat.aws_secret_access_key),
            aws_session_token=_secret(chat.aws_session_token),
            connect_timeout=chat.connect_timeout,
            read_timeout=chat.read_timeout,
            total_timeout=chat.timeout,
            max_retries=chat.max_retries,
            config=chat.config,
        ).client()

    return make


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def _call_keywords(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A call's keywords for the chat call, LangSmith's and LangChain's own left out."""
    keywords = {}
    for key, value in kwargs.items():
        if key.startswith("ls_") or key == "stream":
            continue
        chosen = openai_tool_choice(value) if key == "tool_choice" else value
        if chosen is not None:
            keywords[key] = chosen
    return keywords


def _model_name(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
