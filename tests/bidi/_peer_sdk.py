"""Run by a Python >= 3.12 with ``aws-sdk-sagemaker-runtime-http2[awscrt]``: the official SDK
as a third-party client of the emulator.  Not imported by the test suite.

Reads a JSON job from argv[1], opens one bidirectional stream over TLS with the AWS
CRT transport (the SDK's default aiohttp transport refuses this operation), sends
the job's parts, then ends the input, and prints one JSON document: the parts it
received, or the error it raised with its modeled fields.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from aws_sdk_sagemaker_runtime_http2.client import (  # type: ignore[import-not-found]
    AsyncSageMakerRuntimeHTTP2Client,
)
from aws_sdk_sagemaker_runtime_http2.config import (  # type: ignore[import-not-found]
    AsyncSageMakerRuntimeHTTP2Config,
)
from aws_sdk_sagemaker_runtime_http2.models import (  # type: ignore[import-not-found]
    InvokeEndpointWithBidirectionalStreamInput,
    RequestPayloadPart,
    RequestStreamEventPayloadPart,
    ResponseStreamEventPayloadPart,
)
from awscrt import io as crt_io  # type: ignore[import-not-found]
from smithy_http.aio.crt import AWSCRTHTTPClient  # type: ignore[import-not-found]


def transport(ca_file: str) -> Any:
    """The CRT transport, trusting the test CA (the SDK has no option for it yet)."""
    client = AWSCRTHTTPClient()
    options = crt_io.TlsContextOptions()
    options.override_default_trust_store_from_path(ca_filepath=ca_file)
    client._tls_ctx = crt_io.ClientTlsContext(options)
    return client


async def main(job: dict[str, Any]) -> dict[str, Any]:
    config = await AsyncSageMakerRuntimeHTTP2Config.resolve(
        endpoint_uri=job["url"],
        region="us-east-1",
        aws_access_key_id=job["access_key"],
        aws_secret_access_key=job["secret_key"],
        transport=transport(job["ca_file"]),
    )
    client = AsyncSageMakerRuntimeHTTP2Client(config=config)
    request = InvokeEndpointWithBidirectionalStreamInput(
        endpoint_name=job["endpoint"],
        target_variant=job.get("target_variant"),
        model_invocation_path=job.get("model_invocation_path"),
        model_query_string=job.get("model_query_string"),
    )
    received: list[dict[str, Any]] = []
    try:
        stream = await client.invoke_endpoint_with_bidirectional_stream(request)
        async with stream:
            for data, data_type, state in job["parts"]:
                part = RequestPayloadPart(
                    bytes_=bytes.fromhex(data), data_type=data_type, completion_state=state
                )
                await stream.input_stream.send(RequestStreamEventPayloadPart(value=part))
            await stream.input_stream.close()
            output, events = await stream.await_output()
            async for event in events:
                if isinstance(event, ResponseStreamEventPayloadPart):
                    value = event.value
                    received.append(
                        {
                            "data": (value.bytes_ or b"").hex(),
                            "data_type": value.data_type,
                            "completion_state": value.completion_state,
                        }
                    )
                else:
                    received.append({"event": type(event).__name__})
            variant = output.invoked_production_variant
    except Exception as exc:
        fields = {
            name: getattr(exc, name)
            for name in ("message", "error_code", "original_status_code", "original_message")
            if isinstance(getattr(exc, name, None), (str, int))
        }
        return {"error": type(exc).__name__, "fields": fields, "parts": received}
    return {"parts": received, "variant": variant}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
