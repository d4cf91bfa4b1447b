"""Holding an instance ID: the per-ID lease as every use case holds it, in one object, with the time budgets
of one request and the starts under way in this process.

A `Hold` knows until when calls may go out (its lease's end less the safety margin, and no later than the
request's deadline) and each call's timeout; renews its lease before a send that the lease would not outlast;
keeps note of what of ours may still take effect (a send whose effect has not shown, a key recorded as
starting); polls with backoff inside its bounds; and on exit takes the one decision (decisions.ending): release
the lease, release it after a last write, or leave it to expire. A shared hold is the one lease that every event
request of an ID holds at once (a well-known lease ID); it is never released, so that no start can take the ID
while any event sent under it may still land.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

from ..core.decisions import Ending, ending
from ..core.errors import DeadlineReached, InDoubt, Unavailable
from ..core.ports import Backend, Clock, Lease, Locks
from ..core.status import Observed
from ..settings import LEASE_SAFETY_SECONDS, Settings

FIRST_BACKOFF_SECONDS = 0.025
MAX_BACKOFF_SECONDS = 1.0
T = TypeVar("T")
LOG = logging.getLogger("singleton_start")


class Deadline:
    """A point in time that every call of one request must finish by."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.at = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - self._clock())

    def sooner(self, seconds: float) -> Deadline:
        """A deadline at most `seconds` from now, never later than this one."""
        return Deadline(min(seconds, self.remaining()), self._clock)

    def timeout(self, limit: float) -> float:
        """The time a call may take: its own limit, cut to what is left; DeadlineReached when nothing is."""
        remaining = self.remaining()
        if remaining <= 0:
            raise DeadlineReached("the request ran out of time")
        return min(limit, remaining)


def backoff_delays() -> Iterator[float]:
    """Exponential backoff with full jitter, so that waiters do not poll in lockstep."""
    ceiling = FIRST_BACKOFF_SECONDS
    while True:
        yield random.uniform(ceiling / 2, ceiling)
        ceiling = min(ceiling * 2, MAX_BACKOFF_SECONDS)


async def poll(
    clock: Clock,
    until: Callable[[], Deadline],
    read: Callable[[float], Awaitable[Observed]],
    limit: float,
    judge: Callable[[Observed], T | None],
) -> T | None:
    """Read with backoff until `judge` makes something of a read, or `until()` runs out: then None. A read that
    fails is one poll lost, not the end."""
    delays = backoff_delays()
    while (left := until().remaining()) > 0:
        await clock.sleep(min(next(delays), left))
        with suppress(Unavailable):
            found = judge(await read(until().timeout(limit)))
            if found is not None:
                return found
    return None


@dataclass(frozen=True)
class Ports:
    """What every use case runs against: the backend its request's binding leads to, the locks and the clock of
    its process, and the app's settings."""

    backend: Backend
    locks: Locks
    clock: Clock
    settings: Settings


async def retried(ports: Ports, deadline: Deadline, read: Callable[[float], Awaitable[T]]) -> T:
    """A read (it changes nothing) tried SINGLETON_START_ATTEMPTS times with backoff, within the deadline."""
    delays = backoff_delays()
    for attempt in range(1, ports.settings.start_attempts + 1):
        try:
            return await read(deadline.timeout(ports.settings.backend_timeout_seconds))
        except Unavailable:
            if attempt == ports.settings.start_attempts:
                raise
            await ports.clock.sleep(min(next(delays), deadline.remaining()))
    raise AssertionError("unreachable")


@dataclass
class Hold:
    """One held lease of an instance ID, for one request; use it as `async with`."""

    ports: Ports
    lease: Lease
    deadline: Deadline
    # What of ours may still take effect; while anything is here the lease is left to expire.
    unsettled: set[str] = field(default_factory=set)
    last_write: Coroutine[None, None, None] | None = None

    @property
    def locks(self) -> Locks:
        return self.ports.locks

    @property
    def clock(self) -> Clock:
        return self.ports.clock

    @property
    def settings(self) -> Settings:
        return self.ports.settings

    def until(self) -> Deadline:
        """Until when this holder may still make calls: its lease's end less the safety margin."""
        return self.deadline.sooner(self.lease_left().remaining())

    def lease_left(self) -> Deadline:
        """The lease's end less the safety margin, whatever the request's deadline."""
        return Deadline(self.lease.ends_at - self.clock.now() - LEASE_SAFETY_SECONDS, self.clock.now)

    def timeout(self) -> float:
        """One call's timeout: the backend limit, cut to what the hold has left; DeadlineReached when nothing."""
        return self.until().timeout(self.settings.backend_timeout_seconds)

    async def call(self, call: Callable[[float], Awaitable[T]]) -> T:
        """One call that changes nothing the ID depends on (a read), bounded by the hold."""
        return await call(self.timeout())

    def outstanding(self, what: str) -> None:
        """Something of ours may now take effect (a key recorded as starting): keep the lease until it is
        settled, or until it expires."""
        self.unsettled.add(what)

    def settled(self, what: str) -> None:
        """What `what` did is known now; a start known to have landed settles its key too."""
        self.unsettled.discard(what)
        if what == "start":
            self.unsettled.discard("key")

    async def send(self, what: str, call: Callable[[float], Awaitable[T]], *, settles: bool = False) -> T:
        """Send a command on a lease that outlasts its landing window, with at most half of what the hold has
        left, so that the rest is there to settle it. A clear acceptance settles it only when it `settles` (a
        start's: its row is written); a queued terminate has not been processed yet, and the caller settles it
        once it has shown."""
        if not await self._keep():
            raise Unavailable(f"the lease could not be kept for the {what}, so nothing was sent")
        left = self.until().remaining()
        if left <= 0:
            raise Unavailable(f"the lease ran low before the {what}, so nothing was sent")
        self.unsettled.add(what)
        try:
            answer = await call(min(self.timeout(), left / 2))
        except InDoubt:
            raise
        except Exception:
            self.unsettled.discard(what)  # a clear refusal, or certainly not sent: nothing of ours is out
            raise
        if settles:
            self.settled(what)
        return answer

    async def poll(
        self,
        read: Callable[[float], Awaitable[Observed]],
        judge: Callable[[Observed], T | None],
        budget: float | None = None,
    ) -> T | None:
        """Poll reads within the hold (and `budget`), keeping the lease while something of ours is outstanding."""

        def until() -> Deadline:
            hold = self.until()
            return hold if budget is None else hold.sooner(budget - (self.clock.now() - began))

        async def kept_read(timeout: float) -> Observed:
            if self.unsettled:
                await self._keep()
            return await read(min(timeout, self.timeout()))

        began = self.clock.now()
        return await poll(self.clock, until, kept_read, self.settings.backend_timeout_seconds, judge)

    async def record(self, metadata: Mapping[str, str], *, starting: bool, last: bool = False) -> None:
        """Write the keys' record on the lock blob. A key recorded as starting counts on no one starting the ID
        before the lease's end: from the write on (even one whose answer is lost) the lease is left to expire
        until the start is known. Unavailable when the write failed; a later write's failure is only logged. A `last`
        write, made after the answer, is bounded by the lease instead of the request's deadline."""
        if starting:
            self.outstanding("key")
        # A last write comes after the answer: bounded by the lease, not by the request's deadline.
        until = self.lease_left() if last else self.until()
        limit = until.timeout(self.settings.backend_timeout_seconds)
        try:
            await self.locks.write_record(self.lease, metadata, limit)
        except Unavailable:
            if starting:
                raise Unavailable("the Idempotency-Key could not be recorded, so nothing was started") from None
            LOG.warning("The Idempotency-Key's record could not be completed; it replays by its window")
            return
        if starting and not self.lasts_for_send():
            raise Unavailable("the lease ran low while the key was recorded, so nothing was sent")

    async def share(self) -> None:
        """Turn this hold into the ID's shared one: event requests join it from now on, and it is left to expire
        (a signal that started the instance sends its event under it, as every event is sent)."""
        if not self.lease.shared:
            await self.locks.share(self.lease, self.timeout())

    def then(self, last_write: Coroutine[None, None, None]) -> None:
        """Bounded work to do under the lease once the answer is given, before it is released."""
        self.last_write = last_write

    def lasts_for_send(self) -> bool:
        """Whether a send may go out on the lease as it is: it must outlast the time in which the send may still
        take effect (the landing window), so that no one else can take the ID before."""
        return self.lease.ends_at - self.clock.now() >= self.settings.landing_window_seconds

    async def _keep(self) -> bool:
        """Renew the lease when it would not outlast the landing window; False when that failed."""
        if self.lasts_for_send():
            return True
        try:
            await self.locks.renew(self.lease, self.timeout())
        except Unavailable:
            return False
        return True

    async def __aenter__(self) -> Hold:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        last_write, self.last_write = self.last_write, None
        decision = ending(shared=self.lease.shared, unsettled=bool(self.unsettled), last_write=last_write is not None)
        if decision is Ending.EXPIRE:
            if last_write is not None:
                last_write.close()
            return
        # In the background: the answer need not wait. A last write records what is known to have happened (a start
        # that landed), so it is made even when the request failed after.
        self.locks.release(self.lease, first=last_write)


async def take(
    ports: Ports,
    deadline: Deadline,
    key: tuple[str, str],
    *,
    shared: bool = False,
    blob_may_be_missing: bool = False,
    while_waiting: Callable[[float], Awaitable[Observed]] | None = None,
    answer: Callable[[Observed], T | None] = lambda _: None,
) -> Hold | T:
    """Take the lease of `key` (task hub, instance ID), polled with backoff for SINGLETON_LOCK_WAIT_SECONDS at
    most; a read (`while_waiting`) between polls ends the wait when `answer` makes an answer of it. Unavailable
    when the lease stayed held."""
    settings = ports.settings
    wait = deadline.sooner(settings.lock_wait_seconds)
    delays = backoff_delays()
    while True:
        timeout = deadline.timeout(settings.backend_timeout_seconds)
        lease = await ports.locks.try_acquire(*key, timeout, shared=shared, blob_may_be_missing=blob_may_be_missing)
        if lease is not None:
            return Hold(ports, lease, deadline)
        if wait.remaining() <= 0:
            raise Unavailable("another request for this instance ID held the lock for the whole wait budget")
        await ports.clock.sleep(min(next(delays), wait.remaining()))
        if while_waiting is not None:
            found = answer(await while_waiting(deadline.timeout(settings.backend_timeout_seconds)))
            if found is not None:
                return found
