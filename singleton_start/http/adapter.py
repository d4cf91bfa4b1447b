"""The one HTTP adapter of every route: the request's span, its deadline, the backend its binding leads to, the
answer to every error (in one place), and the one log line. The routes (routes.py) are use cases behind it, so
that none of them keeps its own copy of these."""

from __future__ import annotations

import json
import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import azure.functions as func
from azure.storage.blob.aio import BlobServiceClient
from opentelemetry import trace
from opentelemetry.trace import StatusCode, Tracer

from ..adapters.blob_lease import LeaseLocks, blob_service_from_environment
from ..adapters.clock import REAL_CLOCK
from ..adapters.durable_http import DurableBackend, DurableHttp
from ..core.errors import InDoubt, NotRunYet, Unavailable
from ..core.ports import Backend, Clock, Locks
from ..host_config import check_host_config
from ..service.hold import Deadline, Ports
from ..service.start import StartStats
from ..settings import Settings, load_settings
from .contract import (
    ContractError,
    ErrorCode,
    error_response,
    in_doubt_response,
    not_run_yet_response,
    unavailable_response,
)

LOG = logging.getLogger("singleton_start")
# A proxy until the worker (or anyone) sets a tracer provider; without one every span is a no-op.
TRACER = trace.get_tracer("singleton_start")
INTERNAL_MESSAGE = "The request failed with an unexpected error; it has been logged."
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


@dataclass
class Call:
    """One request as its route sees it. `stats` is set by a route that runs a start, so that the log line carries
    its figures even when the request then fails."""

    req: func.HttpRequest
    adapter: HttpAdapter
    starter: str | Backend
    deadline: Deadline
    stats: StartStats | None = None

    def ports(self) -> Ports:
        """The ports of this request. A v1 folder's binding string is parsed here, once the request was validated
        (a bad request is answered 400 whatever the binding); a decorator app hands an adapter already."""
        adapter, starter = self.adapter, self.starter
        backend = DurableBackend(adapter.durable_http, starter) if isinstance(starter, str) else starter
        return Ports(backend, adapter.locks, adapter.clock, adapter.settings)


class HttpAdapter(ABC):
    """What every route shares: clients made once per process, the span, the deadline on the clock, each error's
    answer, and the one log line."""

    route: ClassVar[str]
    # Whether the route takes per-ID leases (the status route only reads).
    needs_lock: ClassVar[bool] = True

    def __init__(
        self, settings: Settings, locks: Locks | None = None, clock: Clock = REAL_CLOCK, blob_service: Any = None
    ) -> None:
        self.settings, self.clock = settings, clock
        self.locks: Locks = locks if locks is not None else NO_LOCKS
        self.durable_http = DurableHttp()
        self.tracer: Tracer = TRACER
        self._blob_service: BlobServiceClient | None = blob_service

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> HttpAdapter:
        """Read and check every setting now, so that a bad one fails the function at load."""
        env = os.environ if env is None else env
        settings = load_settings(env)
        check_host_config(env)
        if not cls.needs_lock:
            return cls(settings)
        service = blob_service_from_environment(env)
        locks = LeaseLocks(service.get_container_client(settings.lock_container), settings.lock_lease_seconds)
        return cls(settings, locks, blob_service=service)

    async def close(self) -> None:
        """Close the clients once the lease releases on their way are done; the worker never needs to, tests and
        tools do."""
        if isinstance(self.locks, LeaseLocks):
            await self.locks.drain()
        if self._blob_service is not None:
            await self._blob_service.close()
        await self.durable_http.close()

    @abstractmethod
    async def answer(self, call: Call) -> tuple[str, func.HttpResponse]:
        """The outcome's name and the answer; raises ContractError before any I/O for a bad request."""

    async def handle(self, req: func.HttpRequest, starter: str | Backend) -> func.HttpResponse:
        """Answer inside the request's span, which its log line and any command it sends belong to. `starter`: a v1
        folder's binding string, or the backend a decorator app adapted its client to."""
        with request_span(self.route, self.tracer):
            return await self._handle(req, starter)

    async def _handle(self, req: func.HttpRequest, starter: str | Backend) -> func.HttpResponse:
        started_at = time.perf_counter()
        function_name, instance_id = req.route_params.get("functionName"), req.route_params.get("instanceId")
        call = Call(req, self, starter, Deadline(self.settings.request_timeout_seconds, self.clock.now))
        outcome = "invalid"
        try:
            outcome, response = await self.answer(call)
        except ContractError as error:
            response = error_response(error.error, error.message)
        except InDoubt as error:
            outcome, response = "in_doubt", in_doubt_response(error, self.settings.lock_lease_seconds)
            LOG.warning("%s for instance %r may still take effect: %s", self.route, instance_id, error)
        except NotRunYet as error:
            outcome, response = "not_run_yet", not_run_yet_response(error)
            LOG.warning("%s for instance %r not sent: %s", self.route, instance_id, error)
        except Unavailable as error:
            outcome, response = "unavailable", unavailable_response()
            LOG.warning("%s for instance %r unavailable: %s", self.route, instance_id, error)
        except Exception:
            outcome = "internal"
            LOG.exception("%s for instance %r failed with a bug", self.route, instance_id)
            response = error_response(ErrorCode.INTERNAL, INTERNAL_MESSAGE)
        log_request(self.route, instance_id, function_name, outcome, response.status_code, started_at, call.stats)
        return response


class NoLocks:
    """The locks of a route that takes no lease (the status route only reads): storage is not even configured."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"this route takes no per-ID lease (Locks.{name})")


NO_LOCKS: Locks = NoLocks()


@contextmanager
def request_span(route: str, tracer: Tracer = TRACER) -> Iterator[None]:
    """The request's span, current while it is answered: a command the app sends carries it as the parent."""
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
