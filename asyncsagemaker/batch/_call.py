"""One batch row sent and answered, with retries of its own beyond the client's.

The client retries a call only before the first byte of its answer and only while its
retry quota lasts.  A batch can do more: nothing of a row is handed out until the row
is complete, so a row whose call failed in a way the client's policy calls retryable
(throttling after the client gave up, a connection lost mid-stream, a read timeout)
is sent again after a backoff of its own.  What is retryable is the client's own
:meth:`RetryPolicy.is_retryable`, never a second list.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable

import anyio

from .._client import SageMakerRuntime
from .._retries import RetryPolicy
from ..errors import DecodeError, ParamValidationError, SageMakerError
from ..formats import Generation, TokenFormat, check_format, parse_generation
from ._input import BatchRequest

__all__ = ["RowCaller", "RowResult", "check_concurrency"]


def check_concurrency(concurrency: object) -> None:
    """Refuse a concurrency that is not a whole number of calls in flight, at least one."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ParamValidationError(f"concurrency must be an int >= 1, not {concurrency!r}")


@dataclasses.dataclass(slots=True)
class RowResult:
    """How one row went: the answer or the error, and the numbers of its last attempt.

    ``output`` and ``content_type`` are a whole answer's (``invoke_endpoint`` of a
    body); ``generation`` a streamed answer's or a chat answer's.  ``latency`` is the
    last attempt's, from sending to the end of the answer; ``time_to_first_token`` the
    last attempt's too (streams only).
    """

    error: SageMakerError | None
    attempts: int
    latency: float
    request_id: str | None = None
    output: bytes | None = None
    content_type: str | None = None
    generation: Generation | None = None
    time_to_first_token: float | None = None

    @property
    def tokens(self) -> int:
        """Tokens generated: the usage the server sent, else the text pieces counted."""
        generation = self.generation
        if generation is None:
            return 0
        usage = generation.usage
        if usage is not None and usage.completion_tokens is not None:
            return usage.completion_tokens
        return sum(1 for event in generation.events if event.text and not event.special)


class RowCaller:
    """Sends rows to one endpoint through one client: ``await caller(request)``.

    ``stream`` reads each answer as a stream of generation events (``format``, else
    ``"auto"``, or ``"openai"`` for a chat row).  ``retries`` more attempts per row
    at most, after a full-jitter backoff of ``backoff * 2**(n-1)`` seconds capped at
    ``max_backoff``.
    """

    def __init__(
        self,
        client: SageMakerRuntime,
        endpoint: str,
        *,
        stream: bool = False,
        format: TokenFormat | None = None,
        retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
    ) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ParamValidationError(f"retries must be an int >= 0, not {retries!r}")
        if not backoff >= 0 or not max_backoff >= 0:
            raise ParamValidationError("backoff and max_backoff must be >= 0 seconds")
        self.client = client
        self.endpoint = endpoint
        self.stream = stream
        self.format = None if format is None else check_format(format)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        mode = client.config.retry_mode or "standard"
        self._retryable: Callable[[SageMakerError], bool] = RetryPolicy(mode, 1).is_retryable

    def retryable(self, error: SageMakerError) -> bool:
        """Whether a row that failed so is worth another try (the client's own rule)."""
        return self._retryable(error)

    async def __call__(self, request: BatchRequest) -> RowResult:
        attempt = 1
        while True:
            started = time.monotonic()
            try:
                result = await self._once(request, started)
            except SageMakerError as error:
                if attempt > self.retries or not self._retryable(error):
                    return RowResult(
                        error, attempt, time.monotonic() - started, request_id=error.request_id
                    )
                cap = min(self.backoff * 2.0 ** (attempt - 1), self.max_backoff)
                await anyio.sleep(random.random() * cap)
                attempt += 1
                continue
            result.attempts = attempt
            return result

    async def _once(self, request: BatchRequest, started: float) -> RowResult:
        client, endpoint = self.client, self.endpoint
        if self.stream:
            format = self.format or ("openai" if request.chat else "auto")
            call = client.invoke_endpoint_with_response_stream(
                endpoint, body=request.body, **request.call
            )
            first: float | None = None
            async with call as stream:
                try:
                    async for event in stream.events(format):
                        if first is None and event.text and not event.special:
                            first = time.monotonic()
                    generation = await stream.final()
                except RecursionError:
                    raise _too_deep(stream.request_id) from None
            ended = time.monotonic()
            return RowResult(
                None,
                1,
                ended - started,
                request_id=stream.request_id,
                generation=generation,
                time_to_first_token=None if first is None else first - started,
            )
        answer = await client.invoke_endpoint(endpoint, body=request.body, **request.call)
        if not request.chat:
            return RowResult(
                None,
                1,
                time.monotonic() - started,
                request_id=answer.request_id,
                output=answer.body,
                content_type=answer.content_type,
            )
        try:
            generation = parse_generation(answer.body, self.format or "openai")
        except SageMakerError as exc:
            exc.request_id = answer.request_id
            raise
        except RecursionError:
            raise _too_deep(answer.request_id) from None
        return RowResult(
            None,
            1,
            time.monotonic() - started,
            request_id=answer.request_id,
            generation=generation,
        )


def _too_deep(request_id: str | None) -> DecodeError:
    """The row's error for an answer nested too deeply for Python's JSON parser.

    Raised as the row's error, so that one such answer never ends the run.
    """
    error = DecodeError("the answer is nested too deeply to be read")
    error.request_id = request_id
    return error
