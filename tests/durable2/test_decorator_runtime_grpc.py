"""The example decorator app through the real v2 worker runtime with azure-functions-durable 2.x: each route's
client is the SDK's gRPC client, made from the binding, talking to durabletask's in-memory sidecar."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping

import pytest

pytest.importorskip("durabletask", reason="azure-functions-durable 2.x (Python 3.13+) is not installed")

import pytest_asyncio

from tests.support.azurite import Azurite
from tests.support.grpc_peer import STOP_EVENT, WAITER, Sidecar, client_binding, running_sidecar
from tests.support.runtime import HttpAnswer
from tests.support.runtime_v2 import DecoratorRuntime, start_decorator_runtime, v2_runtime_available
from tests.support.transcript import Step, run_script, transcript_path

_unavailable = v2_runtime_available()
pytestmark = [
    pytest.mark.skipif(_unavailable is not None, reason=_unavailable or ""),
    pytest.mark.asyncio(loop_scope="session"),
]


sidecar = pytest.fixture(scope="module", name="sidecar")(running_sidecar)


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    server = Azurite()
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def decorator_app(azurite: Azurite) -> AsyncIterator[DecoratorRuntime]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AzureWebJobsStorage", azurite.connection_string)
        patch.setenv("SINGLETON_ORCHESTRATORS", WAITER)
        runtime = await start_decorator_runtime()
        yield runtime
        await runtime.close()


async def call(runtime: DecoratorRuntime, sidecar: Sidecar, name: str, instance_id: str, **route: str) -> HttpAnswer:
    method = "GET" if name == "HttpGetStatus" else "POST"
    params = {"functionName": WAITER, "instanceId": instance_id, **route}
    client = runtime.string(client_binding(sidecar.address))
    return await runtime.http(name, params, method=method, client=client)


async def test_the_routes_start_refuse_read_raise_an_event_and_terminate_over_grpc(
    decorator_app: DecoratorRuntime, sidecar: Sidecar
) -> None:
    first, second = f"v2-{uuid.uuid4().hex[:10]}", f"v2-{uuid.uuid4().hex[:10]}"

    started = await call(decorator_app, sidecar, "HttpStartSingle", first)
    assert started.status_code == 202 and started.json()["id"] == first
    again = await call(decorator_app, sidecar, "HttpStartSingle", first)
    assert again.status_code == 409 and again.json()["error"] == "conflict"

    status = await call(decorator_app, sidecar, "HttpGetStatus", first)
    assert status.status_code == 202 and status.json()["name"] == WAITER

    assert (await call(decorator_app, sidecar, "HttpRaiseEvent", first, eventName=STOP_EVENT)).status_code == 202
    assert (await call(decorator_app, sidecar, "HttpStartSingle", second)).status_code == 202
    assert (await call(decorator_app, sidecar, "HttpTerminate", second)).status_code == 202

    missing = await call(decorator_app, sidecar, "HttpGetStatus", f"v2-{uuid.uuid4().hex[:10]}")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


async def test_the_example_app_with_the_2x_sdk_answers_the_route_script_as_the_v1_folders_do(
    decorator_app: DecoratorRuntime, sidecar: Sidecar
) -> None:
    """The same requests, through the v2 worker runtime and the 2.x SDK's gRPC client, get the answers the v1
    folders gave with the 1.x SDK (their transcript, left by tests/test_decorator_runtime.py in the same run of
    scripts/test), but for IDs, times, the origin and which active state the backend shows."""
    path = transcript_path()
    if not path.exists():
        pytest.skip("the v1 folders' transcript is left by the main suite's run on Python 3.13: run scripts/test")
    ids = {name: f"v2-{uuid.uuid4().hex[:10]}" for name in ("a", "b", "missing")}

    async def send(step: Step, instance_id: str) -> tuple[int, Mapping[str, str], bytes]:
        method = "GET" if step.function == "HttpGetStatus" else "POST"
        params = {"functionName": WAITER, "instanceId": instance_id}
        if step.event:
            params["eventName"] = step.event
        client = decorator_app.string(client_binding(sidecar.address))
        answer = await decorator_app.http(step.function, params, method=method, body=step.body, client=client)
        return answer.status_code, answer.headers, answer.body

    answers = await run_script(send, ids, WAITER)

    assert answers == json.loads(path.read_text())


async def test_signal_with_start_over_grpc_starts_once_and_its_event_ends_the_instance_with_the_data_itself(
    decorator_app: DecoratorRuntime, sidecar: Sidecar
) -> None:
    """HttpSignal through the Blueprint and the 2.x adapter: the first signal starts the instance and hands it the
    Stop event; the waiter returns the event's data, which arrives as the JSON value sent, not a string of it."""
    instance_id = f"v2-{uuid.uuid4().hex[:10]}"
    client = decorator_app.string(client_binding(sidecar.address))
    params = {"functionName": WAITER, "instanceId": instance_id, "eventName": STOP_EVENT}
    body = json.dumps({"input": {"n": 1}, "data": {"file": "a.csv"}}).encode()

    signalled = await decorator_app.http(
        "HttpSignal", params, body=body, headers={"Content-Type": "application/json"}, client=client
    )

    assert signalled.status_code == 202 and signalled.json()["started"] is True
    for _ in range(100):
        status = await call(decorator_app, sidecar, "HttpGetStatus", instance_id)
        if status.json().get("runtimeStatus") == "Completed":
            break
        await asyncio.sleep(0.05)
    assert status.json()["runtimeStatus"] == "Completed"
    assert status.json()["output"] == {"file": "a.csv"}
