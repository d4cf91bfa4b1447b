"""A lease's time is counted from before its acquire was sent: a slow answer eats into the hold, so the
holder never sends a start later than the lease's end minus the safety margin."""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress

import pytest
from azure.core.exceptions import ResourceExistsError

from singleton_start.adapters.blob_lease import lock_blob_name
from singleton_start.settings import LEASE_SAFETY_SECONDS
from tests.conftest import TASK_HUB, LoadApp, new_instance_id
from tests.support.durable_standin import DurableStandin
from tests.support.observe import poll_until
from tests.support.storage_proxy import Rule, StorageProxy, is_lease_acquire

pytestmark = pytest.mark.asyncio(loop_scope="session")

LEASE_SECONDS = 15
ACQUIRE_ANSWER_DELAY_SECONDS = 6.0
# Backend calls after the acquire's late answer take this long: past the hold when counted from the
# send (15 - 5 - 6 = 4 s left), inside it when counted from the answer (10 s).
SLOW_BACKEND_SECONDS = 5.5


async def test_start_is_never_sent_after_the_lease_end_counted_from_before_a_slow_acquire_was_sent(
    load_app: LoadApp, durable: DurableStandin, storage_proxy: StorageProxy
) -> None:
    app = await load_app(
        AzureWebJobsStorage=storage_proxy.connection_string,
        SINGLETON_LOCK_LEASE_SECONDS=str(LEASE_SECONDS),
        SINGLETON_BACKEND_TIMEOUT_SECONDS="8",
        SINGLETON_REQUEST_TIMEOUT_SECONDS="30",
    )
    instance_id = new_instance_id()
    # The lock blob is there already, so the holder reads the status again (slowly) before it may start.
    container = app.endpoint.locks.container
    with suppress(ResourceExistsError):
        await container.create_container()
    await container.get_blob_client(lock_blob_name(TASK_HUB, instance_id)).upload_blob(b"")
    acquire = storage_proxy.delay_answer(is_lease_acquire, ACQUIRE_ANSWER_DELAY_SECONDS)

    request = asyncio.create_task(app.post(instance_id, {"n": 1}))
    await slow_down_once_acquire_is_sent(durable, acquire)
    starts_arrived = await arrivals_of_starts(durable, request)
    response = await request

    hold_end = acquire.seen[0] + LEASE_SECONDS - LEASE_SAFETY_SECONDS
    assert [arrived for arrived in starts_arrived if arrived > hold_end] == []
    assert response.status_code == 503


async def slow_down_once_acquire_is_sent(durable: DurableStandin, acquire: Rule) -> None:
    await poll_until(lambda: bool(acquire.seen))
    durable.latency_seconds = SLOW_BACKEND_SECONDS


async def arrivals_of_starts(durable: DurableStandin, request: asyncio.Task[object]) -> list[float]:
    """When each start reached the stand-in, watched until the request has its answer."""
    arrived: list[float] = []
    while not request.done():
        arrived.extend(time.monotonic() for _ in range(durable.calls["start"] - len(arrived)))
        await asyncio.sleep(0.005)
    return arrived
