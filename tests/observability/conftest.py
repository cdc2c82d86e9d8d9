"""An in-memory OpenTelemetry SDK per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.observability._support import Otel


@pytest.fixture
def otel() -> Iterator[Otel]:
    found = Otel.create()
    yield found
    found.shutdown()
