"""What one start request spent on the per-ID lock and on start calls, for its log line and span."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class StartStats:
    """Filled by the start use case as it runs; read when the request is answered."""

    start_attempts: int = 0
    lock_wait_seconds: float = 0.0
    _waiting_since: float | None = field(default=None, repr=False)

    def lock_wait_began(self) -> None:
        self._waiting_since = time.perf_counter()

    def lock_wait_ended(self) -> None:
        """Count the wait under way, once: the lease was taken, or the request was answered without it."""
        if self._waiting_since is not None:
            self.lock_wait_seconds += time.perf_counter() - self._waiting_since
            self._waiting_since = None
