"""``InvokeEndpointAsync`` against a local directory standing in for S3.

``s3://bucket/key`` is the file ``<root>/bucket/key``.  Input comes from
``InputLocation`` (or an inline body); the answer is written to the output
location when the model is done, or an error text to the failure location.
Files appear atomically (written aside, then renamed), so a poller never reads
half an answer.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from ._replies import ServiceReply

__all__ = ["OUTPUT_BUCKET", "AsyncStore"]

OUTPUT_BUCKET = "sagemaker-emulator"


class AsyncStore:
    """Maps ``s3://`` URIs to files under ``root`` and plans output locations."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, uri: str) -> Path:
        """The file standing in for ``uri``; ValidationError unless s3:// inside the root."""
        if not uri.startswith("s3://"):
            raise ServiceReply.validation(
                f"The emulator reads async input from s3:// locations only, not {uri!r}."
            )
        bucket, _, key = uri[len("s3://") :].partition("/")
        path = (self.root / bucket / key).resolve()
        root = self.root.resolve()
        if not bucket or not key or root not in path.parents:
            raise ServiceReply.validation(f"Invalid S3 location {uri!r}.")
        return path

    def plan(self, endpoint: str, extension: str | None, filename: str | None) -> tuple[str, str]:
        """Output and failure ``s3://`` URIs for a new request, as the service names them."""
        name = filename or f"{uuid.uuid4()}.out"
        stem = name[: -len(".out")] if name.endswith(".out") else name
        suffix = f"/{extension.strip('/')}" if extension else ""
        output = f"s3://{OUTPUT_BUCKET}/async-output/{endpoint}{suffix}/{name}"
        failure = f"s3://{OUTPUT_BUCKET}/async-failures/{endpoint}{suffix}/{stem}-error.out"
        return output, failure

    async def read(self, uri: str) -> bytes:
        return await asyncio.to_thread(self.path_for(uri).read_bytes)

    async def write(self, uri: str, data: bytes) -> None:
        await asyncio.to_thread(_write_atomically, self.path_for(uri), data)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
