"""The lease is released in the background once the outcome is known: the answer does not wait for it, the
next acquire in this process waits for it instead of finding the lease held, and closing waits for it."""

from __future__ import annotations

import asyncio

import pytest
from azure.storage.blob.aio import ContainerClient

from tests.conftest import TASK_HUB, LoadApp, new_instance_id
from tests.support.azurite import Azurite
from tests.support.durable_standin import DurableStandin
from tests.support.observe import lease_state, started_inputs, status_codes
from tests.support.storage_proxy import StorageProxy, is_lease_release

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Below the release's own bound (2 s), so the held-back release still succeeds.
RELEASE_DELAY_SECONDS = 1.5


async def test_answer_comes_before_the_lease_release_is_applied(
    load_app: LoadApp, durable: DurableStandin, storage_proxy: StorageProxy
) -> None:
    app = await load_app(AzureWebJobsStorage=storage_proxy.connection_string)
    release = storage_proxy.delay_request(is_lease_release, RELEASE_DELAY_SECONDS)
    instance_id = new_instance_id()
    container = app.endpoint.locks.container

    response = await app.post(instance_id, {"n": 1})
    state_at_answer = await lease_state(container, TASK_HUB, instance_id)
    await app.endpoint.locks.drain()

    assert response.status_code == 202
    assert state_at_answer == "leased"
    assert len(release.seen) == 1
    assert await lease_state(container, TASK_HUB, instance_id) == "available"


async def test_start_after_the_first_instance_completed_waits_for_this_process_own_release_instead_of_503(
    load_app: LoadApp, durable: DurableStandin, storage_proxy: StorageProxy
) -> None:
    """The lock wait budget is shorter than the release takes: polling the lease would give up with 503."""
    app = await load_app(AzureWebJobsStorage=storage_proxy.connection_string, SINGLETON_LOCK_WAIT_SECONDS="0.3")
    storage_proxy.delay_request(is_lease_release, RELEASE_DELAY_SECONDS)
    instance_id = new_instance_id()

    first = await asyncio.gather(*(app.post(instance_id, {"n": n}) for n in range(10)))
    durable.set_status(instance_id, "Completed")
    second = await app.post(instance_id, {"n": "again"})

    assert sorted(status_codes(first)) == [202] + [409] * 9
    assert second.status_code == 202
    assert len(started_inputs(durable, instance_id)) == 2
    assert started_inputs(durable, instance_id)[-1] == {"n": "again"}


async def test_closing_the_endpoint_waits_for_a_release_on_its_way(
    load_app: LoadApp, durable: DurableStandin, storage_proxy: StorageProxy, azurite: Azurite
) -> None:
    app = await load_app(AzureWebJobsStorage=storage_proxy.connection_string)
    storage_proxy.delay_request(is_lease_release, RELEASE_DELAY_SECONDS)
    instance_id = new_instance_id()

    response = await app.post(instance_id, {"n": 1})
    await app.endpoint.close()

    assert response.status_code == 202
    async with ContainerClient.from_connection_string(
        azurite.connection_string, app.endpoint.settings.lock_container
    ) as container:
        assert await lease_state(container, TASK_HUB, instance_id) == "available"
