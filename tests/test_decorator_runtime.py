"""The example decorator app (examples/v2-app) indexed and invoked by the real v2 worker runtime, its five
routes answering exactly as the v1 folders do for the same requests (Python 3.13+, the SDK line installed)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import StartApp, new_instance_id
from tests.support.azurite import Azurite
from tests.support.durable_standin import DurableStandin
from tests.support.observe import decoded, started_inputs
from tests.support.runtime import HttpAnswer
from tests.support.runtime_v2 import DecoratorRuntime, start_decorator_runtime, v2_runtime_available
from tests.support.transcript import Step, run_script, transcript_path
from tests.test_manage_routes import Routes
from tests.test_real_runtime import ORCHESTRATOR, answer_of_loader, answer_of_runtime

_unavailable = v2_runtime_available()
pytestmark = [
    pytest.mark.skipif(_unavailable is not None, reason=_unavailable or ""),
    pytest.mark.asyncio(loop_scope="session"),
]

START, STATUS, TERMINATE, EVENT = "HttpStartSingle", "HttpGetStatus", "HttpTerminate", "HttpRaiseEvent"
SIGNAL = "HttpSignal"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def decorator_app(azurite: Azurite, durable_server: DurableStandin) -> AsyncIterator[DecoratorRuntime]:
    """The example app indexed once through the runtime, with storage on Azurite."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AzureWebJobsStorage", azurite.connection_string)
        runtime = await start_decorator_runtime()
        yield runtime
        await runtime.close()


async def call(
    runtime: DecoratorRuntime,
    durable: DurableStandin,
    name: str,
    instance_id: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    **route: str,
) -> HttpAnswer:
    """One route of the example app, with the client binding the host hands a decorator app's function."""
    method = "GET" if name == STATUS else "POST"
    params = {"functionName": ORCHESTRATOR, "instanceId": instance_id, **route}
    client = runtime.string(durable.starter_binding())
    return await runtime.http(name, params, method=method, body=body, headers=headers, client=client)


def comparable(answer: HttpAnswer, instance_id: str) -> tuple[int, str | None, Any]:
    return answer_of_runtime(answer, instance_id)


async def test_the_example_app_indexes_the_five_routes_the_orchestrator_and_the_activity(
    decorator_app: DecoratorRuntime,
) -> None:
    assert {START, STATUS, TERMINATE, EVENT, SIGNAL, ORCHESTRATOR, "SampleActivity"} <= set(decorator_app.functions)
    routes = {name: decorator_app.functions[name]["bindings"] for name in (START, STATUS, TERMINATE, EVENT, SIGNAL)}
    for name, bindings in routes.items():
        folder = json.loads((decorator_app.app_root.parents[1] / name / "function.json").read_text())
        trigger = next(binding for binding in bindings if binding["type"] == "httpTrigger")
        expected = next(binding for binding in folder["bindings"] if binding["type"] == "httpTrigger")
        methods = [method.lower() for method in trigger["methods"]]
        assert (trigger["route"], methods, trigger["authLevel"].lower()) == (
            expected["route"],
            expected["methods"],
            expected["authLevel"],
        )
        assert any(binding["type"] == "durableClient" for binding in bindings)


async def test_start_answers_202_like_the_v1_folder_and_starts_once(
    decorator_app: DecoratorRuntime, app: StartApp, durable: DurableStandin
) -> None:
    ours, theirs = new_instance_id(), new_instance_id()
    answer = await call(decorator_app, durable, START, ours, b'{"workItems": 2}', {"Content-Type": "application/json"})
    reference = await app.post(theirs, {"workItems": 2})

    assert answer.status_code == 202
    assert comparable(answer, ours) == answer_of_loader(reference, theirs)
    assert started_inputs(durable, ours) == [{"workItems": 2}]


async def test_second_start_answers_409_like_the_v1_folder(
    decorator_app: DecoratorRuntime, app: StartApp, durable: DurableStandin
) -> None:
    ours, theirs = new_instance_id(), new_instance_id()
    assert (await call(decorator_app, durable, START, ours)).status_code == 202
    assert (await app.post(theirs)).status_code == 202

    answer = await call(decorator_app, durable, START, ours)
    reference = await app.post(theirs)

    assert answer.status_code == 409
    mask = ("createdTime", "lastUpdatedTime")
    ours_body = {k: v for k, v in comparable(answer, ours)[2].items() if k not in mask}
    theirs_body = {k: v for k, v in answer_of_loader(reference, theirs)[2].items() if k not in mask}
    assert ours_body == theirs_body
    assert started_inputs(durable, ours) == [None]


async def test_invalid_instance_id_answers_400_like_the_v1_folder(
    decorator_app: DecoratorRuntime, app: StartApp, durable: DurableStandin
) -> None:
    answer = await call(decorator_app, durable, START, "a#b")
    reference = await app.post("a#b")

    assert answer.status_code == 400
    assert comparable(answer, "a#b") == answer_of_loader(reference, "a#b")


async def test_status_answers_202_with_links_like_the_v1_folder(
    decorator_app: DecoratorRuntime, durable: DurableStandin
) -> None:
    ours, theirs = new_instance_id(), new_instance_id()
    for instance_id in (ours, theirs):
        durable.add_instance(instance_id, ORCHESTRATOR, "Running", custom_status={"phase": "working"})

    answer = await call(decorator_app, durable, STATUS, ours)
    reference = await Routes.load(durable).status(theirs)

    assert answer.status_code == 202
    assert comparable(answer, ours) == answer_of_loader(reference, theirs)


async def test_status_of_an_unknown_id_answers_404_like_the_v1_folder(
    decorator_app: DecoratorRuntime, durable: DurableStandin
) -> None:
    ours, theirs = new_instance_id(), new_instance_id()
    answer = await call(decorator_app, durable, STATUS, ours)
    reference = await Routes.load(durable).status(theirs)

    assert answer.status_code == 404
    assert comparable(answer, ours) == answer_of_loader(reference, theirs)


async def test_terminate_answers_202_and_terminates_like_the_v1_folder(
    decorator_app: DecoratorRuntime, durable: DurableStandin
) -> None:
    ours, theirs = new_instance_id(), new_instance_id()
    for instance_id in (ours, theirs):
        durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    answer = await call(decorator_app, durable, TERMINATE, ours)
    reference = await Routes.load(durable).terminate(theirs)

    assert answer.status_code == 202
    assert comparable(answer, ours) == answer_of_loader(reference, theirs)
    assert [durable.row(i)["runtimeStatus"] for i in (ours, theirs)] == ["Terminated", "Terminated"]


async def test_stop_event_answers_202_like_the_v1_folder_and_reaches_the_instance_once(
    decorator_app: DecoratorRuntime, durable: DurableStandin
) -> None:
    ours, theirs = new_instance_id(), new_instance_id()
    for instance_id in (ours, theirs):
        durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    answer = await call(decorator_app, durable, EVENT, ours, eventName="Stop")
    reference = await Routes.load(durable).event(theirs, "Stop")

    assert answer.status_code == 202
    assert comparable(answer, ours) == answer_of_loader(reference, theirs)
    assert [(target, name, decoded(data)) for target, name, data in durable.raised_events if target == ours] == [
        (ours, "Stop", None)
    ]


async def test_the_v1_folders_answer_the_route_script_and_leave_their_transcript_for_the_2x_line(
    app: StartApp, durable: DurableStandin
) -> None:
    """The decorator app with the 2.x SDK (tests/durable2) is compared with this transcript: the v1 folders
    cannot load beside the 2.x SDK, so the comparison goes through a file."""
    routes = Routes.load(durable)
    ids = {name: new_instance_id() for name in ("a", "b", "missing")}

    async def call(step: Step, instance_id: str) -> tuple[int, Mapping[str, str], bytes]:
        if step.function == START:
            response = await app.post(instance_id, step.body)
            if response.status_code == 202:
                # A worker picks the new instance up, as the 2.x line's runtime does: commands go only to one that
                # has run.
                durable.set_status(instance_id, "Running")
        elif step.function == STATUS:
            response = await routes.status(instance_id)
        elif step.function == TERMINATE:
            response = await routes.terminate(instance_id)
        else:
            response = await routes.event(instance_id, step.event, step.body)
        return response.status_code, dict(response.headers), response.get_body()

    answers = await run_script(call, ids, ORCHESTRATOR)

    statuses = [answer["status"] for answer in answers]
    assert statuses == [202, 409, 400, 202, 404, 400, 202, 202, 202, 410, 200]
    transcript_path().write_text(json.dumps(answers, indent=1))
