"""HttpSignal in-process, over Azurite and the stand-in: the event goes to the running instance, or the instance is
started first with the request's input; one start however many signals come at once, and every event reaches it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from tests.conftest import body_of, new_instance_id
from tests.support.azurite import Azurite
from tests.support.durable_standin import DurableStandin
from tests.support.observe import MANAGEMENT_KEYS
from tests.support.worker import PUBLIC_BASE_URL, LoadedFunction, app_defining, invoke, load_function, route_request

pytestmark = pytest.mark.asyncio(loop_scope="session")

ORCHESTRATOR = "SingletonOrchestrator"
OTHER = "BillingOrchestrator"
EVENT = "Work"


@pytest.fixture
def signal_route(
    azurite: Azurite, durable: DurableStandin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> LoadedFunction:
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("SINGLETON_ORCHESTRATORS", f"{ORCHESTRATOR},{OTHER}")
    monkeypatch.setenv("AzureWebJobsScriptRoot", app_defining(tmp_path, ORCHESTRATOR, OTHER))
    durable.run_seconds = 600  # a started instance is picked up and runs
    return load_function("HttpSignal")


async def post(
    route: LoadedFunction,
    durable: DurableStandin,
    instance_id: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    event: str = EVENT,
    function_name: str = ORCHESTRATOR,
    headers: dict[str, str] | None = None,
) -> func.HttpResponse:
    url = f"{PUBLIC_BASE_URL}/api/orchestrators/{function_name}/{instance_id}/signal/{event}"
    params = {"functionName": function_name, "instanceId": instance_id, "eventName": event}
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    request = route_request("POST", url, params, data, {"Content-Type": "application/json", **(headers or {})})
    response: func.HttpResponse = await invoke(route, req=request, starter=durable.starter_binding())
    return response


def events_of(durable: DurableStandin, instance_id: str) -> list[tuple[str, Any]]:
    """The events that reached an execution of the ID, with their data, as the orchestrator receives them."""
    return [
        (message.event_name or "", message.data)
        for execution in durable.world.executions.values()
        if execution.instance_id == instance_id
        for message in execution.events
    ]


def started_inputs(durable: DurableStandin, instance_id: str) -> list[Any]:
    return [json.loads(entry[2]) if entry[2] else None for entry in durable.effective_starts if entry[0] == instance_id]


async def test_a_signal_for_an_absent_id_starts_it_with_the_input_and_delivers_the_event(
    signal_route: LoadedFunction, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()

    response = await post(signal_route, durable, instance_id, {"input": {"workItems": 2}, "data": {"file": "a.csv"}})

    assert response.status_code == 202
    body = body_of(response)
    assert body["started"] is True and body["id"] == instance_id
    assert MANAGEMENT_KEYS <= set(body)
    assert response.headers["Location"] == body["statusQueryGetUri"]
    assert started_inputs(durable, instance_id) == [{"workItems": 2}]
    assert events_of(durable, instance_id) == [(EVENT, {"file": "a.csv"})]


async def test_a_signal_to_a_running_instance_delivers_the_event_and_starts_nothing(
    signal_route: LoadedFunction, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running", '{"n": 1}')

    response = await post(signal_route, durable, instance_id, {"input": {"n": 2}, "data": [1, 2]})

    assert response.status_code == 202
    assert body_of(response)["started"] is False
    assert durable.calls["start"] == 0
    assert events_of(durable, instance_id) == [(EVENT, [1, 2])]


async def test_an_empty_body_is_an_empty_object_no_input_and_no_data(
    signal_route: LoadedFunction, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()

    response = await post(signal_route, durable, instance_id)

    assert response.status_code == 202 and body_of(response)["started"] is True
    assert started_inputs(durable, instance_id) == [None]
    assert events_of(durable, instance_id) == [(EVENT, None)]


async def test_an_active_instance_of_another_orchestrator_is_409_whatever_the_conflict_policy(
    signal_route: LoadedFunction, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, OTHER, "Running", None)

    response = await post(signal_route, durable, instance_id, {"data": 1})

    assert response.status_code == 409
    assert body_of(response)["error"] == "conflict" and body_of(response)["runtimeStatus"] == "Running"
    assert durable.calls["start"] == 0 and events_of(durable, instance_id) == []


async def test_an_ended_instance_the_reuse_policy_keeps_is_409(
    azurite: Azurite, durable: DurableStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SINGLETON_REUSE_POLICY", "reject-duplicate")
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    route = load_function("HttpSignal")
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Completed", None)

    response = await post(route, durable, instance_id, {"data": 1})

    assert response.status_code == 409
    assert durable.calls["start"] == 0


async def test_an_ended_instance_the_reuse_policy_allows_is_replaced_and_signalled(
    signal_route: LoadedFunction, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Failed", '{"n": 1}')

    response = await post(signal_route, durable, instance_id, {"input": {"n": 2}, "data": "go"})

    assert response.status_code == 202 and body_of(response)["started"] is True
    assert started_inputs(durable, instance_id) == [{"n": 2}]
    assert events_of(durable, instance_id) == [(EVENT, "go")]


async def test_a_start_whose_instance_has_not_run_is_503_and_the_same_request_again_delivers_and_starts_nothing(
    signal_route: LoadedFunction, durable: DurableStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    durable.run_seconds = None  # no worker: the new instance stays Pending
    monkeypatch.setenv("SINGLETON_REQUEST_TIMEOUT_SECONDS", "2")
    route = load_function("HttpSignal")
    instance_id = new_instance_id()

    first = await post(route, durable, instance_id, {"input": {"n": 1}, "data": "x"})

    assert first.status_code == 503 and first.headers["Retry-After"] == "5"
    assert "This request started the instance" in body_of(first)["message"]
    assert events_of(durable, instance_id) == []
    durable.set_status(instance_id, "Running")

    again = await post(route, durable, instance_id, {"input": {"n": 1}, "data": "x"})

    assert again.status_code == 202 and body_of(again)["started"] is False
    assert started_inputs(durable, instance_id) == [{"n": 1}]
    assert events_of(durable, instance_id) == [(EVENT, "x")]


async def test_a_keyed_signal_sent_again_replays_its_first_answer_and_neither_starts_nor_sends_again(
    signal_route: LoadedFunction, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    key = {"Idempotency-Key": "work-7"}

    first = await post(signal_route, durable, instance_id, {"input": {"n": 1}, "data": "x"}, headers=key)
    again = await post(signal_route, durable, instance_id, {"input": {"n": 1}, "data": "x"}, headers=key)
    reused = await post(signal_route, durable, instance_id, {"input": {"n": 1}, "data": "y"}, headers=key)

    assert first.status_code == 202 and "Idempotent-Replayed" not in first.headers
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert body_of(again) == body_of(first) and body_of(again)["started"] is True
    assert reused.status_code == 422 and body_of(reused)["error"] == "idempotency_key_reused"
    assert started_inputs(durable, instance_id) == [{"n": 1}]
    assert events_of(durable, instance_id) == [(EVENT, "x")]


async def test_a_keyed_signal_whose_start_landed_unrun_keeps_the_id_until_its_lease_runs_out(
    signal_route: LoadedFunction, durable: DurableStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its retry tells the key's instance by the window the start could land in, so no start may come in that
    window: the lease is left to run out, and a retry meanwhile waits, then answers 503 with nothing sent again.
    (tests/test_virtual_routes.py follows the retry after the lease, on virtual time, to the event's delivery.)"""
    durable.run_seconds = None  # no worker: the new instance stays Pending
    monkeypatch.setenv("SINGLETON_REQUEST_TIMEOUT_SECONDS", "2")
    route = load_function("HttpSignal")
    instance_id, key = new_instance_id(), {"Idempotency-Key": "work-8"}

    first = await post(route, durable, instance_id, {"input": {"n": 1}, "data": "x"}, headers=key)
    durable.set_status(instance_id, "Running")
    again = await post(route, durable, instance_id, {"input": {"n": 1}, "data": "x"}, headers=key)

    assert first.status_code == 503 and "This request started the instance" in body_of(first)["message"]
    assert again.status_code == 503 and "Retry-After" in again.headers
    assert started_inputs(durable, instance_id) == [{"n": 1}]
    assert events_of(durable, instance_id) == []


async def test_a_keyed_signal_to_a_running_instance_is_sent_once_however_often_it_comes(
    signal_route: LoadedFunction, durable: DurableStandin
) -> None:
    instance_id, key = new_instance_id(), {"Idempotency-Key": "work-9"}
    durable.add_instance(instance_id, ORCHESTRATOR, "Running", '{"n": 1}')

    answers = [await post(signal_route, durable, instance_id, {"data": "b"}, headers=key) for _ in range(3)]

    assert [a.status_code for a in answers] == [202] * 3
    assert [body_of(a)["started"] for a in answers] == [False] * 3
    assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None, "true", "true"]
    assert events_of(durable, instance_id) == [(EVENT, "b")]


async def test_30_concurrent_signals_for_an_absent_id_start_it_once_and_all_30_events_reach_it(
    signal_route: LoadedFunction, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()

    responses = await asyncio.gather(
        *(post(signal_route, durable, instance_id, {"input": {"n": n}, "data": n}) for n in range(30))
    )

    assert [response.status_code for response in responses] == [202] * 30
    started = [body_of(response)["started"] for response in responses]
    assert started.count(True) == 1
    assert len(started_inputs(durable, instance_id)) == 1
    assert sorted(data for _, data in events_of(durable, instance_id)) == list(range(30))
    executions = {message.hit for execution in durable.world.executions.values() for message in execution.events}
    assert len(executions) == 1


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"[1, 2]", "invalid_json"),
        (b'{"input": 1, "extra": 2}', "invalid_json"),
        (b"{nope", "invalid_json"),
    ],
)
async def test_a_body_that_is_not_an_object_of_input_and_data_is_400_and_starts_nothing(
    signal_route: LoadedFunction, durable: DurableStandin, raw: bytes, error: str
) -> None:
    response = await post(signal_route, durable, new_instance_id(), raw=raw)

    assert response.status_code == 400 and body_of(response)["error"] == error
    assert durable.calls["start"] == 0


async def test_a_bad_event_name_or_an_orchestrator_outside_the_allowlist_starts_nothing(
    signal_route: LoadedFunction, durable: DurableStandin
) -> None:
    bad_event = await post(signal_route, durable, new_instance_id(), {"data": 1}, event="no spaces")
    unknown = await post(signal_route, durable, new_instance_id(), {"data": 1}, function_name="Nope")

    assert (bad_event.status_code, body_of(bad_event)["error"]) == (400, "invalid_event_name")
    assert (unknown.status_code, body_of(unknown)["error"]) == (404, "unknown_orchestrator")
    assert durable.calls["start"] == 0
