"""The start use case's paths one at a time, on virtual time: the app's own use case against scripted stand-ins of
the backend and the lock storage, each path's answer, sends, key record and telemetry figures checked exactly.
Fast and deterministic (no storage, no network), they are part of the mutation run's tests."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest

from simulation.loop import VirtualLoop
from singleton_start.core.errors import AlreadyExists, InDoubt, Sent, Unavailable
from singleton_start.core.idempotency import (
    IdempotencyClaim,
    KeyEntry,
    entry_name,
    request_digest,
    started_entry,
    starting_entry,
)
from singleton_start.core.outcomes import Conflict, Started, StartOutcome
from singleton_start.core.ports import Lease, LockRecord
from singleton_start.core.status import MISSING, InstanceState, Observed
from singleton_start.http.contract import IN_DOUBT_MESSAGES, in_doubt_response
from singleton_start.service import start as start_module
from singleton_start.service.hold import Deadline, Ports
from singleton_start.service.start import StartCommand, StartsInFlight, StartStats, start
from singleton_start.settings import ConflictPolicy, Settings

T = TypeVar("T")
JOB, OTHER = "Job", "Other"
BASE = datetime(2026, 1, 1, 8, 0, 0, tzinfo=UTC)
OURS = {"n": 1}
# The virtual time a test's requests arrive at: later than 0, so that a lease's end and the clock's now differ.
ARRIVAL = 100.0


def now() -> float:
    return asyncio.get_running_loop().time()


def at(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


def instance(status: str, created: float, stored_input: Any = OURS, name: str = JOB) -> Observed:
    state = InstanceState.ACTIVE if status in ("Running", "Pending") else InstanceState.ENDED
    text = None if stored_input is None else json.dumps(stored_input)
    return Observed(state, status, at(created), at(created), text, name=name)


class Clock:
    """The virtual loop's time, as the use case's clock."""

    def now(self) -> float:
        return now()

    def utcnow(self) -> datetime:
        return at(now())

    async def sleep(self, seconds: float, /) -> None:
        await asyncio.sleep(seconds)


@dataclass
class Backend:
    """The backend: each read shows what `shows` makes of it (this backend as it is), each start does the next of
    `starts` (None: accepted), after taking `start_takes` seconds."""

    shows: Callable[[Backend, str], Observed]
    starts: list[BaseException | None] = field(default_factory=lambda: [None])
    start_takes: float = 0.0
    read_takes: float = 0.0
    # Reads (by number, from 1) whose answer comes at the very end of their timeout.
    slow_reads: frozenset[int] = frozenset()
    task_hub: str = "hub"
    shows_history: bool = False
    reads: int = 0
    sent: list[tuple[str, float]] = field(default_factory=list)
    terminated: list[str] = field(default_factory=list)

    async def read(
        self, instance_id: str, timeout: float, *, with_input: bool = False, with_history: bool = False
    ) -> Observed:
        self.reads += 1
        await asyncio.sleep(timeout if self.reads in self.slow_reads else self.read_takes)
        return self.shows(self, instance_id)

    async def start(self, orchestrator: str, instance_id: str, orchestrator_input: Any, timeout: float) -> None:
        self.sent.append((instance_id, now()))
        outcome = self.starts.pop(0) if len(self.starts) > 1 else self.starts[0]
        await asyncio.sleep(self.start_takes)
        if outcome is not None:
            raise outcome

    async def terminate(self, instance_id: str, reason: str, timeout: float) -> None:
        self.terminated.append(instance_id)

    async def raise_event(self, instance_id: str, event_name: str, data: Any, timeout: float) -> None:
        raise AssertionError("no event in a start")

    def management_links(self, request: Any, instance_id: str) -> dict[str, str]:
        return {}


@dataclass
class Locks:
    """The lock storage: a lease per ID, held by another process until `held_until`; the keys' record, whose
    writes take `write_takes` seconds (failing within a shorter timeout) and fail with `write_error`."""

    lease_seconds: float = 30.0
    held_until: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)
    write_takes: float = 0.0
    write_error: Unavailable | None = None
    # The number of writes that succeed before `write_error` hits (all fail when None).
    writes_before_error: int = 0
    held: set[str] = field(default_factory=set)
    acquired_at: list[float] = field(default_factory=list)
    writes: list[dict[str, str]] = field(default_factory=list)
    releasing: set[asyncio.Task[None]] = field(default_factory=set)

    async def try_acquire(
        self,
        task_hub: str,
        instance_id: str,
        timeout: float,
        *,
        shared: bool = False,
        blob_may_be_missing: bool = False,
    ) -> Lease | None:
        if now() < self.held_until or instance_id in self.held:
            return None
        self.held.add(instance_id)
        self.acquired_at.append(now())
        return Lease(instance_id, None, now() + self.lease_seconds)

    async def renew(self, lease: Lease, timeout: float) -> None:
        lease.ends_at = now() + self.lease_seconds

    async def share(self, lease: Lease, timeout: float) -> None:
        lease.shared = True

    def release(self, lease: Lease, first: Coroutine[None, None, None] | None = None) -> asyncio.Task[None]:
        async def release() -> None:
            if first is not None:
                with suppress(Exception):  # the lease is given back whatever became of the work before it
                    await first
            self.held.discard(lease.key)

        task = asyncio.ensure_future(release())
        self.releasing.add(task)
        return task

    async def read_record(self, task_hub: str, instance_id: str, timeout: float) -> LockRecord:
        return LockRecord(dict(self.metadata))

    async def write_record(self, lease: Lease, record: Mapping[str, str], timeout: float) -> None:
        if self.write_takes > timeout:
            await asyncio.sleep(timeout)
            raise Unavailable("the write timed out")
        await asyncio.sleep(self.write_takes)
        if self.write_error is not None and len(self.writes) >= self.writes_before_error:
            raise self.write_error
        self.metadata = dict(record)
        self.writes.append(dict(record))

    def entry(self, key: str) -> KeyEntry | None:
        raw = self.metadata.get(entry_name(key))
        return KeyEntry.decode(raw) if raw is not None else None


def run(work: Coroutine[Any, Any, T]) -> T:
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(work)
    finally:
        loop.close()


def claim(key: str = "k") -> IdempotencyClaim:
    return IdempotencyClaim(key, request_digest(JOB, json.dumps(OURS).encode()))


@dataclass
class Request:
    """One start request of one worker process (`flights`), arriving at `arrive` on the virtual clock."""

    backend: Backend
    locks: Locks
    settings: Settings = field(default_factory=lambda: Settings(orchestrators=(JOB,)))
    key: IdempotencyClaim | None = None
    instance_id: str = "job"
    flights: StartsInFlight = field(default_factory=StartsInFlight)
    stats: StartStats = field(default_factory=StartStats)
    answered: float = 0.0

    async def start(self, arrive: float = ARRIVAL) -> StartOutcome:
        await asyncio.sleep(arrive - now())
        ports = Ports(self.backend, self.locks, Clock(), self.settings)
        deadline = Deadline(self.settings.request_timeout_seconds, now)
        command = StartCommand(JOB, self.instance_id, OURS, self.key)
        try:
            return await start(command, ports, self.flights, deadline, self.stats)
        finally:
            self.answered = now()
            await asyncio.sleep(0)
            if self.locks.releasing:
                await asyncio.wait(self.locks.releasing)


def outcome(request: Request, arrive: float = ARRIVAL) -> StartOutcome | BaseException:
    """The request's outcome, or the error it raised."""

    async def go() -> StartOutcome | BaseException:
        try:
            return await request.start(arrive)
        except (Unavailable, InDoubt) as error:
            return error

    return run(go())


def sent_then_shows(shown: Observed, before: Observed = MISSING) -> Callable[[Backend, str], Observed]:
    """A backend that shows `before` until a start was sent, then `shown`."""
    return lambda backend, _: shown if backend.sent else before


@pytest.fixture(autouse=True)
def perf_counter_on_the_virtual_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock wait's figure, measured with perf_counter, on the virtual clock: exact."""
    monkeypatch.setattr(start_module, "time", SimpleNamespace(perf_counter=lambda: asyncio.get_running_loop().time()))


# ---- sending the start


def test_a_start_certainly_not_sent_is_sent_again_after_a_backoff_and_both_attempts_are_counted() -> None:
    """startAttempts in the log line and span counts each send; a retry right away would hit the same failure."""
    backend = Backend(sent_then_shows(instance("Running", ARRIVAL)), starts=[Unavailable("not sent"), None])
    request = Request(backend, Locks())
    assert outcome(request) == Started()
    assert request.stats.start_attempts == 2
    assert backend.sent[1][1] > backend.sent[0][1]


def test_a_start_never_sent_is_tried_start_attempts_times_then_unavailable() -> None:
    """SINGLETON_START_ATTEMPTS bounds the sends: one more would outlast what the operator configured."""
    backend = Backend(lambda *_: MISSING, starts=[Unavailable("not sent")])
    request = Request(backend, Locks())
    assert isinstance(outcome(request), Unavailable)
    assert len(backend.sent) == request.stats.start_attempts == 3


def test_a_start_refused_over_an_instance_that_keeps_ending_gives_up_after_start_attempts() -> None:
    """Each refusal over an instance that has ended since is sent again, but no more than the attempts allow."""
    ended = instance("Completed", 50.0, {"n": 0})
    backend = Backend(lambda b, _: ended if b.sent else MISSING, starts=[AlreadyExists("exists")])
    request = Request(backend, Locks())
    error = outcome(request)
    assert isinstance(error, Unavailable) and "kept ending" in str(error)
    assert len(backend.sent) == request.stats.start_attempts == 3


def test_a_start_refused_over_an_active_instance_is_answered_by_the_policy_and_not_sent_again() -> None:
    """The refused start queued nothing and the instance is someone else's: 409, with no second send."""
    other = instance("Running", 99.0, {"n": 2})
    backend = Backend(sent_then_shows(other), starts=[AlreadyExists("exists")])
    assert outcome(Request(backend, Locks())) == Conflict(other)
    assert len(backend.sent) == 1


def test_a_request_over_an_active_instance_is_answered_from_its_first_read_and_sends_nothing() -> None:
    """A duplicate costs one read: no start goes out for it, not even one the backend would refuse."""
    other = instance("Running", 50.0, {"n": 2})
    backend = Backend(lambda *_: other)
    assert outcome(Request(backend, Locks())) == Conflict(other)
    assert (backend.sent, backend.reads) == ([], 1)


# ---- a start whose answer was lost


def in_doubt(request: Request) -> InDoubt:
    """The request's InDoubt, whose 503 must tell the caller that its start may still run."""
    error = outcome(request)
    assert isinstance(error, InDoubt), error
    body = in_doubt_response(error, 30).get_body().decode()
    assert IN_DOUBT_MESSAGES[Sent.START] in body
    return error


def test_a_lost_start_whose_instance_may_have_come_before_the_lease_is_503_start_in_doubt() -> None:
    """Read before the lease, an instance with our input made in the grant's second may be another start's: the
    caller is told its start may still run, not that it surely did."""
    backend = Backend(sent_then_shows(instance("Running", ARRIVAL)), starts=[InDoubt("lost")])
    error = in_doubt(Request(backend, Locks()))
    assert "maybe made before the lease" in str(error)


def test_a_lost_start_followed_by_another_inputs_instance_is_503_start_in_doubt() -> None:
    """Someone else's instance says nothing of whether ours ran first: the caller must not read it as 409."""
    backend = Backend(sent_then_shows(instance("Running", ARRIVAL + 1, {"n": 2})), starts=[InDoubt("lost")])
    error = in_doubt(Request(backend, Locks()))
    assert "another instance showed up" in str(error)


def test_a_lost_start_that_never_shows_is_503_start_in_doubt_at_the_deadline() -> None:
    """It may still land: the 503 tells the caller to retry with the same key rather than check and resend."""
    backend = Backend(lambda *_: MISSING, starts=[InDoubt("lost")])
    error = in_doubt(Request(backend, Locks()))
    assert "had not shown up by the deadline" in str(error)


def test_a_keyed_start_whose_answer_was_lost_settles_by_reads_and_marks_its_key_started() -> None:
    """A read that shows nothing yet is not the end of the settling, and once the start shows, the key's entry says
    it started, so that a retry with the key is replayed whatever is there then."""
    landed = instance("Running", ARRIVAL + 1)
    backend = Backend(lambda b, _: landed if b.reads >= 4 else MISSING, starts=[InDoubt("lost")])
    locks = Locks()
    assert outcome(Request(backend, locks, key=claim())) == Started()
    entry = locks.entry("k")
    assert entry is not None and entry.state == "started"
    assert len(backend.sent) == 1


def test_a_key_whose_start_showed_only_at_the_deadline_is_still_marked_started_under_the_lease() -> None:
    """The last write comes after the answer and is bounded by the lease, not by the request's deadline."""
    landed = instance("Running", ARRIVAL + 1)
    backend = Backend(
        lambda b, _: landed if b.reads >= 3 else MISSING, starts=[InDoubt("lost")], slow_reads=frozenset({3})
    )
    locks = Locks(write_takes=0.5)
    settings = Settings(orchestrators=(JOB,), request_timeout_seconds=4.0)
    assert outcome(Request(backend, locks, settings, key=claim())) == Started()
    entry = locks.entry("k")
    assert entry is not None and entry.state == "started"


# ---- the key's record


def test_a_keys_last_write_that_failed_is_logged_as_such_and_the_start_stands(caplog: pytest.LogCaptureFixture) -> None:
    """After the answer, a failed "started" write only tells the operator that the key replays by its window."""
    backend = Backend(sent_then_shows(instance("Running", ARRIVAL + 1)))
    locks = Locks(write_error=Unavailable("write failed"), writes_before_error=1)
    with caplog.at_level(logging.WARNING, logger="singleton_start"):
        assert outcome(Request(backend, locks, key=claim())) == Started()
    assert "could not be completed; it replays by its window" in caplog.text
    entry = locks.entry("k")
    assert entry is not None and entry.state == "starting"


def test_a_keyed_start_records_its_key_once_with_its_leases_window_and_keeps_the_other_keys() -> None:
    """The "starting" entry's window is what tells a retry whether the instance there is this key's; the other
    keys' entries on the same blob must survive the write, or their retries would start again."""
    other = claim("other")
    locks = Locks(metadata={entry_name("other"): started_entry(other, at(10)).encode()})
    backend = Backend(sent_then_shows(instance("Running", ARRIVAL + 1)), starts=[Unavailable("not sent"), None])
    request = Request(backend, locks, key=claim())
    assert outcome(request) == Started()
    starting = [
        write
        for write in locks.writes
        if (entry := KeyEntry.decode(write[entry_name("k")])) and entry.state == "starting"
    ]
    assert len(starting) == 1
    first = KeyEntry.decode(starting[0][entry_name("k")])
    assert first is not None and first.until == at(locks.acquired_at[0] + locks.lease_seconds - 1).replace(
        microsecond=0
    )
    assert locks.entry("other") is not None
    assert request.stats.start_attempts == 2


def test_a_keyed_start_whose_key_could_not_be_recorded_sends_nothing() -> None:
    """Without its entry a retry could not tell the key's start: the start must not go out."""
    backend = Backend(lambda *_: MISSING)
    error = outcome(Request(backend, Locks(write_error=Unavailable("write failed")), key=claim()))
    assert isinstance(error, Unavailable)
    assert backend.sent == []


def test_a_keyed_retry_of_a_started_key_is_replayed_at_once_while_the_lease_is_held() -> None:
    """A retry of a finished start needs no lease: it answers without waiting behind one left to expire."""
    locks = Locks(held_until=1000.0, metadata={entry_name("k"): started_entry(claim(), at(50)).encode()})
    backend = Backend(lambda *_: instance("Running", 50.0))
    request = Request(backend, locks, key=claim())
    assert outcome(request) == Started(replayed=True)
    assert locks.acquired_at == []


def starting_metadata() -> dict[str, str]:
    entry = starting_entry(claim(), at(ARRIVAL - 10), at(ARRIVAL + 20), MISSING)
    return {entry_name("k"): entry.encode()}


def test_a_keyed_retry_finds_its_starting_entrys_instance_by_the_input_it_sends() -> None:
    """An instance with the retry's input made in its key's window is the key's start: replayed, not 409."""
    backend = Backend(lambda *_: instance("Running", ARRIVAL - 5))
    assert outcome(Request(backend, Locks(metadata=starting_metadata()), key=claim())) == Started(replayed=True)


def test_a_keyed_retry_whose_keys_instance_showed_only_under_the_lease_is_replayed() -> None:
    """The earlier start landed between the retry's first read and its lease: the read under the lease replays."""
    backend = Backend(lambda b, _: MISSING if b.reads == 1 else instance("Running", ARRIVAL - 5))
    locks = Locks(metadata=starting_metadata())
    assert outcome(Request(backend, locks, key=claim())) == Started(replayed=True)
    assert backend.sent == []


# ---- terminate-existing


TERMINATE = Settings(orchestrators=(JOB,), conflict_policy=ConflictPolicy.TERMINATE_EXISTING)


def test_terminate_existing_leaves_a_pending_instance_of_another_orchestrator_alone_with_409() -> None:
    """A start may not stop what the routes may not stop, nor wait for it to run: 409 at once."""
    outsider = instance("Pending", 50.0, name=OTHER)
    backend = Backend(lambda *_: outsider)
    assert outcome(Request(backend, Locks(), TERMINATE)) == Conflict(outsider)
    assert (backend.sent, backend.terminated) == ([], [])


def test_terminate_existing_answers_409_with_the_instance_that_came_while_it_waited_for_one_to_run() -> None:
    """An instance the app may not stop replaced the one waited for: 409 naming it, and no start is sent."""
    pending, outsider = instance("Pending", 50.0), instance("Running", 60.0, name=OTHER)
    backend = Backend(lambda b, _: pending if b.reads <= 2 else outsider)
    assert outcome(Request(backend, Locks(), TERMINATE)) == Conflict(outsider)
    assert (backend.sent, backend.terminated) == ([], [])


def test_a_replacement_made_in_the_second_and_with_the_input_of_the_ended_instance_settles_as_ours() -> None:
    """The instance waited for ended by itself; ours, whose answer was lost, is told from it because that one had
    ended, though the status API cannot tell their creation times or inputs apart."""
    pending, ended, ours = instance("Pending", ARRIVAL), instance("Completed", ARRIVAL), instance("Running", ARRIVAL)
    backend = Backend(lambda b, _: ours if b.sent else pending if b.reads <= 2 else ended, starts=[InDoubt("lost")])
    assert outcome(Request(backend, Locks(), TERMINATE)) == Started()
    assert backend.terminated == []


# ---- waiting for the lease


def test_a_request_waiting_for_a_lease_held_elsewhere_answers_once_a_read_shows_the_policys_answer() -> None:
    """A duplicate that arrives while another process starts the ID gets its 409 as soon as that start shows, not
    after the whole lock wait; its lockWaitMs is that wait."""
    other = instance("Running", ARRIVAL, {"n": 2})
    backend = Backend(lambda b, _: other if b.reads >= 3 else MISSING)
    request = Request(backend, Locks(held_until=1000.0))
    assert outcome(request) == Conflict(other)
    assert 0 < request.answered - ARRIVAL < request.settings.lock_wait_seconds
    assert request.stats.lock_wait_seconds == pytest.approx(request.answered - ARRIVAL)


def test_the_lock_wait_figure_is_the_time_until_the_lease_was_taken() -> None:
    """lockWaitMs is what the lock cost: the time the start spent after taking the lease is not in it."""
    backend = Backend(sent_then_shows(instance("Running", ARRIVAL + 3)), start_takes=3.0)
    locks = Locks(held_until=ARRIVAL + 2)
    request = Request(backend, locks)
    assert outcome(request) == Started()
    assert request.stats.lock_wait_seconds == pytest.approx(locks.acquired_at[0] - ARRIVAL)
    assert locks.acquired_at[0] >= ARRIVAL + 2


# ---- requests of one process


def test_a_request_behind_a_start_of_this_process_waits_no_longer_than_its_lock_wait() -> None:
    """SINGLETON_LOCK_WAIT_SECONDS bounds the wait behind a start under way here too: 503 in time, not an answer
    once that start ends long after."""
    landed = instance("Running", ARRIVAL + 20)
    backend = Backend(lambda *_: landed if now() >= ARRIVAL + 20 else MISSING, start_takes=20.0)
    locks, flights = Locks(), StartsInFlight()
    settings = Settings(orchestrators=(JOB,), lock_wait_seconds=2.0)
    leader, follower = (
        Request(backend, locks, settings, flights=flights),
        Request(backend, locks, settings, flights=flights),
    )

    async def both() -> tuple[StartOutcome | BaseException, ...]:
        return tuple(await asyncio.gather(leader.start(), follower.start(ARRIVAL + 0.1), return_exceptions=True))

    first, second = run(both())
    assert first == Started()
    assert isinstance(second, Unavailable)


def test_requests_woken_by_starts_of_two_ids_each_read_their_own_id() -> None:
    """The shared read is shared by the requests for one ID only: each is answered with its own instance."""

    def shows(backend: Backend, instance_id: str) -> Observed:
        started = any(sent_id == instance_id and now() >= sent_at + 5.0 for sent_id, sent_at in backend.sent)
        return instance("Running", ARRIVAL, {"id": instance_id}) if started else MISSING

    backend = Backend(shows, start_takes=5.0, read_takes=0.01)
    locks, flights = Locks(), StartsInFlight()
    requests = [Request(backend, locks, instance_id=name, flights=flights) for name in ("a", "b", "a", "b")]

    async def all_of_them() -> list[StartOutcome | BaseException]:
        arrivals = (ARRIVAL, ARRIVAL, ARRIVAL + 0.1, ARRIVAL + 0.1)
        work = (request.start(arrive) for request, arrive in zip(requests, arrivals, strict=True))
        return list(await asyncio.gather(*work, return_exceptions=True))

    answers = run(all_of_them())
    assert answers[:2] == [Started(), Started()]
    assert answers[2:] == [Conflict(instance("Running", ARRIVAL, {"id": name})) for name in ("a", "b")]
