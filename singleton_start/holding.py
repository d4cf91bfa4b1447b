"""What the lease holder does: decide again, record the key, start, and settle a start of unknown outcome."""

from __future__ import annotations

import logging
from collections.abc import Coroutine

from .calls import Calls
from .command import StartCommand
from .idempotency import record_for, starting_record
from .outcomes import ArgumentsRefused, Outcome, Refused, Started, Unavailable, Unsettled, answer_for
from .ports import BackendUnavailable, Lease, StartOutcomeUnknown, StartRefused, StorageUnavailable
from .settings import ConflictPolicy, ReusePolicy
from .settle import Landed, OtherStarted, Settled, settle, settle_unknown_start
from .status import Action, InstanceState, Observed
from .timing import Deadline, DeadlineReached, backoff_delays

LOG = logging.getLogger(__name__)
TERMINATE_REASON = "Replaced by a new start (conflict policy terminate-existing)."


def first_read_still_holds(
    created_blob: bool, observed: Observed, read_with_input: bool, conflict: ConflictPolicy, reuse: ReusePolicy
) -> bool:
    """Whether the status read made before taking the lease can stand in for the read under it.

    Only when this request created the lock blob (201, not 409): no one held a lease on it before that, so
    no start through the app can have happened since that read, but for one whose whole start and release
    fit between this create and this acquire. The extension refuses a start over an active instance, and
    under allow-ended any ended one may be replaced, so only these policies keep even that case right:
    under the others the read is made again. This holds because lock blobs are never deleted. The read is
    then also the state before the start, which settling tells apart by input: it must show no instance,
    or have been read with its input.
    """
    tolerant = reuse is ReusePolicy.ALLOW_ENDED and conflict is not ConflictPolicy.TERMINATE_EXISTING
    return created_blob and tolerant and (not observed.exists or read_with_input)


class StartUnderLease:
    """One request's work while it holds the lease. `in_doubt` is true while a start it sent may still
    land: the lease must then be left to expire, never released. `known` is a status read that still
    holds under the lease (first_read_still_holds), or None to read and decide again."""

    def __init__(
        self, calls: Calls, command: StartCommand, lease: Lease, deadline: Deadline, known: Observed | None = None
    ) -> None:
        self._calls = calls
        self._command = command
        self._lease = lease
        self._deadline = deadline
        self._known = known
        self._started = False
        self.in_doubt = False

    async def run(self) -> Outcome:
        calls, command = self._calls, self._command
        observed = self._known or await self._recheck()
        if not isinstance(observed, Observed):
            return observed
        if calls.decide(observed) is Action.TERMINATE_THEN_START:
            observed = await self._terminate(calls.hold(self._lease, self._deadline))
        claim = command.idempotency
        if claim is not None and not await self._write(starting_record(claim, calls.clock.utcnow())):
            return Unavailable("the Idempotency-Key could not be recorded, so nothing was started")
        outcome = await self._start(observed)
        self._started = isinstance(outcome, Started)
        return outcome

    def after_answer(self) -> Coroutine[None, None, None] | None:
        """What is left to do under the lease once the answer is known: for a keyed start, completing its
        record (the "starting" record written before the start already replays, so the answer need not wait)."""
        return self._complete_record() if self._started and self._command.idempotency is not None else None

    async def _recheck(self) -> Observed | Outcome:
        """Read the status again under the lease: someone may have started since the first read."""
        calls, command = self._calls, self._command
        hold = calls.hold(self._lease, self._deadline)
        observed = await calls.read(command, hold, with_input=True)
        return await calls.replay(command, observed, hold) or answer_for(calls.decide(observed), observed) or observed

    async def _complete_record(self) -> None:
        """Tie the key to the instance just started; when this fails the "starting" record still replays."""
        claim = self._command.idempotency
        if claim is None:
            return
        hold = self._calls.hold(self._lease, self._deadline)
        try:
            after = await self._calls.read(self._command, hold, with_input=True)
        except (BackendUnavailable, DeadlineReached) as error:
            LOG.warning("Idempotency-Key record for instance %r left starting: %s", self._command.instance_id, error)
            return
        await self._write(record_for(claim, after))

    async def _write(self, record: dict[str, str]) -> bool:
        """Write the key's record; False when storage refused it or time ran out."""
        try:
            hold = self._calls.hold(self._lease, self._deadline)
            await self._calls.locks.write_record(self._lease, record, self._calls.limit(hold))
        except (StorageUnavailable, DeadlineReached) as error:
            LOG.warning("Idempotency-Key record for instance %r not written: %s", self._command.instance_id, error)
            return False
        return True

    async def _terminate(self, hold: Deadline) -> Observed:
        """Terminate the active instance and wait, bounded, until it has ended."""
        calls, command = self._calls, self._command
        try:
            await calls.backend.terminate(command.instance_id, TERMINATE_REASON, calls.limit(hold))
        except BackendUnavailable:
            pass  # It may have ended by itself meanwhile; the status below says.
        wait = hold.sooner(calls.settings.terminate_wait_seconds)
        delays = backoff_delays()
        while True:
            observed = await calls.read(command, hold, with_input=True)
            if observed.state is not InstanceState.ACTIVE:
                return observed
            if wait.remaining() <= 0:
                raise BackendUnavailable("the active instance did not terminate within the wait budget")
            await calls.clock.sleep(min(next(delays), wait.remaining()))

    async def _start(self, before: Observed) -> Outcome:
        """Send the start; retry only what was certainly not sent, settle what may have been."""
        calls, command = self._calls, self._command
        delays = backoff_delays()
        for attempt in range(1, calls.settings.start_attempts + 1):
            timeout = calls.start_timeout(self._lease, self._deadline)
            self.in_doubt = True
            try:
                await calls.send_start(command, timeout)
                self.in_doubt = False
                return Started()
            except BackendUnavailable:
                self.in_doubt = False
            except StartRefused as refusal:
                self.in_doubt = False
                if not refusal.already_exists:
                    return ArgumentsRefused(str(refusal))
                after = await calls.read(command, self._deadline, with_input=True)
                if isinstance(settle(before, after, command.input_value), Landed):
                    return Started()
                return self._other(after)
            except StartOutcomeUnknown:
                return await self._settle(before)
            if attempt < calls.settings.start_attempts:
                await calls.clock.sleep(min(next(delays), calls.hold(self._lease, self._deadline).remaining()))
        return Unavailable(f"the start could not be sent in {calls.settings.start_attempts} tries")

    async def _settle(self, before: Observed) -> Outcome:
        verdict = await settle_unknown_start(self._calls, self._command, self._lease, before, self._deadline)
        answer = self._answer(verdict)
        self.in_doubt = isinstance(answer, Unsettled)
        return answer

    def _answer(self, verdict: Settled) -> Outcome:
        match verdict:
            case Landed():
                return Started()
            case OtherStarted(observed=observed):
                return self._other(observed)
        return Unsettled("the start was sent but had not shown up by the deadline; it may still land")

    def _other(self, observed: Observed) -> Outcome:
        """The answer when an instance this request did not start is there: the policy's, else 409."""
        if not observed.exists:
            return Unavailable("the backend refused the start as a duplicate but shows no instance")
        return answer_for(self._calls.decide(observed), observed) or Refused(observed)
