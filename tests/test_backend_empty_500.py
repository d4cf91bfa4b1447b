"""The RPC listener's empty-bodied 500 on a status read is no answer: never "no instance", never a start."""

from __future__ import annotations

import pytest

from tests.conftest import LoadApp, body_of, new_instance_id
from tests.support.durable_standin import DurableStandin

pytestmark = pytest.mark.asyncio(loop_scope="session")

ORCHESTRATOR = "SingletonOrchestrator"
REJECT_DUPLICATE = {"SINGLETON_REUSE_POLICY": "reject-duplicate"}


async def test_empty_500s_on_every_status_read_start_nothing_over_a_completed_instance_and_answer_503(
    load_app: LoadApp, durable: DurableStandin
) -> None:
    app = await load_app(**REJECT_DUPLICATE)
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Completed", '"first"')
    durable.inject_fault("status", "empty_500", times=1000)

    response = await app.post(instance_id, {"n": 2})

    assert response.status_code == 503
    assert body_of(response)["error"] == "unavailable"
    assert durable.calls["start"] == 0
    assert durable.row(instance_id)["input"] == '"first"'


async def test_an_empty_500_on_the_first_status_read_is_followed_by_a_real_read_and_409(
    load_app: LoadApp, durable: DurableStandin
) -> None:
    app = await load_app(**REJECT_DUPLICATE)
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Completed", '"first"')
    durable.inject_fault("status", "empty_500")

    response = await app.post(instance_id, {"n": 2})

    assert response.status_code == 409
    assert body_of(response)["runtimeStatus"] == "Completed"
    assert durable.calls["start"] == 0
    assert durable.enqueued_starts == []
