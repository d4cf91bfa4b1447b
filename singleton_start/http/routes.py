"""The routes: each validates its request (contract.py, before any I/O), runs its use case (service/), and turns
the outcome into its answer. Errors are answered by the one adapter they run behind (adapter.py)."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from ..core.errors import Refused
from ..core.outcomes import Accepted, Active, CommandOutcome, Conflict, Ended, Existing, KeyReused, Signalled, Started
from ..service.commands import Target, raise_event, terminate
from ..service.signal import signal
from ..service.start import StartsInFlight, StartStats, start
from ..settings import ManagementLinks
from .adapter import Call, HttpAdapter
from .contract import (
    NO_INPUT,
    ContractError,
    ErrorCode,
    accepted_response,
    allowed_target,
    conflict_response,
    error_response,
    existing_response,
    gone_response,
    key_reused_response,
    not_found_response,
    parse_input,
    request_links,
    signal_command,
    signalled_response,
    start_command,
    started_response,
    status_response,
    terminate_reason,
    validate_event_name,
)

START_ROUTE = "POST orchestrators/{functionName}/{instanceId}"
DEFAULT_TERMINATE_REASON = "Terminated on request."
ARGUMENTS_REFUSED = "The Durable extension refused the start's arguments; nothing was started."


def links_for(call: Call, orchestrator: str, instance_id: str) -> dict[str, str]:
    """The links an answer carries: the app's own routes, or the extension's in extension mode."""
    settings = call.adapter.settings
    if settings.management_links is ManagementLinks.EXTENSION:
        return call.ports().backend.management_links(call.req, instance_id)
    req = call.req
    return request_links(
        req.url, req.headers, orchestrator, instance_id, use_forwarded_host=settings.use_forwarded_host
    )


class StartRoute(HttpAdapter):
    """HttpStartSingle: start an orchestrator as a singleton; flights are the starts under way in this process."""

    route = START_ROUTE
    flights: StartsInFlight

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flights = StartsInFlight()

    async def close(self) -> None:
        await self.flights.drain()
        await super().close()

    async def answer(self, call: Call) -> tuple[str, func.HttpResponse]:
        command = start_command(call.req, self.settings.orchestrators, self.settings.max_input_bytes)
        call.stats = StartStats()
        try:
            outcome = await start(command, call.ports(), self.flights, call.deadline, call.stats)
        except Refused:
            return "internal", error_response(ErrorCode.INTERNAL, ARGUMENTS_REFUSED)
        links = links_for(call, command.orchestrator, command.instance_id)
        match outcome:
            case Started(replayed=replayed):
                return ("replayed" if replayed else "started"), started_response(links, replayed=replayed)
            case Existing():
                return "existing", existing_response(links)
            case Conflict(observed=observed):
                return "conflict", conflict_response(observed, command.instance_id, links)
            case KeyReused():
                return "key_reused", key_reused_response()


class SignalRoute(StartRoute):
    """HttpSignal: send an event to the active instance of an orchestrator, starting it first when there is none."""

    route = "POST orchestrators/{functionName}/{instanceId}/signal/{eventName}"

    async def answer(self, call: Call) -> tuple[str, func.HttpResponse]:
        command = signal_command(call.req, self.settings.orchestrators, self.settings.max_input_bytes)
        call.stats = StartStats()
        try:
            outcome = await signal(command, call.ports(), self.flights, call.deadline, call.stats)
        except Refused:
            return "internal", error_response(ErrorCode.INTERNAL, ARGUMENTS_REFUSED)
        links = links_for(call, command.orchestrator, command.instance_id)
        match outcome:
            case Signalled(started=started, replayed=True):
                return "replayed", signalled_response(links, started=started, replayed=True)
            case Signalled(started=started):
                return ("started_and_signalled" if started else "signalled"), signalled_response(links, started=started)
            case Conflict(observed=observed, because=because):
                return "conflict", conflict_response(observed, command.instance_id, links, because)
            case KeyReused():
                return "key_reused", key_reused_response()


class ManageRoute(HttpAdapter):
    """What the status, terminate and event routes share: an allowlisted target."""

    def target(self, call: Call) -> tuple[Target, dict[str, str]]:
        function_name, instance_id = call.req.route_params.get("functionName"), call.req.route_params.get("instanceId")
        orchestrator, instance_id = allowed_target(function_name, instance_id, self.settings.orchestrators)
        return Target(call.ports(), call.deadline, orchestrator, instance_id), links_for(
            call, orchestrator, instance_id
        )


def command_answer(outcome: CommandOutcome, target: Target, links: dict[str, str]) -> tuple[str, func.HttpResponse]:
    """The answer of a terminate or an event: 202, 404 or 410, the extension's own codes."""
    match outcome:
        case Accepted():
            return "accepted", accepted_response(links)
        case Ended(observed=observed):
            return "gone", gone_response(observed, target.instance_id)
    return "not_found", not_found_response(target.orchestrator, target.instance_id)


class StatusRoute(ManageRoute):
    """HttpGetStatus: an allowlisted instance's status, in the shape pollers follow."""

    route = "GET orchestrators/{functionName}/{instanceId}"
    needs_lock = False

    async def answer(self, call: Call) -> tuple[str, func.HttpResponse]:
        target, links = self.target(call)
        # ?showInput=true, read as the extension reads it (bool.TryParse: true or false, any case).
        with_input = (call.req.params.get("showInput") or "").strip().lower() == "true"
        match await target.look(with_input=with_input):
            case Active(observed=observed):
                return "active", status_response(observed, links, with_input=with_input)
            case Ended(observed=observed):
                return "ended", status_response(observed, links, with_input=with_input)
        return "not_found", not_found_response(target.orchestrator, target.instance_id)


class TerminateRoute(ManageRoute):
    """HttpTerminate: stop an active allowlisted instance, with an optional reason."""

    route = "POST orchestrators/{functionName}/{instanceId}/terminate"

    async def answer(self, call: Call) -> tuple[str, func.HttpResponse]:
        req = call.req
        target, links = self.target(call)
        reason = terminate_reason(
            req.params.get("reason"),
            req.headers.get("content-type"),
            req.get_body() or b"",
            self.settings.max_input_bytes,
        )
        return command_answer(await terminate(target, reason or DEFAULT_TERMINATE_REASON), target, links)


class EventRoute(ManageRoute):
    """HttpRaiseEvent: send an event, with a JSON body as its data, to an active allowlisted instance."""

    route = "POST orchestrators/{functionName}/{instanceId}/events/{eventName}"

    async def answer(self, call: Call) -> tuple[str, func.HttpResponse]:
        target, links = self.target(call)
        event_name = call.req.route_params.get("eventName")
        if problem := validate_event_name(event_name):
            raise ContractError(ErrorCode.INVALID_EVENT_NAME, problem)
        assert event_name is not None
        data = parse_input(
            call.req.headers.get("content-type"), call.req.get_body() or b"", self.settings.max_input_bytes
        )
        outcome = await raise_event(target, event_name, None if data is NO_INPUT else data)
        return command_answer(outcome, target, links)
