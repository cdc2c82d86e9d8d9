"""Ray Data: the batch job past one machine, with one client per actor.

``EndpointInvoker`` is a callable class for ``Dataset.map_batches``::

    ds = ray.data.read_text("prompts.jsonl")  # the batch command's input, one line a row
    answers = ds.map_batches(
        EndpointInvoker,
        fn_constructor_kwargs={"endpoint": "my-llm", "stream": True, "concurrency": 16},
        compute=ray.data.ActorPoolStrategy(size=4),  # actors; each sends up to 16 at once
        batch_size=64,
    )

Ray makes one instance per actor, so one client (one connection pool, credentials
resolved once) serves every batch the actor is given; its async ``__call__`` sends a
batch's rows concurrently, bounded per actor, each with the batch command's per-row
retries.  A row's answer and error are columns beside the input columns: a row that
fails is a row with ``error_type`` set, never an exception that stops the job.

The rows are read as the batch command reads its lines (docs/batch.md): a ``text``
column holding a JSON line (what ``ray.data.read_text`` gives), or ``body`` /
``messages`` columns with the call's members and chat parameters beside them (what
``ray.data.read_json`` gives for request and chat objects).  This module does not
import Ray: the class can be made and called without a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anyio

from .._client import SageMakerRuntime
from .._config import Config
from ..batch._call import RowCaller, RowResult, check_concurrency
from ..batch._input import STREAM_MEMBERS, WHOLE_MEMBERS, BatchRequest, parse_line, parse_request
from ..errors import ParamValidationError
from ..formats import TokenFormat

__all__ = ["ANSWER_COLUMNS", "EndpointInvoker"]

#: The columns every output batch gains, in this order.
ANSWER_COLUMNS = (
    "output",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "request_id",
    "attempts",
    "latency",
    "time_to_first_token",
    "error_type",
    "error_message",
)
_CHAT_PARAMETERS = frozenset({"max_tokens", "temperature", "top_p", "stop"})


class EndpointInvoker:
    """Sends each row of a batch to ``endpoint``; returns the batch with answer columns.

    ``stream``, ``format``, ``retries``, ``backoff`` and ``max_backoff`` mean what they
    mean for :func:`asyncsagemaker.batch.run`; ``concurrency`` bounds the requests in
    flight per actor, across all the batches it is handed at once.  ``column`` names
    the column that holds each row's request (a JSON line, or a mapping), when it is
    not ``text`` nor spread over ``body``/``messages`` columns.  The client's settings
    are the other keywords (``region_name``, ``endpoint_url``, ``config``, keys...), as
    for :class:`~asyncsagemaker.SageMakerRuntime`; its pool gets ``concurrency``
    connections unless ``config`` says otherwise.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        stream: bool = False,
        format: TokenFormat | None = None,
        concurrency: int = 16,
        retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        column: str | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        profile_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        config: Config | None = None,
    ) -> None:
        check_concurrency(concurrency)
        self.client = SageMakerRuntime(
            region_name,
            endpoint_url=endpoint_url,
            profile_name=profile_name,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_session_token=aws_session_token,
            config=config or Config(max_pool_connections=concurrency),
        )
        self.caller = RowCaller(
            self.client,
            endpoint,
            stream=stream,
            format=format,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
        )
        self.stream = stream
        self.column = column
        self.concurrency = concurrency
        self._slots: anyio.Semaphore | None = None  # made on the actor's loop, once

    async def __call__(self, batch: Mapping[str, Any]) -> dict[str, list[Any]]:
        """The batch's columns, and :data:`ANSWER_COLUMNS` with one value per row."""
        columns = {name: _plain(values) for name, values in batch.items()}
        size = len(next(iter(columns.values()), []))
        results: list[dict[str, Any]] = [{}] * size
        if self._slots is None:
            self._slots = anyio.Semaphore(self.concurrency)
        slots = self._slots

        async def one(index: int, request: BatchRequest) -> None:
            async with slots:
                results[index] = _answer(await self.caller(request))

        async with anyio.create_task_group() as tasks:
            for index in range(size):
                try:
                    request = self._request(columns, index)
                except ParamValidationError as exc:
                    results[index] = _refused(exc)
                    continue
                tasks.start_soon(one, index, request)
        for name in ANSWER_COLUMNS:
            columns[name] = [result[name] for result in results]
        return columns

    async def aclose(self) -> None:
        """Close the actor's client (Ray ends actors without it; then the process does)."""
        await self.client.close()

    def _request(self, columns: Mapping[str, list[Any]], index: int) -> BatchRequest:
        """Row ``index`` as a request: from the request column, or from its columns."""
        name = self.column or ("text" if "text" in columns else None)
        if name is not None:
            if name not in columns:
                raise ParamValidationError(f"the batch has no column {name!r}")
            value = columns[name][index]
            if isinstance(value, (str, bytes)):
                request = parse_line(value, stream=self.stream)
                if request is None:
                    raise ParamValidationError(f"the {name!r} column of this row is blank")
                return request
            if isinstance(value, dict) and ("body" in value or "messages" in value):
                return parse_request(value, stream=self.stream)
            raise ParamValidationError(
                f"the {name!r} column holds a {type(value).__name__}: a JSON line or a "
                "request object (with body or messages) was expected"
            )
        row = {key: values[index] for key, values in columns.items()}
        chat = row.get("messages") is not None
        members = STREAM_MEMBERS if self.stream else WHOLE_MEMBERS
        keys = members | {"body", "messages", "id"} | (_CHAT_PARAMETERS if chat else set())
        request_row = {key: value for key, value in row.items() if key in keys}
        if request_row.get("body") is None and not chat:
            raise ParamValidationError(
                "this row has no request: a 'text' column (a JSON line), or a 'body' or "
                "'messages' column, was expected"
            )
        return parse_request(request_row, stream=self.stream)


def _plain(values: Any) -> list[Any]:
    """A column as a list of plain Python values (numpy arrays and scalars unwrapped)."""
    tolist = getattr(values, "tolist", None)
    items = tolist() if callable(tolist) else list(values)
    return [_plain_item(item) for item in items]


def _plain_item(item: Any) -> Any:
    """One value unwrapped; a value nested too deeply is left as it is.

    Its row then fails alone (its request cannot be encoded: ParamValidationError),
    instead of a RecursionError failing the whole batch.
    """
    try:
        return _unwrap(item)
    except RecursionError:
        return item


def _unwrap(value: Any) -> Any:
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {key: _unwrap(item) for key, item in value.items()}
    tolist = getattr(value, "tolist", None)  # a numpy array or scalar inside an object column
    if callable(tolist):
        return _unwrap(tolist())
    if isinstance(value, Sequence):
        return [_unwrap(item) for item in value]
    return value


def _answer(result: RowResult) -> dict[str, Any]:
    error = result.error
    generation = result.generation
    usage = generation.usage if generation is not None else None
    if generation is not None:
        output: str | None = generation.text
    elif result.output is not None:
        output = result.output.decode("utf-8", "replace")
    else:
        output = None
    return {
        "output": output,
        "finish_reason": generation.finish_reason if generation is not None else None,
        "prompt_tokens": usage.prompt_tokens if usage is not None else None,
        "completion_tokens": usage.completion_tokens if usage is not None else None,
        "request_id": result.request_id,
        "attempts": result.attempts,
        "latency": result.latency,
        "time_to_first_token": result.time_to_first_token,
        "error_type": type(error).__name__ if error is not None else None,
        "error_message": str(error) if error is not None else None,
    }


def _refused(error: ParamValidationError) -> dict[str, Any]:
    """The answer columns of a row that could not be sent."""
    answer = dict.fromkeys(ANSWER_COLUMNS)
    answer.update(
        attempts=0, latency=0.0, error_type=type(error).__name__, error_message=str(error)
    )
    return answer
