"""Drive the Durable Functions RPC stand-in through the real Python SDK client.

These tests pin the stand-in to the extension's wire behaviour so that tests and
benchmarks built on it exercise the SDK exactly as the Functions host would.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import azure.functions as func
import pytest
import pytest_asyncio
from azure.durable_functions import DurableOrchestrationClient
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus
from azure.durable_functions.models.utils import http_utils

from tests.support.durable_standin import DurableStandin
from tests.support.observe import poll_until

ORCH = "SingletonOrchestrator"
OLD = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest_asyncio.fixture
async def sdk_session() -> AsyncIterator[None]:
    """The SDK caches one aiohttp session (and lock) per process; each test has its own loop."""
    http_utils._client_session = None
    http_utils._session_lock = asyncio.Lock()
    yield
    session = http_utils._client_session
    if session is not None and not session.closed:
        await session.close()
    http_utils._client_session = None
    http_utils._session_lock = asyncio.Lock()


@pytest_asyncio.fixture
async def standin(sdk_session: None) -> AsyncIterator[DurableStandin]:
    server = DurableStandin()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def client(standin: DurableStandin) -> DurableOrchestrationClient:
    return DurableOrchestrationClient(standin.starter_binding())


async def raw(method: str, url: str, *, body: Any = None) -> tuple[int, dict[str, str], bytes]:
    """Bypass the SDK to look at status codes, headers and bodies on the wire."""
    async with aiohttp.ClientSession() as session:
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        async with session.request(method, url, **kwargs) as response:
            return response.status, dict(response.headers), await response.read()


# --------------------------------------------------------------------------- start + status


@pytest.mark.asyncio
async def test_start_new_then_status_is_pending_with_input(
    standin: DurableStandin, client: DurableOrchestrationClient
) -> None:
    instance_id = await client.start_new(ORCH, "job-1", {"x": 1})
    assert instance_id == "job-1"

    status = await client.get_status("job-1")
    assert status.runtime_status == OrchestrationRuntimeStatus.Pending
    assert status.name == ORCH
    assert status.instance_id == "job-1"
    # The SDK posts json.dumps(input) as a JSON string; the extension stores it verbatim.
    assert json.loads(status.input_) == {"x": 1}
    assert status.created_time is not None and status.created_time.tzinfo is not None
    assert standin.effective_starts == [("job-1", ORCH, '{"x": 1}')]
    assert standin.accepted_starts == 1
    assert standin.calls["start"] == 1 and standin.calls["status"] == 1


@pytest.mark.asyncio
async def test_start_without_input_or_id(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    instance_id = await client.start_new(ORCH)
    assert len(instance_id) == 32  # Guid "N" format
    record = standin.instance(instance_id)
    assert record is not None and record["input"] is None


@pytest.mark.asyncio
async def test_unknown_instance_is_empty_404(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    status = await client.get_status("missing")
    assert not status  # the SDK's singleton check
    code, headers, body = await raw("GET", f"{standin.rpc_base_url}instances/missing")
    assert (code, body) == (404, b"")
    assert "Content-Type" not in headers


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("runtime_status", "expected_code"),
    [
        ("Pending", 202),
        ("Running", 202),
        ("ContinuedAsNew", 202),
        ("Suspended", 202),
        ("Completed", 200),
        ("Failed", 200),
        ("Terminated", 200),
        ("Canceled", 200),
    ],
)
async def test_status_codes_per_runtime_status(
    standin: DurableStandin, runtime_status: str, expected_code: int
) -> None:
    standin.add_instance("i", ORCH, runtime_status, "in", output="out", created_time=OLD)
    code, headers, body = await raw("GET", f"{standin.rpc_base_url}instances/i")
    assert code == expected_code
    payload = json.loads(body)
    assert list(payload) == [
        "name",
        "instanceId",
        "runtimeStatus",
        "input",
        "customStatus",
        "output",
        "createdTime",
        "lastUpdatedTime",
    ]
    assert payload["runtimeStatus"] == runtime_status
    assert payload["input"] == "in"  # showInput defaults to true on the extension side
    assert payload["createdTime"] == "2020-01-02T03:04:05Z"
    if expected_code == 202:
        assert headers["Location"].endswith("/durabletask/instances/i")
        assert headers["Retry-After"] == "5"
    else:
        assert "Location" not in headers


@pytest.mark.asyncio
async def test_status_query_options(standin: DurableStandin) -> None:
    standin.add_instance("f", ORCH, "Failed", {"a": 1}, output="boom")
    base = f"{standin.rpc_base_url}instances/f"
    code, _, body = await raw("GET", f"{base}?showInput=false")
    assert code == 200 and json.loads(body)["input"] is None
    code, _, _ = await raw("GET", f"{base}?returnInternalServerErrorOnFailure=true")
    assert code == 500


@pytest.mark.asyncio
async def test_set_status_updates_record(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    standin.add_instance("s", ORCH, "Running", created_time=OLD)
    before = standin.instance("s")
    assert before is not None
    standin.set_status("s", "Completed", output={"done": True}, custom_status="fine")
    after = standin.instance("s")
    assert after is not None
    assert after["lastUpdatedTime"] >= before["lastUpdatedTime"]
    status = await client.get_status("s")
    assert status.runtime_status == OrchestrationRuntimeStatus.Completed
    assert status.output == {"done": True} and status.custom_status == "fine"
    with pytest.raises(KeyError):
        standin.set_status("nope", "Running")
    with pytest.raises(ValueError):
        standin.set_status("s", "Sleeping")


@pytest.mark.asyncio
async def test_instance_ids_are_url_decoded(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    weird = "order 50% off ü€"
    assert await client.start_new(ORCH, weird, 1) == weird
    status = await client.get_status(weird)
    assert status.instance_id == weird
    assert standin.instance(weird) is not None


@pytest.mark.parametrize(
    ("raw_segment", "route_value"),
    [
        ("a%2541", "aA"),  # Kestrel gives a%41, kept by the shim, decoded again by the handler
        ("order%25201", "order 1"),
        ("%25C3%25A9", "é"),
        ("a%2Bb", "a b"),  # WebUtility.UrlDecode reads '+' as a space
        ("a%252Bb", "a+b"),
        ("50%25", "50%"),  # '%' without two hex digits survives every pass
        ("100%25zz", "100%zz"),
        ("job%20%C3%BC", "job ü"),
    ],
)
def test_route_values_are_decoded_as_the_rpc_listener_decodes_them(raw_segment: str, route_value: str) -> None:
    assert DurableStandin.route_path(f"instances/{raw_segment}") == f"instances/{route_value}"


def test_an_encoded_slash_survives_kestrel_but_not_the_handler() -> None:
    assert DurableStandin.route_path("instances/a%2Fb") == "instances/a/b"


@pytest.mark.asyncio
async def test_a_twice_escaped_id_reaches_the_handler_decoded_twice(standin: DurableStandin) -> None:
    code, _, _ = await raw("POST", f"{standin.rpc_base_url}orchestrators/{ORCH}/a%2541")
    assert code == 202
    assert standin.instance("aA") is not None
    assert standin.instance("a%41") is None


# --------------------------------------------------------------------------- singleton semantics


@pytest.mark.asyncio
@pytest.mark.parametrize("active", ["Pending", "Running", "ContinuedAsNew", "Suspended"])
async def test_start_over_active_instance_is_rejected_with_the_catch_all_500_naming_the_exception(
    standin: DurableStandin, client: DurableOrchestrationClient, active: str
) -> None:
    """HttpApiHandler has no 409: OrchestrationAlreadyExistsException reaches HandleRequestAsync's catch-all."""
    standin.add_instance("one", ORCH, active, "original")
    with pytest.raises(Exception) as excinfo:
        await client.start_new(ORCH, "one", "second")
    error = excinfo.value.args[0]
    assert error == {
        "Message": "Something went wrong while processing your request",
        "ExceptionMessage": f"An Orchestration instance with the status {active} already exists.",
        "ExceptionType": "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException",
        "StackTrace": "   at DurableTask.AzureStorage.AzureStorageOrchestrationService.CreateTaskOrchestrationAsync",
    }
    record = standin.instance("one")
    assert record is not None and record["input"] == "original"
    assert record["runtimeStatus"] == active
    assert standin.effective_starts == [] and standin.enqueued_starts == []
    assert standin.accepted_starts == 0


@pytest.mark.asyncio
async def test_start_over_active_instance_wire_response(standin: DurableStandin) -> None:
    standin.add_instance("one", ORCH, "Running")
    code, headers, body = await raw("POST", f"{standin.rpc_base_url}orchestrators/{ORCH}/one")
    assert code == 500
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(body)["ExceptionType"] == "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("kind", "method", "path"),
    [("status", "GET", "instances/one"), ("start", "POST", f"orchestrators/{ORCH}/one")],
)
async def test_empty_500_fault_answers_500_with_no_body_on_any_route(
    standin: DurableStandin, kind: str, method: str, path: str
) -> None:
    standin.add_instance("one", ORCH, "Completed")
    standin.inject_fault(kind, "empty_500")
    code, _, body = await raw(method, f"{standin.rpc_base_url}{path}")
    assert (code, body) == (500, b"")
    assert standin.instance("one")["runtimeStatus"] == "Completed"  # type: ignore[index]


@pytest.mark.asyncio
async def test_a_start_whose_caller_hung_up_still_lands(standin: DurableStandin) -> None:
    standin.race_window_seconds = 0.5
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(raw("POST", f"{standin.rpc_base_url}orchestrators/{ORCH}/late", body="x"), 0.1)
    assert [entry[0] for entry in standin.enqueued_starts] == ["late"]
    await poll_until(lambda: standin.instance("late") is not None, seconds=5)
    assert standin.effective_starts == [("late", ORCH, "x")]


@pytest.mark.asyncio
@pytest.mark.parametrize("finished", ["Completed", "Failed", "Terminated", "Canceled"])
async def test_start_over_finished_instance_replaces_it(
    standin: DurableStandin, client: DurableOrchestrationClient, finished: str
) -> None:
    standin.add_instance("one", ORCH, finished, "old", output="old-out", created_time=OLD)
    old = standin.instance("one")
    assert old is not None

    await client.start_new(ORCH, "one", "new")

    status = await client.get_status("one")
    assert status.runtime_status == OrchestrationRuntimeStatus.Pending
    assert status.created_time is not None and status.created_time > OLD
    assert json.loads(status.input_) == "new"
    assert status.output is None
    new = standin.instance("one")
    assert new is not None and new["executionId"] != old["executionId"]
    assert standin.effective_starts == [("one", ORCH, '"new"')]


@pytest.mark.asyncio
@pytest.mark.parametrize("seed", [None, "Completed"])
async def test_race_window_lets_both_starts_get_202_but_only_one_applies(
    standin: DurableStandin, client: DurableOrchestrationClient, seed: str | None
) -> None:
    if seed is not None:  # replace path (ETag 412) instead of insert path (409)
        standin.add_instance("race", ORCH, seed, "seeded", created_time=OLD)
    standin.race_window_seconds = 0.2

    results = await asyncio.gather(
        client.start_new(ORCH, "race", {"who": "a"}),
        client.start_new(ORCH, "race", {"who": "b"}),
    )

    assert list(results) == ["race", "race"]
    assert standin.accepted_starts == 2
    assert len(standin.enqueued_starts) == 2  # both start messages were queued
    assert len(standin.effective_starts) == 1
    winner_input = standin.effective_starts[0][2]
    record = standin.instance("race")
    assert record is not None and record["input"] == winner_input
    survivors = {json.loads(s[2])["who"] for s in standin.effective_starts}
    assert len(survivors) == 1


@pytest.mark.asyncio
async def test_row_change_during_race_window_drops_the_start_quietly(
    standin: DurableStandin, client: DurableOrchestrationClient
) -> None:
    standin.add_instance("w", ORCH, "Completed", "seeded")
    standin.race_window_seconds = 0.2
    start = asyncio.create_task(client.start_new(ORCH, "w", "lost"))
    await poll_until(lambda: bool(standin.enqueued_starts))  # queued: now in the race window
    standin.set_status("w", "Failed")  # e.g. a worker writing the row meanwhile
    assert await start == "w"
    record = standin.instance("w")
    assert record is not None and record["input"] == "seeded" and record["runtimeStatus"] == "Failed"
    assert standin.effective_starts == [] and standin.accepted_starts == 1


@pytest.mark.asyncio
async def test_second_start_after_first_is_rejected_without_race(
    standin: DurableStandin, client: DurableOrchestrationClient
) -> None:
    await client.start_new(ORCH, "seq", 1)
    with pytest.raises(Exception, match="already exists"):
        await client.start_new(ORCH, "seq", 2)
    assert standin.calls["start"] == 2 and standin.accepted_starts == 1


# --------------------------------------------------------------------------- argument errors


@pytest.mark.asyncio
async def test_invalid_instance_ids_are_400(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    with pytest.raises(Exception, match="must not start with @"):
        await client.start_new(ORCH, "@entity", None)
    with pytest.raises(Exception, match="must not contain"):
        await client.start_new(ORCH, "back\\slash", None)
    with pytest.raises(Exception, match="must not exceed 256"):
        await client.start_new(ORCH, "x" * 257, None)
    assert standin.effective_starts == []


@pytest.mark.asyncio
async def test_unknown_orchestrator_is_400_when_functions_are_declared(sdk_session: None) -> None:
    server = DurableStandin(orchestrators=[ORCH])
    await server.start()
    try:
        sdk = DurableOrchestrationClient(server.starter_binding())
        with pytest.raises(Exception, match="doesn't exist, is disabled"):
            await sdk.start_new("Nope", "x")
        assert await sdk.start_new(ORCH.lower(), "x") == "x"  # names are case-insensitive
    finally:
        await server.stop()


# --------------------------------------------------------------------------- faults


@pytest.mark.asyncio
async def test_fault_error(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    standin.inject_fault("start", "error")
    with pytest.raises(Exception) as excinfo:
        await client.start_new(ORCH, "e", 1)
    assert excinfo.value.args[0]["Message"] == "Something went wrong while processing your request"
    assert standin.instance("e") is None and standin.enqueued_starts == []
    assert standin.calls["start"] == 1 and standin.accepted_starts == 0
    assert await client.start_new(ORCH, "e", 1) == "e"  # consumed

    # The SDK accepts a 500 from GET status (it means "Failed" when asked for it) and
    # returns the error body as a status object with no createdTime: falsy, like a 404.
    standin.inject_fault("status", "error")
    status = await client.get_status("e")
    assert not status
    assert status.runtime_status is None
    # from_json keeps the error body's fields as attributes the class does not declare.
    assert status.Message == "Something went wrong while processing your request"  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_fault_timeout(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    standin.add_instance("t", ORCH, "Running")
    standin.inject_fault("terminate", "timeout")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.terminate("t", "stop"), timeout=0.3)
    record = standin.instance("t")
    assert record is not None and record["runtimeStatus"] == "Running"
    started = time.monotonic()
    await standin.stop()  # releases the hanging handler promptly
    assert time.monotonic() - started < 5


@pytest.mark.asyncio
async def test_fault_drop(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    standin.inject_fault("start", "drop")
    with pytest.raises(aiohttp.ClientError):
        await client.start_new(ORCH, "d", 1)
    assert standin.instance("d") is None and standin.accepted_starts == 0

    # aiohttp retries an idempotent GET once after a disconnect, so two drops are needed.
    standin.inject_fault("status", "drop", times=2)
    with pytest.raises(aiohttp.ClientError):
        await client.get_status("d")
    assert standin.calls["status"] == 2


@pytest.mark.asyncio
async def test_fault_drop_after_applies_start(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    standin.inject_fault("start", "drop_after")
    with pytest.raises(aiohttp.ClientError):
        await client.start_new(ORCH, "da", {"k": 1})
    record = standin.instance("da")
    assert record is not None and record["runtimeStatus"] == "Pending"
    assert standin.effective_starts == [("da", ORCH, '{"k": 1}')]
    assert standin.accepted_starts == 0
    # A blind retry now hits the singleton guard.
    with pytest.raises(Exception, match="already exists"):
        await client.start_new(ORCH, "da", {"k": 1})


@pytest.mark.asyncio
async def test_fault_error_after_applies_start(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    standin.inject_fault("start", "error_after")
    with pytest.raises(Exception) as excinfo:
        await client.start_new(ORCH, "ea", 1)
    assert excinfo.value.args[0]["Message"] == "Something went wrong while processing your request"
    assert standin.instance("ea") is not None and len(standin.effective_starts) == 1


@pytest.mark.asyncio
async def test_faults_are_consumed_in_order(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    standin.add_instance("q", ORCH, "Running")
    standin.inject_fault("status", "error", times=2)
    standin.inject_fault("status", "drop", times=2)
    for _ in range(2):
        assert not await client.get_status("q")  # 500 error body, see test_fault_error
    with pytest.raises(aiohttp.ClientError):
        await client.get_status("q")
    assert (await client.get_status("q")).runtime_status == OrchestrationRuntimeStatus.Running

    standin.inject_fault("status", "error")
    standin.clear_faults()
    assert await client.get_status("q")

    with pytest.raises(ValueError):
        standin.inject_fault("status", "drop_after")
    with pytest.raises(ValueError):
        standin.inject_fault("nope", "error")


@pytest.mark.asyncio
async def test_latency_is_added(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    standin.latency_seconds = 0.2
    started = time.monotonic()
    await client.get_status("x")
    assert time.monotonic() - started >= 0.2


# --------------------------------------------------------------------------- terminate / events / purge


@pytest.mark.asyncio
async def test_terminate(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    standin.add_instance("t", ORCH, "Running")
    await client.terminate("t", "no longer needed")
    status = await client.get_status("t")
    assert status.runtime_status == OrchestrationRuntimeStatus.Terminated
    assert status.output == "no longer needed"

    code, _, body = await raw("POST", f"{standin.rpc_base_url}instances/t/terminate?reason=again")
    assert (code, body) == (410, b"")
    await client.terminate("t", "again")  # the SDK treats 410 as success

    with pytest.raises(Exception, match="No instance with ID 'ghost' found"):
        await client.terminate("ghost", "x")
    assert standin.calls["terminate"] == 4  # includes the raw POST


@pytest.mark.asyncio
async def test_raise_event(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    standin.add_instance("r", ORCH, "Running")
    await client.raise_event("r", "Approval", {"ok": True})
    assert standin.raised_events == [("r", "Approval", '{"ok": true}')]

    standin.set_status("r", "Completed")
    with pytest.raises(Exception, match="is gone"):
        await client.raise_event("r", "Approval", 1)
    with pytest.raises(Exception, match="No instance with ID ghost found"):
        await client.raise_event("ghost", "Approval", 1)
    assert standin.calls["raise_event"] == 3


@pytest.mark.asyncio
async def test_purge(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    standin.add_instance("p", ORCH, "Completed")
    result = await client.purge_instance_history("p")
    assert result.instances_deleted == 1
    assert standin.instance("p") is None
    assert (await client.purge_instance_history("p")).instances_deleted == 0
    assert standin.calls["purge"] == 2


# --------------------------------------------------------------------------- URLs and binding


def test_starter_binding_shape() -> None:
    server = DurableStandin(task_hub="MyHub")
    server._port = 12345  # shape check only, no socket needed
    binding = json.loads(server.starter_binding(public_base_url="https://app.example.net"))
    assert list(binding) == [
        "taskHubName",
        "connectionName",
        "creationUrls",
        "managementUrls",
        "baseUrl",
        "requiredQueryStringParameters",
        "rpcBaseUrl",
        "httpBaseUrl",
    ]
    assert binding["taskHubName"] == "MyHub"
    assert binding["rpcBaseUrl"] == "http://127.0.0.1:12345/durabletask/"
    assert binding["baseUrl"] == "https://app.example.net/runtime/webhooks/durabletask"
    key = server.system_key
    assert binding["requiredQueryStringParameters"] == f"code={key}"
    urls = binding["managementUrls"]
    assert urls["id"] == "INSTANCEID"
    assert urls["statusQueryGetUri"] == (
        "https://app.example.net/runtime/webhooks/durabletask/instances/INSTANCEID"
        f"?taskHub=MyHub&connection=Storage&code={key}"
    )
    assert urls["terminatePostUri"].split("?")[1].startswith("reason={text}&taskHub=MyHub")
    assert set(urls) == {
        "id",
        "statusQueryGetUri",
        "sendEventPostUri",
        "terminatePostUri",
        "rewindPostUri",
        "purgeHistoryDeleteUri",
        "restartPostUri",
        "suspendPostUri",
        "resumePostUri",
    }
    assert binding["creationUrls"]["createNewInstancePostUri"].endswith(
        f"/orchestrators/{{functionName}}[/{{instanceId}}]?code={key}"
    )


@pytest.mark.asyncio
async def test_create_check_status_response_uses_binding_urls(
    standin: DurableStandin, client: DurableOrchestrationClient
) -> None:
    await client.start_new(ORCH, "c1")
    request = func.HttpRequest(method="POST", url="https://myapp.azurewebsites.net/api/start", body=b"")
    response = client.create_check_status_response(request, "c1")
    assert response.status_code == 202
    body = json.loads(response.get_body())
    expected = (
        "https://myapp.azurewebsites.net/runtime/webhooks/durabletask/instances/c1"
        f"?taskHub=TestHubName&connection=Storage&code={standin.system_key}"
    )
    assert body["id"] == "c1"
    assert body["statusQueryGetUri"] == expected
    assert response.headers["Location"] == expected


@pytest.mark.asyncio
async def test_start_wire_response(standin: DurableStandin) -> None:
    code, headers, body = await raw("POST", f"{standin.rpc_base_url}orchestrators/{ORCH}/a b", body={"x": 1})
    assert code == 202
    payload = json.loads(body)
    assert list(payload) == [
        "id",
        "statusQueryGetUri",
        "sendEventPostUri",
        "terminatePostUri",
        "purgeHistoryDeleteUri",
        "restartPostUri",
        "suspendPostUri",
        "resumePostUri",
    ]
    assert payload["id"] == "a b"
    origin = standin.rpc_base_url.removesuffix("/durabletask/")
    assert payload["statusQueryGetUri"].startswith(
        f"{origin}/runtime/webhooks/durabletask/instances/a+b?taskHub=TestHubName&connection=Storage"
    )
    assert headers["Location"] == payload["statusQueryGetUri"]
    assert headers["Retry-After"] == "10"
    record = standin.instance("a b")
    assert record is not None and record["input"] == {"x": 1}


@pytest.mark.asyncio
async def test_reset(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    await client.start_new(ORCH, "z", 1)
    standin.latency_seconds = 0.01
    standin.race_window_seconds = 0.01
    standin.inject_fault("status", "error")
    standin.reset()
    assert standin.instance("z") is None
    assert standin.calls == {} and standin.accepted_starts == 0
    assert standin.effective_starts == [] and standin.enqueued_starts == []
    assert standin.latency_seconds == 0 and standin.race_window_seconds == 0
    assert not await client.get_status("z")  # fault was cleared too


@pytest.mark.asyncio
async def test_times_use_extension_format(standin: DurableStandin) -> None:
    standin.add_instance("tf", ORCH, "Running", created_time=OLD + timedelta(microseconds=123456))
    _, _, body = await raw("GET", f"{standin.rpc_base_url}instances/tf")
    assert json.loads(body)["createdTime"] == "2020-01-02T03:04:05Z"


@pytest.mark.asyncio
async def test_reset_releases_hanging_requests(standin: DurableStandin, client: DurableOrchestrationClient) -> None:
    standin.inject_fault("start", "timeout")
    pending = asyncio.create_task(client.start_new(ORCH, "h", 1))
    await poll_until(lambda: standin.calls["start"] == 1)  # counted: now hanging on the fault
    standin.reset()
    with pytest.raises(aiohttp.ClientError):  # POST is not retried after the drop
        await asyncio.wait_for(pending, timeout=5)
    assert standin.instance("h") is None


@pytest.mark.asyncio
async def test_raise_event_answers_410_before_400_and_400_for_a_body_that_is_not_json(standin: DurableStandin) -> None:
    """HttpApiHandler.HandleRaiseEventRequestAsync: 404, then 410, then the media type, then the JSON."""
    standin.add_instance("r", ORCH, "Running")
    standin.add_instance("done", ORCH, "Completed")
    url = f"{standin.rpc_base_url}instances/{{}}/raiseEvent/Stop"
    answers = []
    async with aiohttp.ClientSession() as session:
        for instance_id, content_type, body in [
            ("ghost", "text/plain", b"x"),
            ("done", "text/plain", b"x"),
            ("r", "text/plain", b"{}"),
            ("r", "application/json", b"{"),
        ]:
            headers = {"Content-Type": content_type}
            async with session.post(url.format(instance_id), data=body, headers=headers) as response:
                answers.append(response.status)
    assert answers == [404, 410, 400, 400]
    assert standin.raised_events == []


# --------------------------------------------------------------------------- storage operations


@pytest.mark.asyncio
async def test_status_read_is_one_storage_op_and_a_fresh_start_three(
    standin: DurableStandin, client: DurableOrchestrationClient
) -> None:
    await client.get_status("s")
    await client.start_new(ORCH, "s", None)

    assert standin.storage_ops == {"status": 1, "start": 3}


@pytest.mark.asyncio
async def test_start_refused_as_duplicate_stops_after_its_status_read(
    standin: DurableStandin, client: DurableOrchestrationClient
) -> None:
    standin.add_instance("d", ORCH, "Running")

    with pytest.raises(Exception, match="already exists"):
        await client.start_new(ORCH, "d", None)

    assert standin.storage_ops == {"start": 1}


@pytest.mark.asyncio
async def test_terminate_and_event_on_a_running_instance_are_three_storage_ops_each(
    standin: DurableStandin, client: DurableOrchestrationClient
) -> None:
    """The handler's status read, DurableClient's own read, then the queue message."""
    standin.add_instance("e", ORCH, "Running")

    await client.raise_event("e", "Approval", {"ok": True})
    await client.terminate("e", "done")

    assert standin.storage_ops == {"raise_event": 3, "terminate": 3}


@pytest.mark.asyncio
async def test_storage_op_cost_is_charged_three_times_on_a_start(
    standin: DurableStandin, client: DurableOrchestrationClient
) -> None:
    standin.storage_op_seconds = 0.1
    started = time.monotonic()

    await client.start_new(ORCH, "slow", None)

    assert time.monotonic() - started >= 0.3


# --------------------------------------------------------------------------- the control queue


@pytest.mark.asyncio
async def test_a_queued_terminate_is_dropped_when_the_new_start_over_the_ended_instance_has_not_run(
    standin: DurableStandin, client: DurableOrchestrationClient
) -> None:
    """With no ExecutionStarted in its batch the terminate is checked against the instance's history, which still
    shows the old execution Completed: "Instance is Completed", and the new row stays Pending."""
    standin.queue_delay_seconds = 0.3
    standin.add_instance("q", ORCH, "Running", "old")
    await client.terminate("q", "stop the old one")
    standin.set_status("q", "Completed")
    await client.start_new(ORCH, "q", "new")  # no worker: it does not run

    (terminate,) = [message for message in standin.world.messages if message.kind == "terminate"]
    await poll_until(lambda: terminate.delivered_at is not None, seconds=5)
    assert terminate.outcome == "dropped: Instance is Completed"
    assert standin.row("q")["runtimeStatus"] == "Pending"


@pytest.mark.asyncio
async def test_terminate_answers_500_when_the_instance_ended_between_the_handlers_read_and_durable_clients(
    standin: DurableStandin,
) -> None:
    """HandleTerminateInstanceRequestAsync reads Running; DurableClient.TerminateAsync reads again and throws."""
    standin.add_instance("t", ORCH, "Running")
    standin.storage_op_seconds = 0.2
    answer = asyncio.create_task(raw("POST", f"{standin.rpc_base_url}instances/t/terminate?reason=x"))
    await poll_until(lambda: standin.storage_ops["terminate"] == 2, seconds=5)  # past the handler's read
    standin.set_status("t", "Completed")
    code, _, body = await answer
    assert code == 500
    assert json.loads(body)["ExceptionType"] == "System.InvalidOperationException"
    assert json.loads(body)["ExceptionMessage"] == (
        "Cannot terminate the orchestration instance t because instance is in the Completed state."
    )


@pytest.mark.asyncio
async def test_an_event_answers_400_when_the_instance_was_purged_between_the_handlers_read_and_durable_clients(
    standin: DurableStandin,
) -> None:
    standin.add_instance("p", ORCH, "Running")
    standin.storage_op_seconds = 0.2
    url = f"{standin.rpc_base_url}instances/p/raiseEvent/Go"
    answer = asyncio.create_task(raw("POST", url, body={"ok": True}))
    await poll_until(lambda: standin.storage_ops["raise_event"] == 2, seconds=5)
    assert standin.world.purge("p")
    code, _, body = await answer
    assert code == 400
    error = json.loads(body)
    assert error["Message"] == "One or more of the arguments submitted is incorrect"
    assert error["ExceptionMessage"] == "No instance with ID 'p' was found. (Parameter 'instanceId')"
    assert standin.raised_events == []


@pytest.mark.asyncio
async def test_a_queued_event_for_an_instance_that_ended_meanwhile_is_discarded(
    standin: DurableStandin, client: DurableOrchestrationClient
) -> None:
    standin.queue_delay_seconds = 0.2
    standin.add_instance("e", ORCH, "Running")

    await client.raise_event("e", "Approval", True)
    standin.set_status("e", "Completed")

    (event,) = [message for message in standin.world.messages if message.kind == "event"]
    await poll_until(lambda: event.delivered_at is not None, seconds=5)
    assert event.hit is None and standin.raised_events == [("e", "Approval", "true")]


@pytest.mark.asyncio
async def test_with_run_seconds_a_started_instance_is_picked_up_and_completes_by_itself(
    standin: DurableStandin, client: DurableOrchestrationClient
) -> None:
    standin.run_seconds = 0.2
    await client.start_new(ORCH, "r", 1)
    assert standin.row("r")["runtimeStatus"] == "Running"

    await poll_until(lambda: standin.row("r")["runtimeStatus"] == "Completed", seconds=5)
    standin.reset()
    assert standin.run_seconds is None and standin.queue_delay_seconds == 0


@pytest.mark.asyncio
async def test_suspend_and_resume_move_the_current_execution(
    standin: DurableStandin, client: DurableOrchestrationClient
) -> None:
    standin.add_instance("s", ORCH, "Running")
    await client.suspend("s", "pause")
    assert standin.row("s")["runtimeStatus"] == "Suspended"
    with pytest.raises(Exception, match="unexpected status code 500"):
        await client.suspend("s", "again")
    await client.resume("s", "go on")
    assert standin.row("s")["runtimeStatus"] == "Running"


@pytest.mark.asyncio
async def test_a_start_whose_read_row_is_purged_before_its_write_fails_with_500(standin: DurableStandin) -> None:
    """SetNewExecutionAsync replaces the row its read saw; once that row is deleted the replace's 404 is thrown."""
    standin.add_instance("p", ORCH, "Completed")
    standin.race_window_seconds = 0.3
    start = asyncio.create_task(raw("POST", f"{standin.rpc_base_url}orchestrators/{ORCH}/p", body="x"))
    await poll_until(lambda: bool(standin.enqueued_starts))
    code, _, _ = await raw("DELETE", f"{standin.rpc_base_url}instances/p")
    assert code == 200

    status, _, body = await start
    assert status == 500 and "does not exist" in json.loads(body)["ExceptionMessage"]
    assert standin.instance("p") is None and standin.effective_starts == []
