"""The start use case: start an orchestrator under an instance ID at most once at a time.

1. (The caller has validated the request.)
2. Read the status. When the policies answer without starting anything (409, 200), answer.
3. Take the per-ID lease. Requests for an ID this process is already starting first wait for that
   start in memory and answer from one shared status read. While another process holds the lease,
   poll the status with backoff until the lock wait budget is spent, then answer from the status.
4. Holding the lease, read the status again and decide again.
5. Start. When the start fails, read the status: a new instance with our input is our own start that
   went through; another new instance was started by another path; none means retry, bounded.
6. Release the lease whatever happened.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from .backend import BackendUnavailable, DurableBackend, StartOutcomeUnknown, StartRefused, input_matches
from .contract import NO_INPUT
from .lock import Lease, LeaseLocks, StorageUnavailable
from .settings import ConflictPolicy, Settings
from .status import Action, InstanceState, Observed, decide

# A holder stops issuing calls this long before its lease could expire, so that no call of a
# holder can still land after another caller has taken the lease.
LEASE_SAFETY_SECONDS = 5.0
FIRST_BACKOFF_SECONDS = 0.025
MAX_BACKOFF_SECONDS = 1.0
LOG = logging.getLogger(__name__)
TERMINATE_REASON = "Replaced by a new start (conflict policy terminate-existing)."


@dataclass(frozen=True)
class IdempotencyClaim:
    """An Idempotency-Key header and a digest of what it was sent with."""

    key: str
    request_digest: str


def request_digest(orchestrator: str, body: bytes) -> str:
    """What must be equal for a retry with the same key to be the same request."""
    return hashlib.sha256(orchestrator.casefold().encode() + b"\0" + body).hexdigest()


@dataclass(frozen=True)
class StartCommand:
    orchestrator: str
    instance_id: str
    input: Any
    idempotency: IdempotencyClaim | None = None

    @property
    def input_value(self) -> Any:
        return None if self.input is NO_INPUT else self.input


@dataclass(frozen=True)
class Started:
    """A new instance was started (or, replayed, the one this key started before)."""

    replayed: bool = False


@dataclass(frozen=True)
class Refused:
    """An instance with the ID exists and the policies do not let it be replaced."""

    observed: Observed


@dataclass(frozen=True)
class Existing:
    """The active instance is the answer (conflict policy use-existing)."""

    observed: Observed


@dataclass(frozen=True)
class KeyReused:
    """The Idempotency-Key was first sent with another request."""


@dataclass(frozen=True)
class Unavailable:
    """Storage or the backend could not be used in time. This request started nothing, unless a start
    was sent and neither its answer nor a status read came back: the caller's retry then gets 409."""

    reason: str


Outcome = Started | Refused | Existing | KeyReused | Unavailable


class Deadline:
    """A point in time that every call of one request must finish by."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._at - self._clock())

    def sooner(self, seconds: float) -> Deadline:
        """A deadline at most `seconds` from now, never later than this one."""
        return Deadline(min(seconds, self.remaining()), self._clock)

    def timeout(self, limit: float) -> float:
        """The time a call may take: its own limit, cut to what is left."""
        remaining = self.remaining()
        if remaining <= 0:
            raise DeadlineReached
        return min(limit, remaining)


class DeadlineReached(Exception):
    """No time is left for another call."""


def backoff_delays() -> Iterator[float]:
    """Exponential backoff with full jitter, so that waiters do not poll in lockstep."""
    ceiling = FIRST_BACKOFF_SECONDS
    while True:
        yield random.uniform(ceiling / 2, ceiling)
        ceiling = min(ceiling * 2, MAX_BACKOFF_SECONDS)


def instance_fingerprint(observed: Observed) -> str:
    """What tells one instance from another with the same ID: the status API gives createdTime to
    the second only, so an instance started in the same second is told apart by its input."""
    created = observed.created_time.isoformat() if observed.created_time else ""
    stored_input = json.dumps(observed.input, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{created}\0{stored_input}".encode()).hexdigest()


def record_for(claim: IdempotencyClaim, observed: Observed) -> dict[str, str]:
    """The lock-blob metadata that ties a key to the instance it started."""
    return {
        "idempotencykey": claim.key,
        "requestdigest": claim.request_digest,
        "createdtime": observed.created_time.isoformat() if observed.created_time else "",
        "instance": instance_fingerprint(observed),
    }


def replay_answer(claim: IdempotencyClaim, record: dict[str, str], observed: Observed) -> Outcome | None:
    """The answer to a keyed retry when the record names this key and this very instance."""
    if not observed.exists or observed.created_time is None:
        return None
    if record.get("idempotencykey") != claim.key:
        return None
    if record.get("instance") != instance_fingerprint(observed):
        return None
    if record.get("requestdigest") != claim.request_digest:
        return KeyReused()
    return Started(replayed=True)


def answer_for(action: Action, observed: Observed) -> Outcome | None:
    """The answer for an action that starts nothing; None for one that starts."""
    if action is Action.REJECT:
        return Refused(observed)
    if action is Action.USE_EXISTING:
        return Existing(observed)
    return None


class StartsInFlight:
    """The starts under way in this worker process, by task hub and instance ID.

    Concurrent requests for an ID this process is already starting wait here, and are all woken at
    once when that start ends, instead of each polling the lease in storage. The lease still
    decides between processes and hosts.
    """

    def __init__(self) -> None:
        self._ended: dict[tuple[str, str], asyncio.Event] = {}
        self._reads: dict[tuple[str, str], asyncio.Future[Observed]] = {}

    async def wait_for(self, flight: tuple[str, str], timeout: float) -> bool:
        """Wait, bounded, for a start of this ID under way here; False when there is none."""
        ended = self._ended.get(flight)
        if ended is None:
            return False
        with suppress(TimeoutError):
            await asyncio.wait_for(ended.wait(), timeout)
        return True

    async def shared_read(self, flight: tuple[str, str], read: Callable[[], Awaitable[Observed]]) -> Observed:
        """One status read for all the requests woken by the same start: they would all read the same."""
        pending = self._reads.get(flight)
        if pending is None:
            pending = self._reads[flight] = asyncio.ensure_future(read())
            pending.add_done_callback(lambda _: self._reads.pop(flight, None))
        return await asyncio.shield(pending)

    @contextmanager
    def lead(self, flight: tuple[str, str]) -> Iterator[None]:
        """Mark this ID as being started here, unless another request already did."""
        if flight in self._ended:
            yield
            return
        ended = self._ended[flight] = asyncio.Event()
        try:
            yield
        finally:
            del self._ended[flight]
            ended.set()


class SingletonStarter:
    """Runs the start use case for one request against its collaborators."""

    def __init__(
        self,
        backend: DurableBackend,
        locks: LeaseLocks,
        settings: Settings,
        flights: StartsInFlight,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._backend = backend
        self._locks = locks
        self._settings = settings
        self._flights = flights
        self._sleep = sleep

    async def start(self, command: StartCommand) -> Outcome:
        deadline = Deadline(self._settings.request_timeout_seconds)
        try:
            return await self._start(command, deadline)
        except (BackendUnavailable, StorageUnavailable) as error:
            return Unavailable(str(error))
        except DeadlineReached:
            return Unavailable("the request ran out of time")

    def _decide(self, observed: Observed) -> Action:
        return decide(observed, self._settings.conflict_policy, self._settings.reuse_policy)

    async def _read(self, command: StartCommand, deadline: Deadline, *, with_input: bool = False) -> Observed:
        """A status read, retried with backoff a bounded number of times."""
        delays = backoff_delays()
        for attempt in range(1, self._settings.start_attempts + 1):
            try:
                return await self._backend.read(
                    command.instance_id,
                    deadline.timeout(self._settings.backend_timeout_seconds),
                    with_input=with_input,
                )
            except BackendUnavailable:
                if attempt == self._settings.start_attempts:
                    raise
                await self._sleep(min(next(delays), deadline.remaining()))
        raise AssertionError("unreachable")

    async def _replay(self, command: StartCommand, observed: Observed, deadline: Deadline) -> Outcome | None:
        claim = command.idempotency
        if claim is None or not observed.exists:
            return None
        record = await self._locks.read_record(
            self._backend.task_hub, command.instance_id, deadline.timeout(self._settings.backend_timeout_seconds)
        )
        return replay_answer(claim, dict(record), observed)

    async def _answer_from_status(
        self, command: StartCommand, observed: Observed, deadline: Deadline
    ) -> Outcome | None:
        replayed = await self._replay(command, observed, deadline)
        return replayed or answer_for(self._decide(observed), observed)

    async def _start(self, command: StartCommand, deadline: Deadline) -> Outcome:
        observed = await self._read(command, deadline)
        replayed = await self._replay(command, observed, deadline)
        if replayed:
            return replayed
        # A keyed request must not be refused while a holder may still be recording its key.
        if command.idempotency is None:
            answer = answer_for(self._decide(observed), observed)
            if answer:
                return answer
        wait = deadline.sooner(self._settings.lock_wait_seconds)
        flight = (self._backend.task_hub, command.instance_id)
        if await self._flights.wait_for(flight, wait.remaining()):
            observed = await self._flights.shared_read(flight, lambda: self._read(command, deadline))
            answer = await self._answer_after_waiting(command, observed, deadline)
            if answer:
                return answer
        with self._flights.lead(flight):
            lease_or_answer = await self._acquire(command, observed, deadline, wait)
            if not isinstance(lease_or_answer, Lease):
                return lease_or_answer
            lease = lease_or_answer
            try:
                hold = deadline.sooner(self._settings.lock_lease_seconds - LEASE_SAFETY_SECONDS)
                return await self._start_holding_lease(command, lease, hold)
            finally:
                await self._locks.release(lease)

    async def _answer_after_waiting(
        self, command: StartCommand, observed: Observed, deadline: Deadline
    ) -> Outcome | None:
        """After waiting on another start of this ID: a replay for a keyed request (whose first send
        may be what was waited on), the policy's answer for any other."""
        if command.idempotency:
            return await self._replay(command, observed, deadline)
        return answer_for(self._decide(observed), observed)

    async def _acquire(
        self, command: StartCommand, observed: Observed, deadline: Deadline, wait: Deadline
    ) -> Lease | Outcome:
        """The lease, or the answer the status gives once waiting for it is no use."""
        delays = backoff_delays()
        while True:
            lease = await self._locks.try_acquire(
                self._backend.task_hub,
                command.instance_id,
                deadline.timeout(self._settings.backend_timeout_seconds),
                blob_may_be_missing=not observed.exists,
            )
            if lease:
                return lease
            if wait.remaining() <= 0:
                break
            await self._sleep(min(next(delays), wait.remaining()))
            if self._may_answer_while_waiting(command):
                observed = await self._read(command, deadline)
                answer = answer_for(self._decide(observed), observed)
                if answer:
                    return answer
        observed = await self._read(command, deadline)
        answer = await self._answer_after_waiting(command, observed, deadline)
        return answer or Unavailable("another request for this instance ID held the lock for the whole wait budget")

    def _may_answer_while_waiting(self, command: StartCommand) -> bool:
        """Whether a status read during the wait can end it: never for a keyed request, whose key the
        holder may still be recording, nor under terminate-existing, which always needs the lock."""
        return command.idempotency is None and self._settings.conflict_policy is not ConflictPolicy.TERMINATE_EXISTING

    async def _start_holding_lease(self, command: StartCommand, lease: Lease, hold: Deadline) -> Outcome:
        observed = await self._read(command, hold)
        answer = await self._answer_from_status(command, observed, hold)
        if answer:
            return answer
        if self._decide(observed) is Action.TERMINATE_THEN_START:
            observed = await self._terminate(command, hold)
        started = await self._start_once(command, observed, hold)
        if isinstance(started, Started) and command.idempotency:
            await self._record(command.idempotency, command, lease, hold)
        return started

    async def _terminate(self, command: StartCommand, hold: Deadline) -> Observed:
        """Terminate the active instance and wait, bounded, until it has ended."""
        try:
            await self._backend.terminate(
                command.instance_id, TERMINATE_REASON, hold.timeout(self._settings.backend_timeout_seconds)
            )
        except BackendUnavailable:
            pass  # It may have ended by itself meanwhile; the status below says.
        wait = hold.sooner(self._settings.terminate_wait_seconds)
        delays = backoff_delays()
        while True:
            observed = await self._read(command, hold)
            if observed.state is not InstanceState.ACTIVE:
                return observed
            if wait.remaining() <= 0:
                raise BackendUnavailable("the active instance did not terminate within the wait budget")
            await self._sleep(min(next(delays), wait.remaining()))

    async def _start_once(self, command: StartCommand, before: Observed, hold: Deadline) -> Outcome:
        """Start with bounded retries, never starting again once a start has gone through."""
        delays = backoff_delays()
        for attempt in range(1, self._settings.start_attempts + 1):
            try:
                await self._backend.start(
                    command.orchestrator,
                    command.instance_id,
                    command.input_value,
                    hold.timeout(self._settings.backend_timeout_seconds),
                )
                return Started()
            except (BackendUnavailable, StartOutcomeUnknown, StartRefused):
                pass
            after = await self._read(command, hold, with_input=True)
            # Any change means an instance was started; createdTime alone has whole seconds only.
            if after.exists and after != before:
                if input_matches(after.input, command.input_value):
                    return Started()  # Our start went through; only its answer was lost.
                answer = answer_for(self._decide(after), after)
                if answer:
                    return answer
                before = after
            if attempt < self._settings.start_attempts:
                await self._sleep(min(next(delays), hold.remaining()))
        return Unavailable(f"the start failed {self._settings.start_attempts} times")

    async def _record(self, claim: IdempotencyClaim, command: StartCommand, lease: Lease, hold: Deadline) -> None:
        """Tie the key to the instance just started; a failure here loses only the replay."""
        try:
            observed = await self._read(command, hold)
            await self._locks.write_record(
                lease, record_for(claim, observed), hold.timeout(self._settings.backend_timeout_seconds)
            )
        except (BackendUnavailable, StorageUnavailable, DeadlineReached) as error:
            LOG.warning("Idempotency-Key not recorded for instance %r: %s", command.instance_id, error)
