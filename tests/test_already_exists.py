"""A start over an active instance is refused by the extension's catch-all 500 naming
OrchestrationAlreadyExistsException (HttpApiHandler has no 409 for it), which the adapter reads as already exists."""

from __future__ import annotations

import pytest

from singleton_start.adapters.durable_http import DurableBackend
from singleton_start.core.errors import AlreadyExists
from tests.support.durable_standin import DurableStandin

pytestmark = pytest.mark.asyncio(loop_scope="session")

ORCHESTRATOR = "SingletonOrchestrator"
TIMEOUT = 5.0


async def test_a_start_over_a_running_instance_raises_already_exists_from_the_500_and_queues_nothing(
    backend: DurableBackend, durable: DurableStandin
) -> None:
    durable.add_instance("job", ORCHESTRATOR, "Running", '"first"')
    with pytest.raises(AlreadyExists) as refusal:
        await backend.start(ORCHESTRATOR, "job", "second", TIMEOUT)
    assert "already exists" in str(refusal.value)
    assert durable.enqueued_starts == []
