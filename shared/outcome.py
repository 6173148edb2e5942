"""What a message handler decided, as a value: ack, retry after a delay, or give up.

Pure: handlers return an `Outcome`; one place (`shared.worker`) carries it out against
NATS. Modelled on kopf's frozen outcome dataclass. Retry delays come from
`shared.backoff.Backoff`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    ACK = "ack"
    RETRY = "retry"
    GIVE_UP = "give_up"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    delay: float = 0.0
    reason: str = ""

    @classmethod
    def ack(cls) -> Outcome:
        return cls(Verdict.ACK)

    @classmethod
    def retry(cls, delay: float, reason: str = "") -> Outcome:
        return cls(Verdict.RETRY, delay=max(0.0, delay), reason=reason)

    @classmethod
    def give_up(cls, reason: str) -> Outcome:
        return cls(Verdict.GIVE_UP, reason=reason)


class TemporaryError(Exception):
    """Worth retrying: the world may be different after a delay."""

    def __init__(self, message: str, delay: float = 5.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(Exception):
    """Retrying cannot help; the message is given up and the store fails."""
