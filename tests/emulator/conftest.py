"""Emulator tests: real sockets on 127.0.0.1 (tests/conftest.py isolates the AWS set-up)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from asyncsagemaker.emulator import Emulator


@pytest.fixture
def start(sagemaker_emulator_factory: Callable[..., Emulator]) -> Callable[..., Emulator]:
    """``start(**Emulator kwargs)``: a running emulator in a background thread (the plugin's)."""
    return sagemaker_emulator_factory
