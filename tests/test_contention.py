"""Many concurrent starts: the per-ID lease is what keeps one instance per ID, and only per ID."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import TYPE_CHECKING

import azure.functions as func
import pytest

from singleton_start.adapters.blob_lease import LeaseLocks
from tests.conftest import TASK_HUB, LoadApp, StartApp, new_instance_id
from tests.support.durable_standin import DurableStandin
from tests.support.naive_start import naive_main
from tests.support.observe import decoded, enqueued_inputs, lease_state, started_inputs, status_codes
from tests.support.worker import start_request

if TYPE_CHECKING:
    from tests.support.scenario_report import ScenarioReport

pytest_plugins = ["tests.support.scenario_report"]
pytestmark = pytest.mark.asyncio(loop_scope="session")

# The pause the stand-in makes between its duplicate check and its tracking write, as a loaded
# storage account does; wide enough that every concurrent start falls into it.
RACE_WINDOW_SECONDS = 0.2


async def naive_post(durable: DurableStandin, instance_id: str, body: object) -> int:
    """One request through the check-then-start sample; an exception is the worker's 500."""
    request = start_request(
        "SingletonOrchestrator", instance_id, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        response: func.HttpResponse = await naive_main(request, durable.starter_binding())
    except Exception:  # noqa: BLE001 - the worker turns any exception into a 500
        return 500
    status_code: int = response.status_code
    return status_code


async def test_fifty_concurrent_starts_of_one_id_give_one_202_with_the_lock_and_several_without(
    app: StartApp, durable: DurableStandin, scenario_report: ScenarioReport
) -> None:
    """Same load, same backend race window: only the lease makes exactly one caller the winner."""
    durable.race_window_seconds = RACE_WINDOW_SECONDS
    locked_id = new_instance_id("locked")
    codes = status_codes(await asyncio.gather(*(app.post(locked_id, {"n": n}) for n in range(50))))
    scenario_report.record(
        "50 concurrent POSTs, one new ID, race window open", codes, len(started_inputs(durable, locked_id))
    )

    assert Counter(codes) == {202: 1, 409: 49}
    winner = {"n": codes.index(202)}
    assert decoded(durable.row(locked_id)["input"]) == winner
    assert enqueued_inputs(durable, locked_id) == [winner]
    assert started_inputs(durable, locked_id) == [winner]

    naive_id = new_instance_id("naive")
    naive_codes = await asyncio.gather(*(naive_post(durable, naive_id, {"n": n}) for n in range(50)))
    scenario_report.record(
        "same load through the naive check-then-start",
        naive_codes,
        len(started_inputs(durable, naive_id)),
    )

    accepted = naive_codes.count(202)
    assert accepted > 1, "the naive sample should let more than one caller through the race window"
    assert len(started_inputs(durable, naive_id)) == 1
    assert len(enqueued_inputs(durable, naive_id)) == accepted  # all but one are quiet losers told 202


async def test_two_hundred_starts_over_twenty_ids_start_each_once_and_ids_do_not_wait_on_each_other(
    load_app: LoadApp, durable: DurableStandin, scenario_report: ScenarioReport
) -> None:
    """One start per ID under load, and an ID whose lease is busy holds up only its own callers."""
    app = await load_app(SINGLETON_LOCK_WAIT_SECONDS="10")
    durable.race_window_seconds = RACE_WINDOW_SECONDS
    ids = [new_instance_id(f"id{n:02d}") for n in range(20)]
    held_id, other_ids = ids[0], ids[1:]
    holder = LeaseLocks(app.endpoint.locks.container, 15)
    lease = await holder.try_acquire(TASK_HUB, held_id, timeout=5)
    assert lease is not None

    posts = {
        instance_id: [asyncio.create_task(app.post(instance_id, {"n": n})) for n in range(10)] for instance_id in ids
    }
    try:
        others = [task for instance_id in other_ids for task in posts[instance_id]]
        _, pending = await asyncio.wait(others, timeout=8)
        held_waiting = not any(task.done() for task in posts[held_id])
    finally:
        await holder.release(lease)
    held_codes = status_codes(await asyncio.wait_for(asyncio.gather(*posts[held_id]), 15))
    assert not pending, "every other ID must be done within 8 s, well inside the held ID's 10 s wait"
    assert held_waiting, "the held ID's callers must still be waiting when every other ID is done"

    codes = {instance_id: status_codes([task.result() for task in posts[instance_id]]) for instance_id in other_ids}
    codes[held_id] = held_codes
    every_code = [code for id_codes in codes.values() for code in id_codes]
    scenario_report.record(
        "200 concurrent POSTs over 20 IDs, one ID's lease held elsewhere",
        every_code,
        len(durable.effective_starts),
    )

    assert Counter(every_code) == {202: 20, 409: 180}
    for instance_id, id_codes in codes.items():
        assert Counter(id_codes) == {202: 1, 409: 9}
        winner = {"n": id_codes.index(202)}
        assert started_inputs(durable, instance_id) == [winner]
        assert enqueued_inputs(durable, instance_id) == [winner]
    assert len(durable.effective_starts) == 20


async def test_storm_against_a_running_instance_takes_the_lease_at_most_once_and_gives_it_back(
    app: StartApp, durable: DurableStandin, scenario_report: ScenarioReport
) -> None:
    """Duplicates of an active instance are answered from a status read alone; only the one request of the
    process that claimed the ID asked for the lease early, and gives it back."""
    instance_id = new_instance_id()
    assert (await app.post(instance_id, {"n": 0})).status_code == 202
    await app.endpoint.locks.drain()  # the release goes on after the answer
    durable.set_status(instance_id, "Running")
    durable.latency_seconds = 0.02  # long enough for the lease to be watched while the storm runs
    container = app.endpoint.locks.container
    acquires_before = app.endpoint.locks.calls["lease_acquire"]

    storm = asyncio.gather(*(app.post(instance_id, {"n": n}) for n in range(1, 101)))
    lease_states = []
    while not storm.done():
        lease_states.append(await lease_state(container, TASK_HUB, instance_id))
    codes = status_codes(await storm)
    scenario_report.record(
        "100 concurrent POSTs against a running instance", codes, len(started_inputs(durable, instance_id)) - 1
    )

    assert codes == [409] * 100
    assert len(lease_states) > 1
    assert app.endpoint.locks.calls["lease_acquire"] <= acquires_before + 1
    await app.endpoint.locks.drain()
    assert await lease_state(container, TASK_HUB, instance_id) == "available"
    assert durable.calls["start"] == 1
    assert started_inputs(durable, instance_id) == [{"n": 0}]
