"""The real clock behind the Clock port: the monotonic clock for leases and deadlines, UTC for records. Its
methods are the standard library's own functions, so reading the time costs no call of the app's."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from functools import partial


class RealClock:
    """Time as the host has it; the simulator gives the use cases a virtual one instead."""

    now = staticmethod(time.monotonic)
    utcnow = staticmethod(partial(datetime.now, UTC))
    sleep = staticmethod(asyncio.sleep)


REAL_CLOCK = RealClock()
