"""What every test directory shares: where the repository and its test data are, and the loops.

Test data lives in ``tests/data`` (see each folder's README for its source); no test
reads anything outside the repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"

LOOPS = [
    pytest.param(("asyncio", {}), id="asyncio"),
    pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
]
#: Parametrize an anyio test over both loops the SDK supports (asyncio and uvloop).
BOTH_LOOPS = pytest.mark.parametrize("anyio_backend", LOOPS, indirect=True)
