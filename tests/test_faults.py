"""Faults in storage and in the Durable backend: bounded answers, no double start, and recovery
by the very next good request without restarting anything."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import azure.functions as func
import pytest
import pytest_asyncio

from singleton_start.adapters.blob_lease import RELEASE_TIMEOUT_SECONDS
from tests.conftest import TASK_HUB, LoadApp, StartApp, body_of, new_instance_id
from tests.support.azurite import Azurite
from tests.support.durable_standin import DurableStandin
from tests.support.observe import enqueued_inputs, lease_state, poll_until, started_inputs, status_codes, timed

if TYPE_CHECKING:
    from tests.support.scenario_report import ScenarioReport

pytest_plugins = ["tests.support.scenario_report"]
pytestmark = pytest.mark.asyncio(loop_scope="session")

ATTEMPTS = 3
FAST_FAILING = {"SINGLETON_BACKEND_TIMEOUT_SECONDS": "0.3", "SINGLETON_START_ATTEMPTS": str(ATTEMPTS)}
# Event-loop scheduling on a busy test machine, on top of what the settings allow.
SCHEDULING_SLACK_SECONDS = 0.5
CALL_NAMES = {"status": "status read", "start": "start"}


def assert_unavailable(response: func.HttpResponse) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert body_of(response)["error"] == "unavailable"


@pytest.fixture(scope="module")
def own_azurite() -> Iterator[Azurite]:
    """An Azurite of this module's own, which its test stops and starts; others use the session one."""
    server = Azurite()
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def app_on_own_azurite(own_azurite: Azurite, load_app: LoadApp) -> StartApp:
    return await load_app(AzureWebJobsStorage=own_azurite.connection_string)


async def test_storage_down_gives_503_and_storage_back_serves_the_next_request(
    app_on_own_azurite: StartApp, own_azurite: Azurite, durable: DurableStandin, scenario_report: ScenarioReport
) -> None:
    """Without storage there is no lock, so nothing may start; Azurite comes back empty (in memory),
    so the app must make its lock container again."""
    app = app_on_own_azurite
    before = await app.post(new_instance_id(), {"n": 0})
    instance_id = new_instance_id()
    own_azurite.stop()
    try:
        refused, took = await timed(app.post(instance_id, {"n": 1}))
    finally:
        own_azurite.start()
    containers_made = app.endpoint.locks.calls["container_create"]
    again = await app.post(instance_id, {"n": 1})
    scenario_report.record(
        "Azurite stopped, then started again (in memory, so empty)",
        status_codes([before, refused, again]),
        len(durable.effective_starts),
    )

    assert before.status_code == 202
    assert_unavailable(refused)
    assert took < 10
    assert again.status_code == 202
    assert started_inputs(durable, instance_id) == [{"n": 1}]
    assert enqueued_inputs(durable, instance_id) == [{"n": 1}]
    assert app.endpoint.locks.calls["container_create"] == containers_made + 1


@pytest.mark.parametrize(
    ("kind", "mode", "times"),
    [
        ("status", "error", ATTEMPTS),
        ("status", "timeout", ATTEMPTS),
        # aiohttp sends an idempotent GET again once after a dropped connection.
        ("status", "drop", 2 * ATTEMPTS),
    ],
)
async def test_backend_fault_is_retried_a_bounded_number_of_times_then_503_and_the_next_request_starts(
    load_app: LoadApp,
    durable: DurableStandin,
    scenario_report: ScenarioReport,
    kind: str,
    mode: str,
    times: int,
) -> None:
    """A fault that outlasts the retries costs one 503 and nothing started; it leaves nothing behind."""
    app = await load_app(**FAST_FAILING)
    durable.inject_fault(kind, mode, times=times)
    instance_id = new_instance_id()

    failed = await app.post(instance_id, {"n": 1})
    calls = durable.calls[kind]
    started_meanwhile = len(durable.enqueued_starts)
    recovered = await app.post(instance_id, {"n": 1})
    scenario_report.record(
        f"backend {CALL_NAMES[kind]} fails ({mode}) on every attempt, then recovers",
        [failed.status_code, recovered.status_code],
        len(durable.effective_starts),
    )

    assert_unavailable(failed)
    assert calls == times
    assert started_meanwhile == 0
    assert recovered.status_code == 202
    assert started_inputs(durable, instance_id) == [{"n": 1}]


@pytest.mark.parametrize("mode", ["error", "timeout", "drop"])
async def test_start_of_unknown_outcome_that_never_lands_is_503_at_the_deadline_and_its_lease_is_left_to_expire(
    load_app: LoadApp, durable: DurableStandin, scenario_report: ScenarioReport, mode: str
) -> None:
    """The start fails without a clear answer: it may still land, so it is never sent again (a second send
    could run the same input twice), the holder keeps the lease past its answer, and a retry before the
    lease expires cannot start the ID."""
    app = await load_app(**FAST_FAILING, SINGLETON_REQUEST_TIMEOUT_SECONDS="1.2", SINGLETON_LOCK_WAIT_SECONDS="0.3")
    durable.inject_fault("start", mode, times=ATTEMPTS)
    instance_id = new_instance_id()

    failed = await app.post(instance_id, {"n": 1})
    retry = await app.post(instance_id, {"n": 1})
    scenario_report.record(
        f"backend start fails ({mode}) without a clear answer, then retried at once",
        [failed.status_code, retry.status_code],
        len(durable.effective_starts),
    )

    assert_unavailable(failed)
    assert failed.headers["Retry-After"] == str(app.endpoint.settings.lock_lease_seconds)
    assert durable.calls["start"] == 1
    assert await lease_state(app.endpoint.locks.container, TASK_HUB, instance_id) == "leased"
    assert_unavailable(retry)
    assert durable.calls["start"] == 1
    assert durable.enqueued_starts == []


@pytest.mark.parametrize("mode", ["drop_after", "error_after"])
async def test_start_that_went_through_is_answered_202_and_a_retry_of_it_starts_nothing(
    load_app: LoadApp, durable: DurableStandin, scenario_report: ScenarioReport, mode: str
) -> None:
    """The status read under the lease lets the read after a lost answer show our own start: it is neither
    reported as a failure nor made again, and the caller's retry is told it already runs. (A keyed request
    reads under the lease; see test_unkeyed_start_whose_answer_is_lost_in_the_grants_second_may_still_run.)"""
    app = await load_app(**FAST_FAILING, SINGLETON_REUSE_POLICY="reject-duplicate")
    durable.inject_fault("start", mode)
    instance_id = new_instance_id()

    first = await app.post(instance_id, {"n": 1})
    retry = await app.post(instance_id, {"n": 1})
    scenario_report.record(
        f"start applied but its answer lost ({mode}), then retried",
        [first.status_code, retry.status_code],
        len(durable.effective_starts),
    )

    assert first.status_code == 202
    assert retry.status_code == 409
    assert durable.calls["start"] == 1
    assert enqueued_inputs(durable, instance_id) == [{"n": 1}]


@pytest.mark.parametrize("mode", ["drop_after", "error_after"])
async def test_unkeyed_start_whose_answer_is_lost_in_the_grants_second_may_still_run_and_holds_the_id(
    load_app: LoadApp, durable: DurableStandin, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Under the default policies the first read stands in for the read under the lease, so a lost answer is
    settled by time: an instance made in the second the lease was granted may be another start's that slipped
    in before the lease. The caller hears "may still run" (503), the ID stays held, nothing is sent again."""
    app = await load_app(**FAST_FAILING)
    durable.inject_fault("start", mode)
    instance_id = new_instance_id()
    frozen = datetime.now(UTC)
    monkeypatch.setattr(durable, "_now", lambda: frozen)

    first = await app.post(instance_id, {"n": 1})
    retry = await app.post(instance_id, {"n": 1})

    assert_unavailable(first)
    assert first.headers["Retry-After"] == str(app.endpoint.settings.lock_lease_seconds)
    assert retry.status_code == 409
    assert durable.calls["start"] == 1
    assert enqueued_inputs(durable, instance_id) == [{"n": 1}]
    assert await lease_state(app.endpoint.locks.container, TASK_HUB, instance_id) == "leased"


async def test_start_that_went_through_while_status_reads_fail_is_503_never_started_twice_and_blocks_others(
    load_app: LoadApp, durable: DurableStandin, scenario_report: ScenarioReport
) -> None:
    """When the answer of a start is lost and no read can confirm it up to the deadline, the app cannot
    tell: it answers 503, sends no second start and leaves the lease held; a retry then finds the instance."""
    app = await load_app(**FAST_FAILING, SINGLETON_REQUEST_TIMEOUT_SECONDS="1.2", SINGLETON_LOCK_WAIT_SECONDS="0.3")
    durable.latency_seconds = 0.1  # room to queue the read faults while the start is in flight
    durable.inject_fault("start", "drop_after")
    instance_id = new_instance_id()

    request = asyncio.create_task(app.post(instance_id, {"n": 1}))
    await poll_until(lambda: durable.calls["start"] > 0 or request.done(), seconds=5)
    durable.inject_fault("status", "error", times=1000)
    first = await request
    lease_after_answer = await lease_state(app.endpoint.locks.container, TASK_HUB, instance_id)
    durable.clear_faults()
    retry = await app.post(instance_id, {"n": 2})
    scenario_report.record(
        "start applied, answer lost and every confirming read fails, then retried",
        [first.status_code, retry.status_code],
        len(durable.effective_starts),
    )

    assert_unavailable(first)
    assert lease_after_answer == "leased"
    assert retry.status_code == 409
    assert durable.calls["start"] == 1
    assert enqueued_inputs(durable, instance_id) == [{"n": 1}]


async def test_slow_backend_answers_every_request_within_the_request_deadline(
    load_app: LoadApp, durable: DurableStandin, scenario_report: ScenarioReport
) -> None:
    """Half a second per backend call slows the answers but changes none of them."""
    request_timeout = 3.0
    app = await load_app(SINGLETON_REQUEST_TIMEOUT_SECONDS=str(request_timeout), SINGLETON_BACKEND_TIMEOUT_SECONDS="1")
    durable.latency_seconds = 0.5
    instance_id = new_instance_id()

    results = await asyncio.gather(*(timed(app.post(instance_id, {"n": n})) for n in range(10)))
    codes = status_codes([response for response, _ in results])
    scenario_report.record("10 concurrent POSTs, backend 0.5 s per call", codes, len(durable.effective_starts))

    assert sorted(codes) == [202] + [409] * 9
    assert max(took for _, took in results) <= request_timeout + RELEASE_TIMEOUT_SECONDS + SCHEDULING_SLACK_SECONDS
    assert started_inputs(durable, instance_id) == [{"n": codes.index(202)}]


@pytest.mark.parametrize("kind", ["status", "start"])
async def test_hanging_backend_is_cut_off_by_the_request_deadline(
    load_app: LoadApp, durable: DurableStandin, scenario_report: ScenarioReport, kind: str
) -> None:
    """Each call gets only what is left of the request's time, so a backend that never answers costs
    at most the request deadline plus the lease release, however long one call may take."""
    request_timeout = 1.0
    app = await load_app(SINGLETON_REQUEST_TIMEOUT_SECONDS=str(request_timeout), SINGLETON_BACKEND_TIMEOUT_SECONDS="5")
    durable.inject_fault(kind, "timeout", times=100)
    instance_id = new_instance_id()

    response, took = await timed(app.post(instance_id, {"n": 1}))
    scenario_report.record(f"backend {kind} hangs", [response.status_code], len(durable.effective_starts))

    assert_unavailable(response)
    assert took <= request_timeout + RELEASE_TIMEOUT_SECONDS + SCHEDULING_SLACK_SECONDS
    assert durable.enqueued_starts == []


async def test_start_whose_arguments_the_extension_refuses_is_a_500_sent_once_and_the_lease_is_released(
    app: StartApp, durable: DurableStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An orchestrator the app allows but the function app lacks: a clear refusal, so nothing may land,
    and retrying cannot help."""
    monkeypatch.setattr(durable, "orchestrators", {"someotherorchestrator"})
    instance_id = new_instance_id()

    response = await app.post(instance_id, {"n": 1})

    assert response.status_code == 500
    assert body_of(response)["error"] == "internal"
    assert durable.calls["start"] == 1
    assert durable.enqueued_starts == []
    await app.endpoint.locks.drain()  # the release goes on after the answer
    assert await lease_state(app.endpoint.locks.container, TASK_HUB, instance_id) == "available"
