"""The integrations' tests: LiteLLM offline, and langchain-tests' async tests on pytest-asyncio.

They are written for ``asyncio_mode = "auto"`` (plain ``async def`` tests, no marker),
while the rest of our suite runs on anyio's plugin (``@pytest.mark.anyio``, asyncio and
uvloop).  Auto mode would claim every async test; instead, the async tests of a
standard-suite class (a subclass of langchain-tests' ``BaseStandardTests``) get the
``asyncio`` marker here, as auto mode would give them, and nothing else changes.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Generator
from typing import Any

import pytest
from langchain_tests.base import BaseStandardTests

# LiteLLM fetches its model price list from GitHub when imported, unless told to use the
# copy it ships: tests use no network beyond 127.0.0.1 (children inherit the setting).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, Any, None]:
    """Runs inside pytest-asyncio's own wrapper, which then sees the marker."""
    outcome = yield
    standard = isinstance(collector, pytest.Class) and issubclass(collector.obj, BaseStandardTests)
    if not standard or not inspect.iscoroutinefunction(obj):
        return
    result = outcome.get_result()
    for item in result if isinstance(result, list) else [result]:
        if isinstance(item, pytest.Function):
            item.add_marker(pytest.mark.asyncio)
