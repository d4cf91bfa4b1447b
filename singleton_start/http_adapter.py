"""The one HTTP adapter of the four routes: the request's span, its deadline, the backend its binding leads to,
the error answers and the one log line. The start and the three management routes are use cases behind it,
so that none of them keeps its own copy of these (copies drift: two deadline types, two 500 messages)."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import azure.functions as func
from opentelemetry.trace import Tracer

from .backend import DurableBackend
from .clock import REAL_CLOCK
from .contract import ContractError, ErrorCode, error_response, unavailable_response
from .durable_http import DurableHttp
from .ports import BackendUnavailable, Clock, LinkedBackend, StorageUnavailable
from .request_log import TRACER, log_request, request_span
from .settings import Settings
from .stats import StartStats
from .timing import Deadline, DeadlineReached

LOG = logging.getLogger("singleton_start")
INTERNAL_MESSAGE = "The request failed with an unexpected error; it has been logged."


@dataclass
class Call:
    """One request as its use case sees it. `stats` is set by a use case that runs a start, so that the log
    line carries its figures even when the request then fails."""

    req: func.HttpRequest
    starter: str | LinkedBackend
    deadline: Deadline
    http: DurableHttp
    stats: StartStats | None = None

    def backend(self) -> LinkedBackend:
        """The backend the binding leads to: a v1 folder's binding string is parsed here, after the request
        was validated (a bad request is answered 400 whatever the binding); a decorator app hands an adapter."""
        return DurableBackend(self.http, self.starter) if isinstance(self.starter, str) else self.starter


class HttpAdapter(ABC):
    """What every route shares: the span, the deadline on the clock, ContractError to its answer, an
    unavailable backend or lock storage to 503, any other error to one 500, and the one log line."""

    route: ClassVar[str]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.durable_http = DurableHttp()
        self.tracer: Tracer = TRACER
        self.clock: Clock = REAL_CLOCK

    async def close(self) -> None:
        """Close the clients; the worker never needs to, tests and tools do."""
        await self.durable_http.close()

    @abstractmethod
    async def answer(self, call: Call) -> tuple[str, func.HttpResponse]:
        """The outcome's name and the answer; raises ContractError before any I/O for a bad request."""

    async def handle(self, req: func.HttpRequest, starter: str | LinkedBackend) -> func.HttpResponse:
        """Answer inside the request's span, which its log line and any start it sends belong to.
        `starter`: a v1 folder's binding string, or the backend a decorator app adapted its client to."""
        with request_span(self.route, self.tracer):
            return await self._handle(req, starter)

    async def _handle(self, req: func.HttpRequest, starter: str | LinkedBackend) -> func.HttpResponse:
        started_at = time.perf_counter()
        function_name, instance_id = req.route_params.get("functionName"), req.route_params.get("instanceId")
        call = Call(req, starter, Deadline(self.settings.request_timeout_seconds, self.clock.now), self.durable_http)
        outcome = "invalid"
        try:
            outcome, response = await self.answer(call)
        except ContractError as error:
            response = error_response(error.error, error.message)
        except (BackendUnavailable, StorageUnavailable, DeadlineReached) as error:
            outcome = "unavailable"
            LOG.warning("%s for instance %r unavailable: %s", self.route, instance_id, error)
            response = unavailable_response()
        except Exception:
            outcome = "internal"
            LOG.exception("%s for instance %r failed with a bug", self.route, instance_id)
            response = error_response(ErrorCode.INTERNAL, INTERNAL_MESSAGE)
        log_request(self.route, instance_id, function_name, outcome, response.status_code, started_at, call.stats)
        return response
