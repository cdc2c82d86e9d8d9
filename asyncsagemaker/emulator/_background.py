"""Running an emulator on its own event loop in a thread, for synchronous callers.

boto3 blocks the calling thread, so an emulator on that thread's loop could
never answer.  In a thread of its own it serves sync and async code alike, on
whatever loop the caller uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._server import Emulator

__all__ = ["run_in_thread"]

_STARTUP_TIMEOUT = 30.0


@contextlib.contextmanager
def run_in_thread(emulator: Emulator) -> Iterator[Emulator]:
    """Start ``emulator`` on a background thread's loop; stop it on leaving the block.

    ``emulator.url``, ``.records`` and ``.set_faults()`` work from any thread.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="sagemaker-emulator", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(emulator.start(), loop).result(_STARTUP_TIMEOUT)
        try:
            yield emulator
        finally:
            asyncio.run_coroutine_threadsafe(emulator.close(), loop).result(_STARTUP_TIMEOUT)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_STARTUP_TIMEOUT)
        loop.close()
