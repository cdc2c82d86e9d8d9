"""LiteLLM: the custom provider ``asyncsagemaker`` on our client (``pip install
'asyncsagemaker[litellm]'``).

::

    from asyncsagemaker.integrations.litellm import register
    register()                       # litellm.custom_provider_map gains "asyncsagemaker"
    stream = await litellm.acompletion(model="asyncsagemaker/my-endpoint",
                                       messages=[...], tools=[...], stream=True)

Tool calls streamed as fragments, reasoning as ``reasoning_content``, usage exactly as
the server counted it, both routes (``route="openai"``); our errors as LiteLLM's
classes by what happened.  The proxy loads the provider from its config
(``custom_handler: asyncsagemaker.integrations.litellm.handler``).  See
docs/integrations/litellm.md.
"""

from __future__ import annotations

import litellm
from litellm.utils import custom_llm_setup

from ._errors import PROVIDER
from ._provider import SageMakerLLM

__all__ = ["PROVIDER", "SageMakerLLM", "handler", "register"]

#: The provider the proxy's config names (``asyncsagemaker.integrations.litellm.handler``)
#: and :func:`register` registers unless given another.
handler = SageMakerLLM()


def register(provider: SageMakerLLM | None = None) -> SageMakerLLM:
    """Register ``provider`` (default :data:`handler`) as LiteLLM's ``asyncsagemaker``.

    Replaces an earlier registration of that name; returns the provider registered.
    """
    chosen = handler if provider is None else provider
    kept = [entry for entry in litellm.custom_provider_map if entry.get("provider") != PROVIDER]
    litellm.custom_provider_map = [*kept, {"provider": PROVIDER, "custom_handler": chosen}]
    custom_llm_setup()  # type: ignore[no-untyped-call]
    return chosen
