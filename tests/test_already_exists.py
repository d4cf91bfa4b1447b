"""A start over an active instance is refused by every release: 409 now, 500 with the exception before."""

from __future__ import annotations

import pytest

from singleton_start.adapters.durable_http import DurableBackend
from singleton_start.core.errors import AlreadyExists
from tests.support.durable_standin import DurableStandin

pytestmark = pytest.mark.asyncio(loop_scope="session")

ORCHESTRATOR = "SingletonOrchestrator"
TIMEOUT = 5.0


@pytest.mark.parametrize("already_exists_status", DurableStandin.ALREADY_EXISTS_STATUSES)
async def test_a_start_over_a_running_instance_raises_already_exists_and_queues_nothing(
    backend: DurableBackend, durable: DurableStandin, already_exists_status: int
) -> None:
    durable.already_exists_status = already_exists_status
    durable.add_instance("job", ORCHESTRATOR, "Running", '"first"')
    with pytest.raises(AlreadyExists) as refusal:
        await backend.start(ORCHESTRATOR, "job", "second", TIMEOUT)
    assert "already exists" in str(refusal.value)
    assert durable.enqueued_starts == []
