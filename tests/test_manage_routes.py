"""HttpGetStatus, HttpTerminate and HttpRaiseEvent in-process: the stand-in behind the real SDK client."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import azure.functions as func
import pytest

from singleton_start.adapters.blob_lease import LeaseLocks
from tests.conftest import TASK_HUB, LoadApp, StartApp, body_of, new_instance_id
from tests.support.azurite import Azurite
from tests.support.durable_standin import DurableStandin
from tests.support.observe import ACTIVE_STATES, ENDED_STATES, MANAGEMENT_KEYS, decoded, lease_state
from tests.support.worker import PUBLIC_BASE_URL, LoadedFunction, invoke, load_function, route_request

pytestmark = pytest.mark.asyncio(loop_scope="session")

ORCHESTRATOR = "SingletonOrchestrator"
OTHER_ORCHESTRATOR = "BillingOrchestrator"
STATUS_FIELDS = {"instanceId", "name", "runtimeStatus", "createdTime", "lastUpdatedTime", "customStatus", "output"}
JSON = {"Content-Type": "application/json"}
# For tests whose terminate is never processed: the wait for it to show is then cut short.
SHORT_TERMINATE_WAIT_SECONDS = "0.5"


def instance_url(instance_id: str, function_name: str = ORCHESTRATOR) -> str:
    return f"{PUBLIC_BASE_URL}/api/orchestrators/{quote(function_name, safe='')}/{quote(instance_id, safe='')}"


@dataclass
class Routes:
    """The three management functions, loaded as the worker loads them, called over the stand-in."""

    functions: dict[str, LoadedFunction]
    durable: DurableStandin

    @classmethod
    def load(cls, durable: DurableStandin) -> Routes:
        """Load the three functions with the settings the environment has now."""
        names = ("HttpGetStatus", "HttpTerminate", "HttpRaiseEvent")
        return cls({name: load_function(name) for name in names}, durable)

    async def call(
        self, name: str, method: str, url: str, params: dict[str, str], body: bytes, headers: dict[str, str] | None
    ) -> func.HttpResponse:
        request = route_request(method, url, params, body, headers)
        response: func.HttpResponse = await invoke(
            self.functions[name], req=request, starter=self.durable.starter_binding()
        )
        return response

    async def status(
        self,
        instance_id: str,
        *,
        function_name: str = ORCHESTRATOR,
        query: str = "",
        headers: dict[str, str] | None = None,
    ) -> func.HttpResponse:
        url = instance_url(instance_id, function_name) + query
        params = {"functionName": function_name, "instanceId": instance_id}
        return await self.call("HttpGetStatus", "GET", url, params, b"", headers)

    async def follow(self, url: str) -> func.HttpResponse:
        """GET a status link as a poller does: the route parameters come from the link's path."""
        _, _, _, function_name, instance_id = urlsplit(url).path.split("/")
        params = {"functionName": unquote(function_name), "instanceId": unquote(instance_id)}
        return await self.call("HttpGetStatus", "GET", url, params, b"", None)

    async def terminate(
        self,
        instance_id: str,
        *,
        function_name: str = ORCHESTRATOR,
        query: str = "",
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> func.HttpResponse:
        url = f"{instance_url(instance_id, function_name)}/terminate{query}"
        params = {"functionName": function_name, "instanceId": instance_id}
        return await self.call("HttpTerminate", "POST", url, params, body, headers)

    async def event(
        self,
        instance_id: str,
        event_name: str,
        body: bytes = b"",
        *,
        function_name: str = ORCHESTRATOR,
        headers: dict[str, str] | None = None,
    ) -> func.HttpResponse:
        url = f"{instance_url(instance_id, function_name)}/events/{quote(event_name, safe='')}"
        params = {"functionName": function_name, "instanceId": instance_id, "eventName": event_name}
        return await self.call("HttpRaiseEvent", "POST", url, params, body, headers)


LoadRoutes = Callable[..., Routes]


@pytest.fixture
def load_routes(durable: DurableStandin, azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> LoadRoutes:
    """Load the three functions with the given SINGLETON_* settings; terminate and events take the lease."""
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)

    def load(**settings: str) -> Routes:
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        return Routes.load(durable)

    return load


@pytest.fixture
def routes(load_routes: LoadRoutes) -> Routes:
    return load_routes()


def assert_app_links(body: dict[str, Any], instance_id: str) -> None:
    status = instance_url(instance_id)
    assert body["statusQueryGetUri"] == status
    assert body["sendEventPostUri"] == f"{status}/events/{{eventName}}"
    assert body["terminatePostUri"] == f"{status}/terminate?reason={{text}}"


def assert_error(response: func.HttpResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    body = body_of(response)
    assert set(body) == {"error", "message"}
    assert body["error"] == code
    return body


def nothing_sent(durable: DurableStandin) -> bool:
    return durable.calls["terminate"] == 0 and durable.calls["raise_event"] == 0 and not durable.raised_events


# ------------------------------------------------------------------ status


@pytest.mark.parametrize("runtime_status", ACTIVE_STATES)
async def test_status_of_an_active_instance_answers_202_with_location_retry_after_and_its_links(
    routes: Routes, durable: DurableStandin, runtime_status: str
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, runtime_status, custom_status={"phase": "working"})

    response = await routes.status(instance_id)

    assert response.status_code == 202
    body = body_of(response)
    assert set(body) == STATUS_FIELDS | MANAGEMENT_KEYS - {"id"}
    assert body["instanceId"] == instance_id
    assert body["name"] == ORCHESTRATOR
    assert body["runtimeStatus"] == runtime_status
    assert body["customStatus"] == {"phase": "working"}
    assert body["createdTime"].endswith("Z") and body["lastUpdatedTime"].endswith("Z")
    assert_app_links(body, instance_id)
    assert response.headers["Location"] == body["statusQueryGetUri"]
    assert response.headers["Retry-After"] == "5"


@pytest.mark.parametrize("runtime_status", ENDED_STATES)
async def test_status_of_an_ended_instance_answers_200_with_its_output_and_no_location(
    routes: Routes, durable: DurableStandin, runtime_status: str
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, runtime_status, output={"cycles": 2})

    response = await routes.status(instance_id)

    assert response.status_code == 200
    body = body_of(response)
    assert body["runtimeStatus"] == runtime_status
    assert body["output"] == {"cycles": 2}
    assert_app_links(body, instance_id)
    assert "Location" not in response.headers
    assert "Retry-After" not in response.headers


async def test_status_leaves_the_input_out_unless_show_input_is_true(routes: Routes, durable: DurableStandin) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running", json.dumps({"workItems": 4}))

    hidden = body_of(await routes.status(instance_id))
    shown = body_of(await routes.status(instance_id, query="?showInput=true"))

    assert "input" not in hidden
    assert decoded(shown["input"]) == {"workItems": 4}


async def test_status_of_an_unknown_instance_is_404_not_found(routes: Routes, durable: DurableStandin) -> None:
    body = assert_error(await routes.status(new_instance_id()), 404, "not_found")
    assert ORCHESTRATOR in body["message"]


async def test_status_route_matches_the_orchestrator_name_case_insensitively(
    routes: Routes, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    response = await routes.status(instance_id, function_name="singletonorchestrator")

    assert response.status_code == 202
    assert_app_links(body_of(response), instance_id)


async def test_status_route_for_a_name_not_allowlisted_is_404_unknown_orchestrator_and_reads_nothing(
    routes: Routes, durable: DurableStandin
) -> None:
    response = await routes.status(new_instance_id(), function_name=OTHER_ORCHESTRATOR)

    assert_error(response, 404, "unknown_orchestrator")
    assert durable.calls["status"] == 0


@pytest.mark.parametrize("instance_id", ["@entity", "a?b", "..", "x" * 257])
async def test_status_of_an_invalid_instance_id_is_400_and_reads_nothing(
    routes: Routes, durable: DurableStandin, instance_id: str
) -> None:
    assert_error(await routes.status(instance_id), 400, "invalid_instance_id")
    assert durable.calls["status"] == 0


async def test_status_answers_503_with_retry_after_when_the_backend_fails(
    routes: Routes, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")
    durable.inject_fault("status", "error")

    response = await routes.status(instance_id)

    assert_error(response, 503, "unavailable")
    assert response.headers["Retry-After"] == "5"


async def test_a_poller_following_location_while_202_ends_at_200_with_the_output(
    app: StartApp, routes: Routes, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    started = await app.post(instance_id, {"workItems": 1})
    url, polls = started.headers["Location"], []
    for _ in range(10):
        response = await routes.follow(url)
        polls.append(response.status_code)
        if response.status_code != 202:
            break
        url = response.headers["Location"]
        if len(polls) == 2:
            durable.set_status(instance_id, "Completed", output={"cycles": 1, "stoppedBy": "completed"})

    assert polls == [202, 202, 200]
    assert body_of(response)["output"] == {"cycles": 1, "stoppedBy": "completed"}
    assert body_of(response)["runtimeStatus"] == "Completed"


# ------------------------------------------------------------------ terminate


async def test_terminate_of_an_active_instance_answers_202_and_terminates_it_once_with_the_reason(
    routes: Routes, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    response = await routes.terminate(instance_id, query="?reason=maintenance%20window")

    assert response.status_code == 202
    body = body_of(response)
    assert set(body) == MANAGEMENT_KEYS
    assert_app_links(body, instance_id)
    assert response.headers["Location"] == body["statusQueryGetUri"]
    assert durable.calls["terminate"] == 1
    assert durable.row(instance_id)["runtimeStatus"] == "Terminated"
    assert re.fullmatch(r"maintenance window \[request [0-9a-f]{8}\]", durable.row(instance_id)["output"])


async def test_terminate_takes_the_reason_from_a_json_body(routes: Routes, durable: DurableStandin) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    response = await routes.terminate(instance_id, body=b'{"reason": "replaced by v2"}', headers=JSON)

    assert response.status_code == 202
    assert durable.row(instance_id)["output"].startswith("replaced by v2 [request ")


@pytest.mark.parametrize("runtime_status", ENDED_STATES)
async def test_terminate_of_an_ended_instance_is_410_gone_and_sends_nothing(
    routes: Routes, durable: DurableStandin, runtime_status: str
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, runtime_status)

    body = assert_error(await routes.terminate(instance_id), 410, "gone")

    assert runtime_status in body["message"]
    assert nothing_sent(durable)
    assert durable.row(instance_id)["runtimeStatus"] == runtime_status


async def test_terminate_of_an_unknown_instance_is_404_not_found_and_sends_nothing(
    routes: Routes, durable: DurableStandin
) -> None:
    assert_error(await routes.terminate(new_instance_id()), 404, "not_found")
    assert nothing_sent(durable)


async def test_terminate_with_a_reason_over_1000_characters_is_400_and_reads_nothing(
    routes: Routes, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    response = await routes.terminate(instance_id, query=f"?reason={'r' * 1001}")

    assert_error(response, 400, "invalid_reason")
    assert durable.calls["status"] == 0
    assert nothing_sent(durable)


@pytest.mark.parametrize("body", [b'["not", "an", "object"]', b'{"reason": 5}', b"{"])
async def test_terminate_with_a_body_that_is_not_a_reason_object_is_400_invalid_json(
    routes: Routes, durable: DurableStandin, body: bytes
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    assert_error(await routes.terminate(instance_id, body=body, headers=JSON), 400, "invalid_json")
    assert nothing_sent(durable)


# ------------------------------------------------------------------ events


async def test_event_to_an_active_instance_answers_202_and_reaches_it_once_with_its_data(
    routes: Routes, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    response = await routes.event(instance_id, "Approval", b'{"approved": true}', headers=JSON)

    assert response.status_code == 202
    body = body_of(response)
    assert set(body) == MANAGEMENT_KEYS
    assert response.headers["Location"] == body["statusQueryGetUri"]
    assert durable.calls["raise_event"] == 1
    assert [(sent_id, name, decoded(data)) for sent_id, name, data in durable.raised_events] == [
        (instance_id, "Approval", {"approved": True})
    ]


async def test_stop_event_with_an_empty_body_reaches_the_sample_job_as_stop_with_null(
    routes: Routes, durable: DurableStandin
) -> None:
    """The sample job completes when it receives the event named Stop, whatever its data."""
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    response = await routes.event(instance_id, "Stop")

    assert response.status_code == 202
    assert [(name, decoded(data)) for _, name, data in durable.raised_events] == [("Stop", None)]


@pytest.mark.parametrize("event_name", ["", "two words", "x" * 129, "Stöp", "a+b", "%41"])
async def test_event_names_outside_the_rule_are_400_invalid_event_name_and_read_nothing(
    routes: Routes, durable: DurableStandin, event_name: str
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    assert_error(await routes.event(instance_id, event_name), 400, "invalid_event_name")
    assert durable.calls["status"] == 0
    assert nothing_sent(durable)


@pytest.mark.parametrize("event_name", ["a", "Stop", "order.v2_created-1", "x" * 128])
async def test_event_names_within_the_rule_are_sent(routes: Routes, durable: DurableStandin, event_name: str) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    assert (await routes.event(instance_id, event_name)).status_code == 202
    assert [name for _, name, _ in durable.raised_events] == [event_name]


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{", JSON, 400, "invalid_json"),
        (b"NaN", JSON, 400, "invalid_json"),
        (b"{}", {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        (b"1" * 1_048_577, JSON, 413, "payload_too_large"),
    ],
)
async def test_event_bodies_follow_the_starts_rules(
    routes: Routes, durable: DurableStandin, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    assert_error(await routes.event(instance_id, "Stop", body, headers=headers), status, code)
    assert nothing_sent(durable)


@pytest.mark.parametrize("runtime_status", ENDED_STATES)
async def test_event_to_an_ended_instance_is_410_gone_and_sends_nothing(
    routes: Routes, durable: DurableStandin, runtime_status: str
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, runtime_status)

    assert_error(await routes.event(instance_id, "Stop", b"{}", headers=JSON), 410, "gone")
    assert nothing_sent(durable)


async def test_event_to_an_unknown_instance_is_404_not_found_and_sends_nothing(
    routes: Routes, durable: DurableStandin
) -> None:
    assert_error(await routes.event(new_instance_id(), "Stop"), 404, "not_found")
    assert nothing_sent(durable)


# ------------------------------------------------------------------ the allowlist


async def test_instance_of_an_orchestrator_not_allowlisted_can_be_neither_read_terminated_nor_signalled(
    routes: Routes, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, OTHER_ORCHESTRATOR, "Running", json.dumps({"account": "secret"}))

    answers = [
        await routes.status(instance_id, query="?showInput=true"),
        await routes.terminate(instance_id, query="?reason=x"),
        await routes.event(instance_id, "Stop", b"{}", headers=JSON),
    ]

    for response in answers:
        assert_error(response, 404, "not_found")
        assert "secret" not in response.get_body().decode()
    assert nothing_sent(durable)
    assert durable.row(instance_id)["runtimeStatus"] == "Running"


async def test_routes_naming_an_orchestrator_not_allowlisted_are_404_unknown_orchestrator_and_send_nothing(
    routes: Routes, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, OTHER_ORCHESTRATOR, "Running")

    answers = [
        await routes.status(instance_id, function_name=OTHER_ORCHESTRATOR),
        await routes.terminate(instance_id, function_name=OTHER_ORCHESTRATOR),
        await routes.event(instance_id, "Stop", function_name=OTHER_ORCHESTRATOR),
    ]

    for response in answers:
        assert_error(response, 404, "unknown_orchestrator")
    assert durable.calls["status"] == 0
    assert nothing_sent(durable)


# ------------------------------------------------------------------ links and modes


async def test_links_follow_forwarded_host_and_proto_only_when_enabled(
    load_routes: LoadRoutes, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")
    forwarded = {"X-Forwarded-Host": "jobs.example.com", "X-Forwarded-Proto": "https"}

    default = body_of(await load_routes().status(instance_id, headers=forwarded))
    trusting = body_of(await load_routes(SINGLETON_USE_FORWARDED_HOST="true").status(instance_id, headers=forwarded))

    assert default["statusQueryGetUri"] == instance_url(instance_id)
    assert trusting["statusQueryGetUri"] == f"https://jobs.example.com/api/orchestrators/{ORCHESTRATOR}/{instance_id}"


async def test_start_links_follow_forwarded_host_when_enabled(load_app: LoadApp, durable: DurableStandin) -> None:
    app = await load_app(SINGLETON_USE_FORWARDED_HOST="true")
    instance_id = new_instance_id()
    headers = {"X-Forwarded-Host": "jobs.example.com", "X-Forwarded-Proto": "https"}

    response = await app.post(instance_id, headers=headers)

    assert response.headers["Location"] == f"https://jobs.example.com/api/orchestrators/{ORCHESTRATOR}/{instance_id}"


async def test_conflict_body_keeps_its_fields_and_carries_only_the_app_links(
    app: StartApp, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    response = await app.post(instance_id)

    assert response.status_code == 409
    body = body_of(response)
    fields = {"error", "message", "instanceId", "runtimeStatus", "createdTime", "lastUpdatedTime"}
    assert set(body) == fields | MANAGEMENT_KEYS - {"id"}
    assert_app_links(body, instance_id)


async def test_extension_mode_answers_carry_the_extensions_management_urls(
    load_routes: LoadRoutes, load_app: LoadApp, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    app = await load_app(SINGLETON_MANAGEMENT_LINKS="extension")
    assert (await app.post(instance_id)).status_code == 202

    conflict = body_of(await app.post(instance_id))
    status = body_of(await load_routes(SINGLETON_MANAGEMENT_LINKS="extension").status(instance_id))

    for body in (conflict, status):
        assert "/runtime/webhooks/durabletask/instances/" in body["statusQueryGetUri"]
        assert f"code={durable.system_key}" in body["statusQueryGetUri"]
        assert "purgeHistoryDeleteUri" in body


# ------------------------------------------------------------------ logging


async def test_each_route_logs_one_line_with_its_route_and_outcome_and_no_key(
    routes: Routes, durable: DurableStandin, caplog: pytest.LogCaptureFixture
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")
    signalled = new_instance_id()  # an event holds its ID until its lease expires: it may still be queued
    durable.add_instance(signalled, ORCHESTRATOR, "Running")
    with caplog.at_level(logging.INFO, logger="singleton_start"):
        await routes.status(instance_id, query="?code=function-key")
        await routes.event(signalled, "Stop")
        await routes.terminate(instance_id)
        await routes.terminate(instance_id)
        await routes.status(new_instance_id())

    lines = [json.loads(record.getMessage()) for record in caplog.records if record.levelno == logging.INFO]
    assert [(line["route"], line["outcome"], line["status"]) for line in lines] == [
        ("GET orchestrators/{functionName}/{instanceId}", "active", 202),
        ("POST orchestrators/{functionName}/{instanceId}/events/{eventName}", "accepted", 202),
        ("POST orchestrators/{functionName}/{instanceId}/terminate", "accepted", 202),
        ("POST orchestrators/{functionName}/{instanceId}/terminate", "gone", 410),
        ("GET orchestrators/{functionName}/{instanceId}", "not_found", 404),
    ]
    for line in lines:
        assert set(line) == {"event", "route", "instanceId", "orchestrator", "outcome", "status", "durationMs"}
    assert lines[0]["instanceId"] == instance_id
    assert "function-key" not in caplog.text
    assert durable.system_key not in caplog.text


@pytest.mark.parametrize("kind", ["terminate", "raise_event"])
async def test_terminate_or_event_the_backend_refuses_answers_503_and_is_not_retried(
    load_routes: LoadRoutes, durable: DurableStandin, kind: str
) -> None:
    routes = load_routes(SINGLETON_TERMINATE_WAIT_SECONDS=SHORT_TERMINATE_WAIT_SECONDS)
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")
    durable.inject_fault(kind, "error")

    if kind == "terminate":
        response = await routes.terminate(instance_id)
    else:
        response = await routes.event(instance_id, "Stop")

    assert_error(response, 503, "unavailable")
    assert durable.calls[kind] == 1
    assert durable.row(instance_id)["runtimeStatus"] == "Running"


async def test_a_broken_durable_client_binding_answers_500_internal_without_a_trace(
    routes: Routes, caplog: pytest.LogCaptureFixture
) -> None:
    instance_id = new_instance_id()
    request = route_request("GET", instance_url(instance_id), {"functionName": ORCHESTRATOR, "instanceId": instance_id})

    response = await invoke(routes.functions["HttpGetStatus"], req=request, starter="{}")

    body = assert_error(response, 500, "internal")
    assert "Traceback" not in body["message"]
    assert any(instance_id in record.getMessage() for record in caplog.records if record.levelno == logging.ERROR)


async def test_event_to_an_instance_that_ends_before_the_event_arrives_is_410_gone(
    routes: Routes, durable: DurableStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The status read saw it Running; the extension then answers the event 410, which the SDK raises."""
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")
    original = durable._handle_raise_event

    async def ending_first(request: Any, event_instance_id: str, event_name: str) -> Any:
        durable.set_status(event_instance_id, "Completed")
        return await original(request, event_instance_id, event_name)

    monkeypatch.setattr(durable, "_handle_raise_event", ending_first)

    assert_error(await routes.event(instance_id, "Stop"), 410, "gone")
    assert durable.calls["raise_event"] == 1
    assert durable.raised_events == []


async def test_terminate_of_an_instance_that_ends_before_the_terminate_arrives_is_410_gone(
    routes: Routes, durable: DurableStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The status read saw it Running; the extension then answers the terminate 410, which the SDK takes for
    success: the route answers what the extension said, and gives the lease back (nothing was queued)."""
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")
    original = durable._handle_terminate

    async def ending_first(request: Any, terminate_instance_id: str) -> Any:
        durable.set_status(terminate_instance_id, "Completed")
        return await original(request, terminate_instance_id)

    monkeypatch.setattr(durable, "_handle_terminate", ending_first)

    assert_error(await routes.terminate(instance_id), 410, "gone")
    assert durable.row(instance_id)["runtimeStatus"] == "Completed"


@pytest.mark.parametrize("event_name", [".", "..", "..."])
async def test_event_name_made_of_dots_only_is_400_and_sends_nothing(
    routes: Routes, durable: DurableStandin, event_name: str
) -> None:
    """A URL collapses '.' and '..', so such an event could never reach the instance under its name."""
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    assert_error(await routes.event(instance_id, event_name), 400, "invalid_event_name")
    assert durable.calls["raise_event"] == 0


async def test_event_holds_the_id_so_that_a_start_cannot_put_a_new_execution_under_it_meanwhile(
    routes: Routes, durable: DurableStandin
) -> None:
    """Event messages carry no execution ID: one still queued would reach a new execution. The event route
    leaves its per-ID lease to expire, so no start through the app can take the ID before."""
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")

    assert (await routes.event(instance_id, "Stop")).status_code == 202

    locks = routes.functions["HttpRaiseEvent"].module.endpoint.locks
    assert isinstance(locks, LeaseLocks)
    assert await lease_state(locks.container, TASK_HUB, instance_id) == "leased"
