"""Shared test set-up: async tests run with anyio's pytest plugin.

``anyio_backend`` defaults to the standard asyncio loop; a test that must hold on
both loops the SDK supports takes ``@BOTH_LOOPS`` (asyncio and uvloop).
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any

import pytest

from tests._support import BOTH_LOOPS, LOOPS

__all__ = ["BOTH_LOOPS", "LOOPS"]


@pytest.fixture
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return getattr(request, "param", ("asyncio", {}))


@pytest.fixture(autouse=True)
def _isolated_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any) -> None:
    """Never read the developer's ~/.aws or AWS_* variables: tests say what they use."""
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    missing = tmp_path_factory.getbasetemp() / "no-aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(missing / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def start_emulator(sagemaker_emulator_factory: Callable[..., Any]) -> Callable[..., Any]:
    """``start(**Emulator kwargs)``: a running emulator in a background thread.

    The package's own pytest plugin (``sagemaker_emulator_factory``) under a short name;
    every emulator started is stopped after the test.
    """
    return sagemaker_emulator_factory


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line that says which Python ran what: ``Python 3.10.13: 712 passed``."""
    counts = {
        outcome: len(terminalreporter.stats.get(outcome, []))
        for outcome in ("passed", "failed", "error", "skipped", "xfailed")
    }
    parts = [f"{n} {outcome}" for outcome, n in counts.items() if n]
    terminalreporter.write_line(f"Python {platform.python_version()}: {', '.join(parts)}")
