"""The generated text in the streaming formats of the common model servers, sans-IO.

Feed :class:`TokenDecoder` the bytes of a response stream in any chunking; it
returns the pieces of generated text ("tokens") as they complete::

    tokens = TokenDecoder()              # format="auto"
    for chunk in chunks:
        for text in tokens.feed(chunk):
            print(text, end="")
    for text in tokens.close():
        print(text, end="")

or, with ``feed_events``/``close_events``, a :class:`GenerationEvent` per piece
(token id, logprob, ``special``) and per record that ends the generation (finish
reason, token usage), which :class:`GenerationAccumulator` folds into a
:class:`Generation`.  :func:`parse_generation` reads a whole non-streaming answer
into the same :class:`Generation`; :func:`chat_body` builds the OpenAI-style chat
request that TGI, LMI, vLLM and SGLang accept on ``/invocations``.

Formats (``FORMATS``), each the documented streaming output of a server:

``tgi``
    Hugging Face Text Generation Inference, ``/generate_stream``: Server-Sent
    Events whose data is ``{"token": {"id", "text", "logprob", "special"},
    "generated_text", "details"}``.  Special tokens (``</s>``) are events marked
    ``special``, never text; the event with a non-null ``generated_text`` is the
    last one and its ``details`` give the finish reason and token counts.  An
    ``{"error": ..., "error_type": ...}`` event raises :class:`ModelOutputError`.
``lmi``
    AWS Large Model Inference (DJL Serving) rolling batch, JSON lines:
    ``{"token": {"id", "text", "log_prob"}}``, the last line adding
    ``generated_text`` and ``details``; ``details.finish_reason == "error"``
    raises.  Also the dynamic-batch form ``{"outputs": ["text", ...]}``.
``vllm-chat`` / ``vllm-completions``
    OpenAI-compatible servers (vLLM, TGI's Messages API, LMI's chat schema):
    ``chat.completion.chunk`` objects (``choices[0].delta.content``; role-only
    and empty deltas give no text) or ``text_completion`` objects
    (``choices[0].text``), ended by ``data: [DONE]``.  Only the choice with
    index 0 is read; its ``finish_reason`` and the chunk's ``usage`` end the
    generation.  ``{"error": {...}}`` raises.
``openai``
    Either of the two above, chunk by chunk.
``text``
    Plain UTF-8, passed through as it arrives (a character cut between parts
    is held until complete).

The transport of the JSON formats is recognised from the first byte that is not
whitespace, so every JSON format reads both Server-Sent Events and JSON lines
(LMI can send either, with ``option.output_formatter``).

``format="auto"`` (rules in :func:`detect_format`) decides from the start of the
stream, holding back only the bytes it needs to see.  Empty tokens are never
returned.  After the end of the generation (``[DONE]``, or a TGI/LMI record with
``generated_text``) :attr:`TokenDecoder.done` is true and further input is ignored.

Sources the formats and the fixtures in ``tests/data/formats`` follow: TGI's
``router/src/lib.rs`` (``StreamResponse``, ``StreamDetails``, ``ErrorResponse``,
the chat chunk) and streaming docs, DJL Serving's
``serving/docs/lmi/user_guides/lmi_input_output_schema.md`` and
``chat_input_output_schema.md`` (rolling and dynamic batch, chat, error lines),
and vLLM's "OpenAI-Compatible Server" docs (chat completion chunks, completions,
``stream_options``, ``data: [DONE]``, streamed error objects).
"""

from __future__ import annotations

from ..errors import FormatError, ModelOutputError
from ._accumulator import GenerationAccumulator
from ._chat_body import chat_body
from ._decoder import TokenDecoder
from ._detect import detect_format
from ._generation import Generation, GenerationEvent, Usage
from ._names import FORMATS, WIRE_FORMATS, TokenFormat, WireFormat, check_format
from ._tools import ToolCall, ToolCallDelta
from ._whole import parse_generation

__all__ = [
    "FORMATS",
    "WIRE_FORMATS",
    "FormatError",
    "Generation",
    "GenerationAccumulator",
    "GenerationEvent",
    "ModelOutputError",
    "TokenDecoder",
    "TokenFormat",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "WireFormat",
    "chat_body",
    "check_format",
    "detect_format",
    "parse_generation",
]
