"""The backend and storage calls of one start request, each bounded by the request's deadline."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .command import StartCommand
from .idempotency import replay_answer
from .outcomes import Outcome
from .ports import Backend, BackendUnavailable, Clock, Lease, Locks, StorageUnavailable
from .settings import LEASE_SAFETY_SECONDS, Settings
from .stats import StartStats
from .status import Action, Observed, decide
from .timing import Deadline, DeadlineReached, backoff_delays

LOG = logging.getLogger(__name__)


@dataclass
class Calls:
    """One request's collaborators, with the limits every call of a start keeps to."""

    backend: Backend
    locks: Locks
    settings: Settings
    clock: Clock
    stats: StartStats = field(default_factory=StartStats)

    def decide(self, observed: Observed) -> Action:
        return decide(observed, self.settings.conflict_policy, self.settings.reuse_policy)

    def limit(self, deadline: Deadline) -> float:
        """One call's timeout: the backend limit, cut to what is left of `deadline`."""
        return deadline.timeout(self.settings.backend_timeout_seconds)

    async def read(self, command: StartCommand, deadline: Deadline, *, with_input: bool = False) -> Observed:
        """A status read, retried with backoff a bounded number of times."""
        delays = backoff_delays()
        for attempt in range(1, self.settings.start_attempts + 1):
            try:
                return await self.backend.read(command.instance_id, self.limit(deadline), with_input=with_input)
            except BackendUnavailable:
                if attempt == self.settings.start_attempts:
                    raise
                await self.clock.sleep(min(next(delays), deadline.remaining()))
        raise AssertionError("unreachable")

    async def replay(self, command: StartCommand, observed: Observed, deadline: Deadline) -> Outcome | None:
        """The replay of this key's start when `observed` (read with its input) is the key's instance."""
        claim = command.idempotency
        if claim is None or not observed.exists:
            return None
        record = await self.locks.read_record(self.backend.task_hub, command.instance_id, self.limit(deadline))
        return replay_answer(claim, dict(record.metadata), observed, command.input_value)

    async def send_start(self, command: StartCommand, timeout: float) -> None:
        """Send the start once, counted in this request's stats."""
        self.stats.start_attempts += 1
        await self.backend.start(command.orchestrator, command.instance_id, command.input_value, timeout)

    def hold(self, lease: Lease, deadline: Deadline) -> Deadline:
        """Until when a holder may still send calls: its lease's end minus the safety margin."""
        return deadline.sooner(self.remaining(lease) - LEASE_SAFETY_SECONDS)

    def remaining(self, lease: Lease) -> float:
        """How long the lease lasts at least, on this request's clock."""
        return lease.ends_at - self.clock.now()

    def deadline(self, seconds: float) -> Deadline:
        """A deadline `seconds` from now on this request's clock."""
        return Deadline(seconds, self.clock.now)

    def start_timeout(self, lease: Lease, deadline: Deadline) -> float:
        """A start's own timeout: at most half of what the hold has left, so that settling it fits too."""
        hold = self.hold(lease, deadline)
        return min(self.limit(hold), hold.remaining() / 2)

    async def renew(self, lease: Lease, deadline: Deadline) -> None:
        """Keep the lease for another full length; when storage fails it ends when it would have."""
        try:
            await self.locks.renew(lease, self.limit(deadline))
        except (StorageUnavailable, DeadlineReached) as error:
            LOG.warning("Lease not renewed: %s", error or "the request ran out of time")
