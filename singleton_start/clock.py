"""The real clock behind the Clock port: the monotonic clock for leases and deadlines, UTC for records."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime


class RealClock:
    """Wall time as the host has it; the simulator gives the start a virtual one instead."""

    def now(self) -> float:
        return time.monotonic()

    def utcnow(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


REAL_CLOCK = RealClock()
