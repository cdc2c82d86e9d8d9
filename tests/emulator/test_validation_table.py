"""The emulator's validation table, held to botocore's service model of sagemaker-runtime.

The table is written out by hand (the emulator is an independent check of the
client), so this test is what keeps it from drifting: every header-bound input
member of every operation, with its header, length or value bounds, pattern and
sensitivity, under botocore's own snake_case name.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import botocore.session
import pytest
from botocore import xform_name

from asyncsagemaker.emulator import Emulator, Invocation
from asyncsagemaker.emulator._validation import (
    ENDPOINT_NAME,
    MAX_ASYNC_BODY,
    MAX_BODY,
    MEMBERS,
    Member,
)

from ._support import NEWEST_MODEL, boto3_client, path_for, post, sign

Start = Callable[..., Emulator]
MODEL = botocore.session.get_session().get_service_model("sagemaker-runtime")


def expected_member(name: str, shape: Any) -> Member:
    metadata = shape.metadata
    return Member(
        name=name,
        attribute=xform_name(name),
        header=shape.serialization["name"].lower(),
        max=metadata["max"],
        min=metadata.get("min", 0),
        pattern=metadata.get("pattern"),
        sensitive=bool(metadata.get("sensitive")),
        integer=shape.type_name == "integer",
        visible=name == "CustomAttributes",  # the API reference's rule, beyond the pattern
    )


@NEWEST_MODEL
@pytest.mark.parametrize("operation", MODEL.operation_names)
def test_the_table_is_botocores_model(operation: str) -> None:
    members = MODEL.operation_model(operation).input_shape.members
    expected = {
        name: expected_member(name, shape)
        for name, shape in members.items()
        if shape.serialization.get("location") == "header"
    }
    table = {member.name: member for member in MEMBERS[operation]}
    assert sorted(table) == sorted(expected), "which operation has which member"
    for name, member in table.items():
        assert member == expected[name]


@NEWEST_MODEL
def test_the_endpoint_name_and_body_limits_are_botocores() -> None:
    for operation in MODEL.operation_names:
        members = MODEL.operation_model(operation).input_shape.members
        endpoint = members["EndpointName"]
        assert (ENDPOINT_NAME.max, ENDPOINT_NAME.pattern) == (
            endpoint.metadata["max"],
            endpoint.metadata["pattern"],
        )
        assert ENDPOINT_NAME.attribute == xform_name("EndpointName")
        limit = MAX_ASYNC_BODY if operation == "InvokeEndpointAsync" else MAX_BODY
        assert members["Body"].metadata["max"] == limit


def test_members_the_model_gives_invocation_have_botocores_names() -> None:
    fields = {field.name for field in dataclasses.fields(Invocation)}
    for operation in ("InvokeEndpoint", "InvokeEndpointWithResponseStream"):
        for member in MEMBERS[operation]:
            assert member.attribute in fields, member


@NEWEST_MODEL
def test_s3_output_path_extension_reaches_the_output_location(start: Start) -> None:
    emu = start()
    client = boto3_client(emu)
    accepted = client.invoke_endpoint_async(
        EndpointName="echo",
        InputLocation="s3://in/key",
        S3OutputPathExtension="runs/7",
        Filename="answer.out",
    )
    assert (
        accepted["OutputLocation"] == "s3://sagemaker-emulator/async-output/echo/runs/7/answer.out"
    )
    with pytest.raises(client.exceptions.ValidationError) as caught:
        client.invoke_endpoint_async(
            EndpointName="echo", InputLocation="s3://in/key", S3OutputPathExtension="s3://x"
        )
    message = caught.value.response["Error"]["Message"]
    assert "at 's3OutputPathExtension' failed to satisfy constraint: Member must satisfy " in (
        message
    )
    assert "^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+$" in message


def test_messages_quote_the_models_pattern_and_match_it_whole(start: Start) -> None:
    """The model's pattern has no '$', yet the whole value must match (as Coral does)."""
    emu = start()
    client = boto3_client(emu)
    with pytest.raises(client.exceptions.ValidationError) as caught:
        client.invoke_endpoint(EndpointName="echo", Body=b"x", TargetVariant="blue_green")
    assert caught.value.response["Error"]["Message"] == (
        "1 validation error detected: Value 'blue_green' at 'targetVariant' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("header", "value", "constraint"),
    [
        ("RequestTTLSeconds", "59", "Member must have value greater than or equal to 60"),
        ("RequestTTLSeconds", "21601", "Member must have value less than or equal to 21600"),
        ("InvocationTimeoutSeconds", "0", "Member must have value greater than or equal to 1"),
        ("InvocationTimeoutSeconds", "soon", "Member must be an integer"),
    ],
)
async def test_integer_members_are_range_checked(header: str, value: str, constraint: str) -> None:
    """botocore refuses these before sending; the emulator refuses them from any client."""
    async with Emulator() as emu, aiohttp.ClientSession() as session:
        url = emu.url + path_for("echo", "async-invocations")
        headers = {
            f"X-Amzn-SageMaker-{header}": value,
            "X-Amzn-SageMaker-InputLocation": "s3://in/key",
        }
        response = await post(session, url, b"", sign(url, b"", headers))
        async with response:
            assert response.status == 400
            message = json.loads(await response.read())["message"]
    wire = header[:1].lower() + header[1:]
    assert message == (
        f"1 validation error detected: Value '{value}' at '{wire}' failed to satisfy "
        f"constraint: {constraint}"
    )
