"""``with_structured_output`` through ``response_format``: ``json_schema`` and ``json_mode``.

vLLM, SGLang and TGI constrain the answer to a JSON schema sent as OpenAI's
``response_format={"type": "json_schema", ...}`` (``json_object`` for any JSON), so
the answer's text is the object itself, parsed here as ChatOpenAI parses it.  The
default method, ``function_calling``, is langchain-core's own (a forced tool call).
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema
from langchain_core.utils.pydantic import is_basemodel_subclass

__all__ = ["RESPONSE_FORMAT_METHODS", "structured"]

#: The methods answered through ``response_format`` (the rest is langchain-core's).
RESPONSE_FORMAT_METHODS = ("json_schema", "json_mode")


def structured(
    model: Runnable[LanguageModelInput, Any],
    schema: dict[str, Any] | type,
    method: str,
    *,
    include_raw: bool,
    strict: bool | None,
) -> Runnable[LanguageModelInput, Any]:
    """``model`` bound to answer ``schema`` as JSON text, then parsed."""
    if method == "json_schema":
        json_schema = convert_to_json_schema(schema)
        name = json_schema.get("title") or "response"
        spec: dict[str, Any] = {"name": name, "schema": json_schema}
        if strict is not None:
            spec["strict"] = strict
        bound = model.bind(
            response_format={"type": "json_schema", "json_schema": spec},
            ls_structured_output_format={
                "kwargs": {"method": method, "strict": strict},
                "schema": schema,
            },
        )
    else:
        bound = model.bind(
            response_format={"type": "json_object"},
            ls_structured_output_format={"kwargs": {"method": method}, "schema": schema},
        )
    parser: Runnable[Any, Any] = (
        PydanticOutputParser(pydantic_object=schema)
        if isinstance(schema, type) and is_basemodel_subclass(schema)
        else JsonOutputParser()
    )
    if not include_raw:
        return bound | parser
    parsed = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    failed = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=bound) | parsed.with_fallbacks([failed], exception_key="parsing_error")
