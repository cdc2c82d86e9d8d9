"""``InvokeEndpointAsync``'s answer: 202 at once, the model's output written later.

A request is accepted once its input is known to be there (an inline body, or an
``InputLocation`` in the directory standing in for S3, see ``_async``); the model
then runs in a task of its own, which writes the output file (or the failure
file) and finishes the request's record.  Closing the emulator gives pending
work a few seconds, then cancels it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from ._async import AsyncStore
from ._models import run_model
from ._parts import collect
from ._replies import ServiceReply
from ._types import Handler, Invocation, RequestRecord

__all__ = ["SHUTDOWN_GRACE", "AsyncInvocations"]

SHUTDOWN_GRACE = 5.0


class AsyncInvocations:
    """The directory standing in for S3, and the async invocations still running."""

    def __init__(self, directory: str | Path | None) -> None:
        self._directory = Path(directory) if directory is not None else None
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        self.store: AsyncStore | None = None  # made by open(), kept after close
        self._running: set[asyncio.Task[None]] = set()

    def open(self) -> None:
        """Make the store: in the directory given (created if need be), else a temporary one."""
        if self._directory is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="sagemaker-emulator-")
            root = Path(self._temporary.name)
        else:
            root = self._directory
            root.mkdir(parents=True, exist_ok=True)
        self.store = AsyncStore(root)

    async def finish(self) -> None:
        """Let the work still running finish within the grace period; cancel the rest."""
        if self._running:
            _, pending = await asyncio.wait(self._running, timeout=SHUTDOWN_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def cleanup(self) -> None:
        """Remove the temporary directory, if one was made."""
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None

    async def accept(
        self,
        handler: Handler,
        inv: Invocation,
        members: Mapping[str, str | None],
        record: RequestRecord,
    ) -> web.Response:
        """202 with the output and failure locations; the model runs later."""
        store = self.store
        assert store is not None
        input_location = members["input_location"]
        _check_input(store, input_location, inv.body)
        inference_id = inv.inference_id or str(uuid.uuid4())
        output, failure = store.plan(
            inv.endpoint_name, members["s3_output_path_extension"], members["filename"]
        )
        task = asyncio.create_task(self._run(handler, inv, input_location, output, failure, record))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        record.status = 202
        headers = {
            "x-amzn-RequestId": inv.request_id,
            "X-Amzn-SageMaker-OutputLocation": output,
            "X-Amzn-SageMaker-FailureLocation": failure,
        }
        return web.json_response({"InferenceId": inference_id}, status=202, headers=headers)

    async def _run(
        self,
        handler: Handler,
        inv: Invocation,
        input_location: str | None,
        output: str,
        failure: str,
        record: RequestRecord,
    ) -> None:
        """Run the model and write its output, or the error text to the failure location."""
        store = self.store
        assert store is not None
        try:
            if input_location is not None:
                inv = dataclasses.replace(inv, body=await store.read(input_location))
            answer = await run_model(handler, inv)
            body = answer.body
            data = body if isinstance(body, bytes) else await collect(body)
            await store.write(output, data)
            record.outcome = "ok"
        except asyncio.CancelledError:
            record.outcome = "error"
            raise
        except Exception as exc:
            message = exc.message if isinstance(exc, ServiceReply) else f"{exc}"
            record.outcome = "error"
            with contextlib.suppress(Exception):
                await store.write(failure, message.encode())
        finally:
            record.ended = time.monotonic()


def _check_input(store: AsyncStore, input_location: str | None, body: bytes) -> None:
    """Exactly one of an inline body and an input location; a bad location is refused now."""
    if input_location is None and not body:
        raise ServiceReply.validation(
            "Provide exactly one of Body and InputLocation: neither was given."
        )
    if input_location is not None:
        if body:
            raise ServiceReply.validation(
                "Body and InputLocation are mutually exclusive. Provide exactly one of them."
            )
        store.path_for(input_location)
