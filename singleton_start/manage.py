"""Watch, stop and signal one allowlisted instance: the use cases and their pure answer choice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from .contract import ErrorCode, error_response, iso_time, json_response
from .instance_status import InstanceStatus
from .links import app_links, request_origin
from .ports import (
    Backend,
    BackendUnavailable,
    Clock,
    InstanceGone,
    InstanceNotFound,
    Lease,
    LinkedBackend,
    Locks,
    OutcomeUnknown,
)
from .settings import LEASE_SAFETY_SECONDS, ManagementLinks, Settings
from .settle import TerminatedByUs, lease_lasts_for_send, terminate_seen
from .status import InstanceState
from .timing import Deadline, DeadlineReached, backoff_delays

# The extension's status route asks pollers to wait this long: some clients retry in a tight loop otherwise.
POLL_RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class NotFound:
    """No instance has the ID, or it runs another orchestrator than the route names."""


@dataclass(frozen=True)
class Active:
    """The instance runs the named orchestrator and has not ended."""

    status: InstanceStatus


@dataclass(frozen=True)
class Ended:
    """The instance runs the named orchestrator and has ended."""

    status: InstanceStatus


Found = NotFound | Active | Ended


def find(status: InstanceStatus | None, orchestrator: str) -> Found:
    """What a route may see of an instance: an instance of another orchestrator is as good as none,
    so no caller learns that instances outside the allowlist exist."""
    if status is None or (status.name or "").casefold() != orchestrator.casefold():
        return NotFound()
    if status.observed.state is InstanceState.ACTIVE:
        return Active(status)
    return Ended(status)


def links_for(
    settings: Settings, req: func.HttpRequest, backend: LinkedBackend, orchestrator: str, instance_id: str
) -> dict[str, str]:
    """The links an answer carries: the app's own routes, or the extension's in extension mode."""
    if settings.management_links is ManagementLinks.EXTENSION:
        return backend.management_links(req, instance_id)
    origin = request_origin(req.url, req.headers, use_forwarded_host=settings.use_forwarded_host)
    return app_links(origin, orchestrator, instance_id)


def status_body(status: InstanceStatus, links: dict[str, str], *, with_input: bool) -> dict[str, Any]:
    """The status route's body: the instance's state and results, then its links."""
    body = {
        "instanceId": links["id"],
        "name": status.name,
        "runtimeStatus": status.runtime_status,
        "createdTime": iso_time(status.created_time),
        "lastUpdatedTime": iso_time(status.last_updated_time),
        "customStatus": status.custom_status,
        "output": status.output,
    }
    if with_input:
        body["input"] = status.observed.input
    return {**body, **{key: value for key, value in links.items() if key != "id"}}


def status_response(found: Active | Ended, links: dict[str, str], *, with_input: bool) -> func.HttpResponse:
    """202 with Location and Retry-After while the instance is active, so pollers come back; 200 once ended."""
    body = status_body(found.status, links, with_input=with_input)
    if isinstance(found, Active):
        headers = {"Location": links["statusQueryGetUri"], "Retry-After": str(POLL_RETRY_AFTER_SECONDS)}
        return json_response(202, body, headers)
    return json_response(200, body)


def not_found_response(orchestrator: str, instance_id: str) -> func.HttpResponse:
    return error_response(ErrorCode.NOT_FOUND, f"No instance of {orchestrator} has the ID {instance_id!r}.")


def gone_response(status: InstanceStatus, instance_id: str) -> func.HttpResponse:
    return error_response(
        ErrorCode.GONE, f"The instance with ID {instance_id!r} has already ended ({status.runtime_status})."
    )


def accepted_response(links: dict[str, str]) -> func.HttpResponse:
    """202: the request was handed to the instance; its status route shows when it took effect."""
    return json_response(202, links, {"Location": links["statusQueryGetUri"]})


@dataclass(frozen=True)
class Unsure:
    """A terminate or an event was sent but its answer was lost: it may still take effect. The ID is held
    until the lease expires, so that it cannot reach an execution started after it."""


Acted = Found | Unsure


async def look_up(
    backend: Backend, orchestrator: str, instance_id: str, timeout: float, *, with_input: bool = False
) -> Found:
    """Read the instance and see it only if it runs the named orchestrator; BackendUnavailable on failure."""
    return find(await backend.read_instance(instance_id, timeout, with_input=with_input), orchestrator)


@dataclass(frozen=True)
class Send:
    """A terminate or an event to send under the lease; `reason` is the terminate's, whose showing as the
    output of a Terminated instance proves this very terminate was processed."""

    call: Callable[[float], Awaitable[None]]
    reason: str | None = None


class UnderLease:
    """Terminate or signal one allowlisted instance while holding its per-ID lease, so that no start through
    the app can put another execution under the ID between the read that checks the orchestrator and the
    moment the message is processed: terminate and event messages carry no execution ID and reach whatever
    execution is current then."""

    def __init__(self, backend: Backend, locks: Locks, clock: Clock, settings: Settings, deadline: Deadline) -> None:
        self.backend, self.locks, self.clock, self.settings, self.deadline = backend, locks, clock, settings, deadline

    async def act(self, orchestrator: str, instance_id: str, send: Send) -> Acted:
        lease = await self._take(instance_id)
        keep = False
        try:
            found = await look_up(self.backend, orchestrator, instance_id, self._limit(lease))
            if not isinstance(found, Active):
                return found
            acted, keep = await self._send(orchestrator, instance_id, send, lease)
            return found if acted is None else acted
        finally:
            if not keep:
                self.locks.release(lease)

    async def _send(self, orchestrator: str, instance_id: str, send: Send, lease: Lease) -> tuple[Acted | None, bool]:
        """Another answer than the read's (None: 202 stands), and whether the lease must be kept until it
        expires: while the message may still be processed, unless reads show this very terminate done."""
        remaining = lease.ends_at - self.clock.now()
        if not lease_lasts_for_send(remaining, self.settings.landing_window_seconds):
            await self.locks.renew(lease, self._limit(lease))
        try:
            await send.call(self._limit(lease))
        except InstanceNotFound:
            return NotFound(), False
        except InstanceGone:
            return await look_up(self.backend, orchestrator, instance_id, self._limit(lease)), False
        except OutcomeUnknown:
            seen = await self._seen(instance_id, send.reason, lease)
            return (None, False) if seen else (Unsure(), True)
        return None, not await self._seen(instance_id, send.reason, lease)

    async def _seen(self, instance_id: str, reason: str | None, lease: Lease) -> bool:
        """Whether reads show this terminate processed within the wait budget; an event never shows."""
        if reason is None:
            return False
        wait = self._hold(lease).sooner(self.settings.terminate_wait_seconds)
        delays = backoff_delays()
        while wait.remaining() > 0:
            await self.clock.sleep(min(next(delays), wait.remaining()))
            try:
                observed = await self.backend.read(instance_id, self._limit(lease), with_input=False)
            except (BackendUnavailable, DeadlineReached):
                continue
            if isinstance(terminate_seen(observed, reason), TerminatedByUs):
                return True
        return False

    async def _take(self, instance_id: str) -> Lease:
        wait = self.deadline.sooner(self.settings.lock_wait_seconds)
        delays = backoff_delays()
        while True:
            lease = await self.locks.try_acquire(
                self.backend.task_hub, instance_id, self.deadline.timeout(self.settings.backend_timeout_seconds)
            )
            if lease is not None:
                return lease
            if wait.remaining() <= 0:
                raise BackendUnavailable("another request for this instance ID held the lock for the whole wait")
            await self.clock.sleep(min(next(delays), wait.remaining()))

    def _hold(self, lease: Lease) -> Deadline:
        return self.deadline.sooner(lease.ends_at - self.clock.now() - LEASE_SAFETY_SECONDS)

    def _limit(self, lease: Lease) -> float:
        return self._hold(lease).timeout(self.settings.backend_timeout_seconds)


def unsure_response(settings: Settings) -> func.HttpResponse:
    """503: the message was sent and may still take effect; the ID is held until the lease expires."""
    return error_response(
        ErrorCode.UNAVAILABLE,
        "The request was sent but its outcome is not known; it may still take effect. Check the instance's "
        "status before sending it again.",
        {"Retry-After": str(settings.lock_lease_seconds)},
    )


def acted_response(
    found: Acted, orchestrator: str, instance_id: str, links: dict[str, str], settings: Settings
) -> func.HttpResponse:
    """The answer of a terminate or an event: 202, 404 or 410, the extension's own codes; 503 when unsure."""
    match found:
        case Unsure():
            return unsure_response(settings)
        case Active():
            return accepted_response(links)
        case Ended(status=status):
            return gone_response(status, instance_id)
    return not_found_response(orchestrator, instance_id)
