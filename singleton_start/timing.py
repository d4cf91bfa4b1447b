"""Time budgets of one request: its deadline, and the backoff between tries."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator

FIRST_BACKOFF_SECONDS = 0.025
MAX_BACKOFF_SECONDS = 1.0


class DeadlineReached(Exception):
    """No time is left for another call."""


class Deadline:
    """A point in time that every call of one request must finish by."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._at - self._clock())

    def sooner(self, seconds: float) -> Deadline:
        """A deadline at most `seconds` from now, never later than this one."""
        return Deadline(min(seconds, self.remaining()), self._clock)

    def timeout(self, limit: float) -> float:
        """The time a call may take: its own limit, cut to what is left."""
        remaining = self.remaining()
        if remaining <= 0:
            raise DeadlineReached
        return min(limit, remaining)


def backoff_delays() -> Iterator[float]:
    """Exponential backoff with full jitter, so that waiters do not poll in lockstep."""
    ceiling = FIRST_BACKOFF_SECONDS
    while True:
        yield random.uniform(ceiling / 2, ceiling)
        ceiling = min(ceiling * 2, MAX_BACKOFF_SECONDS)
