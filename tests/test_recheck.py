"""When the status is read again under the lease: only where the first read cannot stand in for it (keyed
requests, and policies other than allow-ended with reject or use-existing); a start that slipped in before the
lease is refused by the extension and answered by the policy."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import LoadApp, StartApp, new_instance_id
from tests.support.durable_standin import DurableStandin
from tests.support.observe import started_inputs

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_start_under_the_default_policies_reads_the_status_once(app: StartApp, durable: DurableStandin) -> None:
    instance_id = new_instance_id()

    response = await app.post(instance_id, {"n": 1})

    assert response.status_code == 202
    assert durable.calls["status"] == 1
    assert started_inputs(durable, instance_id) == [{"n": 1}]


@pytest.mark.parametrize(
    ("settings", "headers"),
    [({"SINGLETON_REUSE_POLICY": "reject-duplicate"}, {}), ({}, {"Idempotency-Key": "k-1"})],
    ids=["reject-duplicate", "keyed"],
)
async def test_start_reads_the_status_again_under_the_lease_where_the_first_read_cannot_stand_in(
    load_app: LoadApp, durable: DurableStandin, settings: dict[str, str], headers: dict[str, str]
) -> None:
    app = await load_app(**settings)
    instance_id = new_instance_id()

    response = await app.post(instance_id, {"n": 1}, headers=headers)

    assert response.status_code == 202
    assert durable.calls["status"] == 2
    assert started_inputs(durable, instance_id) == [{"n": 1}]


async def test_start_that_slipped_in_after_the_first_read_is_refused_by_the_extension_and_answered_409(
    app: StartApp, durable: DurableStandin
) -> None:
    """Another start lands after the first read: this request's start meets an active instance, which the
    extension refuses (NonRunningStates), so it answers the policy's 409 and starts nothing of its own. The
    instance there has this request's very input: a refusal must still never be taken for this start's 202
    (before, it was, and two callers got 202 for one start)."""
    instance_id = new_instance_id()
    original = durable._handle_start

    async def start_slips_in(request: Any, function_name: str, start_id: str) -> Any:
        if durable.instance(start_id) is None:
            durable.add_instance(start_id, "SingletonOrchestrator", "Running", input='{"n": 1}')
        return await original(request, function_name, start_id)

    durable._handle_start = start_slips_in  # type: ignore[method-assign,assignment]
    try:
        response = await app.post(instance_id, {"n": 1})
    finally:
        durable._handle_start = original  # type: ignore[method-assign]

    assert response.status_code == 409
    assert durable.effective_starts == []
