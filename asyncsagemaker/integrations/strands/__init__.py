"""Strands Agents: :class:`SageMakerModel`, a model provider on our client (``pip install
'asyncsagemaker[strands]'``).

``stream`` natively async on the agent's loop, tool use (``toolUse``/``toolResult``
as Strands' own OpenAI provider converts them), reasoning, usage and timing,
``structured_output`` through a JSON schema, both routes; throttling raised as
``ModelThrottledException`` and an overflowing context as
``ContextWindowOverflowException``, ours as their cause.  See
docs/integrations/strands.md.
"""

from __future__ import annotations

from ._model import SageMakerConfig, SageMakerModel

__all__ = ["SageMakerConfig", "SageMakerModel"]
