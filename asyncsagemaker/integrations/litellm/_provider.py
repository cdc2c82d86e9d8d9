"""``SageMakerLLM``: LiteLLM's custom provider ``asyncsagemaker``, on our client.

``litellm.acompletion(model="asyncsagemaker/<endpoint>[/<inference component>]", ...)``
(and ``completion``, and the LiteLLM proxy) reach :meth:`SageMakerLLM.astreaming` /
:meth:`~SageMakerLLM.acompletion`: the messages and OpenAI parameters go into our chat
body as they are, the call's members (``inference_component_name``,
``target_variant``, ``session_id``, ``custom_attributes``) and ``route`` to the call.
The client's settings come from the provider's own keywords, overridden per call by
LiteLLM's AWS parameters (``aws_region_name``, ``aws_access_key_id``,
``aws_secret_access_key``, ``aws_session_token``, ``aws_profile_name``), ``api_base``
(the runtime's URL: the emulator in tests) and ``timeout`` (the whole call).  One set
of settings, one client per event loop (``LoopClients``); the synchronous calls run on
the private loop of ``_runner``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import httpx
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import GenericStreamingChunk, ModelResponse, ModelResponseStream

from ..._client import SageMakerRuntime
from ...errors import SageMakerError
from .._clients import LoopClients
from .._runner import runner
from .._settings import ClientSettings
from ._chunks import StreamChunks, model_response
from ._errors import as_litellm

__all__ = ["SageMakerLLM"]

#: LiteLLM's names for AWS settings (those of its Bedrock and SageMaker providers).
_AWS = {
    "aws_region_name": "region_name",
    "aws_access_key_id": "aws_access_key_id",
    "aws_secret_access_key": "aws_secret_access_key",
    "aws_session_token": "aws_session_token",
    "aws_profile_name": "profile_name",
}
#: What LiteLLM puts among the parameters that the chat call chooses itself.
_CHOSEN_HERE = ("stream", "stream_options", "max_retries")
#: How many sets of settings keep their clients (the least recently used is closed).
_KEPT = 32

Chunk = GenericStreamingChunk | ModelResponseStream


class SageMakerLLM(CustomLLM):
    """LiteLLM's provider for SageMaker endpoints, through asyncsagemaker.

    Keywords are the client's settings for every call (``region_name``,
    ``endpoint_url``, keys, ``timeout``, ``max_retries``...; see ``ClientSettings``),
    or pass ``client=`` (yours: used from your loop, never closed here).
    """

    def __init__(self, *, client: SageMakerRuntime | None = None, **settings: Any) -> None:
        super().__init__()
        self._given = client
        self._defaults = ClientSettings(**settings)
        self._lock = threading.Lock()
        self._clients: OrderedDict[ClientSettings, LoopClients] = OrderedDict()

    def _loop_clients(
        self, api_base: str | None, litellm_params: Mapping[str, Any] | None, timeout: Any
    ) -> LoopClients:
        changes: dict[str, Any] = {
            ours: litellm_params[theirs]
            for theirs, ours in _AWS.items()
            if litellm_params and litellm_params.get(theirs) is not None
        }
        if api_base:
            changes["endpoint_url"] = api_base
        if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
            changes["total_timeout"] = float(timeout)
        elif isinstance(timeout, httpx.Timeout):
            changes.update(connect_timeout=timeout.connect, read_timeout=timeout.read)
        settings = ClientSettings(**{**vars(self._defaults), **changes})
        with self._lock:
            clients = self._clients.get(settings)
            if clients is None:
                clients = self._clients[settings] = LoopClients(settings.client, self._given)
                while len(self._clients) > _KEPT:
                    self._clients.popitem(last=False)[1].close()
            self._clients.move_to_end(settings)
            return clients

    @staticmethod
    def _arguments(
        model: str, messages: list[Any], optional_params: Mapping[str, Any]
    ) -> tuple[dict[str, Any], Any]:
        """The chat call's keywords, and the token format the answer is read in."""
        params = {k: v for k, v in optional_params.items() if k not in _CHOSEN_HERE}
        token_format = params.pop("format", None)
        endpoint, _, component = model.partition("/")
        if component:
            params.setdefault("inference_component_name", component)
        return {"endpoint_name": endpoint, "messages": messages, **params}, token_format

    async def _stream(
        self,
        model: str,
        messages: list[Any],
        api_base: str | None,
        optional_params: Mapping[str, Any],
        litellm_params: Mapping[str, Any] | None,
        timeout: Any,
    ) -> AsyncIterator[Chunk]:
        arguments, token_format = self._arguments(model, messages, optional_params)
        clients = self._loop_clients(api_base, litellm_params, timeout)
        chunks = StreamChunks()
        try:
            async with clients.current().chat_stream(**arguments) as stream:
                async for event in stream.events(token_format):
                    for chunk in chunks.chunks(event):
                        yield chunk
                final = await stream.final()
        except SageMakerError as exc:
            raised = as_litellm(exc, model)
            if raised is exc:
                raise
            raise raised from exc
        yield chunks.last(final)

    async def _complete(
        self,
        model: str,
        messages: list[Any],
        api_base: str | None,
        optional_params: Mapping[str, Any],
        litellm_params: Mapping[str, Any] | None,
        timeout: Any,
    ) -> ModelResponse:
        arguments, _ = self._arguments(model, messages, optional_params)
        clients = self._loop_clients(api_base, litellm_params, timeout)
        try:
            generation = await clients.current().chat(**arguments)
        except SageMakerError as exc:
            raised = as_litellm(exc, model)
            if raised is exc:
                raise
            raise raised from exc
        return model_response(generation, model)

    # -- LiteLLM's four entry points ------------------------------------------------

    async def astreaming(  # type: ignore[override]
        self,
        model: str,
        messages: list[Any],
        api_base: str,
        custom_prompt_dict: dict[str, Any],
        model_response: ModelResponse,
        print_verbose: Callable[..., Any],
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        acompletion: Any = None,
        litellm_params: Any = None,
        logger_fn: Any = None,
        headers: Any = None,
        timeout: float | httpx.Timeout | None = None,
        client: Any = None,
    ) -> AsyncIterator[Chunk]:
        """``acompletion(..., stream=True)``: the answer as it is generated."""
        async for chunk in self._stream(
            model, messages, api_base, optional_params, litellm_params, timeout
        ):
            yield chunk

    async def acompletion(
        self,
        model: str,
        messages: list[Any],
        api_base: str,
        custom_prompt_dict: dict[str, Any],
        model_response: ModelResponse,
        print_verbose: Callable[..., Any],
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        acompletion: Any = None,
        litellm_params: Any = None,
        logger_fn: Any = None,
        headers: Any = None,
        timeout: float | httpx.Timeout | None = None,
        client: Any = None,
    ) -> ModelResponse:
        """``acompletion(...)``: the whole answer."""
        return await self._complete(
            model, messages, api_base, optional_params, litellm_params, timeout
        )

    def streaming(  # type: ignore[override]
        self,
        model: str,
        messages: list[Any],
        api_base: str,
        custom_prompt_dict: dict[str, Any],
        model_response: ModelResponse,
        print_verbose: Callable[..., Any],
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        acompletion: Any = None,
        litellm_params: Any = None,
        logger_fn: Any = None,
        headers: Any = None,
        timeout: float | httpx.Timeout | None = None,
        client: Any = None,
    ) -> Iterator[Chunk]:
        """``completion(..., stream=True)``: the same stream, from the private loop."""
        self._check_sync()
        return runner.iterate(
            lambda: self._stream(
                model, messages, api_base, optional_params, litellm_params, timeout
            )
        )

    def completion(
        self,
        model: str,
        messages: list[Any],
        api_base: str,
        custom_prompt_dict: dict[str, Any],
        model_response: ModelResponse,
        print_verbose: Callable[..., Any],
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        acompletion: Any = None,
        litellm_params: Any = None,
        logger_fn: Any = None,
        headers: Any = None,
        timeout: float | httpx.Timeout | None = None,
        client: Any = None,
    ) -> ModelResponse:
        """``completion(...)``: the whole answer, from the private loop."""
        self._check_sync()
        return runner.call(
            lambda: self._complete(
                model, messages, api_base, optional_params, litellm_params, timeout
            )
        )

    def _check_sync(self) -> None:
        if self._given is not None:
            LoopClients(self._defaults.client, self._given).check_sync()

    async def aclose(self) -> None:
        """Close every client of this provider (the running loop's now, others on theirs)."""
        with self._lock:
            taken = list(self._clients.values())
            self._clients.clear()
        for clients in taken:
            await clients.aclose()

    def close(self) -> None:
        """Close every client of this provider, each on its own loop (without waiting)."""
        with self._lock:
            taken = list(self._clients.values())
            self._clients.clear()
        for clients in taken:
            clients.close()
