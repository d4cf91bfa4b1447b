"""The one structured log line every HTTP function writes per request; never a URL, body or key."""

from __future__ import annotations

import json
import logging
import time

LOG = logging.getLogger("singleton_start")


def log_request(
    route: str,
    instance_id: str | None,
    orchestrator: str | None,
    outcome: str,
    status: int,
    started_at: float,
) -> None:
    """Write the request's line; started_at is the time.perf_counter() reading taken when it arrived."""
    LOG.info(
        json.dumps(
            {
                "event": "singleton_start",
                "route": route,
                "instanceId": instance_id,
                "orchestrator": orchestrator,
                "outcome": outcome,
                "status": status,
                "durationMs": round((time.perf_counter() - started_at) * 1000, 1),
            },
            ensure_ascii=False,
        )
    )
