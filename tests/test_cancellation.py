"""A request cancelled mid-way (caller gone, host timeout) gives its lease back, unless a start it sent
may still land: then the lease is kept until it expires, so that no other input can be started meanwhile."""

from __future__ import annotations

import asyncio

import pytest
from azure.storage.blob.aio import ContainerClient

from tests.conftest import TASK_HUB, LoadApp, new_instance_id
from tests.support.durable_standin import DurableStandin
from tests.support.observe import decoded, enqueued_inputs, lease_state, poll_until
from tests.support.storage_proxy import Rule, StorageProxy, is_lease_acquire

pytestmark = pytest.mark.asyncio(loop_scope="session")

SETTINGS = {"SINGLETON_LOCK_LEASE_SECONDS": "15", "SINGLETON_LOCK_WAIT_SECONDS": "5"}


async def seen(rule: Rule) -> bool:
    return bool(rule.seen)


async def cancel(task: asyncio.Task[object]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_request_cancelled_while_its_acquire_is_answered_releases_the_lease_and_the_next_request_starts(
    load_app: LoadApp, durable: DurableStandin, storage_proxy: StorageProxy
) -> None:
    """Storage granted the lease, but the request was cancelled before the answer came back."""
    app = await load_app(**SETTINGS, AzureWebJobsStorage=storage_proxy.connection_string)
    acquire = storage_proxy.delay_answer(is_lease_acquire, seconds=1.5)
    instance_id = new_instance_id()

    request = asyncio.create_task(app.post(instance_id, {"n": 1}))
    await poll_until(lambda: seen(acquire))
    await cancel(request)
    await poll_until(lambda: lease_is(app.endpoint.locks.container, instance_id, "available"))

    response = await app.post(instance_id, {"n": 2})

    assert response.status_code == 202
    assert enqueued_inputs(durable, instance_id) == [{"n": 2}]


async def test_request_cancelled_while_its_start_is_on_its_way_keeps_the_lease_so_no_other_input_starts(
    load_app: LoadApp, durable: DurableStandin
) -> None:
    """The start was queued but not yet answered: it may land, so the lease must outlive the request."""
    app = await load_app(**SETTINGS)
    durable.race_window_seconds = 1.5
    instance_id = new_instance_id()

    request = asyncio.create_task(app.post(instance_id, {"caller": "a"}))
    await poll_until(lambda: queued(durable))
    await cancel(request)
    held_after_cancel = await lease_state(app.endpoint.locks.container, TASK_HUB, instance_id)
    response = await app.post(instance_id, {"caller": "b"})

    assert held_after_cancel == "leased"
    assert response.status_code == 409
    assert enqueued_inputs(durable, instance_id) == [{"caller": "a"}]
    assert decoded(durable.row(instance_id)["input"]) == {"caller": "a"}


async def lease_is(container: ContainerClient, instance_id: str, state: str) -> bool:
    return await lease_state(container, TASK_HUB, instance_id) == state


async def queued(durable: DurableStandin) -> bool:
    return bool(durable.enqueued_starts)
