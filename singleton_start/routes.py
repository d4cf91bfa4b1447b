"""The status, terminate and event routes: an allowlisted target, one use-case run, one answer."""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import azure.functions as func
from azure.storage.blob.aio import BlobServiceClient

from .contract import (
    ContractError,
    ErrorCode,
    NoInput,
    allowed_target,
    parse_input,
    terminate_reason,
    validate_event_name,
)
from .endpoint import blob_service_from_environment
from .host_config import check_host_config
from .http_adapter import Call, HttpAdapter
from .lock import LeaseLocks
from .manage import (
    Acted,
    Active,
    Ended,
    Send,
    UnderLease,
    Unsure,
    acted_response,
    links_for,
    look_up,
    not_found_response,
    status_response,
)
from .ports import LinkedBackend, Locks
from .settings import Settings, load_settings
from .timing import Deadline

DEFAULT_TERMINATE_REASON = "Terminated on request."


@dataclass(frozen=True)
class Target:
    """The allowlisted instance a request addresses, with what answering about it needs."""

    orchestrator: str
    instance_id: str
    backend: LinkedBackend
    links: dict[str, str]
    deadline: Deadline
    call_seconds: float

    def timeout(self) -> float:
        """One call's timeout: the backend limit, cut to what is left of the request."""
        return self.deadline.timeout(self.call_seconds)


class ManageEndpoint(HttpAdapter):
    """What the three routes share behind the adapter: the allowlist and ID rules, and the per-ID lease."""

    def __init__(self, settings: Settings, blob_service: BlobServiceClient | None = None) -> None:
        super().__init__(settings)
        self._blob_service = blob_service
        self.locks: Locks | None = None
        if blob_service is not None:
            container = blob_service.get_container_client(settings.lock_container)
            self.locks = LeaseLocks(container, settings.lock_lease_seconds, self.clock)

    async def close(self) -> None:
        """Close the clients; the worker never needs to, tests and tools do."""
        if isinstance(self.locks, LeaseLocks):
            await self.locks.drain()
        if self._blob_service is not None:
            await self._blob_service.close()
        await super().close()

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> ManageEndpoint:
        """Read and check every setting now, so a bad one fails the function at load."""
        env = os.environ if env is None else env
        settings = load_settings(env)
        check_host_config(env)
        return cls(settings, blob_service_from_environment(env) if cls.needs_lock else None)

    needs_lock: ClassVar[bool] = True

    def _under_lease(self, target: Target) -> UnderLease:
        """The per-ID lease for a terminate or an event, on this request's deadline."""
        assert self.locks is not None, "a route that sends needs the lock's storage"
        return UnderLease(target.backend, self.locks, self.clock, self.settings, target.deadline)

    async def answer(self, call: Call) -> tuple[str, func.HttpResponse]:
        function_name, instance_id = call.req.route_params.get("functionName"), call.req.route_params.get("instanceId")
        orchestrator, instance_id = allowed_target(function_name, instance_id, self.settings.orchestrators)
        backend = call.backend()
        links = links_for(self.settings, call.req, backend, orchestrator, instance_id)
        target = Target(orchestrator, instance_id, backend, links, call.deadline, self.settings.backend_timeout_seconds)
        return await self.act(call.req, target)

    @abstractmethod
    async def act(self, req: func.HttpRequest, target: Target) -> tuple[str, func.HttpResponse]:
        """The route's use case on an allowlisted target; raises ContractError before any I/O for a bad request."""


def _show_input(req: func.HttpRequest) -> bool:
    """?showInput=true, read as the extension reads it (bool.TryParse: true or false, any case)."""
    return (req.params.get("showInput") or "").strip().lower() == "true"


class StatusEndpoint(ManageEndpoint):
    """HttpGetStatus: an allowlisted instance's status, in the shape pollers follow."""

    route = "GET orchestrators/{functionName}/{instanceId}"
    needs_lock = False

    async def act(self, req: func.HttpRequest, target: Target) -> tuple[str, func.HttpResponse]:
        with_input = _show_input(req)
        found = await look_up(
            target.backend, target.orchestrator, target.instance_id, target.timeout(), with_input=with_input
        )
        if isinstance(found, Active):
            return "active", status_response(found, target.links, with_input=with_input)
        if isinstance(found, Ended):
            return "ended", status_response(found, target.links, with_input=with_input)
        return "not_found", not_found_response(target.orchestrator, target.instance_id)


ACTED_OUTCOMES = {Active: "accepted", Ended: "gone", Unsure: "unsure"}


def _acted_outcome(found: Acted) -> str:
    return ACTED_OUTCOMES.get(type(found), "not_found")


class TerminateEndpoint(ManageEndpoint):
    """HttpTerminate: stop an active allowlisted instance, with an optional reason."""

    route = "POST orchestrators/{functionName}/{instanceId}/terminate"

    async def act(self, req: func.HttpRequest, target: Target) -> tuple[str, func.HttpResponse]:
        reason = terminate_reason(
            req.params.get("reason"),
            req.headers.get("content-type"),
            req.get_body() or b"",
            self.settings.max_input_bytes,
        )

        reason = reason or DEFAULT_TERMINATE_REASON

        async def terminate(timeout: float) -> None:
            await target.backend.terminate(target.instance_id, reason, timeout)

        found = await self._under_lease(target).act(target.orchestrator, target.instance_id, Send(terminate, reason))
        answer = acted_response(found, target.orchestrator, target.instance_id, target.links, self.settings)
        return _acted_outcome(found), answer


class EventEndpoint(ManageEndpoint):
    """HttpRaiseEvent: send an event, with a JSON body as its data, to an active allowlisted instance."""

    route = "POST orchestrators/{functionName}/{instanceId}/events/{eventName}"

    async def act(self, req: func.HttpRequest, target: Target) -> tuple[str, func.HttpResponse]:
        event_name = req.route_params.get("eventName")
        problem = validate_event_name(event_name)
        if problem:
            raise ContractError(ErrorCode.INVALID_EVENT_NAME, problem)
        assert event_name is not None
        data: Any = parse_input(req.headers.get("content-type"), req.get_body() or b"", self.settings.max_input_bytes)
        if isinstance(data, NoInput):
            data = None

        async def send(timeout: float) -> None:
            await target.backend.raise_event(target.instance_id, event_name, data, timeout)

        found = await self._under_lease(target).act(target.orchestrator, target.instance_id, Send(send))
        answer = acted_response(found, target.orchestrator, target.instance_id, target.links, self.settings)
        return _acted_outcome(found), answer
