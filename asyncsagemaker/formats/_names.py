"""The names of the token formats: the one list every other place reads."""

from __future__ import annotations

from typing import Literal, cast, get_args

from ..errors import ParamValidationError

__all__ = ["FORMATS", "WIRE_FORMATS", "TokenFormat", "WireFormat", "check_format"]


#: A concrete wire format: what one model server writes (the emulator's demo speaks each).
WireFormat = Literal["tgi", "lmi", "vllm-chat", "vllm-completions", "text"]


#: A name :class:`TokenDecoder` accepts: a wire format, ``"openai"`` (either OpenAI shape) or
#: ``"auto"`` (decided from the first bytes).
TokenFormat = Literal["auto", "tgi", "lmi", "vllm-chat", "vllm-completions", "openai", "text"]


#: The wire formats, in the order of :data:`WireFormat`.
WIRE_FORMATS: tuple[WireFormat, ...] = get_args(WireFormat)


#: The format names :class:`TokenDecoder` accepts besides ``"auto"``.
FORMATS: tuple[str, ...] = tuple(name for name in get_args(TokenFormat) if name != "auto")


def check_format(format: str) -> TokenFormat:
    """``format`` if :class:`TokenDecoder` accepts it, else :class:`ParamValidationError`.

    For callers that take a ``format=`` argument and want it checked before anything
    is sent (ParamValidationError is also a ``ValueError``).
    """
    if isinstance(format, str) and format in _TOKEN_FORMATS:
        return cast(TokenFormat, format)
    names = ", ".join(repr(name) for name in _TOKEN_FORMATS)
    raise ParamValidationError(f"unknown token format {format!r}: use one of {names}")


_TOKEN_FORMATS: tuple[str, ...] = get_args(TokenFormat)
