"""The status read under the lease is skipped only when this request created the lock blob: no one can have
held its lease, so no start through the app can have happened since the first read."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime

import pytest
from azure.core.exceptions import ResourceExistsError

from singleton_start.holding import first_read_still_holds
from singleton_start.lock import lock_blob_name
from singleton_start.settings import ConflictPolicy, ReusePolicy
from singleton_start.status import MISSING, InstanceState, Observed
from tests.conftest import TASK_HUB, LoadApp, StartApp, new_instance_id
from tests.support.durable_standin import DurableStandin
from tests.support.observe import started_inputs

COMPLETED = Observed(InstanceState.ENDED, "Completed", datetime(2026, 1, 1, tzinfo=UTC), input='{"n": 0}')


DEFAULTS = (ConflictPolicy.REJECT, ReusePolicy.ALLOW_ENDED)


def test_first_read_holds_when_this_request_created_the_lock_blob_and_saw_no_instance() -> None:
    assert first_read_still_holds(True, MISSING, False, *DEFAULTS)


def test_first_read_does_not_hold_when_the_lock_blob_was_there_already() -> None:
    assert not first_read_still_holds(False, MISSING, True, *DEFAULTS)


def test_first_read_of_an_ended_instance_holds_only_when_it_was_read_with_its_input() -> None:
    """Settling a start tells a new instance from the old one by input, so the old one's input is needed."""
    assert first_read_still_holds(True, COMPLETED, True, *DEFAULTS)
    assert not first_read_still_holds(True, COMPLETED, False, *DEFAULTS)


@pytest.mark.parametrize(
    ("conflict", "reuse"),
    [
        (ConflictPolicy.REJECT, ReusePolicy.REJECT_DUPLICATE),
        (ConflictPolicy.REJECT, ReusePolicy.ALLOW_FAILED),
        (ConflictPolicy.TERMINATE_EXISTING, ReusePolicy.ALLOW_ENDED),
    ],
)
def test_first_read_does_not_hold_under_policies_a_start_slipped_in_before_the_acquire_could_break(
    conflict: ConflictPolicy, reuse: ReusePolicy
) -> None:
    """Another request's start and release between this create and this acquire could end an instance that
    these policies forbid replacing, or be refused where the policy would replace it: read again."""
    assert not first_read_still_holds(True, MISSING, True, conflict, reuse)


def test_first_read_holds_under_use_existing_whose_answer_a_refused_start_gives_too() -> None:
    assert first_read_still_holds(True, MISSING, False, ConflictPolicy.USE_EXISTING, ReusePolicy.ALLOW_ENDED)


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


@pytest.mark.asyncio(loop_scope="session")
async def test_start_of_a_fresh_id_under_reject_duplicate_reads_the_status_again_under_the_lease(
    load_app: LoadApp, durable: DurableStandin
) -> None:
    app = await load_app(SINGLETON_REUSE_POLICY="reject-duplicate")
    instance_id = new_instance_id()

    response = await app.post(instance_id, {"n": 1})

    assert response.status_code == 202
    assert durable.calls["status"] == 2
    assert started_inputs(durable, instance_id) == [{"n": 1}]
