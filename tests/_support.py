"""What every test directory shares: where the repository and its test data are, and the loops.

Test data lives in ``tests/data`` (see each folder's README for its source); no test
reads anything outside the repository.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest

if TYPE_CHECKING:
    from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"

LOOPS = [
    pytest.param(("asyncio", {}), id="asyncio"),
    pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
]
#: Parametrize an anyio test over both loops the SDK supports (asyncio and uvloop).
BOTH_LOOPS = pytest.mark.parametrize("anyio_backend", LOOPS, indirect=True)

#: Why a test of aiobotocore skips: ``python3 dev.py lowest`` installs the lowest
#: botocore, and no aiobotocore release accepts it (each pins a narrow botocore window).
NO_AIOBOTOCORE = "aiobotocore is not installed (dev.py lowest leaves it out: it pins botocore)"

#: How a child process may find SIGINT: as from a terminal, or ignored as a shell
#: leaves it for a background job (then asyncio alone would not take Ctrl-C over).
SIGINT_INHERITED = pytest.mark.parametrize("sigint_inherited", ["default", "ignored"])


@contextlib.contextmanager
def sigint_for_children(inherited: str) -> Iterator[None]:
    """Start children inside this block with SIGINT ``"default"`` or ``"ignored"``.

    Whatever the test runner itself was started with: an ignored SIGINT is the one
    disposition that survives ``exec``.
    """
    wanted = signal.SIG_IGN if inherited == "ignored" else signal.default_int_handler
    previous = signal.signal(signal.SIGINT, wanted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def server_process(script: str, *args: str) -> Iterator[list[str]]:
    """Run ``python -c script *args`` (a server in another process, so that this one's
    memory, GIL and garbage are the client's alone); yield the words of its first line
    (its URLs); stop it by closing its standard input."""
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().split()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1, a free port, for the block; yield its base URL."""
    from aiohttp import web

    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def _botocore_clock(now: datetime.datetime) -> Any:
    """botocore's signers read the time at ``now``: through ``get_current_datetime``
    (botocore 1.40.2 and later) or ``datetime.datetime.utcnow`` (before)."""
    import botocore.auth

    if hasattr(botocore.auth, "get_current_datetime"):
        return mock.patch.object(botocore.auth, "get_current_datetime", return_value=now)

    class _Frozen(datetime.datetime):
        @classmethod
        def utcnow(cls) -> _Frozen:
            return cls(now.year, now.month, now.day, now.hour, now.minute, now.second)

    return mock.patch.object(botocore.auth.datetime, "datetime", _Frozen)


@functools.cache
def model_members(operation: str) -> frozenset[str]:
    """The members of a sagemaker-runtime operation in the installed botocore's model."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    return frozenset(model.operation_model(operation).input_shape.members)


def needs_model_member(operation: str, member: str) -> pytest.MarkDecorator:
    """Skip a test of a member that the installed botocore's service model lacks (the
    lowest-versions job); the refusal that names the botocore to upgrade to is tested."""
    import botocore

    return pytest.mark.skipif(
        member not in model_members(operation),
        reason=f"botocore {botocore.__version__}'s model has no {operation}.{member}",
    )


def botocore_token(
    credentials: Any,
    region: str,
    expires: int,
    signed_at: int,
    *,
    service: str = "sagemaker",
    action: str = "CallWithBearerToken",
    prefix: str = "sagemaker-api-key-",
    host: str | None = None,
) -> str:
    """A bearer token made the documented way with botocore's own ``SigV4QueryAuth``
    (docs/protocol.md §8.1): an independent construction, and one that can be made
    for another service, action or prefix."""
    import botocore.auth
    from botocore.awsrequest import AWSRequest

    host = host or f"{service}.amazonaws.com"
    request = AWSRequest(
        method="POST", url=f"https://{host}/", headers={"host": host}, params={"Action": action}
    )
    now = datetime.datetime.fromtimestamp(signed_at, datetime.timezone.utc).replace(tzinfo=None)
    with _botocore_clock(now):
        auth = botocore.auth.SigV4QueryAuth(credentials, service, region, expires=expires)
        auth.add_auth(request)
    url = request.url.replace("https://", "") + "&Version=1"
    return prefix + base64.b64encode(url.encode()).decode()
