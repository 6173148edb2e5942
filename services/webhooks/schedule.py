"""What becomes of a delivery after one attempt, as a value: delivered, tried again after
a delay, or given up (its endpoint then marked failing).

Pure: no I/O. `services.webhooks.senders` asks `after_attempt` once per attempt and
`services.webhooks.queue` records the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from shared.backoff import Backoff


class Result(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GIVEN_UP = "given_up"


@dataclass(frozen=True)
class RetryPolicy:
    backoff: Backoff
    max_attempts: int

    def total_seconds(self) -> float:
        """The nominal time from the first attempt to the last (jitter only shortens it)."""
        nominal = Backoff(self.backoff.base, self.backoff.factor, self.backoff.cap)
        return sum(nominal.delay(n) for n in range(1, self.max_attempts))


@dataclass(frozen=True)
class Step:
    result: Result
    delay: float = 0.0
    reason: str = ""


def succeeded(status: int | None) -> bool:
    """Only a 2xx answer counts; a redirect is not followed and counts as a failure."""
    return status is not None and 200 <= status < 300


def describe(status: int | None, error: str) -> str:
    return f"HTTP {status}" if status is not None else (error or "no answer")


def after_attempt(
    attempt: int, status: int | None, error: str, policy: RetryPolicy, failing: bool = False
) -> Step:
    """The step after attempt number `attempt` (from 1) answered `status` or failed.

    An endpoint already failing (a delivery used up its retries) gets one attempt per
    delivery until one succeeds: a dead endpoint would otherwise spend a day on each
    event of its backlog. Its owner redelivers what was given up once it is fixed."""
    if succeeded(status):
        return Step(Result.DELIVERED)
    reason = describe(status, error)
    if failing:
        return Step(Result.GIVEN_UP, reason=f"endpoint failing; this attempt: {reason}")
    if attempt >= policy.max_attempts:
        return Step(Result.GIVEN_UP, reason=f"{attempt} attempts failed, the last: {reason}")
    return Step(Result.RETRY, policy.backoff.delay(attempt), reason)
