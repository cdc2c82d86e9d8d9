"""The generated text in the streaming formats of the common model servers, sans-IO.

Feed :class:`TokenDecoder` the bytes of a response stream in any chunking; it
returns the pieces of generated text ("tokens") as they complete::

    tokens = TokenDecoder()              # format="auto"
    for chunk in chunks:
        for text in tokens.feed(chunk):
            print(text, end="")
    for text in tokens.close():
        print(text, end="")

or, with ``feed_events``/``close_events``, a :class:`GenerationEvent` per piece of
every choice (answer text, reasoning, tool-call fragments as :class:`ToolCallDelta`,
token id, logprob, ``special``) and per record that ends the generation (finish
reason, token usage), which :class:`GenerationAccumulator` folds into a
:class:`Generation` per choice (with its reasoning and the :class:`ToolCall` s
assembled).  :func:`parse_generation` reads a whole non-streaming answer into the
same :class:`Generation`; :func:`chat_body` builds (and checks) the OpenAI-style
chat request, tools and tool results included, that TGI, LMI, vLLM and SGLang
accept on ``/invocations``.

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
    raises with the line's ``token.error_msg``.  Also the dynamic-batch form
    ``{"outputs": ["text", ...]}``, and ``3p_stream`` (``option.bedrock_compat``):
    ``{"body": {"generation", "prompt_token_count", "generation_token_count",
    "stop_reason"}, "metering": {...}}``.
``vllm-chat`` / ``vllm-completions``
    OpenAI-compatible servers (vLLM, SGLang, TGI's Messages API, LMI's chat
    schema): ``chat.completion.chunk`` objects (``choices[i].delta``: ``content``,
    ``reasoning`` or ``reasoning_content``, ``tool_calls`` fragments; role-only and
    empty deltas give nothing) or ``text_completion`` objects (``choices[i].text``),
    ended by ``data: [DONE]``.  Every choice is read (the text form: choice 0's
    answer only); each choice's ``finish_reason``, and the chunk's ``usage``, end it.
    ``{"error": {...}}`` raises.
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
the chat chunk, tool-call deltas) and ``router/src/chat.rs`` and streaming docs,
DJL Serving's ``serving/docs/lmi/user_guides/lmi_input_output_schema.md`` and
``chat_input_output_schema.md`` (rolling and dynamic batch, chat, error lines) and
``djl_python/output_formatter.py`` (3p), vLLM's "OpenAI-Compatible Server" docs and
``protocol.py`` (chat completion chunks, completions, ``stream_options``,
``data: [DONE]``, streamed error objects, reasoning and tool-call deltas), and
SGLang's ``serving_chat.py``.  docs/streaming-formats.md has the table of which
server sends which field.
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
