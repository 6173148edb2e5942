"""How long to wait before the next attempt, as a value: the first delay, how fast it
grows, where it stops growing, and how much of it is left to chance.

Pure: no I/O. Every retry loop holds one `Backoff` and asks it for `delay(attempt)`:
the worker handlers (`services.reaper.deletion`, `services.provisioner.failures`), the
provisioner's apply retries and status watch, the gateway's outbox relay and the
auditor's batch store.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delays `base`, `base*factor`, `base*factor**2`, ... up to `cap` seconds.

    `jitter` is the fraction of each delay that may be taken off at random (0.1: a delay
    lands between 90 % and 100 % of its nominal value), so replicas that failed together
    do not retry together; 0 keeps the delays exact.
    """

    base: float
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0:
            raise ValueError("backoff delays cannot be negative")
        if self.factor < 1:
            raise ValueError("a backoff factor below 1 would shrink the delays")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (counted from 1)."""
        try:
            grown = self.base * self.factor ** max(0, attempt - 1)
        except OverflowError:  # a long outage counts thousands of attempts
            grown = self.cap
        nominal = min(self.cap, grown)
        if self.jitter:
            nominal *= 1 - self.jitter * random.random()
        return float(nominal)
