"""Idempotency-Key: a keyed retry of the request that started an instance gets that start's 202 again."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import azure.functions as func
import pytest
from aiohttp import web

from tests.conftest import TASK_HUB, LoadApp, StartApp, body_of, new_instance_id
from tests.support.durable_standin import DurableStandin
from tests.support.observe import key_state, poll_until, started_inputs
from tests.support.worker import app_defining
from tests.test_policies import CONFLICT_POLICIES

pytestmark = pytest.mark.asyncio(loop_scope="session")

KEY = {"Idempotency-Key": "order-42"}
OTHER_KEY = {"Idempotency-Key": "order-43"}
# (conflict policy, status, starts in all, terminates in all) for a second key while the first key's instance runs.
ANOTHER_KEY_ANSWERS = [("reject", 409, 1, 0), ("use-existing", 200, 1, 0), ("terminate-existing", 202, 2, 1)]


class Clock:
    """The stand-in's clock, moved only by the test, so instance creation times are chosen."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 8, 0, 0, 250_000, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(durable: DurableStandin, monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(durable, "_now", clock)
    return clock


def assert_replayed(response: func.HttpResponse, first: func.HttpResponse) -> None:
    """The replay is the first 202 again, marked as a replay."""
    assert response.status_code == 202
    assert response.get_body() == first.get_body()
    assert response.headers["Location"] == first.headers["Location"]
    assert response.headers["Retry-After"] == "10"
    assert response.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("conflict", CONFLICT_POLICIES)
async def test_retry_with_the_same_key_and_body_replays_the_first_202_and_starts_nothing(
    load_app: LoadApp, durable: DurableStandin, conflict: str
) -> None:
    """Under every conflict policy: no 409, no 200, no terminate of the instance this key started."""
    app = await load_app(SINGLETON_CONFLICT_POLICY=conflict)
    instance_id = new_instance_id()
    first = await app.post(instance_id, {"n": 1}, headers=KEY)
    assert first.status_code == 202
    assert "Idempotent-Replayed" not in first.headers
    durable.set_status(instance_id, "Running")

    retry = await app.post(instance_id, {"n": 1}, headers=KEY)

    assert_replayed(retry, first)
    assert durable.calls["start"] == 1
    assert durable.calls["terminate"] == 0
    assert started_inputs(durable, instance_id) == [{"n": 1}]
    assert durable.row(instance_id)["runtimeStatus"] == "Running"


async def test_keyed_start_records_the_key_as_started_on_the_lock_blob(app: StartApp, durable: DurableStandin) -> None:
    instance_id = new_instance_id()
    assert (await app.post(instance_id, {"n": 1}, headers=KEY)).status_code == 202
    await app.endpoint.locks.drain()  # the record is completed after the answer

    record = (await app.endpoint.locks.read_record(TASK_HUB, instance_id, 5)).metadata

    assert key_state(record, "order-42") == "started"
    assert key_state(record, "order-43") is None


async def test_retry_with_the_same_key_after_the_instance_completed_replays_instead_of_starting_anew(
    app: StartApp, durable: DurableStandin
) -> None:
    """The default reuse policy would replace a Completed instance; the key's own instance still exists."""
    instance_id = new_instance_id()
    first = await app.post(instance_id, {"n": 1}, headers=KEY)
    durable.set_status(instance_id, "Completed")

    retry = await app.post(instance_id, {"n": 1}, headers=KEY)

    assert_replayed(retry, first)
    assert durable.calls["start"] == 1
    assert durable.row(instance_id)["runtimeStatus"] == "Completed"


async def test_same_key_after_an_unkeyed_start_replaced_the_instance_is_replayed_and_not_started_again(
    app: StartApp, durable: DurableStandin, clock: Clock
) -> None:
    instance_id = new_instance_id()
    assert (await app.post(instance_id, {"n": 1}, headers=KEY)).status_code == 202
    durable.set_status(instance_id, "Completed")
    clock.advance(2)
    assert (await app.post(instance_id, {"n": 2})).status_code == 202

    retry = await app.post(instance_id, {"n": 1}, headers=KEY)

    # The key's start took effect once; the lock blob remembers the key past the instances that followed.
    assert retry.status_code == 202
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert started_inputs(durable, instance_id) == [{"n": 1}, {"n": 2}]


async def test_same_key_after_an_unkeyed_start_in_the_same_second_is_replayed_and_not_started_again(
    app: StartApp, durable: DurableStandin, clock: Clock
) -> None:
    """The status API gives createdTime to the second, so it alone cannot tell the two instances apart."""
    instance_id = new_instance_id()
    assert (await app.post(instance_id, {"n": 1}, headers=KEY)).status_code == 202
    durable.set_status(instance_id, "Completed")
    clock.advance(0.5)
    assert (await app.post(instance_id, {"n": 2})).status_code == 202

    retry = await app.post(instance_id, {"n": 1}, headers=KEY)

    # The key's start took effect once; the lock blob remembers the key past the instances that followed.
    assert retry.status_code == 202
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert started_inputs(durable, instance_id) == [{"n": 1}, {"n": 2}]


async def test_same_key_after_another_keyed_start_replaced_the_instance_is_replayed_and_not_started_again(
    app: StartApp, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    assert (await app.post(instance_id, {"n": 1}, headers=KEY)).status_code == 202
    durable.set_status(instance_id, "Failed")
    assert (await app.post(instance_id, {"n": 2}, headers=OTHER_KEY)).status_code == 202

    retry = await app.post(instance_id, {"n": 1}, headers=KEY)

    assert retry.status_code == 202
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert started_inputs(durable, instance_id) == [{"n": 1}, {"n": 2}]


@pytest.mark.parametrize(("conflict", "status", "starts", "terminates"), ANOTHER_KEY_ANSWERS)
async def test_another_key_for_an_active_instance_gets_the_conflict_policy_answer(
    load_app: LoadApp, durable: DurableStandin, conflict: str, status: int, starts: int, terminates: int
) -> None:
    app = await load_app(SINGLETON_CONFLICT_POLICY=conflict)
    durable.run_seconds = 600  # each started instance runs: terminate-existing may send it a terminate
    instance_id = new_instance_id()
    assert (await app.post(instance_id, {"n": 1}, headers=KEY)).status_code == 202

    response = await app.post(instance_id, {"n": 1}, headers=OTHER_KEY)

    assert response.status_code == status
    assert body_of(response)["statusQueryGetUri"] == response.headers["Location"]
    assert "Idempotent-Replayed" not in response.headers
    assert durable.calls["start"] == starts
    assert durable.calls["terminate"] == terminates


@pytest.mark.parametrize("conflict", CONFLICT_POLICIES)
async def test_same_key_with_a_different_body_gets_422_and_starts_or_terminates_nothing(
    load_app: LoadApp, durable: DurableStandin, conflict: str
) -> None:
    app = await load_app(SINGLETON_CONFLICT_POLICY=conflict)
    instance_id = new_instance_id()
    assert (await app.post(instance_id, {"n": 1}, headers=KEY)).status_code == 202

    response = await app.post(instance_id, {"n": 2}, headers=KEY)

    assert response.status_code == 422
    body = body_of(response)
    assert body["error"] == "idempotency_key_reused"
    assert body["message"]
    assert durable.calls["start"] == 1
    assert durable.calls["terminate"] == 0
    assert started_inputs(durable, instance_id) == [{"n": 1}]


async def test_same_key_and_body_for_another_orchestrator_gets_422_and_starts_nothing(
    load_app: LoadApp, durable: DurableStandin, tmp_path: Path
) -> None:
    app = await load_app(
        SINGLETON_ORCHESTRATORS="SingletonOrchestrator,OtherOrchestrator",
        AzureWebJobsScriptRoot=app_defining(tmp_path, "SingletonOrchestrator", "OtherOrchestrator"),
    )
    instance_id = new_instance_id()
    assert (await app.post(instance_id, {"n": 1}, headers=KEY)).status_code == 202

    response = await app.post(instance_id, {"n": 1}, function_name="OtherOrchestrator", headers=KEY)

    assert response.status_code == 422
    assert body_of(response)["error"] == "idempotency_key_reused"
    assert durable.calls["start"] == 1


async def test_same_key_on_another_instance_id_starts_that_instance(app: StartApp, durable: DurableStandin) -> None:
    """A key is tied to the instance ID it was sent for."""
    first_id, second_id = new_instance_id(), new_instance_id()
    assert (await app.post(first_id, {"n": 1}, headers=KEY)).status_code == 202

    response = await app.post(second_id, {"n": 1}, headers=KEY)

    assert response.status_code == 202
    assert "Idempotent-Replayed" not in response.headers
    assert body_of(response)["id"] == second_id
    assert started_inputs(durable, second_id) == [{"n": 1}]


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "order-ü", "order\t42", "order\x7f42", ""],
    ids=["256-characters", "non-ascii", "tab", "delete", "empty"],
)
async def test_invalid_key_gets_400_before_any_io(app: StartApp, durable: DurableStandin, key: str) -> None:
    response = await app.post(new_instance_id(), {"n": 1}, headers={"Idempotency-Key": key})

    assert response.status_code == 400
    body = body_of(response)
    assert body["error"] == "invalid_idempotency_key"
    assert "Idempotency-Key" in body["message"]
    assert sum(durable.calls.values()) == 0
    assert sum(app.endpoint.locks.calls.values()) == 0


async def test_key_of_255_printable_ascii_characters_is_accepted_and_replays(
    app: StartApp, durable: DurableStandin
) -> None:
    """Spaces, quotes and symbols survive the round trip through blob metadata."""
    key = ('order 42 "q" ~!@#$%^&*()=+[]{};:,.<>/?|`' * 7)[:255]
    instance_id = new_instance_id()
    first = await app.post(instance_id, {"n": 1}, headers={"Idempotency-Key": key})
    assert first.status_code == 202

    retry = await app.post(instance_id, {"n": 1}, headers={"Idempotency-Key": key})

    assert_replayed(retry, first)
    assert durable.calls["start"] == 1


async def test_ten_concurrent_identical_keyed_requests_for_a_new_id_start_once_and_all_get_202(
    app: StartApp, durable: DurableStandin
) -> None:
    """One starts; the others wait for the lease, then find the key's record and replay its 202."""
    durable.race_window_seconds = 0.05
    instance_id = new_instance_id()

    responses = await asyncio.wait_for(
        asyncio.gather(*(app.post(instance_id, {"n": 1}, headers=KEY) for _ in range(10))), 20
    )

    assert [response.status_code for response in responses] == [202] * 10
    replayed = Counter(response.headers.get("Idempotent-Replayed") for response in responses)
    assert replayed == {None: 1, "true": 9}
    assert {response.get_body() for response in responses} == {responses[0].get_body()}
    assert started_inputs(durable, instance_id) == [{"n": 1}]
    assert len(durable.enqueued_starts) == 1
    assert json.loads(durable.row(instance_id)["input"]) == {"n": 1}


async def test_keyed_start_whose_answer_was_lost_is_recorded_and_replays(
    app: StartApp, durable: DurableStandin
) -> None:
    """The start went through but its answer was dropped; the retry must still find the key's record."""
    durable.inject_fault("start", "drop_after")
    instance_id = new_instance_id()
    first = await app.post(instance_id, {"n": 1}, headers=KEY)
    assert first.status_code == 202

    retry = await app.post(instance_id, {"n": 1}, headers=KEY)

    assert_replayed(retry, first)
    assert started_inputs(durable, instance_id) == [{"n": 1}]
    assert durable.calls["start"] == 1


async def test_same_key_retry_while_the_first_request_still_holds_the_lease_gets_the_replay_not_409(
    load_app: LoadApp, durable: DurableStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request has started the instance but not yet had its answer when the retry comes.

    The instance the retry finds is its own; a 409 would tell the caller someone else started it. The
    "starting" record written before the start lets the retry recognise it and get the replay at once.
    """
    app = await load_app(SINGLETON_LOCK_WAIT_SECONDS="0.3")
    original = durable._handle_start
    resume = asyncio.Event()

    async def slow_answer(request: web.Request, function_name: str, instance_id: str) -> web.StreamResponse:
        response = await original(request, function_name, instance_id)
        await asyncio.wait_for(resume.wait(), 5)
        return response

    monkeypatch.setattr(durable, "_handle_start", slow_answer)
    instance_id = new_instance_id()
    first = asyncio.create_task(app.post(instance_id, {"n": 1}, headers=KEY))
    await poll_until(lambda: bool(durable.effective_starts))

    retry = await app.post(instance_id, {"n": 1}, headers=KEY)
    resume.set()
    first_response = await asyncio.wait_for(first, 5)

    assert first_response.status_code == 202
    assert_replayed(retry, first_response)
    assert_replayed(await app.post(instance_id, {"n": 1}, headers=KEY), first_response)
    assert started_inputs(durable, instance_id) == [{"n": 1}]
