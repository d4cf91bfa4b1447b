"""The start's decisions after each observation, as pure functions of values: what a read after a start of
unknown outcome says, whether a read made before the lease still holds under it, whether a queued terminate
has taken effect, and whether the lease lasts long enough for a send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .backend import input_matches
from .settings import ConflictPolicy, ReusePolicy
from .status import InstanceState, Observed


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
    if not input_matches(after.input, our_input):
        return OtherStarted(after)
    if made_after is not None and (after.created_time is None or after.created_time <= made_after):
        return Unclear(after)
    return Landed(after)


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
class TerminatedByUs:
    """The old execution shows Terminated with this request's own reason: the terminate took effect."""


@dataclass(frozen=True)
class EndedOtherwise:
    """The old execution ended without this request's terminate, which may still be queued: it would hit
    whatever execution is current when it is processed, so nothing may be started meanwhile."""


@dataclass(frozen=True)
class StillActive:
    """The old execution still runs; the terminate has not been processed yet."""


TerminateSeen = TerminatedByUs | EndedOtherwise | StillActive


def terminate_seen(observed: Observed, reason: str) -> TerminateSeen:
    """What a read after sending a terminate says of it. Terminate messages carry no execution ID (DTFx's
    OrchestrationSessionManager gives them to the current execution), so only our own reason as the output
    shows that this very terminate was processed."""
    if observed.state is InstanceState.ACTIVE:
        return StillActive()
    if observed.runtime_status == "Terminated" and observed.output == reason:
        return TerminatedByUs()
    return EndedOtherwise()


def lease_lasts_for_send(lease_remaining: float, landing_window: float) -> bool:
    """Whether a send may go out on a lease with `lease_remaining` seconds left: it must outlast the time in
    which the send may still take effect (the landing window), so that no one else can take the ID before."""
    return lease_remaining >= landing_window
