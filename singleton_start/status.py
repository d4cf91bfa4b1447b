"""What an instance's status means for a start, as pure decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from .settings import ConflictPolicy, ReusePolicy

if TYPE_CHECKING:
    # A 1.x model, named in annotations only: the module also imports where the 2.x SDK is installed.
    from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

ACTIVE_STATUSES = frozenset({"Pending", "Running", "ContinuedAsNew", "Suspended"})
ENDED_STATUSES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
FAILED_STATUSES = frozenset({"Failed", "Terminated", "Canceled"})


class UnreadableStatus(Exception):
    """The backend answered a status read with something that is not a status."""


class InstanceState(Enum):
    MISSING = "missing"
    ACTIVE = "active"
    ENDED = "ended"


@dataclass(frozen=True)
class Observed:
    """One status read of an instance ID, reduced to what a start decides on."""

    state: InstanceState
    runtime_status: str | None = None
    created_time: datetime | None = None
    last_updated_time: datetime | None = None
    input: Any = None
    # What the instance ended with; a terminated instance's is the terminate's reason.
    output: Any = None
    # The orchestrator the instance runs.
    name: str | None = None

    @property
    def exists(self) -> bool:
        return self.state is not InstanceState.MISSING


MISSING = Observed(InstanceState.MISSING)


def classify(status: DurableOrchestrationStatus) -> Observed:
    """Reduce a status read to Missing, Active or Ended; anything else is unreadable.

    The extension answers an unknown ID with 404 and an empty body, which the SDK turns
    into a status whose only field is an empty message. Its error answers also parse
    into a status without a runtime status, so those must not be taken for "missing".
    """
    runtime_status = status.runtime_status.value if status.runtime_status else None
    if runtime_status is None:
        if getattr(status, "message", None) == "" and status.instance_id is None:
            return MISSING
        raise UnreadableStatus("The status read answered without a runtime status.")
    if runtime_status in ACTIVE_STATUSES:
        state = InstanceState.ACTIVE
    elif runtime_status in ENDED_STATUSES:
        state = InstanceState.ENDED
    else:
        raise UnreadableStatus(f"The status read gave a runtime status this app does not know: {runtime_status!r}.")
    return Observed(
        state=state,
        runtime_status=runtime_status,
        created_time=status.created_time,
        last_updated_time=status.last_updated_time,
        input=status.input_,
        output=status.output,
        name=status.name,
    )


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
