"""The official AWS SDK's side of benchmarks/bidi.py; run by a Python >= 3.12 with
``aws-sdk-sagemaker-runtime-http2[awscrt]`` (see tests/bidi/peer-requirements.txt).

``python _bidi_peer.py JSON`` with ``{"url", "ca_file", "rtt", "bulk", "bulk_bytes"}``
prints one JSON line of figures measured in this process (CPU of all its threads).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from aws_sdk_sagemaker_runtime_http2.client import AsyncSageMakerRuntimeHTTP2Client
from aws_sdk_sagemaker_runtime_http2.config import AsyncSageMakerRuntimeHTTP2Config
from aws_sdk_sagemaker_runtime_http2.models import (
    InvokeEndpointWithBidirectionalStreamInput,
    RequestPayloadPart,
    RequestStreamEventPayloadPart,
)
from awscrt import io as crt_io
from smithy_http.aio.crt import AWSCRTHTTPClient


def transport(ca_file: str) -> Any:
    client = AWSCRTHTTPClient()
    options = crt_io.TlsContextOptions()
    options.override_default_trust_store_from_path(ca_filepath=ca_file)
    client._tls_ctx = crt_io.ClientTlsContext(options)
    return client


def event(data: bytes) -> Any:
    return RequestStreamEventPayloadPart(
        value=RequestPayloadPart(bytes_=data, data_type="BINARY", completion_state="COMPLETE")
    )


async def main(job: dict[str, Any]) -> dict[str, float]:
    config = await AsyncSageMakerRuntimeHTTP2Config.resolve(
        endpoint_uri=job["url"],
        region="us-east-1",
        aws_access_key_id="AKIDBENCH",
        aws_secret_access_key="benchmark-secret",
        transport=transport(job["ca_file"]),
    )
    client = AsyncSageMakerRuntimeHTTP2Client(config=config)
    request = InvokeEndpointWithBidirectionalStreamInput(endpoint_name="echo")
    out: dict[str, float] = {}
    stream = await client.invoke_endpoint_with_bidirectional_stream(request)
    async with stream:
        await stream.input_stream.send(event(b"warm-up"))
        _, events = await stream.await_output()
        await events.receive()
        small = b"x" * 16
        latencies = []
        cpu = time.process_time()
        for _ in range(job["rtt"]):
            started = time.perf_counter()
            await stream.input_stream.send(event(small))
            await events.receive()
            latencies.append(time.perf_counter() - started)
        out["cpu_per_message"] = (time.process_time() - cpu) / job["rtt"]
        latencies.sort()
        out["rtt_median"] = latencies[len(latencies) // 2]
        payload = b"b" * job["bulk_bytes"]

        async def sender() -> None:
            for _ in range(job["bulk"]):
                await stream.input_stream.send(event(payload))

        started = time.perf_counter()
        task = asyncio.create_task(sender())
        received = 0
        while received < job["bulk"] * job["bulk_bytes"]:
            got = await events.receive()
            received += len(got.value.bytes_ or b"")
        await task
        out["throughput"] = 2 * received / (time.perf_counter() - started)
        await stream.input_stream.close()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
