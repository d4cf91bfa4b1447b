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
    CommandRefused,
    InstanceGone,
    InstanceNotFound,
    LinkedBackend,
    OutcomeUnknown,
)
from .settings import ManagementLinks, Settings
from .status import InstanceState

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


async def look_up(
    backend: Backend, orchestrator: str, instance_id: str, timeout: float, *, with_input: bool = False
) -> Found:
    """Read the instance and see it only if it runs the named orchestrator; BackendUnavailable on failure."""
    return find(await backend.read_instance(instance_id, timeout, with_input=with_input), orchestrator)


async def act_on(
    backend: Backend,
    orchestrator: str,
    instance_id: str,
    timeout: Callable[[], float],
    action: Callable[[float], Awaitable[None]],
) -> Found:
    """Run a terminate or an event only on an active instance of the named orchestrator, as the
    extension's HttpApiHandler does: a status read first, so that 404 and 410 need no guessing."""
    found = await look_up(backend, orchestrator, instance_id, timeout())
    if not isinstance(found, Active):
        return found
    try:
        await action(timeout())
    except (BackendUnavailable, OutcomeUnknown, InstanceNotFound, InstanceGone, CommandRefused) as error:
        # The extension refuses an instance that ended (or was purged) since the read: it gets the answer
        # its state calls for, not 503. One that is still active did not take the command, as far as we know.
        after = await look_up(backend, orchestrator, instance_id, timeout())
        if isinstance(after, Active):
            raise BackendUnavailable(str(error)) from None
        return after
    return found


def acted_response(found: Found, orchestrator: str, instance_id: str, links: dict[str, str]) -> func.HttpResponse:
    """The answer of a terminate or an event: 202, 404 or 410, the extension's own codes."""
    match found:
        case Active():
            return accepted_response(links)
        case Ended(status=status):
            return gone_response(status, instance_id)
    return not_found_response(orchestrator, instance_id)
