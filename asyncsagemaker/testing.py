"""Test helpers: the pytest plugin (entry point ``pytest11``) and a mock transport.

* ``sagemaker_emulator``: an :class:`~asyncsagemaker.emulator.Emulator` serving the
  default endpoints ``echo`` and ``demo``, fresh for each test, on HTTP/1.1
  (``.url``) and HTTP/2 for bidirectional streams (``.bidi_url``).
* ``sagemaker_emulator_factory``: call it with ``Emulator`` keyword arguments
  (models, credentials, faults...) to get more; all are stopped after the test.
* ``MockTransport``, ``MockResponse``, ``event_stream``: answer a client's requests
  from a function, without sockets (``SageMakerRuntime(transport=...)``).

The emulator runs on its own event loop in a background thread, so the same
fixture serves synchronous tests (boto3) and async tests on any loop.  Importing
this module (pytest does, in every run of a project that has the package
installed) starts nothing and imports neither aiohttp nor botocore.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._transports.base import Request
    from ._transports.mock import MockResponse, MockTransport, event_stream
    from .emulator import Emulator

__all__ = [
    "MockResponse",
    "MockTransport",
    "Request",
    "event_stream",
    "sagemaker_emulator",
    "sagemaker_emulator_factory",
]


def __getattr__(name: str) -> Any:
    if name in ("MockResponse", "MockTransport", "event_stream"):
        from ._transports import mock as _mock

        return getattr(_mock, name)
    if name == "Request":
        from ._transports.base import Request

        return Request
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@pytest.fixture
def sagemaker_emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """A function ``(**emulator_kwargs) -> running Emulator``, stopped at teardown."""
    from .emulator import Emulator, run_in_thread

    with contextlib.ExitStack() as stack:

        def start(**kwargs: Any) -> Emulator:
            return stack.enter_context(run_in_thread(Emulator(**kwargs)))

        yield start


@pytest.fixture
def sagemaker_emulator(
    sagemaker_emulator_factory: Callable[..., Emulator],
) -> Emulator:
    """A running emulator with the default endpoints (``echo``, ``demo``); use ``.url``.

    Its HTTP/2 listener for bidirectional streams is open too, on a free port:
    ``.bidi_url``.
    """
    return sagemaker_emulator_factory(bidi_port=0)
