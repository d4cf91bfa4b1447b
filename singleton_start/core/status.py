"""An instance's status as the app sees it: the runtime status names, spelled here once, and one status read
reduced to what the use cases decide on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

PENDING = "Pending"
RUNNING = "Running"
CONTINUED_AS_NEW = "ContinuedAsNew"
SUSPENDED = "Suspended"
COMPLETED = "Completed"
FAILED = "Failed"
TERMINATED = "Terminated"
CANCELED = "Canceled"

ACTIVE_STATUSES = frozenset({PENDING, RUNNING, CONTINUED_AS_NEW, SUSPENDED})
ENDED_STATUSES = frozenset({COMPLETED, FAILED, TERMINATED, CANCELED})
FAILED_STATUSES = frozenset({FAILED, TERMINATED, CANCELED})
# Active statuses of an instance whose ExecutionStarted has been processed: it has history, so a terminate or
# an event reaches it. A Pending one has none yet, and what is sent to it is dropped or only marks its row
# (docs/model.md, "commands to an instance that has not run").
HAS_RUN_STATUSES = frozenset({RUNNING, CONTINUED_AS_NEW, SUSPENDED})


class InstanceState(Enum):
    MISSING = "missing"
    ACTIVE = "active"
    ENDED = "ended"


def state_of(runtime_status: str) -> InstanceState:
    """Active or ended; ValueError for a runtime status this app does not know."""
    if runtime_status in ACTIVE_STATUSES:
        return InstanceState.ACTIVE
    if runtime_status in ENDED_STATUSES:
        return InstanceState.ENDED
    raise ValueError(f"a runtime status this app does not know: {runtime_status!r}")


@dataclass(frozen=True)
class Observed:
    """One status read of an instance ID. `input` is the JSON text the instance was started with, as both SDK
    lines show it; `output` is what it ended with (a terminated instance's is the terminate's reason)."""

    state: InstanceState
    runtime_status: str | None = None
    created_time: datetime | None = None
    last_updated_time: datetime | None = None
    input: Any = None
    output: Any = None
    # The orchestrator the instance runs.
    name: str | None = None
    custom_status: Any = None
    # The reason of the terminate its execution processed, as its history shows (read only when asked for):
    # a row shows Terminated with a reason also when a terminate only marked it (docs/model.md).
    terminated_by: str | None = None

    @property
    def exists(self) -> bool:
        return self.state is not InstanceState.MISSING

    @property
    def has_run(self) -> bool:
        """Active and past its ExecutionStarted: a terminate or an event sent now reaches it."""
        return self.runtime_status in HAS_RUN_STATUSES

    def runs(self, orchestrator: str) -> bool:
        """Whether the instance runs this orchestrator (names match case-insensitively, as the extension's)."""
        return (self.name or "").casefold() == orchestrator.casefold()

    def has_input(self, sent: Any) -> bool:
        """Whether the stored input is the one a start sent. A start's input is stored as its JSON text (the 1.x
        SDK posts the text as a JSON string; the 2.x one sends the text), so the text is compared as a value."""
        if sent is None:
            return self.input is None
        if not isinstance(self.input, str):
            return False
        try:
            return bool(json.loads(self.input) == sent)
        except ValueError:
            return False


MISSING = Observed(InstanceState.MISSING)
