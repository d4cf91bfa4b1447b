"""The start's waits on virtual time, against the model of the backend and the lock storage: a lease left to
expire, a lock wait, a deadline. The use case is the one the endpoint runs; only time and I/O are modelled,
so a wait of a lease's whole length takes milliseconds. The wiring is tested on Azurite and the stand-in."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from singleton_start.core.outcomes import Started
from singleton_start.settings import Settings
from tests.conftest import new_instance_id
from tests.support.virtual import VirtualRun

if TYPE_CHECKING:
    from tests.support.scenario_report import ScenarioReport

pytest_plugins = ["tests.support.scenario_report"]


def test_lease_of_a_holder_that_died_is_taken_once_it_expires(
    virtual: VirtualRun, scenario_report: ScenarioReport
) -> None:
    """A crashed starter never releases its lease; storage expires it, and the waiting request starts."""
    lease_seconds, wait_seconds = 15, 20
    settings = Settings(lock_wait_seconds=wait_seconds)
    dead_holder = virtual.host("dead", replace(settings, lock_lease_seconds=lease_seconds))
    app = virtual.host("app", settings)
    instance_id = new_instance_id()
    hub = app.backend.task_hub
    before_taking = virtual.now()
    assert virtual.run(dead_holder.locks.try_acquire(hub, instance_id, 5, blob_may_be_missing=True)) is not None

    began = virtual.now()
    outcome = virtual.run(app.start(instance_id, {"n": 1}))
    took = virtual.now() - began
    virtual.deliver_queued()
    started = virtual.started_inputs(instance_id)
    scenario_report.record("lock holder died mid-start", [202 if isinstance(outcome, Started) else 503], len(started))

    assert isinstance(outcome, Started)
    assert lease_seconds - (began - before_taking) <= took <= lease_seconds + wait_seconds
    assert started == [{"n": 1}]
