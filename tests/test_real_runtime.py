"""The function folders loaded and invoked by the real v1 worker runtime, as the host drives it on Python 3.13+.

Each test sends what the host sends and checks the runtime's answer equals what the worker-like
loader of the rest of the suite gets for the same input, so both loaders are held to one behaviour.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import azure.functions as func
import pytest
import pytest_asyncio

from tests.conftest import StartApp, body_of, new_instance_id
from tests.support.azurite import Azurite
from tests.support.durable_standin import DurableStandin
from tests.support.observe import decoded, started_inputs
from tests.support.runtime import FunctionRuntime, HttpAnswer, RuntimeFailure, runtime_available, start_runtime
from tests.support.worker import load_function
from tests.test_manage_routes import Routes
from tests.test_orchestrator_replay import History, cycle_scheduled, payloads

_unavailable = runtime_available()
pytestmark = [
    pytest.mark.skipif(_unavailable is not None, reason=_unavailable or ""),
    pytest.mark.asyncio(loop_scope="session"),
]

START = "HttpStartSingle"
STATUS, TERMINATE, EVENT, SIGNAL = "HttpGetStatus", "HttpTerminate", "HttpRaiseEvent", "HttpSignal"
HTTP_FUNCTIONS = (START, STATUS, TERMINATE, EVENT, SIGNAL)
ORCHESTRATOR = "SingletonOrchestrator"
ACTIVITY = "SampleActivity"
PLACEHOLDER = "INSTANCE-ID"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def runtime(azurite: Azurite, durable_server: DurableStandin) -> AsyncIterator[FunctionRuntime]:
    """Every function folder loaded once through the runtime, with storage on Azurite."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AzureWebJobsStorage", azurite.connection_string)
        loaded = await start_runtime()
    yield loaded
    for name in HTTP_FUNCTIONS:
        await loaded.module(name).endpoint.close()


async def post_start(
    runtime: FunctionRuntime, durable: DurableStandin, instance_id: str, body: bytes = b"", **headers: str
) -> HttpAnswer:
    """POST api/orchestrators/SingletonOrchestrator/{instanceId} through the runtime."""
    route = {"functionName": ORCHESTRATOR, "instanceId": instance_id}
    starter = runtime.string(durable.starter_binding())
    return await runtime.http(START, route, body=body, headers=headers, starter=starter)


def answer_of_runtime(answer: HttpAnswer, instance_id: str) -> tuple[int, str | None, Any]:
    return answer.status_code, answer.headers.get("Content-Type"), _without(answer.json(), instance_id)


def answer_of_loader(response: Any, instance_id: str) -> tuple[int, str | None, Any]:
    return response.status_code, response.headers.get("Content-Type"), _without(body_of(response), instance_id)


def _without(document: Any, instance_id: str) -> Any:
    """The document with the instance ID replaced, so answers for two instances compare equal."""
    return json.loads(json.dumps(document).replace(instance_id, PLACEHOLDER))


async def test_every_function_folder_loads_in_the_runtime(runtime: FunctionRuntime) -> None:
    assert set(runtime.functions) == {*HTTP_FUNCTIONS, ORCHESTRATOR, ACTIVITY}


async def test_start_through_the_runtime_answers_202_like_the_worker_loader(
    runtime: FunctionRuntime, app: StartApp, durable: DurableStandin
) -> None:
    ours, theirs = new_instance_id(), new_instance_id()
    answer = await post_start(runtime, durable, ours, b'{"workItems": 2}', **{"Content-Type": "application/json"})
    reference = await app.post(theirs, {"workItems": 2})

    assert answer.status_code == 202
    assert answer_of_runtime(answer, ours) == answer_of_loader(reference, theirs)
    assert answer.headers["Location"].replace(ours, PLACEHOLDER) == reference.headers["Location"].replace(
        theirs, PLACEHOLDER
    )
    assert started_inputs(durable, ours) == [{"workItems": 2}]


async def test_second_start_through_the_runtime_answers_409_like_the_worker_loader(
    runtime: FunctionRuntime, app: StartApp, durable: DurableStandin
) -> None:
    ours, theirs = new_instance_id(), new_instance_id()
    assert (await post_start(runtime, durable, ours)).status_code == 202
    assert (await app.post(theirs)).status_code == 202

    answer = await post_start(runtime, durable, ours)
    reference = await app.post(theirs)

    assert answer.status_code == 409
    assert (answer.json()["error"], set(answer.json())) == (body_of(reference)["error"], set(body_of(reference)))
    assert started_inputs(durable, ours) == [None]


async def test_invalid_instance_id_through_the_runtime_answers_400_like_the_worker_loader(
    runtime: FunctionRuntime, app: StartApp, durable: DurableStandin
) -> None:
    bad_id = "a#b"
    answer = await post_start(runtime, durable, bad_id)
    reference = await app.post(bad_id)

    assert answer.status_code == 400
    assert answer_of_runtime(answer, bad_id) == answer_of_loader(reference, bad_id)
    assert sum(durable.calls.values()) == 0


@pytest.fixture(autouse=True)
def lock_storage(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker loader's terminate and event routes take the per-ID lease in the app's storage."""
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)


async def manage(
    runtime: FunctionRuntime, durable: DurableStandin, name: str, instance_id: str, **route: str
) -> HttpAnswer:
    """One call of a management route through the runtime, checked for the extension's system key."""
    method = "GET" if name == STATUS else "POST"
    params = {"functionName": ORCHESTRATOR, "instanceId": instance_id, **route}
    starter = runtime.string(durable.starter_binding())
    answer = await runtime.http(name, params, method=method, starter=starter)
    assert durable.system_key not in answer.body.decode() + json.dumps(answer.headers)
    return answer


async def test_status_through_the_runtime_answers_202_with_links_like_the_worker_loader(
    runtime: FunctionRuntime, durable: DurableStandin
) -> None:
    ours, theirs = new_instance_id(), new_instance_id()
    for instance_id in (ours, theirs):
        durable.add_instance(instance_id, ORCHESTRATOR, "Running", custom_status={"phase": "working"})

    answer = await manage(runtime, durable, STATUS, ours)
    reference = await Routes.load(durable).status(theirs)

    assert answer.status_code == 202
    assert answer_of_runtime(answer, ours) == answer_of_loader(reference, theirs)
    assert answer.headers["Location"].replace(ours, PLACEHOLDER) == reference.headers["Location"].replace(
        theirs, PLACEHOLDER
    )


async def test_terminate_through_the_runtime_answers_202_and_terminates_like_the_worker_loader(
    runtime: FunctionRuntime, durable: DurableStandin
) -> None:
    ours, theirs = new_instance_id(), new_instance_id()
    for instance_id in (ours, theirs):
        durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    answer = await manage(runtime, durable, TERMINATE, ours)
    reference = await Routes.load(durable).terminate(theirs)

    assert answer.status_code == 202
    assert answer_of_runtime(answer, ours) == answer_of_loader(reference, theirs)
    assert [durable.row(i)["runtimeStatus"] for i in (ours, theirs)] == ["Terminated", "Terminated"]


async def test_stop_event_through_the_runtime_reaches_the_instance_once(
    runtime: FunctionRuntime, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    answer = await manage(runtime, durable, EVENT, instance_id, eventName="Stop")

    assert answer.status_code == 202
    assert [(target, name, decoded(data)) for target, name, data in durable.raised_events] == [
        (instance_id, "Stop", None)
    ]


async def test_bad_event_name_through_the_runtime_answers_400_like_the_worker_loader(
    runtime: FunctionRuntime, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    answer = await manage(runtime, durable, EVENT, instance_id, eventName="no spaces")
    reference = await Routes.load(durable).event(instance_id, "no spaces")

    assert answer.status_code == 400
    assert answer_of_runtime(answer, instance_id) == answer_of_loader(reference, instance_id)
    assert durable.raised_events == []


async def test_activity_through_the_runtime_returns_what_the_worker_loader_returns(runtime: FunctionRuntime) -> None:
    payload = {"cycle": 1, "item": 0, "fail": False}
    activity = load_function(ACTIVITY)
    (binding,) = activity.input_binding_names

    answer = await runtime.invoke(ACTIVITY, **{binding: runtime.json_data(payload)})

    assert json.loads(answer.json) == activity.main(**{binding: payload})


async def test_activity_failure_through_the_runtime_reports_the_items_error(runtime: FunctionRuntime) -> None:
    (binding,) = load_function(ACTIVITY).input_binding_names
    payload = {"cycle": 1, "item": 2, "fail": True}

    with pytest.raises(RuntimeFailure, match="item 2 of cycle 1 fails on purpose"):
        await runtime.invoke(ACTIVITY, **{binding: runtime.json_data(payload)})


async def _orchestrate(runtime: FunctionRuntime, history: History) -> dict[str, Any]:
    (binding,) = load_function(ORCHESTRATOR).input_binding_names
    answer = await runtime.invoke(ORCHESTRATOR, **{binding: runtime.string(history.context_json())})
    state: dict[str, Any] = json.loads(answer.json)
    return state


def _orchestrate_with_loader(history: History) -> dict[str, Any]:
    orchestrator = load_function(ORCHESTRATOR)
    (binding,) = orchestrator.input_binding_names
    state: dict[str, Any] = json.loads(
        orchestrator.main(**{binding: func.OrchestrationContext(history.context_json())})
    )
    return state


async def test_orchestrator_first_episode_through_the_runtime_schedules_what_the_worker_loader_does(
    runtime: FunctionRuntime,
) -> None:
    history = History({"workItems": 2})

    state = await _orchestrate(runtime, history)

    assert state["isDone"] is False
    assert state == _orchestrate_with_loader(history)


async def test_orchestrator_replay_through_the_runtime_finishes_like_the_worker_loader(
    runtime: FunctionRuntime,
) -> None:
    items = payloads(1, 2)
    history = cycle_scheduled(History({"workItems": 2}), items).next_episode(5)
    for task_id, payload in enumerate(items):
        history.completed(task_id, {"cycle": 1, "item": payload["item"], "checksum": "0123456789abcdef"})

    state = await _orchestrate(runtime, history)

    assert state["isDone"] is True
    assert state["output"]["stoppedBy"] == "completed"
    assert state == _orchestrate_with_loader(history)
