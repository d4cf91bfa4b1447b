"""The start use case, top to bottom: start an orchestrator under an instance ID at most once at a time.

1. Read the status. When the policies answer without starting anything (409, 200), answer; a keyed request
   answers only a replay here, since its first send may be under way elsewhere.
2. Take the per-ID lease (hold.py). Requests for an ID this process is already starting wait for that start in
   memory and answer from one shared read; others poll the lease, answering early when a read shows the policy's
   answer.
3. Holding the lease: read and decide again (unless the first read stands in for it); under terminate-existing,
   wait for the active instance to have run, terminate it, and wait until it shows Terminated by this very
   terminate; record an Idempotency-Key as "starting".
4. Send the start. Only a start that was certainly not sent, or that failed in the extension before it could
   land, is sent again; one refused as already existing is answered by the policy, never 202; one whose answer
   was lost is settled by reads, never sent again.
5. The hold ends by the one rule of hold.py: released once the outcome is known, left to expire while a send of
   ours may still land.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..core.decisions import (
    Action,
    ConflictPolicy,
    Landed,
    NotYet,
    OtherStarted,
    Settled,
    TerminatedByUs,
    Unclear,
    answer_for,
    decide,
    first_read_stands,
    may_replace,
    other_answer,
    policy_answer,
    settle,
)
from ..core.errors import (
    AlreadyExists,
    DeadlineReached,
    InDoubt,
    Sent,
    Unavailable,
)
from ..core.idempotency import IdempotencyClaim, KeyEntry, landed_entry, replay_answer, starting_entry, with_entry
from ..core.outcomes import Conflict, Started, StartOutcome
from ..core.ports import Lease, LockRecord, Locks
from ..core.status import InstanceState, Observed
from .commands import replace_active
from .hold import Deadline, Hold, Ports, backoff_delays, retried, take


@dataclass(frozen=True)
class StartCommand:
    """What a valid start request asks for; `input` is None for no input."""

    orchestrator: str
    instance_id: str
    input: Any
    idempotency: IdempotencyClaim | None = None


@dataclass
class StartStats:
    """What one start spent on the per-ID lock and on start calls, for its log line and span."""

    start_attempts: int = 0
    lock_wait_seconds: float = 0.0
    waiting_since: float | None = field(default=None, repr=False)

    def lock_wait(self, waiting: bool) -> None:
        """Begin counting a wait, or count the one under way (once): taken, or answered without the lease."""
        if waiting:
            self.waiting_since = time.perf_counter()
        elif self.waiting_since is not None:
            self.lock_wait_seconds += time.perf_counter() - self.waiting_since
            self.waiting_since = None


@dataclass(frozen=True)
class Attempt:
    """A send of the start under the lease: the status before it (read under the lease, or the first read standing
    in for it, with when the lease was granted: an instance made before then cannot be this start), and the keys'
    record."""

    before: Observed
    record: LockRecord = field(default_factory=LockRecord)
    granted: datetime | None = None


async def start(
    command: StartCommand, ports: Ports, flights: StartsInFlight, deadline: Deadline, stats: StartStats
) -> StartOutcome:
    """Run the start use case for one request: its outcome; Unavailable when nothing was started, InDoubt when a
    start may still land. `stats` is filled as it runs."""
    try:
        return await SingletonStarter(command, ports, flights, deadline, stats).start()
    finally:
        stats.lock_wait(False)


class SingletonStarter:
    """Runs the start use case for one request against the three ports."""

    def __init__(
        self, command: StartCommand, ports: Ports, flights: StartsInFlight, deadline: Deadline, stats: StartStats
    ) -> None:
        self.command, self.ports, self.flights, self.deadline, self.stats = command, ports, flights, deadline, stats
        self.backend, self.locks, self.settings, self.clock = ports.backend, ports.locks, ports.settings, ports.clock
        self.key = (self.backend.task_hub, command.instance_id)
        self._policies = (self.settings.conflict_policy, self.settings.reuse_policy)

    async def start(self) -> StartOutcome:
        claimed = self.command.idempotency is None and self.flights.claim(self.key)
        early = self.flights.early(self._try_lease()) if claimed else None
        try:
            observed = await self._read()
            answer = await self._answer_without_lock(observed)
        except BaseException:
            self.flights.give_back(self.key, early, self.locks)
            raise
        if answer is not None:
            self.flights.give_back(self.key, early, self.locks)  # a duplicate answers after one read
            return answer
        self.stats.lock_wait(True)
        if not claimed and await self.flights.wait_for(
            self.key, self.deadline.sooner(self.settings.lock_wait_seconds).remaining()
        ):
            observed = await self.flights.shared_read(self.key, self._read, self.deadline)
            if (answer := await self._answer_without_lock(observed)) is not None:
                return answer
        with self.flights.lead(self.key, claimed=claimed):
            lease = await early if early is not None else None
            hold = Hold(self.ports, lease, self.deadline) if lease else await self._take(observed)
            if not isinstance(hold, Hold):
                return hold
            self.stats.lock_wait(False)
            async with hold:
                if lease is not None and first_read_stands(False, *self._policies):
                    return await self.send(hold, Attempt(observed, granted=self.clock.utcnow()))
                return await self._under_lease(hold)

    async def _under_lease(self, hold: Hold) -> StartOutcome:
        """Decide again under the lease, replace what the policy replaces, and send. No start through the app
        but ours can make a new instance after this read: it is what settles a lost answer."""
        before, claim = await hold.call(self._read_once), self.command.idempotency
        record, replayed = LockRecord(), None
        if claim is not None:
            record = await hold.call(lambda timeout: self.locks.read_record(*self.key, timeout))
            replayed = replay_answer(claim, record, before, self.command.input)
        action = decide(before, *self._policies)
        answer = replayed or answer_for(action, before)
        if (
            answer is None
            and action is Action.TERMINATE_THEN_START
            and not may_replace(before, self.settings.orchestrators)
        ):
            answer = Conflict(before)
        if answer is not None:
            return answer
        if action is Action.TERMINATE_THEN_START:
            match await replace_active(hold, self.backend, before, self.key[1]):
                case TerminatedByUs(observed=before):
                    pass
                case Observed(state=InstanceState.ACTIVE) as other:
                    return Conflict(other)  # an instance came meanwhile that the app may not stop
                case ended if (answer := policy_answer(ended, *self._policies)) is not None:
                    return answer
                case ended:
                    before = ended
        return await self.send(hold, Attempt(before, record))

    async def send(self, hold: Hold, attempt: Attempt) -> StartOutcome:
        """Send the start; again only when it certainly did not land; settle one that may have."""
        command, delays, recorded_until, entry = self.command, None, None, None
        for tried in range(1, self.settings.start_attempts + 1):
            if tried > 1:
                delays = delays or backoff_delays()
                await self.clock.sleep(min(next(delays), hold.until().remaining()))
            if command.idempotency is not None and recorded_until != hold.lease.ends_at:
                lease_end = self.clock.utcnow() + timedelta(seconds=hold.lease.ends_at - self.clock.now())
                entry = starting_entry(command.idempotency, self.clock.utcnow(), lease_end, attempt.before)
                await hold.record(with_entry(attempt.record.metadata, command.idempotency, entry), starting=True)
                recorded_until = hold.lease.ends_at
            try:
                self.stats.start_attempts += 1
                await hold.send("start", self._send_start, settles=True)
                return self._started(hold, attempt, entry)
            except AlreadyExists:
                # Refused over an active instance: the policy answers, unless it has ended since and may be replaced.
                if (answer := other_answer(await self._read(), *self._policies)) is not None:
                    return answer
            except InDoubt:
                return await self._settle(hold, attempt, entry)
            except Unavailable:
                if tried == self.settings.start_attempts:
                    raise
        raise Unavailable(
            f"the start was refused over an instance that kept ending, {self.settings.start_attempts} times"
        )

    async def _settle(self, hold: Hold, attempt: Attempt, entry: KeyEntry | None) -> StartOutcome:
        """Read until our start shows, while the lease is surely ours; it is never sent again (it may still land,
        and a second send could run the same input twice)."""

        def judge(after: Observed) -> Settled | None:
            seen = self.settled(attempt, after)
            return None if isinstance(seen, NotYet) else seen

        match await hold.poll(self._read_once, judge):
            case Landed():
                hold.settled("start")
                return self._started(hold, attempt, entry)
            case Unclear():
                raise InDoubt("an instance with this input showed up, maybe made before the lease", Sent.START)
            case OtherStarted():
                # Only a start outside the app can put it there under our lease, and ours may have run before it.
                raise InDoubt("another instance showed up; this request's start may have run", Sent.START)
        raise InDoubt("the start was sent but had not shown up by the deadline; it may still land", Sent.START)

    def _started(self, hold: Hold, attempt: Attempt, starting: KeyEntry | None) -> Started:
        """Our start landed (`send` settled a clear acceptance; `_settle` settles what reads showed); a key's entry is
        marked so, with the window its start could land in, after the answer, before the lease is given back (if that
        write fails, the "starting" entry still replays by its window)."""
        if (claim := self.command.idempotency) is not None and starting is not None:
            entry = with_entry(attempt.record.metadata, claim, landed_entry(starting))
            hold.then(hold.record(entry, starting=False, last=True))
        return Started()

    async def _take(self, observed: Observed) -> Hold | StartOutcome:
        """The lease, polled with backoff; a read during the wait ends it when the policy answers without
        starting; a wait spent in vain is answered by a last read when it can be."""
        may_answer = self.command.idempotency is None and self._policies[0] is not ConflictPolicy.TERMINATE_EXISTING
        try:
            return await take(
                self.ports,
                self.deadline,
                self.key,
                blob_may_be_missing=not observed.exists,
                while_waiting=self._read_once if may_answer else None,
                answer=lambda seen: policy_answer(seen, *self._policies),
            )
        except Unavailable:
            if (answer := await self._answer_without_lock(await self._read())) is not None:
                return answer
            raise

    async def _answer_without_lock(self, observed: Observed) -> StartOutcome | None:
        """A replay for a keyed request whose key's instance this is; the policy's answer for any other."""
        if (claim := self.command.idempotency) is None:
            return policy_answer(observed, *self._policies)
        if not observed.exists:
            return None
        record = await self.locks.read_record(*self.key, self.deadline.timeout(self.settings.backend_timeout_seconds))
        return replay_answer(claim, record, observed, self.command.input)

    def settled(self, attempt: Attempt, after: Observed) -> Settled:
        return settle(attempt.before, after, self.command.input, made_after=attempt.granted)

    async def _read(self) -> Observed:
        """A status read, tried a bounded number of times."""
        return await retried(self.ports, self.deadline, self._read_once)

    async def _send_start(self, timeout: float) -> None:
        await self.backend.start(self.command.orchestrator, self.key[1], self.command.input, timeout)

    async def _read_once(self, timeout: float) -> Observed:
        return await self.backend.read(self.key[1], timeout, with_input=True)

    def _try_lease(self) -> Awaitable[Lease | None]:
        """The early acquire: asked for as the request arrives, when its whole deadline is left."""
        limit = min(self.settings.backend_timeout_seconds, self.settings.request_timeout_seconds)
        return self.locks.try_acquire(*self.key, limit, blob_may_be_missing=True)


class StartsInFlight:
    """The starts under way in this worker process, by task hub and instance ID: the in-process side of the lock.

    Concurrent requests for an ID this process is already starting wait here, and are all woken at once when
    that start ends, instead of each polling the lease in storage; the lease still decides between processes
    and hosts. Work left in the background (an early lease given back) is kept here until done.
    """

    def __init__(self) -> None:
        self._ended: dict[tuple[str, str], asyncio.Event] = {}
        self._reads: dict[tuple[str, str], asyncio.Future[Observed]] = {}
        self._background: set[asyncio.Task[None]] = set()

    def in_background(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for the work left in the background, e.g. before the clients it uses are closed."""
        if self._background:
            await asyncio.wait(set(self._background))

    def early(self, acquire: Awaitable[Lease | None]) -> asyncio.Task[Lease | None]:
        """The lease, asked for while the first status read is on its way, so that a start waits for the longer of
        the two instead of both: only by the request of this process that claimed the ID (a storm of duplicates
        asks once), and never for a keyed request."""
        return asyncio.ensure_future(acquire)

    def give_back(self, flight: tuple[str, str], early: asyncio.Task[Lease | None] | None, locks: Locks) -> None:
        """End a claim whose request answered without starting, and release a lease asked for early, in the
        background."""
        if early is None:
            return
        self.give_up(flight)

        async def release() -> None:
            with suppress(Unavailable):
                lease = await early
                if lease is not None:
                    await locks.release(lease)

        self.in_background(release())

    def claim(self, flight: tuple[str, str]) -> bool:
        """Mark this ID as being started here before the request knows it will start: True when this request
        now leads (it must then `lead(flight, claimed=True)` or `give_up(flight)`), False when another does."""
        if flight in self._ended:
            return False
        self._ended[flight] = asyncio.Event()
        return True

    def give_up(self, flight: tuple[str, str]) -> None:
        """End a claim whose request answered without starting; whoever waits on it is woken."""
        self._ended.pop(flight).set()

    async def wait_for(self, flight: tuple[str, str], timeout: float) -> bool:
        """Wait, bounded, for a start of this ID under way here; False when there is none."""
        ended = self._ended.get(flight)
        if ended is None:
            return False
        with suppress(TimeoutError):
            await asyncio.wait_for(ended.wait(), timeout)
        return True

    async def shared_read(
        self, flight: tuple[str, str], read: Callable[[], Awaitable[Observed]], deadline: Deadline
    ) -> Observed:
        """One status read for all the requests woken by the same start: they would all read the same. Each waits
        for it no longer than its own deadline (the read may be another request's, with a later one)."""
        pending = self._reads.get(flight)
        if pending is None:
            pending = self._reads[flight] = asyncio.ensure_future(read())
            # Every waiter may have given up by the time it fails: its error is read here, so none goes unseen.
            pending.add_done_callback(
                lambda done: (self._reads.pop(flight, None), done.cancelled() or done.exception())
            )
        try:
            return await asyncio.wait_for(asyncio.shield(pending), deadline.remaining())
        except TimeoutError:
            raise DeadlineReached("the request ran out of time") from None

    @contextmanager
    def lead(self, flight: tuple[str, str], *, claimed: bool = False) -> Iterator[None]:
        """Mark this ID as being started here, unless another request already did (or this one `claim`ed it);
        cleared on every exit."""
        if claimed:
            ended = self._ended[flight]
        elif flight in self._ended:
            yield
            return
        else:
            ended = self._ended[flight] = asyncio.Event()
        try:
            yield
        finally:
            del self._ended[flight]
            ended.set()
