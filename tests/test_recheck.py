"""The status is read again under the lease on every start: it is what a lost answer is settled against, and
a read made before the lease cannot tell this request's start from one that slipped in before the acquire."""

from __future__ import annotations

import pytest

from tests.conftest import StartApp, new_instance_id
from tests.support.durable_standin import DurableStandin
from tests.support.observe import started_inputs

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_start_of_a_fresh_id_reads_the_status_again_under_the_lease(
    app: StartApp, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()

    response = await app.post(instance_id, {"n": 1})

    assert response.status_code == 202
    assert durable.calls["status"] == 2
    assert started_inputs(durable, instance_id) == [{"n": 1}]


async def test_start_that_slipped_in_before_the_acquire_is_seen_under_the_lease_and_answered_by_the_policy(
    app: StartApp, durable: DurableStandin
) -> None:
    """Another start lands between the first read and the acquire: the read under the lease sees it, so this
    request neither sends a start nor answers 202 for an instance it did not start."""
    instance_id = new_instance_id()
    original = durable._storage_op

    async def start_slips_in(kind: str) -> None:
        if kind == "status" and durable.calls["status"] == 2 and durable.instance(instance_id) is None:
            durable.add_instance(instance_id, "SingletonOrchestrator", "Running", input='{"n": 1}')
        await original(kind)

    durable._storage_op = start_slips_in  # type: ignore[method-assign]
    try:
        response = await app.post(instance_id, {"n": 1})
    finally:
        durable._storage_op = original  # type: ignore[method-assign]

    assert response.status_code == 409
    assert durable.calls["start"] == 0
