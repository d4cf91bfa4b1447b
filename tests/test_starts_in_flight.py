"""The in-process side of the lock: requests of one worker process for an ID being started here wait for that start,
share one status read when it ends, and leave nothing behind (pure asyncio, no storage)."""

from __future__ import annotations

import asyncio

import pytest

from singleton_start.core.errors import DeadlineReached
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
