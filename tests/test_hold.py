"""The held lease (service/hold.py) against a stand-in of the locks and a clock that moves only when slept on: how
each call is bounded by the lease and the request, when the lease is renewed, released or left, and how waits and
retries end (no storage, no real time)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from singleton_start.core.errors import Unavailable
from singleton_start.core.ports import Lease, LockRecord
from singleton_start.core.status import MISSING, Observed
from singleton_start.service.hold import Deadline, Hold, Ports, poll, retried, take
from singleton_start.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")
T = TypeVar("T")
NOW = 1000.0
# Lease 30 s, call timeout 5 s: a send needs 25 s of lease left; calls stop 5 s (the safety margin) before its end.
SETTINGS = Settings()


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def now(self) -> float:
        return self.at

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.at, UTC)

    async def sleep(self, seconds: float, /) -> None:
        self.at += seconds


@dataclass
class Locks:
    """The calls a hold makes on its locks, with the timeout each was given."""

    clock: Clock
    renew_fails: bool = False
    acquires: list[Lease | None] = field(default_factory=list)
    renewals: list[float] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)
    writes: list[float] = field(default_factory=list)
    releases: list[Coroutine[None, None, None] | None] = field(default_factory=list)

    async def try_acquire(self, task_hub: str, instance_id: str, timeout: float, **_: bool) -> Lease | None:
        return self.acquires.pop(0)

    async def renew(self, lease: Lease, timeout: float) -> None:
        self.renewals.append(timeout)
        if self.renew_fails:
            raise Unavailable("renewal refused")
        lease.ends_at = self.clock.now() + SETTINGS.lock_lease_seconds

    async def share(self, lease: Lease, timeout: float) -> None:
        self.shares.append(timeout)
        lease.shared = True

    def release(self, lease: Lease, first: Coroutine[None, None, None] | None = None) -> Awaitable[None]:
        self.releases.append(first)
        if first is not None:
            first.close()
        given_back: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        given_back.set_result(None)
        return given_back

    async def read_record(self, task_hub: str, instance_id: str, timeout: float) -> LockRecord:
        return LockRecord()

    async def write_record(self, lease: Lease, record: Mapping[str, str], timeout: float) -> None:
        self.writes.append(timeout)


def ports(settings: Settings = SETTINGS, **locks: Any) -> Ports:
    clock = Clock()
    backend: Any = None
    return Ports(backend, Locks(clock, **locks), clock, settings)


def locks_of(of: Ports) -> Locks:
    assert isinstance(of.locks, Locks)
    return of.locks


def hold(lease_left: float, request_left: float = 25.0, **locks: Any) -> Hold:
    """A hold whose lease ends `lease_left` seconds from now, in a request with `request_left` seconds to go."""
    of = ports(**locks)
    return Hold(of, Lease("k", None, ends_at=NOW + lease_left), Deadline(request_left, of.clock.now))


def timeouts() -> tuple[list[float], Callable[[float], Awaitable[str]]]:
    given: list[float] = []

    async def call(timeout: float) -> str:
        given.append(timeout)
        return "sent"

    return given, call


async def test_a_call_is_bounded_by_the_lease_less_its_safety_margin() -> None:
    """A call still on its way when the lease ends could act after another holder took the ID."""
    assert hold(lease_left=8.0).timeout() == 3.0


async def test_a_send_gets_half_of_what_the_hold_has_left_so_the_rest_can_settle_it() -> None:
    """Without time left after it, a send in doubt could not be looked for before the hold ends."""
    given, call = timeouts()
    assert await hold(lease_left=30.0, request_left=6.0).send("event", call) == "sent"
    assert given == [3.0]


async def test_a_lease_that_exactly_outlasts_the_landing_window_is_not_renewed_before_a_send() -> None:
    """A renewal is a storage call each send would pay: one is needed only when the lease is shorter."""
    sending = hold(lease_left=SETTINGS.landing_window_seconds)
    given, call = timeouts()
    await sending.send("event", call)
    assert (given, locks_of(sending.ports).renewals) == ([5.0], [])


async def test_a_send_goes_out_after_the_lease_it_needed_was_renewed() -> None:
    """A lease too short for the landing window is renewed, and the send then goes out on it."""
    sending = hold(lease_left=10.0)
    given, call = timeouts()
    await sending.send("event", call)
    assert len(given) == 1 and locks_of(sending.ports).renewals == [5.0]


async def test_nothing_is_sent_when_the_lease_it_needed_could_not_be_renewed() -> None:
    """A send on a lease that may end within its landing window could land after another holder took the ID."""
    sending = hold(lease_left=10.0, renew_fails=True)
    given, call = timeouts()
    with pytest.raises(Unavailable, match="could not be kept"):
        await sending.send("event", call)
    assert given == [] and sending.unsettled == set()


async def test_a_send_with_no_time_left_is_refused_as_unsent() -> None:
    """The caller must learn that nothing went out (Unavailable, not a deadline reached mid-call)."""
    given, call = timeouts()
    with pytest.raises(Unavailable, match="so nothing was sent") as refused:
        await hold(lease_left=30.0, request_left=0.0).send("event", call)
    assert given == [] and type(refused.value) is Unavailable


async def test_a_clearly_refused_send_leaves_nothing_outstanding_and_its_lease_is_released() -> None:
    """A send known not to have gone out must not keep the ID locked until the lease expires."""
    sending = hold(lease_left=30.0)

    async def refused(timeout: float) -> str:
        raise Unavailable("refused")

    with pytest.raises(Unavailable):
        async with sending:
            await sending.send("terminate", refused)
    assert sending.unsettled == set() and locks_of(sending.ports).releases == [None]


async def test_sharing_a_hold_is_bounded_by_the_calls_timeout() -> None:
    """An unbounded change of lease could outlast the lease and the request."""
    sharing = hold(lease_left=8.0)
    await sharing.share()
    assert locks_of(sharing.ports).shares == [3.0]


async def test_a_last_write_after_the_requests_deadline_is_bounded_by_the_lease_and_still_made() -> None:
    """A last write records a start that landed after the answer: it must not be lost with the request's time."""
    writing = hold(lease_left=30.0, request_left=0.0)
    await writing.record({"key": "started"}, starting=False, last=True)
    assert locks_of(writing.ports).writes == [5.0]


async def test_a_poll_with_less_than_a_second_left_still_reads() -> None:
    """A short bound (a lock wait or budget under a second) must still give its reads a chance."""
    clock = Clock()
    bound = Deadline(0.5, clock.now)

    async def read(timeout: float) -> Observed:
        return MISSING

    assert await poll(clock, lambda: bound, read, 5.0, lambda _: "found") == "found"


async def test_a_failing_read_is_tried_as_many_times_as_the_setting_says() -> None:
    """SINGLETON_START_ATTEMPTS bounds the load a failing backend gets from each request."""
    of, tries = ports(), []

    async def read(timeout: float) -> Observed:
        tries.append(timeout)
        raise Unavailable("down")

    with pytest.raises(Unavailable):
        await retried(of, Deadline(25.0, of.clock.now), read)
    assert len(tries) == SETTINGS.start_attempts


async def test_a_lock_wait_shorter_than_a_second_still_tries_again() -> None:
    """A short SINGLETON_LOCK_WAIT_SECONDS still waits for a lease given back at once."""
    of = ports(Settings(lock_wait_seconds=0.5))
    lease = Lease("k", None, ends_at=NOW + 30.0)
    locks_of(of).acquires.extend([None, lease])
    taken = await take(of, Deadline(25.0, of.clock.now), ("hub", "job"))
    assert isinstance(taken, Hold) and taken.lease is lease
