"""A start that lands after the app's call timeout: the holder keeps the lease and settles it, so that
only one caller's input is ever queued and a caller told 202 has its input running."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import LoadApp, new_instance_id
from tests.support.durable_standin import DurableStandin
from tests.support.observe import assert_check_status_answer, decoded, enqueued_inputs, poll_until, started_inputs
from tests.support.worker_process import worker_process

pytestmark = pytest.mark.asyncio(loop_scope="session")

CALL_TIMEOUT_SECONDS = 0.5
# The stand-in queues the start, then writes its tracking row this long after: well past the call timeout.
LANDS_AFTER_SECONDS = 1.5
SETTINGS = {"SINGLETON_BACKEND_TIMEOUT_SECONDS": str(CALL_TIMEOUT_SECONDS), "SINGLETON_REQUEST_TIMEOUT_SECONDS": "20"}
# The stand-in's row now has the CreatedTime the extension writes: the ExecutionStarted event's time, taken when the
# start reached it (AzureTableTrackingStore.SetNewExecutionAsync, docs/model.md rule 3), not the late write's. Shown
# to the second, that is the lease grant's second, and today's settle reads it as maybe made before the lease.
CREATED_AT_THE_START = pytest.mark.xfail(
    strict=True,
    reason="settle needs createdTime in a later second than the lease grant; the extension writes the "
    "ExecutionStarted event's time, the grant's second, so the start is answered 503 (docs/model.md rule 3)",
)


async def early_in_a_second() -> None:
    """Begin with most of a wall-clock second ahead, so that the lease's grant and the start's arrival (tens of
    milliseconds apart) fall in the same second, as they mostly do: across a second's turn the start would be
    told apart, and these tests would pass by chance."""
    fraction = time.time() % 1
    if fraction > 0.2:
        await asyncio.sleep(1.0 - fraction + 0.01)


@CREATED_AT_THE_START
async def test_start_landing_after_the_call_timeout_is_answered_202_and_only_its_input_is_queued(
    load_app: LoadApp, durable: DurableStandin
) -> None:
    app = await load_app(**SETTINGS)
    durable.race_window_seconds = LANDS_AFTER_SECONDS
    instance_id = new_instance_id()

    await early_in_a_second()
    response = await app.post(instance_id, {"n": 1})

    assert_check_status_answer(response, instance_id)
    assert enqueued_inputs(durable, instance_id)
    assert set(map(str, enqueued_inputs(durable, instance_id))) == {str({"n": 1})}
    assert started_inputs(durable, instance_id) == [{"n": 1}]
    assert decoded(durable.row(instance_id)["input"]) == {"n": 1}


@CREATED_AT_THE_START
async def test_second_request_while_the_first_start_is_on_its_way_in_one_process_queues_nothing_of_its_own(
    load_app: LoadApp, durable: DurableStandin
) -> None:
    app = await load_app(**SETTINGS)
    durable.race_window_seconds = LANDS_AFTER_SECONDS
    instance_id = new_instance_id()

    await early_in_a_second()
    first = asyncio.create_task(app.post(instance_id, {"caller": "a"}))
    await poll_until(lambda: bool(durable.enqueued_starts))
    second = await app.post(instance_id, {"caller": "b"})
    first_response = await first

    assert_check_status_answer(first_response, instance_id)
    assert second.status_code == 409
    assert {str(value) for value in enqueued_inputs(durable, instance_id)} == {str({"caller": "a"})}
    assert decoded(durable.row(instance_id)["input"]) == {"caller": "a"}


@CREATED_AT_THE_START
async def test_second_request_while_the_first_start_is_on_its_way_in_another_process_queues_nothing_of_its_own(
    load_app: LoadApp, durable: DurableStandin
) -> None:
    """The other worker process shares nothing in memory with this one: only the lease stands between them."""
    app = await load_app(**SETTINGS)
    durable.race_window_seconds = LANDS_AFTER_SECONDS
    instance_id = new_instance_id()

    async with worker_process(durable.starter_binding()) as other_process:
        await early_in_a_second()
        first = asyncio.create_task(app.post(instance_id, {"caller": "a"}))
        await poll_until(lambda: bool(durable.enqueued_starts))
        second_status = await other_process.post(instance_id, {"caller": "b"})
        first_response = await first

    assert_check_status_answer(first_response, instance_id)
    assert second_status == 409
    assert {str(value) for value in enqueued_inputs(durable, instance_id)} == {str({"caller": "a"})}
    assert decoded(durable.row(instance_id)["input"]) == {"caller": "a"}
