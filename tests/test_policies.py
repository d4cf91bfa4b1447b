"""The conflict and reuse policies through HTTP: every existing state under every policy pair, and contention."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func
import pytest
from aiohttp import web

from singleton_start.service.commands import TERMINATE_REASON
from singleton_start.settings import SettingsError
from tests.conftest import TASK_HUB, LoadApp, StartApp, body_of, new_instance_id
from tests.support.azurite import Azurite
from tests.support.durable_standin import DurableStandin
from tests.support.observe import (
    ACTIVE_STATES,
    ENDED_STATES,
    MANAGEMENT_KEYS,
    assert_check_status_answer,
    lease_state,
    started_inputs,
)
from tests.support.worker import load_function

pytestmark = pytest.mark.asyncio(loop_scope="session")

ORCHESTRATOR = "SingletonOrchestrator"
CONFLICT_POLICIES = ["reject", "use-existing", "terminate-existing"]
REUSE_POLICIES = ["allow-ended", "allow-failed", "reject-duplicate"]
# The reuse table, written out rather than derived from the code under test.
REPLACEABLE = {
    "allow-ended": {"Completed", "Failed", "Terminated", "Canceled"},
    "allow-failed": {"Failed", "Terminated", "Canceled"},
    "reject-duplicate": set(),
}
REPLACED_CELLS = [(reuse, state) for reuse in REUSE_POLICIES for state in ENDED_STATES if state in REPLACEABLE[reuse]]
KEPT_CELLS = [(reuse, state) for reuse in REUSE_POLICIES for state in ENDED_STATES if state not in REPLACEABLE[reuse]]
OLD_INPUT = {"n": 1}
NEW_INPUT = {"n": 2}
CONTENDERS = 50
# Active statuses of an instance that has run: a terminate reaches it (a Pending one's would be lost).
RAN_STATES = [state for state in ACTIVE_STATES if state != "Pending"]


def seed(durable: DurableStandin, instance_id: str, runtime_status: str) -> str:
    """An instance as an earlier start left it (input stored as the SDK sends it); returns its execution ID."""
    durable.add_instance(instance_id, ORCHESTRATOR, runtime_status, json.dumps(OLD_INPUT))
    execution_id: str = durable.row(instance_id)["executionId"]
    return execution_id


def policies(conflict: str, reuse: str, **more: str) -> dict[str, str]:
    return {"SINGLETON_CONFLICT_POLICY": conflict, "SINGLETON_REUSE_POLICY": reuse, **more}


@pytest.fixture
def rows_at_start(durable: DurableStandin, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any] | None]:
    """The instance row as each start request found it, so a test sees what a start replaced."""
    rows: list[dict[str, Any] | None] = []
    original = durable._handle_start

    async def recording(request: web.Request, function_name: str, instance_id: str) -> web.StreamResponse:
        rows.append(durable.instance(instance_id))
        return await original(request, function_name, instance_id)

    monkeypatch.setattr(durable, "_handle_start", recording)
    return rows


def assert_started(response: func.HttpResponse, durable: DurableStandin, instance_id: str) -> None:
    """202 with the management links of the new instance, whose input is the request's."""
    assert_check_status_answer(response, instance_id)
    assert "Idempotent-Replayed" not in response.headers
    assert durable.row(instance_id)["runtimeStatus"] == "Pending"
    assert json.loads(durable.row(instance_id)["input"]) == NEW_INPUT


def assert_conflict(response: func.HttpResponse, instance_id: str, runtime_status: str) -> None:
    """409 naming the instance in the way and linking to it."""
    assert response.status_code == 409
    body = body_of(response)
    assert body["error"] == "conflict"
    assert body["instanceId"] == instance_id
    assert body["runtimeStatus"] == runtime_status
    assert body["createdTime"].endswith("Z")
    assert MANAGEMENT_KEYS - {"id"} <= set(body)
    assert response.headers["Location"] == body["statusQueryGetUri"]


@pytest.mark.parametrize("reuse", REUSE_POLICIES)
@pytest.mark.parametrize("conflict", CONFLICT_POLICIES)
async def test_missing_instance_is_started_under_every_policy_pair(
    load_app: LoadApp, durable: DurableStandin, conflict: str, reuse: str
) -> None:
    app = await load_app(**policies(conflict, reuse))
    instance_id = new_instance_id()

    response = await app.post(instance_id, NEW_INPUT)

    assert_started(response, durable, instance_id)
    assert started_inputs(durable, instance_id) == [NEW_INPUT]
    assert durable.calls["terminate"] == 0


@pytest.mark.parametrize("reuse", REUSE_POLICIES)
@pytest.mark.parametrize("state", ACTIVE_STATES)
async def test_active_instance_under_reject_gets_409_and_starts_nothing(
    load_app: LoadApp, durable: DurableStandin, state: str, reuse: str
) -> None:
    app = await load_app(**policies("reject", reuse))
    instance_id = new_instance_id()
    execution_id = seed(durable, instance_id, state)

    response = await app.post(instance_id, NEW_INPUT)

    assert_conflict(response, instance_id, state)
    assert "already" in body_of(response)["message"]
    assert durable.calls["start"] == 0
    assert durable.calls["terminate"] == 0
    assert durable.row(instance_id)["runtimeStatus"] == state
    assert durable.row(instance_id)["executionId"] == execution_id


@pytest.mark.parametrize("reuse", REUSE_POLICIES)
@pytest.mark.parametrize("state", ACTIVE_STATES)
async def test_active_instance_under_use_existing_gets_200_with_its_links_and_starts_nothing(
    load_app: LoadApp, durable: DurableStandin, state: str, reuse: str
) -> None:
    """The caller is pointed at the running instance as if it had started it, without a lease."""
    app = await load_app(**policies("use-existing", reuse))
    instance_id = new_instance_id()
    execution_id = seed(durable, instance_id, state)

    response = await app.post(instance_id, NEW_INPUT)

    assert response.status_code == 200
    body = body_of(response)
    assert MANAGEMENT_KEYS <= set(body)
    assert body["id"] == instance_id
    assert response.headers["Location"] == body["statusQueryGetUri"]
    assert durable.calls["start"] == 0
    assert durable.calls["terminate"] == 0
    assert durable.row(instance_id)["runtimeStatus"] == state
    assert durable.row(instance_id)["executionId"] == execution_id
    # A lease asked for while the read was on its way is given back, in the background.
    await app.endpoint.flights.drain()
    assert await lease_state(app.endpoint.locks.container, TASK_HUB, instance_id) == "available"


@pytest.mark.parametrize("reuse", REUSE_POLICIES)
@pytest.mark.parametrize("state", RAN_STATES)
async def test_active_instance_under_terminate_existing_is_terminated_with_a_reason_then_replaced(
    load_app: LoadApp,
    durable: DurableStandin,
    rows_at_start: list[dict[str, Any] | None],
    state: str,
    reuse: str,
) -> None:
    app = await load_app(**policies("terminate-existing", reuse))
    instance_id = new_instance_id()
    execution_id = seed(durable, instance_id, state)

    response = await app.post(instance_id, NEW_INPUT)

    assert_started(response, durable, instance_id)
    assert durable.calls["terminate"] == 1
    assert started_inputs(durable, instance_id) == [NEW_INPUT]
    [replaced] = rows_at_start
    assert replaced is not None
    assert replaced["executionId"] == execution_id
    assert replaced["runtimeStatus"] == "Terminated"
    assert str(replaced["output"]).startswith(TERMINATE_REASON)
    assert durable.row(instance_id)["executionId"] != execution_id
    await app.endpoint.locks.drain()  # the release goes on after the answer
    assert await lease_state(app.endpoint.locks.container, TASK_HUB, instance_id) == "available"


async def test_a_pending_instance_under_terminate_existing_is_not_sent_a_terminate_and_nothing_starts(
    load_app: LoadApp, durable: DurableStandin
) -> None:
    """A terminate processed before the instance's ExecutionStarted is dropped, or only marks its row Terminated
    while the instance still runs (docs/model.md): so it is not sent, and the start answers 503 with nothing sent."""
    app = await load_app(**policies("terminate-existing", "allow-ended", SINGLETON_REQUEST_TIMEOUT_SECONDS="2"))
    instance_id = new_instance_id()
    execution_id = seed(durable, instance_id, "Pending")

    response = await app.post(instance_id, NEW_INPUT)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "has not started running yet" in body_of(response)["message"]
    assert durable.calls["terminate"] == 0
    assert durable.calls["start"] == 0
    assert durable.row(instance_id)["executionId"] == execution_id


async def test_a_pending_instance_that_runs_while_terminate_existing_waits_is_terminated_then_replaced(
    load_app: LoadApp, durable: DurableStandin
) -> None:
    app = await load_app(**policies("terminate-existing", "allow-ended"))
    instance_id = new_instance_id()
    execution_id = seed(durable, instance_id, "Pending")
    asyncio.get_running_loop().call_later(0.3, durable.set_status, instance_id, "Running")

    response = await app.post(instance_id, NEW_INPUT)

    assert_started(response, durable, instance_id)
    assert durable.calls["terminate"] == 1
    assert durable.row(instance_id)["executionId"] != execution_id


@pytest.mark.parametrize("conflict", CONFLICT_POLICIES)
@pytest.mark.parametrize(("reuse", "state"), REPLACED_CELLS)
async def test_ended_instance_the_reuse_policy_allows_is_replaced_whatever_the_conflict_policy(
    load_app: LoadApp,
    durable: DurableStandin,
    rows_at_start: list[dict[str, Any] | None],
    reuse: str,
    state: str,
    conflict: str,
) -> None:
    app = await load_app(**policies(conflict, reuse))
    instance_id = new_instance_id()
    execution_id = seed(durable, instance_id, state)

    response = await app.post(instance_id, NEW_INPUT)

    assert_started(response, durable, instance_id)
    assert started_inputs(durable, instance_id) == [NEW_INPUT]
    assert durable.calls["terminate"] == 0
    [replaced] = rows_at_start
    assert replaced is not None
    assert (replaced["executionId"], replaced["runtimeStatus"]) == (execution_id, state)


@pytest.mark.parametrize("conflict", CONFLICT_POLICIES)
@pytest.mark.parametrize(("reuse", "state"), KEPT_CELLS)
async def test_ended_instance_the_reuse_policy_forbids_gets_409_whatever_the_conflict_policy(
    load_app: LoadApp, durable: DurableStandin, reuse: str, state: str, conflict: str
) -> None:
    app = await load_app(**policies(conflict, reuse))
    instance_id = new_instance_id()
    execution_id = seed(durable, instance_id, state)

    response = await app.post(instance_id, NEW_INPUT)

    assert_conflict(response, instance_id, state)
    assert "reuse policy" in body_of(response)["message"]
    assert durable.calls["start"] == 0
    assert durable.calls["terminate"] == 0
    assert durable.row(instance_id)["executionId"] == execution_id


def terminate_accepted_but_never_applied(durable: DurableStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    """The extension queues the terminate (202) but the orchestration never processes it."""

    async def accepted(request: web.Request, instance_id: str) -> web.StreamResponse:
        return durable._empty(202)

    monkeypatch.setattr(durable, "_handle_terminate", accepted)


def terminate_refused(durable: DurableStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    """The extension answers the terminate with a 500 and applies nothing."""
    durable.inject_fault("terminate", "error")


@pytest.mark.parametrize("break_terminate", [terminate_accepted_but_never_applied, terminate_refused])
async def test_instance_that_does_not_reach_terminated_gets_503_after_the_bounded_wait_and_the_id_stays_held(
    load_app: LoadApp,
    durable: DurableStandin,
    monkeypatch: pytest.MonkeyPatch,
    break_terminate: Callable[[DurableStandin, pytest.MonkeyPatch], None],
) -> None:
    app = await load_app(**policies("terminate-existing", "allow-ended", SINGLETON_TERMINATE_WAIT_SECONDS="0.5"))
    instance_id = new_instance_id()
    execution_id = seed(durable, instance_id, "Running")
    break_terminate(durable, monkeypatch)

    began = time.monotonic()
    response = await app.post(instance_id, NEW_INPUT)
    elapsed = time.monotonic() - began

    assert response.status_code == 503
    assert body_of(response)["error"] == "unavailable"
    assert response.headers["Retry-After"].isdigit()
    assert 0.5 <= elapsed < 3
    assert durable.calls["terminate"] == 1
    assert durable.calls["start"] == 0
    assert durable.effective_starts == []
    assert durable.row(instance_id)["runtimeStatus"] == "Running"
    assert durable.row(instance_id)["executionId"] == execution_id
    # The terminate may still be queued: it would hit a new execution, so the lease is left to expire.
    await app.endpoint.locks.drain()
    assert await lease_state(app.endpoint.locks.container, TASK_HUB, instance_id) == "leased"


@pytest.mark.parametrize(
    ("setting", "allowed"),
    [
        ("SINGLETON_CONFLICT_POLICY", "reject, use-existing, terminate-existing"),
        ("SINGLETON_REUSE_POLICY", "allow-ended, allow-failed, reject-duplicate"),
    ],
)
async def test_unknown_policy_value_fails_the_function_at_load_naming_the_setting_and_its_values(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, setting: str, allowed: str
) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv(setting, "replace-always")
    with pytest.raises(SettingsError) as raised:
        load_function("HttpStartSingle")
    assert setting in str(raised.value)
    assert allowed in str(raised.value)
    assert "replace-always" in str(raised.value)


async def contend(app: StartApp, instance_id: str) -> list[func.HttpResponse]:
    """CONTENDERS concurrent starts of one ID, each with its own input {"n": i}, in a bounded time."""
    began = time.monotonic()
    posts: list[Awaitable[func.HttpResponse]] = [app.post(instance_id, {"n": n}) for n in range(CONTENDERS)]
    responses = await asyncio.wait_for(asyncio.gather(*posts), 20)
    assert time.monotonic() - began < 20
    return responses


def started_input(responses: list[func.HttpResponse], status: int) -> list[dict[str, int]]:
    return [{"n": n} for n, response in enumerate(responses) if response.status_code == status]


async def test_50_concurrent_starts_under_reject_give_one_202_and_49_409(
    load_app: LoadApp, durable: DurableStandin
) -> None:
    app = await load_app(**policies("reject", "allow-ended"))
    durable.race_window_seconds = 0.05
    instance_id = new_instance_id()

    responses = await contend(app, instance_id)

    assert Counter(response.status_code for response in responses) == {202: 1, 409: CONTENDERS - 1}
    assert started_inputs(durable, instance_id) == started_input(responses, 202)
    assert len(durable.enqueued_starts) == 1


async def test_50_concurrent_starts_under_use_existing_give_one_202_and_49_200_for_the_same_instance(
    load_app: LoadApp, durable: DurableStandin
) -> None:
    app = await load_app(**policies("use-existing", "allow-ended"))
    durable.race_window_seconds = 0.05
    instance_id = new_instance_id()

    responses = await contend(app, instance_id)

    assert Counter(response.status_code for response in responses) == {202: 1, 200: CONTENDERS - 1}
    assert started_inputs(durable, instance_id) == started_input(responses, 202)
    assert len(durable.enqueued_starts) == 1
    assert {body_of(response)["statusQueryGetUri"] for response in responses} == {
        body_of(responses[0])["statusQueryGetUri"]
    }


async def test_50_concurrent_starts_under_terminate_existing_replace_one_instance_at_a_time(
    load_app: LoadApp, durable: DurableStandin, rows_at_start: list[dict[str, Any] | None]
) -> None:
    """Each 202 is one start made under the lease after the previous instance was Terminated.

    So no start ever met an active instance, none was a quiet loser, and every 202 is its own input's
    start; requests that never got the lease within its wait budget get 503 and started nothing.
    """
    app = await load_app(**policies("terminate-existing", "allow-ended", SINGLETON_LOCK_WAIT_SECONDS="2"))
    durable.race_window_seconds = 0.05
    durable.run_seconds = 600  # each started instance runs (a Pending one is not sent a terminate) and stays
    instance_id = new_instance_id()

    responses = await contend(app, instance_id)

    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) <= {202, 503}
    accepted = statuses[202]
    assert accepted >= 2
    assert sorted(started_inputs(durable, instance_id), key=lambda value: value["n"]) == started_input(responses, 202)
    assert durable.calls["start"] == len(durable.enqueued_starts) == accepted
    assert durable.calls["terminate"] == accepted - 1
    first, *replaced = rows_at_start
    assert first is None
    assert len(replaced) == accepted - 1
    for row in replaced:
        assert row is not None
        assert row["runtimeStatus"] == "Terminated"
        assert str(row["output"]).startswith(TERMINATE_REASON)
    assert json.loads(durable.row(instance_id)["input"]) == started_inputs(durable, instance_id)[-1]
    # The last one is active (its ExecutionStarted may still wait its turn in the control queue).
    assert durable.row(instance_id)["runtimeStatus"] in ("Pending", "Running")
