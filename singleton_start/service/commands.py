"""Terminate and signal one allowlisted instance, holding its ID so that the command reaches the execution it
was meant for: terminate and event messages carry no execution ID and reach whatever execution is current when
they are processed, and one processed before the instance has run is lost (docs/model.md). So nothing is sent to
an instance that has not run yet, and no start through the app can put another execution under the ID until the
command can no longer land: a terminate holds the ID's lease until it shows done, an event joins the ID's shared
lease, which any number of events hold at once and leave to expire.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..core.decisions import (
    EndedOtherwise,
    StillActive,
    TerminatedByUs,
    find,
    may_replace,
    tagged_reason,
    terminate_seen,
)
from ..core.errors import InDoubt, InstanceEnded, NoInstance, NotRunYet, Sent
from ..core.outcomes import Accepted, Active, CommandOutcome, Ended, Found, NotFound
from ..core.ports import Backend
from ..core.status import InstanceState, Observed
from ..settings import Settings
from .hold import Deadline, Hold, Ports, poll, take

TERMINATE_REASON = "Replaced by a new start (conflict policy terminate-existing)."


@dataclass(frozen=True)
class Target:
    """One allowlisted instance as a request addresses it, with the ports and the request's deadline."""

    ports: Ports
    deadline: Deadline
    orchestrator: str
    instance_id: str

    @property
    def backend(self) -> Backend:
        return self.ports.backend

    @property
    def settings(self) -> Settings:
        return self.ports.settings

    async def read(self, timeout: float, *, with_input: bool = False) -> Observed:
        return await self.backend.read(self.instance_id, timeout, with_input=with_input)

    async def look(self, *, with_input: bool = False) -> Found:
        """The instance as a route may see it; Unavailable when it cannot be read."""
        timeout = self.deadline.timeout(self.settings.backend_timeout_seconds)
        return find(await self.read(timeout, with_input=with_input), self.orchestrator)

    async def hold(self, *, shared: bool = False) -> Hold:
        key = (self.backend.task_hub, self.instance_id)
        held = await take(self.ports, self.deadline, key, shared=shared)
        assert isinstance(held, Hold)
        return held


def not_there(observed: Observed, orchestrator: str) -> NotFound | Ended:
    """The answer when the extension found the instance a command was for gone or ended: 410 for an ended one of
    the named orchestrator, 404 otherwise (even for an active one, which is another instance than the one meant)."""
    found = find(observed, orchestrator)
    return found if isinstance(found, Ended) else NotFound()


def has_run_or_ended(observed: Observed) -> Observed | None:
    """A read of an instance that has run, or is no longer active; None while it is still Pending."""
    return observed if observed.has_run or observed.state is not InstanceState.ACTIVE else None


async def run_first(hold: Hold, read: Callable[[float], Awaitable[Observed]], observed: Observed) -> Observed:
    """The instance once it has run (or has ended); NotRunYet when it is still Pending when the hold runs out."""
    if has_run_or_ended(observed) is not None:
        return observed
    ran = await hold.poll(read, has_run_or_ended)
    if ran is None:
        raise NotRunYet("the instance has not run yet, and what is sent to it before it runs is lost")
    return ran


async def terminate_and_watch(
    hold: Hold, backend: Backend, instance_id: str, reason: str, budget: float
) -> TerminatedByUs | EndedOtherwise | Observed | None:
    """Send a terminate to an execution that has run, with `reason` tagged with this request, then wait, bounded,
    until a read shows it Terminated with that tagged reason (settled) or ended otherwise. A read of the instance
    instead when it had ended before the terminate was taken (nothing is queued); None when nothing showed within
    `budget`. The hold keeps the terminate outstanding, and so its lease, until a read shows it done."""

    async def read(timeout: float) -> Observed:
        # With its input: a start that replaces the instance settles its own send against this read. With its
        # history where the backend shows it: the execution's own ExecutionTerminated proves the terminate done.
        return await backend.read(instance_id, timeout, with_input=True, with_history=backend.shows_history)

    tagged = tagged_reason(reason, secrets.token_hex(4))
    try:
        await hold.send("terminate", lambda timeout: backend.terminate(instance_id, tagged, timeout))
    except (NoInstance, InstanceEnded):
        return await hold.call(read)
    except InDoubt:
        pass

    def judge(observed: Observed) -> TerminatedByUs | EndedOtherwise | None:
        seen = terminate_seen(observed, tagged, history=backend.shows_history)
        return None if isinstance(seen, StillActive) else seen

    seen: TerminatedByUs | EndedOtherwise | None = await hold.poll(read, judge, budget)
    if isinstance(seen, TerminatedByUs):
        hold.settled("terminate")
    return seen


async def terminate(target: Target, reason: str) -> CommandOutcome:
    """Stop an active allowlisted instance once it has run: 202 once it shows Terminated by this very terminate;
    410 when it ended otherwise first; 503 InDoubt when it has not shown within SINGLETON_TERMINATE_WAIT_SECONDS
    (the lease is then left to expire, so that the terminate cannot reach a new execution)."""
    async with await target.hold() as hold:
        found = find(await hold.call(target.read), target.orchestrator)
        if isinstance(found, Active):
            found = find(await run_first(hold, target.read, found.observed), target.orchestrator)
        if not isinstance(found, Active):
            return found
        budget = target.settings.terminate_wait_seconds
        match await terminate_and_watch(hold, target.backend, target.instance_id, reason, budget):
            case TerminatedByUs():
                return Accepted()
            case EndedOtherwise(observed=ended) | (Observed() as ended):
                return not_there(ended, target.orchestrator)
        raise InDoubt("the terminate was sent but had not shown by the wait budget; it may still take effect")


async def raise_event(target: Target, event_name: str, data: Any) -> CommandOutcome:
    """Send an event to an active allowlisted instance once it has run, under the ID's shared lease: events
    never wait for events, and no start can put a new execution under the ID while this one may still land.
    202 once queued: an event never shows in a status read."""
    found = await target.look()
    if isinstance(found, Active) and not found.observed.has_run:
        limit = target.settings.backend_timeout_seconds
        ran = await poll(target.ports.clock, lambda: target.deadline, target.read, limit, has_run_or_ended)
        if ran is None:
            raise NotRunYet("the instance has not run yet, and an event sent to it before it runs is lost")
        found = find(ran, target.orchestrator)
    if not isinstance(found, Active):
        return found
    async with await target.hold(shared=True) as hold:
        found = find(await hold.call(target.read), target.orchestrator)
        if not isinstance(found, Active):
            return found
        if not found.observed.has_run:
            raise NotRunYet("the instance has not run yet, and an event sent to it before it runs is lost")
        try:
            await hold.send("event", lambda t: target.backend.raise_event(target.instance_id, event_name, data, t))
        except (NoInstance, InstanceEnded):
            return not_there(await hold.call(target.read), target.orchestrator)
        return Accepted()


async def replace_active(hold: Hold, backend: Backend, before: Observed, instance_id: str) -> TerminatedByUs | Observed:
    """Terminate-existing: terminate the active instance once it has run, and wait, bounded, until it shows
    Terminated by this very terminate (its reason is unique to the request). The instance as it is when it ended
    before the terminate was sent, for the policies to decide again. One that ended otherwise while the terminate
    was queued is not replaced now: the terminate may still be processed and would hit the new execution, so the
    lease is left to expire and the caller retries after it."""

    async def read(timeout: float) -> Observed:
        return await backend.read(instance_id, timeout, with_input=True)

    ran = await run_first(hold, read, before)
    if ran.state is not InstanceState.ACTIVE or not may_replace(ran, hold.settings.orchestrators):
        return ran  # ended meanwhile, or another instance came that the app may not stop: decide again
    match await terminate_and_watch(hold, backend, instance_id, TERMINATE_REASON, hold.settings.terminate_wait_seconds):
        case TerminatedByUs() as replaced:
            return replaced
        case Observed() as gone:
            return gone
        case EndedOtherwise():
            raise InDoubt("the instance ended by itself while the terminate was queued", Sent.TERMINATE_FOR_START)
    raise InDoubt("the active instance did not show Terminated within the wait budget", Sent.TERMINATE_FOR_START)
