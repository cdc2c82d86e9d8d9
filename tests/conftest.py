"""Shared test set-up: async tests run with anyio's pytest plugin.

``anyio_backend`` defaults to the standard asyncio loop; a test that must hold on
both loops the SDK supports takes ``@BOTH_LOOPS`` (asyncio and uvloop).
"""

from __future__ import annotations

from typing import Any

import pytest

LOOPS = [
    pytest.param(("asyncio", {}), id="asyncio"),
    pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
]
BOTH_LOOPS = pytest.mark.parametrize("anyio_backend", LOOPS, indirect=True)


@pytest.fixture
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return getattr(request, "param", ("asyncio", {}))
