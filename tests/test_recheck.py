"""The status read under the lease is skipped only when this request created the lock blob: no one can have
held its lease, so no start through the app can have happened since the first read."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime

import pytest
from azure.core.exceptions import ResourceExistsError

from singleton_start.holding import first_read_still_holds
from singleton_start.lock import lock_blob_name
from singleton_start.status import MISSING, InstanceState, Observed
from tests.conftest import TASK_HUB, StartApp, new_instance_id
from tests.support.durable_standin import DurableStandin
from tests.support.observe import started_inputs

COMPLETED = Observed(InstanceState.ENDED, "Completed", datetime(2026, 1, 1, tzinfo=UTC), input='{"n": 0}')


def test_first_read_holds_when_this_request_created_the_lock_blob_and_saw_no_instance() -> None:
    assert first_read_still_holds(True, MISSING, read_with_input=False)


def test_first_read_does_not_hold_when_the_lock_blob_was_there_already() -> None:
    assert not first_read_still_holds(False, MISSING, read_with_input=True)


def test_first_read_of_an_ended_instance_holds_only_when_it_was_read_with_its_input() -> None:
    """Settling a start tells a new instance from the old one by input, so the old one's input is needed."""
    assert first_read_still_holds(True, COMPLETED, read_with_input=True)
    assert not first_read_still_holds(True, COMPLETED, read_with_input=False)


@pytest.mark.asyncio(loop_scope="session")
async def test_start_of_a_fresh_id_reads_the_status_once(app: StartApp, durable: DurableStandin) -> None:
    instance_id = new_instance_id()

    response = await app.post(instance_id, {"n": 1})

    assert response.status_code == 202
    assert durable.calls["status"] == 1
    assert started_inputs(durable, instance_id) == [{"n": 1}]


@pytest.mark.asyncio(loop_scope="session")
async def test_start_on_an_id_whose_lock_blob_exists_reads_the_status_again_under_the_lease(
    app: StartApp, durable: DurableStandin
) -> None:
    """No instance, but the blob is there: someone may have held its lease and started since the first read."""
    instance_id = new_instance_id()
    container = app.endpoint.locks.container
    with suppress(ResourceExistsError):
        await container.create_container()
    await container.get_blob_client(lock_blob_name(TASK_HUB, instance_id)).upload_blob(b"")

    response = await app.post(instance_id, {"n": 1})

    assert response.status_code == 202
    assert durable.calls["status"] == 2
    assert started_inputs(durable, instance_id) == [{"n": 1}]
