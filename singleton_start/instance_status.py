"""An instance's status as the status route shows it: the start's classification plus name and results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .status import Observed, classify

if TYPE_CHECKING:
    # A 1.x model, named in annotations only: the module also imports where the 2.x SDK is installed.
    from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus


@dataclass(frozen=True)
class InstanceStatus:
    """One full status read of an existing instance."""

    observed: Observed
    name: str | None
    custom_status: Any
    output: Any

    @property
    def runtime_status(self) -> str | None:
        return self.observed.runtime_status

    @property
    def created_time(self) -> datetime | None:
        return self.observed.created_time

    @property
    def last_updated_time(self) -> datetime | None:
        return self.observed.last_updated_time


def instance_status(status: DurableOrchestrationStatus) -> InstanceStatus | None:
    """The status read as a full status, or None when no instance has the ID; raises UnreadableStatus."""
    observed = classify(status)
    if not observed.exists:
        return None
    return InstanceStatus(observed, status.name, status.custom_status, status.output)
