"""What the integrations' tests share: an emulator that checks signatures, and its keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from asyncsagemaker.emulator import Emulator, run_in_thread

AKID, SECRET = "AKIDINTEGRATIONS", "integrations-secret"
CREDENTIALS = {AKID: SECRET}


@contextmanager
def emulator(token_delay: float = 0, **kwargs: Any) -> Iterator[Emulator]:
    """A running emulator (its own thread and loop) checking every signature exactly."""
    with run_in_thread(Emulator(token_delay=token_delay, credentials=CREDENTIALS, **kwargs)) as emu:
        yield emu


def settings(emu: Emulator) -> dict[str, Any]:
    """A model's client settings for ``emu``."""
    return {
        "endpoint_url": emu.url,
        "region_name": "us-east-1",
        "aws_access_key_id": AKID,
        "aws_secret_access_key": SECRET,
    }
