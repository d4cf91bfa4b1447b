"""What every HTTP request leaves behind: one structured log line and one span; never a URL, body or key."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import StatusCode, Tracer

from .stats import StartStats

LOG = logging.getLogger("singleton_start")
# A proxy until the worker (or anyone) sets a tracer provider; without one every span is a no-op.
TRACER = trace.get_tracer("singleton_start")
# The line's fields, by their JSON names, as log record attributes (Application Insights customDimensions)
# and span attributes. The prefix keeps them apart from LogRecord's own (name, message, args...) and others'.
ATTRIBUTE_NAMES = {
    "route": "singleton_start.route",
    "instanceId": "singleton_start.instance_id",
    "orchestrator": "singleton_start.orchestrator",
    "outcome": "singleton_start.outcome",
    "status": "singleton_start.status_code",
    "durationMs": "singleton_start.duration_ms",
    "lockWaitMs": "singleton_start.lock_wait_ms",
    "startAttempts": "singleton_start.start_attempts",
}


@contextmanager
def request_span(route: str, tracer: Tracer = TRACER) -> Iterator[None]:
    """The request's span, current while it is answered: the start the SDK sends carries it as the parent."""
    # A request cancelled because its caller left is not a failure of the app; 5xx answers set the error.
    with tracer.start_as_current_span(route, record_exception=False, set_status_on_exception=False):
        yield


def request_fields(
    route: str,
    instance_id: str | None,
    orchestrator: str | None,
    outcome: str,
    status: int,
    duration_ms: float,
    stats: StartStats | None,
) -> dict[str, Any]:
    """The line's fields by their JSON names; the lock and start figures only for a request that ran a start."""
    fields: dict[str, Any] = {
        "event": "singleton_start",
        "route": route,
        "instanceId": instance_id,
        "orchestrator": orchestrator,
        "outcome": outcome,
        "status": status,
        "durationMs": duration_ms,
    }
    if stats is not None:
        fields["lockWaitMs"] = round(stats.lock_wait_seconds * 1000, 1)
        fields["startAttempts"] = stats.start_attempts
    return fields


def attributes_of(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields under their attribute names; a missing value is left out, as attributes cannot be null."""
    return {
        ATTRIBUTE_NAMES[name]: value for name, value in fields.items() if name in ATTRIBUTE_NAMES and value is not None
    }


def log_request(
    route: str,
    instance_id: str | None,
    orchestrator: str | None,
    outcome: str,
    status: int,
    started_at: float,
    stats: StartStats | None = None,
) -> None:
    """Write the request's line and put its fields on the current span; started_at is the time.perf_counter()
    reading taken when the request arrived."""
    duration_ms = round((time.perf_counter() - started_at) * 1000, 1)
    fields = request_fields(route, instance_id, orchestrator, outcome, status, duration_ms, stats)
    attributes = attributes_of(fields)
    LOG.info(json.dumps(fields, ensure_ascii=False), extra=attributes)
    span = trace.get_current_span()
    span.set_attributes(attributes)
    if status >= 500:
        span.set_status(StatusCode.ERROR, outcome)
