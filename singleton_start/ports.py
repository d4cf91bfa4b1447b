"""The three ports the start and the management routes talk through: the Durable backend, the per-ID locks
and the clock. The real adapters are backend.DurableBackend, lock.LeaseLocks and clock.RealClock; the
simulator (simulation/) plugs in models of the same contracts on virtual time.

Every call takes its own timeout in seconds; what each failure means for a caller is in its exception's name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .instance_status import InstanceStatus
from .status import Observed


class BackendUnavailable(Exception):
    """No usable answer; this call changed nothing (a read, or a command that was certainly not sent)."""


class OutcomeUnknown(Exception):
    """A command that may still take effect: it timed out, the connection dropped after the request was
    written, or the answer was neither a clear acceptance nor a clear refusal."""


class StartOutcomeUnknown(OutcomeUnknown):
    """A start that may still land."""


class StartRefused(Exception):
    """The extension refused the start before queueing anything."""

    def __init__(self, message: str, *, already_exists: bool) -> None:
        super().__init__(message)
        # True: 409 Conflict (current releases) or 500 with OrchestrationAlreadyExistsException (older ones);
        # False: 400, the arguments were refused.
        self.already_exists = already_exists


class InstanceNotFound(Exception):
    """The extension answered a terminate or an event with 404: no instance has the ID."""


class InstanceGone(Exception):
    """The extension answered a terminate or an event with 410: the instance had already ended."""


class CommandRefused(Exception):
    """The extension refused a terminate or an event as invalid (its 400); nothing was queued."""


class StorageUnavailable(Exception):
    """The lock's storage account could not be reached or refused the call."""


class Backend(Protocol):
    """The Durable extension as one request sees it (Durable Functions 1.x over HTTP, or 2.x over gRPC)."""

    task_hub: str

    async def read(self, instance_id: str, timeout: float, *, with_input: bool = False) -> Observed:
        """The instance's status, classified; BackendUnavailable for anything but a status or a 404."""
        ...

    async def read_instance(self, instance_id: str, timeout: float, *, with_input: bool) -> InstanceStatus | None:
        """The instance's full status (name, output, custom status), or None when there is none."""
        ...

    async def start(self, orchestrator: str, instance_id: str, orchestrator_input: Any, timeout: float) -> None:
        """Returns on a clear acceptance; raises BackendUnavailable (certainly not sent), StartRefused or
        StartOutcomeUnknown."""
        ...

    async def terminate(self, instance_id: str, reason: str, timeout: float) -> None:
        """Returns once the terminate is queued; raises BackendUnavailable, InstanceNotFound, InstanceGone or
        OutcomeUnknown."""
        ...

    async def raise_event(self, instance_id: str, event_name: str, data: Any, timeout: float) -> None:
        """Returns once the event is queued; raises BackendUnavailable, InstanceNotFound, InstanceGone,
        CommandRefused or OutcomeUnknown."""
        ...


class LinkedBackend(Backend, Protocol):
    """A backend reached through the app's Durable client binding, which also knows the extension's own
    management URLs (for SINGLETON_MANAGEMENT_LINKS=extension)."""

    def management_links(self, request: Any, instance_id: str) -> dict[str, str]:
        """The extension's management URLs of an instance, as create_check_status_response builds them."""
        ...


@dataclass
class Lease:
    """A held per-ID lock; release it exactly once. `ends_at` is on the Clock's `now()` scale, counted from
    before the request that took or renewed it was sent, so the lease can only end later than that.
    `handle` is the adapter's own (a blob and lease client, or the simulator's lease)."""

    key: str
    handle: Any
    ends_at: float = 0.0


@dataclass(frozen=True)
class LockRecord:
    """What the last keyed starter left on the lock blob, and when the blob itself was made: a blob made
    after an instance was created may have lost that instance's record (a deletion rule removed it)."""

    metadata: Mapping[str, str] = field(default_factory=dict)
    blob_created: datetime | None = None


class Locks(Protocol):
    """Per-ID leases in the app's own storage account, with the Idempotency-Key record beside each."""

    async def try_acquire(
        self, task_hub: str, instance_id: str, timeout: float, *, blob_may_be_missing: bool = False
    ) -> Lease | None:
        """The lease, or None when someone else holds it; StorageUnavailable when storage fails."""
        ...

    async def renew(self, lease: Lease, timeout: float) -> None:
        """Another full length, counted from before the renewal was sent; StorageUnavailable on failure."""
        ...

    def release(self, lease: Lease, first: Coroutine[None, None, None] | None = None) -> Awaitable[None]:
        """Give the lease back in the background after `first`; await the result to wait for it."""
        ...

    async def read_record(self, task_hub: str, instance_id: str, timeout: float) -> LockRecord:
        """The record on the lock blob; an empty one when there is no blob."""
        ...

    async def write_record(self, lease: Lease, record: Mapping[str, str], timeout: float) -> None:
        """Leave the record on the lock blob while holding its lease."""
        ...


class Clock(Protocol):
    """Time as the start sees it: `now()` for leases and deadlines, `utcnow()` for records, `sleep()`."""

    def now(self) -> float: ...

    def utcnow(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...
