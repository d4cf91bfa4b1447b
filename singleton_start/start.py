"""The start use case: start an orchestrator under an instance ID at most once at a time.

1. (The caller has validated the request.)
2. Read the status. When the policies answer without starting anything (409, 200), answer.
3. Take the per-ID lease (acquire.py). Requests for an ID this process is already starting first wait
   for that start in memory and answer from one shared status read (flights.py).
4. Holding the lease, decide again (unless this request created the lock blob: then no one can have
   started since step 2), record an Idempotency-Key as "starting", start (holding.py).
5. A start whose outcome is unknown is settled by reading the status until the deadline (settle.py).
6. Release the lease on every exit, in the background once the outcome is known, unless a start this
   request sent may still land: then it is left to expire, so that no one else starts the ID meanwhile.
"""

from __future__ import annotations

from .acquire import acquire, answer_without_lock
from .calls import Calls
from .clock import REAL_CLOCK
from .command import StartCommand
from .flights import StartsInFlight
from .holding import StartUnderLease, first_read_still_holds
from .outcomes import Outcome, Unavailable
from .ports import Backend, BackendUnavailable, Clock, Lease, Locks, StorageUnavailable
from .settings import Settings
from .stats import StartStats
from .status import Observed
from .timing import Deadline, DeadlineReached


class SingletonStarter:
    """Runs the start use case for one request against its collaborators."""

    def __init__(
        self,
        backend: Backend,
        locks: Locks,
        settings: Settings,
        flights: StartsInFlight,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self._calls = Calls(backend, locks, settings, clock)
        self._flights = flights

    @property
    def stats(self) -> StartStats:
        """This request's lock wait and start attempts, filled as the start runs."""
        return self._calls.stats

    async def start(self, command: StartCommand) -> Outcome:
        deadline = self._calls.deadline(self._calls.settings.request_timeout_seconds)
        try:
            return await self._start(command, deadline)
        except (BackendUnavailable, StorageUnavailable) as error:
            return Unavailable(str(error))
        except DeadlineReached:
            return Unavailable("the request ran out of time")
        finally:
            self._calls.stats.lock_wait_ended()

    async def _start(self, command: StartCommand, deadline: Deadline) -> Outcome:
        calls, keyed = self._calls, command.idempotency is not None
        observed = await calls.read(command, deadline, with_input=keyed)
        # A keyed request is not refused here: a holder may still be starting its key, so it only replays.
        answer = await answer_without_lock(calls, command, observed, deadline)
        if answer is not None:
            return answer
        wait = deadline.sooner(calls.settings.lock_wait_seconds)
        flight = (calls.backend.task_hub, command.instance_id)
        calls.stats.lock_wait_began()
        if await self._flights.wait_for(flight, wait.remaining()):
            observed = await self._flights.shared_read(flight, lambda: calls.read(command, deadline, with_input=True))
            answer = await answer_without_lock(calls, command, observed, deadline)
            if answer is not None:
                return answer
        with self._flights.lead(flight):
            lease = await acquire(calls, command, observed, deadline, wait)
            if not isinstance(lease, Lease):
                return lease
            policies = calls.settings.conflict_policy, calls.settings.reuse_policy
            holds = first_read_still_holds(lease.created_blob, observed, keyed, *policies)
            known = observed if holds else None
            return await self._hold(command, lease, known, deadline)

    async def _hold(self, command: StartCommand, lease: Lease, known: Observed | None, deadline: Deadline) -> Outcome:
        self._calls.stats.lock_wait_ended()
        holder = StartUnderLease(self._calls, command, lease, deadline, known)
        try:
            return await holder.run()
        finally:
            # Released in the background: the outcome is known, the answer need not wait for it.
            if not holder.in_doubt:
                self._calls.locks.release(lease, first=holder.after_answer())
