"""The settling loop on its own, against the stand-in and a real lease: it keeps the lease, reads until
the start shows, and sends the same start again while nothing has shown."""

from __future__ import annotations

import pytest

from singleton_start.backend import DurableBackend
from singleton_start.calls import Calls
from singleton_start.clock import REAL_CLOCK
from singleton_start.command import StartCommand
from singleton_start.ports import Lease
from singleton_start.settle import Landed, NotYet, OtherStarted, settle_unknown_start
from singleton_start.status import MISSING
from singleton_start.timing import Deadline
from tests.conftest import TASK_HUB, StartApp, new_instance_id
from tests.support.durable_standin import DurableStandin
from tests.support.observe import enqueued_inputs, lease_state

pytestmark = pytest.mark.asyncio(loop_scope="session")

OURS = {"n": 1}


async def settle_after_unknown(app: StartApp, durable: DurableStandin, instance_id: str, seconds: float = 2) -> object:
    calls = Calls(
        DurableBackend(app.endpoint.durable_http, durable.starter_binding()),
        app.endpoint.locks,
        app.endpoint.settings,
        REAL_CLOCK,
    )
    lease = await app.endpoint.locks.try_acquire(TASK_HUB, instance_id, 5, blob_may_be_missing=True)
    assert isinstance(lease, Lease)
    command = StartCommand("SingletonOrchestrator", instance_id, OURS)
    return await settle_unknown_start(calls, command, lease, MISSING, Deadline(seconds))


async def test_instance_with_our_input_is_landed_and_the_lease_is_renewed(
    app: StartApp, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, "SingletonOrchestrator", "Running", input='{"n": 1}')

    verdict = await settle_after_unknown(app, durable, instance_id)

    assert isinstance(verdict, Landed)
    assert app.endpoint.locks.calls["lease_renew"] == 1
    assert durable.calls["start"] == 0


async def test_instance_with_another_input_is_other_started(app: StartApp, durable: DurableStandin) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, "SingletonOrchestrator", "Running", input='{"n": 2}')

    verdict = await settle_after_unknown(app, durable, instance_id)

    assert isinstance(verdict, OtherStarted)
    assert durable.calls["start"] == 0


async def test_nothing_shown_sends_the_same_start_again_and_its_landing_settles_it(
    app: StartApp, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()

    verdict = await settle_after_unknown(app, durable, instance_id)

    assert isinstance(verdict, Landed)
    assert durable.calls["start"] == 1
    assert enqueued_inputs(durable, instance_id) == [OURS]


async def test_nothing_by_the_deadline_is_not_yet_after_bounded_resends_and_the_lease_stays_held(
    app: StartApp, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.inject_fault("start", "error", times=100)

    verdict = await settle_after_unknown(app, durable, instance_id, seconds=1)

    assert verdict == NotYet()
    assert durable.calls["start"] == app.endpoint.settings.start_attempts - 1
    assert await lease_state(app.endpoint.locks.container, TASK_HUB, instance_id) == "leased"
