"""LangChain: :class:`ChatSageMaker`, a chat model on our client (``pip install
'asyncsagemaker[langchain]'``).

Native ``ainvoke``/``astream`` on the caller's event loop, ``bind_tools`` with
streamed tool-call chunks, ``with_structured_output`` (tool calling, ``json_schema``,
``json_mode``), usage, reasoning kept apart from the answer, both routes; its errors
are ours and LangChain's ``ModelError`` kinds at once.  See
docs/integrations/langchain.md.
"""

from __future__ import annotations

from ._model import ChatSageMaker

__all__ = ["ChatSageMaker"]
