"""The in-process side of the lock: requests of one worker process for an ID being started here wait for that start,
share one status read when it ends, and leave nothing behind (pure asyncio, no storage)."""

from __future__ import annotations

import asyncio
import gc
from typing import cast

import pytest

from singleton_start.core.errors import DeadlineReached, Unavailable
from singleton_start.core.ports import Locks
from singleton_start.core.status import MISSING, Observed
from singleton_start.service.hold import Deadline
from singleton_start.service.start import StartsInFlight

pytestmark = pytest.mark.asyncio(loop_scope="session")
FLIGHT = ("hub", "job")


def deadline(seconds: float) -> Deadline:
    return Deadline(seconds, asyncio.get_running_loop().time)


async def test_requests_woken_by_one_start_share_one_read_and_a_later_one_reads_again() -> None:
    flights, reads = StartsInFlight(), []

    async def read() -> Observed:
        reads.append(1)
        await asyncio.sleep(0.01)
        return MISSING

    answers = await asyncio.gather(*(flights.shared_read(FLIGHT, read, deadline(5)) for _ in range(5)))
    assert answers == [MISSING] * 5 and len(reads) == 1
    assert await flights.shared_read(FLIGHT, read, deadline(5)) is MISSING
    assert len(reads) == 2


async def test_a_shared_read_waits_no_longer_than_the_waiters_own_deadline() -> None:
    flights = StartsInFlight()

    async def slow() -> Observed:
        await asyncio.sleep(0.3)
        return MISSING

    with pytest.raises(DeadlineReached):
        await flights.shared_read(FLIGHT, slow, deadline(0.05))
    assert await flights.shared_read(FLIGHT, slow, deadline(5)) is MISSING  # the same read, still on its way


async def test_a_failed_shared_read_fails_its_waiters_and_is_forgotten() -> None:
    flights = StartsInFlight()

    async def failing() -> Observed:
        raise RuntimeError("read failed")

    with pytest.raises(RuntimeError):
        await flights.shared_read(FLIGHT, failing, deadline(5))
    await asyncio.sleep(0)

    async def fine() -> Observed:
        return MISSING

    assert await flights.shared_read(FLIGHT, fine, deadline(5)) is MISSING


async def test_a_waiter_is_woken_when_the_start_under_way_ends_and_waits_no_longer_than_its_bound() -> None:
    flights = StartsInFlight()
    assert await flights.wait_for(FLIGHT, 1.0) is False
    assert flights.claim(FLIGHT) and not flights.claim(FLIGHT)
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await flights.wait_for(FLIGHT, 0.05) is True
    assert loop.time() - began < 0.5
    waiting = asyncio.ensure_future(flights.wait_for(FLIGHT, 5.0))
    await asyncio.sleep(0.01)
    flights.give_up(FLIGHT)
    assert await asyncio.wait_for(waiting, 1.0) is True
    assert await flights.wait_for(FLIGHT, 1.0) is False


async def test_work_left_in_the_background_is_kept_until_done_and_drained() -> None:
    flights, done = StartsInFlight(), []

    async def work() -> None:
        await asyncio.sleep(0.01)
        done.append(1)

    flights.in_background(work())
    await flights.drain()
    assert done == [1]
    await flights.drain()  # nothing left


def no_error_left_unseen(loop: asyncio.AbstractEventLoop) -> list[dict[str, object]]:
    """The errors the loop reports from here on (a task's exception no one retrieved, a failed callback)."""
    reported: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    return reported


async def test_an_early_lease_whose_acquire_failed_is_given_back_without_an_error() -> None:
    """A duplicate answered while its early acquire failed leaves nothing behind, and no error to log."""
    flights, loop = StartsInFlight(), asyncio.get_running_loop()
    reported = no_error_left_unseen(loop)
    try:

        async def failing() -> None:
            raise Unavailable("storage refused")

        assert flights.claim(FLIGHT)
        flights.give_back(FLIGHT, asyncio.ensure_future(failing()), cast(Locks, None))
        await flights.drain()
        gc.collect()
        assert reported == []
        assert flights.claim(FLIGHT)  # the claim was ended
    finally:
        loop.set_exception_handler(None)


async def test_a_shared_read_that_failed_after_its_waiters_gave_up_leaves_no_error_unseen() -> None:
    """Its error is read where the read ends, so asyncio does not log it as never retrieved."""
    flights, loop, failed = StartsInFlight(), asyncio.get_running_loop(), asyncio.Event()
    reported = no_error_left_unseen(loop)
    try:

        async def failing() -> Observed:
            await failed.wait()
            raise RuntimeError("read failed")

        with pytest.raises(DeadlineReached):
            await flights.shared_read(FLIGHT, failing, deadline(0))
        failed.set()
        for _ in range(3):
            await asyncio.sleep(0)
        gc.collect()
        assert reported == []
    finally:
        loop.set_exception_handler(None)


async def test_work_done_in_the_background_is_forgotten() -> None:
    """A worker process runs for days: each finished piece of background work must not stay referenced."""
    flights = StartsInFlight()

    async def work() -> None:
        await asyncio.sleep(0)

    flights.in_background(work())
    await flights.drain()
    await asyncio.sleep(0)
    assert not flights._background
