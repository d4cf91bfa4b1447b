"""The three ports the use cases talk through: the Durable backend, the per-ID locks and the clock. The real
adapters are in adapters/ (the 1.x HTTP API, the 2.x gRPC client, the blob lease); the simulator (simulation/)
runs the same adapters over a model of the backend at the wire, on virtual time.

Every call takes its own timeout in seconds; what each failure means is its error's class (core/errors.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .status import Observed


class Backend(Protocol):
    """The Durable extension as one request sees it (Durable Functions 1.x over HTTP, or 2.x over gRPC)."""

    task_hub: str
    # Whether a read can carry the execution's history (the 1.x HTTP API's showHistory; the gRPC endpoint has none).
    shows_history: bool

    async def read(
        self, instance_id: str, timeout: float, *, with_input: bool = False, with_history: bool = False
    ) -> Observed:
        """The instance's status (MISSING when there is none), with the reason of the terminate its execution
        processed when asked for its history and it shows it; Unavailable for anything else."""
        ...

    async def start(self, orchestrator: str, instance_id: str, orchestrator_input: Any, timeout: float) -> None:
        """Returns on a clear acceptance; raises Unavailable (certainly not sent), Refused, AlreadyExists or
        InDoubt."""
        ...

    async def terminate(self, instance_id: str, reason: str, timeout: float) -> None:
        """Returns once the terminate is queued; raises Unavailable, NoInstance, InstanceEnded, Refused or
        InDoubt."""
        ...

    async def raise_event(self, instance_id: str, event_name: str, data: Any, timeout: float) -> None:
        """Returns once the event is queued, its data the JSON value given; raises Unavailable, NoInstance,
        InstanceEnded, Refused or InDoubt."""
        ...

    def management_links(self, request: Any, instance_id: str) -> dict[str, str]:
        """The extension's own management URLs of an instance (SINGLETON_MANAGEMENT_LINKS=extension)."""
        ...


@dataclass
class Lease:
    """A held per-ID lock. `ends_at` is on the Clock's `now()` scale, counted from before the request that
    took or renewed it was sent, so the lease can only end later than that. A shared lease is held by every
    event request of the ID at once and is never released: each leaves it to expire. `handle` is the adapter's
    own (a blob and its lease client, or the simulator's)."""

    key: str
    handle: Any
    ends_at: float = 0.0
    shared: bool = False


@dataclass(frozen=True)
class LockRecord:
    """What keyed starters left on the lock blob, and when the blob itself was made: a blob made after an
    instance was created may have lost that instance's record (a deletion rule removed it)."""

    metadata: Mapping[str, str] = field(default_factory=dict)
    blob_created: datetime | None = None


class Locks(Protocol):
    """Per-ID leases in the app's own storage account, with the Idempotency-Key record beside each."""

    async def try_acquire(
        self,
        task_hub: str,
        instance_id: str,
        timeout: float,
        *,
        shared: bool = False,
        blob_may_be_missing: bool = False,
    ) -> Lease | None:
        """The lease (exclusive, or the one lease every shared holder holds at once), or None when it is held
        otherwise; Unavailable when storage fails."""
        ...

    async def renew(self, lease: Lease, timeout: float) -> None:
        """Another full length, counted from before the renewal was sent; Unavailable on failure."""
        ...

    async def share(self, lease: Lease, timeout: float) -> None:
        """Turn a lease held alone into the shared one, which event requests join; Unavailable on failure."""
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
    """Time as the use cases see it: `now()` for leases and deadlines, `utcnow()` for records, `sleep()`."""

    def now(self) -> float: ...

    def utcnow(self) -> datetime: ...

    async def sleep(self, seconds: float, /) -> None: ...
