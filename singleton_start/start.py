"""The start use case, top to bottom: start an orchestrator under an instance ID at most once at a time.

1. Read the status. When the policies answer without starting anything (409, 200), answer; a keyed request
   answers only a replay here, since its first send may be under way elsewhere.
2. Take the per-ID lease. Requests for an ID this process is already starting first wait for that start in
   memory and answer from one shared status read (flights.py); others poll the lease with backoff.
3. Holding the lease: read and decide again; under terminate-existing, terminate and wait until the old
   execution shows Terminated by this very terminate; record an Idempotency-Key as "starting".
4. Send the start, on a lease that outlasts the landing window. Only a start that was certainly not sent is
   sent again. A start refused as already existing is answered by the policy, never 202. A start whose answer
   was lost is settled by reading the status, never sent again: our input showing up is 202.
5. Release the lease once the outcome is known; a send whose effect was not seen keeps the lease until it
   expires (Held.keep_lease), so that no one else starts the ID while it may still land.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .clock import REAL_CLOCK
from .command import StartCommand
from .flights import StartsInFlight
from .idempotency import IdempotencyClaim, replay_answer, started_entry, starting_entry, with_entry
from .outcomes import ArgumentsRefused, Outcome, Refused, Started, TerminatePending, Unavailable, Unsettled, answer_for
from .ports import (
    Backend,
    BackendUnavailable,
    Clock,
    InstanceGone,
    InstanceNotFound,
    Lease,
    LockRecord,
    Locks,
    OutcomeUnknown,
    StartOutcomeUnknown,
    StartRefused,
    StorageUnavailable,
)
from .settings import LEASE_SAFETY_SECONDS, ConflictPolicy, Settings
from .settle import (
    EndedOtherwise,
    Landed,
    OtherStarted,
    TerminatedByUs,
    Unclear,
    first_read_stands,
    lease_lasts_for_send,
    settle,
    terminate_seen,
)
from .stats import StartStats
from .status import Action, InstanceState, Observed, decide
from .timing import Deadline, DeadlineReached, backoff_delays

TERMINATE_REASON = "Replaced by a new start (conflict policy terminate-existing)."


@dataclass(frozen=True)
class Known:
    """The first read, standing in for the read under the lease, and when the lease was granted (wall clock):
    an instance made before then cannot be this request's start."""

    observed: Observed
    granted: datetime


@dataclass(frozen=True)
class Attempt:
    """What a start under the lease sends and settles against: the status before it (read under the lease, or
    the first read standing in for it, with when the lease was granted), and the keys' record it writes into."""

    command: StartCommand
    lease: Lease
    before: Observed
    record: LockRecord = field(default_factory=LockRecord)
    granted: datetime | None = None


@dataclass(frozen=True)
class Held:
    """What the lease holder comes to: the answer, whether the lease must be left to expire (a send of ours may
    still land, or a key's "starting" entry counts on no one starting before the lease's end), and bounded
    work still to do under the lease before it is released."""

    outcome: Outcome
    keep_lease: bool = False
    after: Coroutine[None, None, None] | None = None


class SingletonStarter:
    """Runs the start use case for one request against the three ports."""

    def __init__(
        self, backend: Backend, locks: Locks, settings: Settings, flights: StartsInFlight, clock: Clock = REAL_CLOCK
    ) -> None:
        self.backend, self.locks, self.settings, self.clock = backend, locks, settings, clock
        self._flights = flights
        self.stats = StartStats()
        # Set while a send is out with no answer yet: a request cancelled then must not release its lease.
        self._unanswered = False
        # Set once the key's "starting" entry may have been written.
        self._recorded = False

    async def start(self, command: StartCommand) -> Outcome:
        deadline = Deadline(self.settings.request_timeout_seconds, self.clock.now)
        try:
            return await self._start(command, deadline)
        except (BackendUnavailable, StorageUnavailable) as error:
            return Unavailable(str(error))
        except DeadlineReached:
            return Unavailable("the request ran out of time")
        finally:
            self.stats.lock_wait_ended()

    async def _start(self, command: StartCommand, deadline: Deadline) -> Outcome:
        flight = (self.backend.task_hub, command.instance_id)
        claimed = command.idempotency is None and self._flights.claim(flight)
        early = self._early_lease(command, deadline) if claimed else None
        try:
            observed = await self._read(command, deadline, with_input=True)
            answer = await self._answer_without_lock(command, observed, deadline)
        except BaseException:
            self._give_back(early, flight)
            raise
        if answer is not None:
            self._give_back(early, flight)  # a duplicate answers after one read; an early lease goes back
            return answer
        wait = deadline.sooner(self.settings.lock_wait_seconds)
        self.stats.lock_wait_began()
        if not claimed and await self._flights.wait_for(flight, wait.remaining()):
            observed = await self._flights.shared_read(flight, lambda: self._read(command, deadline, with_input=True))
            answer = await self._answer_without_lock(command, observed, deadline)
            if answer is not None:
                return answer
        with self._flights.lead(flight, claimed=claimed):
            early_lease = await early if early is not None else None
            known = None
            if early_lease is not None and self._first_read_stands(command):
                known = Known(observed, self.clock.utcnow())
            lease = early_lease or await self._acquire(command, observed, deadline, wait)
            if not isinstance(lease, Lease):
                return lease
            self.stats.lock_wait_ended()
            return await self._under_lease(command, lease, deadline, known)

    def _early_lease(self, command: StartCommand, deadline: Deadline) -> asyncio.Task[Lease | None]:
        """The lease, asked for while the first status read is on its way, so that a start waits for the longer
        of the two instead of both; only by the request of this process that claimed the ID (a storm of
        duplicates asks once), and never for a keyed request."""
        hub, instance_id = self.backend.task_hub, command.instance_id
        return asyncio.ensure_future(
            self.locks.try_acquire(hub, instance_id, self._limit(deadline), blob_may_be_missing=True)
        )

    def _give_back(self, early: asyncio.Task[Lease | None] | None, flight: tuple[str, str]) -> None:
        """End this request's claim on the ID and release, in the background, a lease asked for early."""
        if early is None:
            return
        self._flights.give_up(flight)

        async def release() -> None:
            with suppress(StorageUnavailable, DeadlineReached):
                lease = await early
                if lease is not None:
                    await self.locks.release(lease)

        self._flights.in_background(release())

    def _first_read_stands(self, command: StartCommand) -> bool:
        keyed = command.idempotency is not None
        return first_read_stands(keyed, self.settings.conflict_policy, self.settings.reuse_policy)

    async def _under_lease(
        self, command: StartCommand, lease: Lease, deadline: Deadline, known: Known | None
    ) -> Outcome:
        held: Held | None = None
        try:
            held = await self._hold(command, lease, deadline, known)
            return held.outcome
        finally:
            if held is None and not (self._unanswered or self._recorded):
                self.locks.release(lease)  # failed or cancelled with nothing of ours in flight
            elif held is not None and not held.keep_lease:
                self.locks.release(lease, first=held.after)  # in the background: the answer need not wait

    async def _hold(self, command: StartCommand, lease: Lease, deadline: Deadline, known: Known | None) -> Held:
        """Decide again under the lease, terminate what the policy replaces, record the key, send the start.
        The read under the lease is what settles a lost answer: no start through the app but ours can make a
        new instance after it. Where the first read stands in for it, a lost answer is settled by time."""
        if known is not None:
            return await self._send_start(Attempt(command, lease, known.observed, granted=known.granted), deadline)
        hold = self._hold_until(lease, deadline)
        before = await self._read(command, hold, with_input=True)
        claim, record = command.idempotency, LockRecord()
        answer = None
        if claim is not None:
            record = await self.locks.read_record(self.backend.task_hub, command.instance_id, self._limit(hold))
            answer = replay_answer(claim, record, before, command.input_value)
        answer = answer or answer_for(self._decide(before), before)
        if answer is None and not self._may_replace(command, before):
            answer = Refused(before)
        if answer is not None:
            return Held(answer)
        if self._decide(before) is Action.TERMINATE_THEN_START:
            replaced = await self._terminate_existing(command, lease, deadline)
            if isinstance(replaced, Held):
                return replaced
            before = replaced
        held = await self._send_start(Attempt(command, lease, before, record), deadline)
        if command.idempotency is not None and self._recorded and not isinstance(held.outcome, Started):
            # The key's "starting" entry may be written: a retry takes an instance made before the lease's end
            # for the key's own, so no one else may start until then.
            return Held(held.outcome, keep_lease=True)
        return held

    async def _send_start(self, attempt: Attempt, deadline: Deadline) -> Held:
        """Send the start; again only when it was certainly not sent; settle what may have been. A keyed start
        first records its key with the window its send can land in, which ends with the lease as it is then."""
        command, lease = attempt.command, attempt.lease
        delays = backoff_delays()
        recorded_until: float | None = None
        for tried in range(1, self.settings.start_attempts + 1):
            timeout = await self._ready_to_send(lease, deadline)
            if timeout is None:
                return Held(Unavailable("the lease could not be kept for the start, so nothing was sent"))
            if command.idempotency is not None and recorded_until != lease.ends_at:
                if not await self._record_starting(command.idempotency, attempt, deadline):
                    return Held(Unavailable("the Idempotency-Key could not be recorded, so nothing was started"))
                recorded_until = lease.ends_at
                if not lease_lasts_for_send(lease.ends_at - self.clock.now(), self.settings.landing_window_seconds):
                    return Held(Unavailable("the lease ran low while the key was recorded, so nothing was sent"))
            try:
                self._unanswered = True
                self.stats.start_attempts += 1
                await self.backend.start(command.orchestrator, command.instance_id, command.input_value, timeout)
                self._unanswered = False
                return Held(Started(), after=self._complete_record(attempt, deadline))
            except BackendUnavailable:
                self._unanswered = False
            except StartRefused as refusal:
                self._unanswered = False
                if not refusal.already_exists:
                    return Held(ArgumentsRefused(str(refusal)))
                return Held(self._other(await self._read(command, deadline, with_input=True)))
            except StartOutcomeUnknown:
                return await self._settle(attempt, deadline)
            if tried < self.settings.start_attempts:
                await self.clock.sleep(min(next(delays), self._hold_until(lease, deadline).remaining()))
        return Held(Unavailable(f"the start could not be sent in {self.settings.start_attempts} tries"))

    async def _settle(self, attempt: Attempt, deadline: Deadline) -> Held:
        """Read until our start shows, while the lease is surely ours; the start is never sent again (it may
        still land, and a second send could run the same input twice)."""
        command, lease = attempt.command, attempt.lease
        delays = backoff_delays()
        while True:
            await self._keep(lease, deadline)
            hold = self._hold_until(lease, deadline)
            if hold.remaining() <= 0:
                return Held(
                    Unsettled("the start was sent but had not shown up by the deadline; it may still land"), True
                )
            await self.clock.sleep(min(next(delays), hold.remaining()))
            try:
                after = await self.backend.read(command.instance_id, self._limit(hold), with_input=True)
            except (BackendUnavailable, DeadlineReached):
                continue
            match settle(attempt.before, after, command.input_value, made_after=attempt.granted):
                case Unclear():
                    return Held(Unsettled("an instance with this input showed up, maybe made before the lease"), True)
                case Landed():
                    self._unanswered = False
                    return Held(Started(), after=self._complete_record(attempt, deadline))
                case OtherStarted():
                    # Only a start outside the app can put it there under our lease, and ours may have run
                    # (and ended) before it: nothing can be said, so the caller hears "may have run".
                    return Held(Unsettled("another instance showed up; this request's start may have run"), True)

    async def _terminate_existing(self, command: StartCommand, lease: Lease, deadline: Deadline) -> Observed | Held:
        """Terminate the active instance and wait, bounded, until it shows Terminated by this very terminate.
        An instance that ended otherwise is not replaced now: our terminate may still be queued, and would hit
        the new execution, so the lease is kept until it expires and the caller retries after it."""
        reason = f"{TERMINATE_REASON} Request {secrets.token_hex(4)}."
        timeout = await self._ready_to_send(lease, deadline)
        if timeout is None:
            return Held(Unavailable("the lease could not be kept for the terminate, so nothing was sent"))
        try:
            self._unanswered = True
            await self.backend.terminate(command.instance_id, reason, timeout)
        except BackendUnavailable as error:
            self._unanswered = False
            return Held(Unavailable(str(error)))
        except (InstanceNotFound, InstanceGone):
            self._unanswered = False  # it ended before the terminate was taken: nothing is queued
            return await self._read(command, self._hold_until(lease, deadline), with_input=True)
        except OutcomeUnknown:
            pass
        wait = self._hold_until(lease, deadline).sooner(self.settings.terminate_wait_seconds)
        delays = backoff_delays()
        while wait.remaining() > 0:
            await self.clock.sleep(min(next(delays), wait.remaining()))
            observed = await self._read(command, self._hold_until(lease, deadline), with_input=True)
            match terminate_seen(observed, reason):
                case TerminatedByUs():
                    self._unanswered = False
                    return observed
                case EndedOtherwise():
                    return Held(TerminatePending("the instance ended by itself while the terminate was queued"), True)
        return Held(TerminatePending("the active instance did not show Terminated within the wait budget"), True)

    async def _acquire(
        self, command: StartCommand, observed: Observed, deadline: Deadline, wait: Deadline
    ) -> Lease | Outcome:
        """The lease, polled with backoff until `wait` is spent; else the answer the status gives."""
        delays = backoff_delays()
        may_answer = (
            command.idempotency is None and self.settings.conflict_policy is not ConflictPolicy.TERMINATE_EXISTING
        )
        while True:
            lease = await self.locks.try_acquire(
                self.backend.task_hub,
                command.instance_id,
                self._limit(deadline),
                blob_may_be_missing=not observed.exists,
            )
            if lease is not None:
                return lease
            if wait.remaining() <= 0:
                break
            await self.clock.sleep(min(next(delays), wait.remaining()))
            if may_answer:  # a read during the wait ends it when the policy answers without starting
                observed = await self._read(command, deadline)
                answer = answer_for(self._decide(observed), observed)
                if answer is not None:
                    return answer
        observed = await self._read(command, deadline, with_input=command.idempotency is not None)
        answer = await self._answer_without_lock(command, observed, deadline)
        return answer or Unavailable("another request for this instance ID held the lock for the whole wait budget")

    # ---- small steps: each one call, bounded by the request's deadline and the lease

    def _decide(self, observed: Observed) -> Action:
        return decide(observed, self.settings.conflict_policy, self.settings.reuse_policy)

    def _may_replace(self, command: StartCommand, observed: Observed) -> bool:
        """An active instance is terminated only when it runs an allowlisted orchestrator: the start must not
        stop what the management routes may not stop either."""
        if self._decide(observed) is not Action.TERMINATE_THEN_START:
            return True
        allowed = {name.casefold() for name in self.settings.orchestrators}
        return (observed.name or "").casefold() in allowed

    def _other(self, observed: Observed) -> Outcome:
        """The answer when an instance this request did not start is there: the policy's, else 409."""
        if not observed.exists:
            return Unavailable("the backend refused the start as a duplicate but shows no instance")
        if observed.state is InstanceState.ACTIVE:
            return answer_for(self._decide(observed), observed) or Refused(observed)
        return Refused(observed)

    async def _answer_without_lock(
        self, command: StartCommand, observed: Observed, deadline: Deadline
    ) -> Outcome | None:
        """A replay for a keyed request whose key's instance this is; the policy's answer for any other."""
        claim = command.idempotency
        if claim is None:
            return answer_for(self._decide(observed), observed)
        if not observed.exists:
            return None
        record = await self.locks.read_record(self.backend.task_hub, command.instance_id, self._limit(deadline))
        return replay_answer(claim, record, observed, command.input_value)

    async def _read(self, command: StartCommand, deadline: Deadline, *, with_input: bool = False) -> Observed:
        """A status read, retried with backoff a bounded number of times."""
        delays = backoff_delays()
        for attempt in range(1, self.settings.start_attempts + 1):
            try:
                return await self.backend.read(command.instance_id, self._limit(deadline), with_input=with_input)
            except BackendUnavailable:
                if attempt == self.settings.start_attempts:
                    raise
                await self.clock.sleep(min(next(delays), deadline.remaining()))
        raise AssertionError("unreachable")

    def _limit(self, deadline: Deadline) -> float:
        """One call's timeout: the backend limit, cut to what is left of `deadline`."""
        return deadline.timeout(self.settings.backend_timeout_seconds)

    def _hold_until(self, lease: Lease, deadline: Deadline) -> Deadline:
        """Until when a holder may still make calls: its lease's end minus the safety margin."""
        return deadline.sooner(lease.ends_at - self.clock.now() - LEASE_SAFETY_SECONDS)

    async def _keep(self, lease: Lease, deadline: Deadline) -> bool:
        """Renew the lease when it would not outlast the landing window; False when that failed."""
        if lease_lasts_for_send(lease.ends_at - self.clock.now(), self.settings.landing_window_seconds):
            return True
        try:
            await self.locks.renew(lease, self._limit(self._hold_until(lease, deadline)))
        except (StorageUnavailable, DeadlineReached):
            return False
        return True

    async def _ready_to_send(self, lease: Lease, deadline: Deadline) -> float | None:
        """The timeout of a send on a lease that outlasts its landing window; None when none may go out."""
        if not await self._keep(lease, deadline):
            return None
        hold = self._hold_until(lease, deadline)
        return min(self._limit(hold), hold.remaining() / 2) if hold.remaining() > 0 else None

    async def _record_starting(self, claim: IdempotencyClaim, attempt: Attempt, deadline: Deadline) -> bool:
        """Record the key as starting, with the lease's end as it is now on the wall clock; False on failure."""
        self._recorded = True  # even a write whose answer is lost may have been made
        lease = attempt.lease
        lease_end = self.clock.utcnow() + timedelta(seconds=lease.ends_at - self.clock.now())
        entry = starting_entry(claim, self.clock.utcnow(), lease_end, attempt.before)
        return await self._write_record(lease, with_entry(attempt.record.metadata, claim, entry), deadline)

    async def _write_record(self, lease: Lease, metadata: dict[str, str], deadline: Deadline) -> bool:
        """Write the keys' record; False when storage refused it or time ran out."""
        try:
            await self.locks.write_record(lease, metadata, self._limit(self._hold_until(lease, deadline)))
        except (StorageUnavailable, DeadlineReached):
            return False
        return True

    async def _complete_record(self, attempt: Attempt, deadline: Deadline) -> None:
        """Mark the key's start as landed; when this fails the "starting" entry still replays by its window."""
        claim = attempt.command.idempotency
        if claim is not None:
            entry = started_entry(claim, self.clock.utcnow())
            await self._write_record(attempt.lease, with_entry(attempt.record.metadata, claim, entry), deadline)
