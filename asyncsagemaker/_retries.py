"""When a failed attempt may be tried again, and how long to wait first.

Only failures *before the first byte of a 200 response* ever reach this module:
once a part was handed out a generation cannot be resumed, so stream errors are
never retried.  What is retryable follows botocore's modes:

* ``standard`` (our default) and ``adaptive``: HTTP 500/502/503/504, botocore's
  transient and throttling error codes, connection errors and timeouts, and
  429 ``ModelNotReadyException`` (the model is loading: waiting is the remedy;
  botocore's standard mode does not retry it, its legacy mode does).  Backoff is
  full jitter ``random() * min(base * 2**(n-1), cap)``; a retry quota of 500
  tokens (5 per retry, 10 after a timeout, refunded on success) stops retry
  storms when a whole endpoint is down.  ``adaptive`` also slows the send rate
  after throttling, with botocore's CUBIC rate calculator.
* ``legacy``: botocore's old defaults: also 509 and any 429, throttling codes only
  with status 400, no quota.

``ValidationError`` (400) and ``ModelError`` (424) are never retried: the same
request would fail the same way; nor is a ``CertificateError``.

The loop itself is data: :meth:`RetryPolicy.attempts` hands out :class:`Attempt`
objects, so a caller reads as *wait, sign, send, classify*::

    for attempt in policy.attempts(deadline, "InvokeEndpoint my-endpoint"):
        if attempt.must_wait:           # backoff and adaptive rate limit
            await attempt.wait()
        ...send...
        attempt.failed(error)           # raises it unless another attempt follows
        attempt.succeeded(status, request_id)
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Iterator

from ._deadline import Deadline
from ._telemetry.hooks import NO_OBSERVER, Observer
from .errors import (
    CertificateError,
    ConnectTimeoutError,
    ModelNotReadyException,
    NetworkError,
    ReadTimeoutError,
    SageMakerError,
    ServiceError,
)

__all__ = ["Attempt", "RetryPolicy"]

logger = logging.getLogger("asyncsagemaker")

_TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
_TRANSIENT_CODES = frozenset(
    {"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"}
)
_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
_LEGACY_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
    }
)
_QUOTA_CAPACITY = 500
_RETRY_COST = 5
_TIMEOUT_RETRY_COST = 10


def _is_throttle(error: SageMakerError) -> bool:
    return isinstance(error, ServiceError) and error.code in _THROTTLING_CODES


class _AdaptiveRateLimiter:
    """Client-side send-rate limit that backs off after throttling (CUBIC), async."""

    def __init__(self) -> None:
        # botocore's retry package only in adaptive mode (5 M instructions to import)
        from botocore.retries.adaptive import RateClocker
        from botocore.retries.bucket import Clock
        from botocore.retries.throttling import CubicCalculator

        self._clock = Clock()
        self._rate_clocker = RateClocker(self._clock)
        self._cubic = CubicCalculator(starting_max_rate=0, start_time=self._clock.current_time())
        self._enabled = False
        self._rate = 0.5
        self._next_send = 0.0

    async def acquire(self) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        wait = self._next_send - now
        self._next_send = max(now, self._next_send) + 1.0 / max(self._rate, 0.5)
        if wait > 0:
            import anyio

            await anyio.sleep(wait)

    def record(self, throttled: bool) -> None:
        """Adjust the rate after a response, as botocore's ClientRateLimiter does."""
        measured = self._rate_clocker.record()
        now = self._clock.current_time()
        if throttled:
            current = measured if not self._enabled else min(measured, self._rate)
            new_rate = self._cubic.error_received(current, now)
            self._enabled = True
        else:
            new_rate = self._cubic.success_received(now)
        self._rate = min(new_rate, 2 * measured)


class RetryPolicy:
    """Per-client retry decisions and state (the quota is shared by all calls)."""

    def __init__(
        self, mode: str, max_attempts: int, backoff_base: float = 1.0, max_backoff: float = 20.0
    ) -> None:
        self.mode = mode
        self.max_attempts = max_attempts
        self._base = backoff_base
        self._cap = max_backoff
        self._quota = _QUOTA_CAPACITY
        self._rate_limiter = _AdaptiveRateLimiter() if mode == "adaptive" else None

    def is_retryable(self, error: SageMakerError) -> bool:
        """Whether the service or network failure ``error`` may succeed if tried again."""
        if isinstance(error, CertificateError):
            return False
        if isinstance(error, (NetworkError, ConnectTimeoutError, ReadTimeoutError)):
            return True
        if not isinstance(error, ServiceError):
            return False
        if self.mode == "legacy":
            if error.status_code in _TRANSIENT_STATUS or error.status_code in (429, 509):
                return True
            return error.status_code == 400 and error.code in _LEGACY_THROTTLING_CODES
        return (
            error.status_code in _TRANSIENT_STATUS
            or error.code in _TRANSIENT_CODES
            or error.code in _THROTTLING_CODES
            or isinstance(error, ModelNotReadyException)
        )

    def acquire_retry(self, error: SageMakerError) -> bool:
        """Take a retry from the quota; False when it is exhausted (standard/adaptive)."""
        if self.mode == "legacy":
            return True
        cost = self.cost_of(error)
        if self._quota < cost:
            return False
        self._quota -= cost
        return True

    def record_success(self, retried_cost: int) -> None:
        """Refund the quota after a success (what the retries took, or one token)."""
        self._quota = min(_QUOTA_CAPACITY, self._quota + (retried_cost or 1))
        if self._rate_limiter is not None:
            self._rate_limiter.record(throttled=False)

    def record_failure(self, error: SageMakerError) -> None:
        if self._rate_limiter is not None:
            self._rate_limiter.record(throttled=_is_throttle(error))

    def cost_of(self, error: SageMakerError) -> int:
        return _TIMEOUT_RETRY_COST if isinstance(error, TimeoutError) else _RETRY_COST

    def backoff(self, attempt: int) -> float:
        """Seconds to sleep before attempt ``attempt + 1`` (full jitter)."""
        return random.random() * min(self._base * 2.0 ** (attempt - 1), self._cap)

    @property
    def limits_rate(self) -> bool:
        """True in adaptive mode: attempts wait for :meth:`before_attempt`."""
        return self._rate_limiter is not None

    async def before_attempt(self) -> None:
        """Wait for the adaptive send-rate limit, if any."""
        if self._rate_limiter is not None:
            await self._rate_limiter.acquire()

    @property
    def quota(self) -> int:
        return self._quota

    def attempts(
        self, deadline: Deadline, label: str, observer: Observer = NO_OBSERVER
    ) -> Iterator[Attempt]:
        """Attempts of one call, in order; ``label`` names the call in debug logs."""
        run = _Run()
        for number in itertools.count(1):
            yield Attempt(self, run, number, deadline, label, observer)


class _Run:
    """What the attempts of one call share: quota taken so far, the next backoff."""

    __slots__ = ("cost", "delay")

    def __init__(self) -> None:
        self.cost = 0
        self.delay = 0.0


class Attempt:
    """One try of a call; tells the policy how it went, which decides what follows."""

    __slots__ = ("_deadline", "_label", "_observer", "_policy", "_run", "number", "sent_at")

    def __init__(
        self,
        policy: RetryPolicy,
        run: _Run,
        number: int,
        deadline: Deadline,
        label: str,
        observer: Observer = NO_OBSERVER,
    ) -> None:
        self._observer = observer
        self._policy = policy
        self._run = run
        self._deadline = deadline
        self._label = label
        self.number = number
        self.sent_at = time.monotonic()

    @property
    def must_wait(self) -> bool:
        """Whether :meth:`wait` has anything to wait for (a backoff, the adaptive rate)."""
        return bool(self._run.delay) or self._policy.limits_rate

    async def wait(self) -> None:
        """Sleep the backoff chosen after the previous attempt, then the rate limit."""
        policy, run = self._policy, self._run
        if run.delay:
            import anyio  # only a backoff needs it

            await anyio.sleep(run.delay)
            run.delay = 0.0
        if policy.limits_rate:
            await policy.before_attempt()
        self.sent_at = time.monotonic()

    def succeeded(self, status: int, request_id: str | None) -> None:
        self._observer.attempt_succeeded(status, request_id)
        policy = self._policy
        policy.record_success(self._run.cost)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s attempt %d/%d: HTTP %d in %.1f ms [request id %s]",
                self._label,
                self.number,
                policy.max_attempts,
                status,
                (time.monotonic() - self.sent_at) * 1000,
                request_id,
            )

    def failed(self, error: SageMakerError) -> None:
        """Raise ``error`` unless the call is tried again (after :meth:`wait`'s backoff)."""
        self._observer.attempt_failed(error)
        policy, run = self._policy, self._run
        policy.record_failure(error)
        delay = policy.backoff(self.number)
        retry = (
            self.number < policy.max_attempts
            and policy.is_retryable(error)
            and self._deadline.allows(delay)
            and policy.acquire_retry(error)  # last: only a retry that happens costs
        )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s attempt %d/%d: %s in %.1f ms%s",
                self._label,
                self.number,
                policy.max_attempts,
                _describe(error),
                (time.monotonic() - self.sent_at) * 1000,
                f"; retrying in {delay:.2f} s" if retry else "; not retried",
            )
        if not retry:
            try:
                raise error
            finally:
                del error  # this frame, in the traceback, would hold the error: a cycle
        run.cost += policy.cost_of(error)
        run.delay = delay


def _describe(error: SageMakerError) -> str:
    code = getattr(error, "code", "") or type(error).__name__
    status = getattr(error, "status_code", None)
    return f"{code} (HTTP {status})" if status else code
