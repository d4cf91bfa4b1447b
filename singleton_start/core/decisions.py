"""Every decision the use cases take, as pure functions of what was observed: what the policies answer, what
a read after a send says of it, whether a read made before the lease still holds under it, whether a queued
terminate has taken effect, whether a lease lasts for a send, and what a route may see of an instance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from .errors import Unavailable
from .outcomes import Active, Conflict, Ended, Existing, Found, NotFound, StartOutcome
from .status import FAILED_STATUSES, TERMINATED, InstanceState, Observed


class ConflictPolicy(Enum):
    """What a start does when an instance with the ID is active."""

    REJECT = "reject"
    USE_EXISTING = "use-existing"
    TERMINATE_EXISTING = "terminate-existing"


class ReusePolicy(Enum):
    """Which ended instances a start may replace."""

    ALLOW_ENDED = "allow-ended"
    ALLOW_FAILED = "allow-failed"
    REJECT_DUPLICATE = "reject-duplicate"


class Action(Enum):
    """What a start does about the instance it found."""

    START = "start"
    REJECT = "reject"
    USE_EXISTING = "use-existing"
    TERMINATE_THEN_START = "terminate-then-start"


def decide(observed: Observed, conflict: ConflictPolicy, reuse: ReusePolicy) -> Action:
    """The conflict and reuse policies as one table: the observed state picks the action."""
    if observed.state is InstanceState.MISSING:
        return Action.START
    if observed.state is InstanceState.ACTIVE:
        return {
            ConflictPolicy.REJECT: Action.REJECT,
            ConflictPolicy.USE_EXISTING: Action.USE_EXISTING,
            ConflictPolicy.TERMINATE_EXISTING: Action.TERMINATE_THEN_START,
        }[conflict]
    if reuse is ReusePolicy.ALLOW_ENDED:
        return Action.START
    if reuse is ReusePolicy.ALLOW_FAILED and observed.runtime_status in FAILED_STATUSES:
        return Action.START
    return Action.REJECT


def policy_answer(observed: Observed, conflict: ConflictPolicy, reuse: ReusePolicy) -> StartOutcome | None:
    """The policies' answer to what was observed, when it starts nothing; None when the start goes ahead."""
    return answer_for(decide(observed, conflict, reuse), observed)


def answer_for(action: Action, observed: Observed) -> StartOutcome | None:
    """The answer of an action that starts nothing; None for one that starts."""
    if action is Action.REJECT:
        return Conflict(observed)
    if action is Action.USE_EXISTING:
        return Existing(observed)
    return None


def other_answer(observed: Observed, conflict: ConflictPolicy, reuse: ReusePolicy) -> StartOutcome | None:
    """The answer when the extension refused the start over an instance this request did not start: the policy's
    for an active one (409 where the policy would replace it); None when it has ended since and the reuse policy
    lets it be replaced (the start may be sent again: the refused one queued nothing). Unavailable when the read
    shows no instance after all."""
    if not observed.exists:
        raise Unavailable("the backend refused the start as a duplicate but shows no instance")
    if observed.state is InstanceState.ACTIVE:
        return answer_for(decide(observed, conflict, reuse), observed) or Conflict(observed)
    return answer_for(decide(observed, conflict, reuse), observed)


def may_replace(observed: Observed, allowed: tuple[str, ...]) -> bool:
    """An active instance is terminated to be replaced only when it runs an allowlisted orchestrator: a start
    must not stop what the management routes may not stop either."""
    return any(observed.runs(name) for name in allowed)


def first_read_stands(keyed: bool, conflict: ConflictPolicy, reuse: ReusePolicy) -> bool:
    """Whether the status read made before the lease can stand in for the read under it.

    Every holder releases its lease only once its start's outcome is known (its instance row written), and
    never while a send of its own may still land; so a start that slipped in between the first read and the
    grant is an active instance by the time this request sends, and the extension refuses this start
    (NonRunningStates, checked at load). Under allow-ended with reject or use-existing, that refusal answered
    by the policy is the right answer; under the other policies the read is made again. A keyed request reads
    its record under the lease, and the status with it. A lost answer is settled by time instead (settle's
    `made_after`).
    """
    tolerant = reuse is ReusePolicy.ALLOW_ENDED and conflict is not ConflictPolicy.TERMINATE_EXISTING
    return tolerant and not keyed


@dataclass(frozen=True)
class Landed:
    """A new instance with this request's input: the start went through."""

    observed: Observed


@dataclass(frozen=True)
class OtherStarted:
    """A new instance with another input: someone else started the ID."""

    observed: Observed


@dataclass(frozen=True)
class NotYet:
    """The ID still shows what it showed before the start."""


@dataclass(frozen=True)
class Unclear:
    """A new instance with this request's input, made no later than the second the lease was granted: it may
    be another start's that slipped in before the lease, since `before` was read before the lease."""

    observed: Observed


Settled = Landed | OtherStarted | NotYet | Unclear


def is_new_instance(before: Observed, after: Observed) -> bool:
    """Whether `after` is another instance than `before` (both read with their input). createdTime has
    whole seconds only, so an instance replaced within the same second is told apart by its input."""
    if not after.exists:
        return False
    if not before.exists:
        return True
    if before.state is InstanceState.ENDED and after.state is InstanceState.ACTIVE:
        return True
    return (after.created_time, after.input) != (before.created_time, before.input)


def settle(before: Observed, after: Observed, our_input: Any, *, made_after: datetime | None = None) -> Settled:
    """What a status read after a start of unknown outcome says about it. When `before` was read under the
    lease, no start through the app but this request's can have made a new instance since. When it was read
    before the lease (`made_after` is when the lease was granted), another start may have slipped in between:
    only an instance made in a later second than the grant (createdTime has whole seconds) is surely ours."""
    if not is_new_instance(before, after):
        return NotYet()
    if not after.has_input(our_input):
        return OtherStarted(after)
    if made_after is not None and (after.created_time is None or after.created_time <= made_after):
        return Unclear(after)
    return Landed(after)


@dataclass(frozen=True)
class TerminatedByUs:
    """The execution shows Terminated with this request's own reason: the terminate took effect."""

    observed: Observed


@dataclass(frozen=True)
class EndedOtherwise:
    """The execution ended without this request's terminate, which may still be queued: it would hit whatever
    execution is current when it is processed, so nothing may be started meanwhile."""

    observed: Observed


@dataclass(frozen=True)
class StillActive:
    """The execution still runs; the terminate has not been processed yet."""


TerminateSeen = TerminatedByUs | EndedOtherwise | StillActive


def tagged_reason(reason: str, token: str) -> str:
    """The reason a terminate goes with: the caller's, tagged with its request. A terminate carries no execution ID,
    so its reason, shown as the output, is all that tells it from an earlier one with the same words that was still
    queued (a request answered 503 whose lease ran out)."""
    return f"{reason} [request {token}]"


def terminate_seen(observed: Observed, reason: str, *, history: bool) -> TerminateSeen:
    """What a read after sending a terminate says of it. Terminate messages carry no execution ID, so only our own
    reason as the output shows that this very terminate was processed. A terminate that DurableTask.AzureStorage
    2.7.0+ processes with no history of the execution (one batched with an earlier execution's messages) marks the
    row Terminated with its reason while the execution runs on (docs/model.md): where the read carries the history
    (`history`), the execution's own ExecutionTerminated must show the reason too; until then it is still active."""
    if observed.state is InstanceState.ACTIVE:
        return StillActive()
    if observed.runtime_status == TERMINATED and observed.output == reason:
        if history and observed.terminated_by != reason:
            return StillActive()  # marked, not yet processed by the execution
        return TerminatedByUs(observed)
    return EndedOtherwise(observed)


def find(observed: Observed, orchestrator: str) -> Found:
    """What a management route may see of an instance: one of another orchestrator is as good as none, so no
    caller learns that instances outside the allowlist exist."""
    if not observed.exists or not observed.runs(orchestrator):
        return NotFound()
    if observed.state is InstanceState.ACTIVE:
        return Active(observed)
    return Ended(observed)


class Ending(Enum):
    """How a hold of an ID ends."""

    RELEASE = "release"
    RELEASE_AFTER_WRITE = "release after a last write"
    EXPIRE = "leave the lease to expire"


def ending(*, shared: bool, unsettled: bool, last_write: bool) -> Ending:
    """The one decision at the end of every hold: a lease is left to expire while anything of ours may still
    take effect under it (a send whose effect has not shown, a key recorded as starting), and always when it is
    shared, since the other holders' sends may; else it is given back, after the last write if there is one."""
    if shared or unsettled:
        return Ending.EXPIRE
    return Ending.RELEASE_AFTER_WRITE if last_write else Ending.RELEASE


class SignalAction(Enum):
    """What a signal does about the instance it found."""

    SEND = "send the event"
    START = "start, then send the event"
    CONFLICT = "answer 409"


def signal_action(observed: Observed, orchestrator: str, reuse: ReusePolicy) -> SignalAction:
    """Signal-with-start's table: an active instance of the orchestrator gets the event, one of another is in the
    way (409), whatever the conflict policy; no instance, or an ended one the reuse policy lets be replaced, is
    started first; an ended one the reuse policy keeps is in the way."""
    if observed.state is InstanceState.ACTIVE:
        return SignalAction.SEND if observed.runs(orchestrator) else SignalAction.CONFLICT
    if decide(observed, ConflictPolicy.REJECT, reuse) is Action.START:
        return SignalAction.START
    return SignalAction.CONFLICT
