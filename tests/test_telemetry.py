"""Telemetry: one span per request named for its route, its attributes, and the log line's fields as extras.

Spans go to the OpenTelemetry SDK's in-memory exporter through a tracer provider made for each test and handed
to the loaded endpoints, so that no global provider is set and no other test sees a span.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import azure.functions as func
import pytest
import pytest_asyncio
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from singleton_start.adapters.blob_lease import STORAGE_CONNECTION, LeaseLocks
from singleton_start.adapters.durable_http import DurableBackend
from singleton_start.core.errors import Unavailable
from singleton_start.http.adapter import ATTRIBUTE_NAMES
from singleton_start.http.routes import START_ROUTE
from tests.conftest import TASK_HUB, LoadApp, StartApp, new_instance_id
from tests.support.azurite import Azurite, free_port
from tests.support.durable_standin import DurableStandin
from tests.support.observe import poll_until
from tests.support.worker import PUBLIC_BASE_URL, invoke, load_function, route_request, start_request

pytestmark = pytest.mark.asyncio(loop_scope="session")

ORCHESTRATOR = "SingletonOrchestrator"
STATUS_ROUTE = "GET orchestrators/{functionName}/{instanceId}"
TERMINATE_ROUTE = "POST orchestrators/{functionName}/{instanceId}/terminate"
EVENT_ROUTE = "POST orchestrators/{functionName}/{instanceId}/events/{eventName}"
MANAGE_FUNCTIONS = ("HttpGetStatus", "HttpTerminate", "HttpRaiseEvent")
FUNCTION_KEY = "function-key-of-the-caller"
WAIT_SECONDS = 10


@dataclass
class Tracing:
    """A tracer provider of the test's own, exporting to memory."""

    provider: TracerProvider
    exporter: InMemorySpanExporter

    def attach(self, endpoint: Any) -> None:
        endpoint.tracer = self.provider.get_tracer("tests")

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def only_span(self) -> ReadableSpan:
        spans = self.spans()
        assert len(spans) == 1, [span.name for span in spans]
        return spans[0]


@pytest.fixture
def tracing() -> Iterator[Tracing]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield Tracing(provider, exporter)
    provider.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def traced_app(load_app: LoadApp, tracing: Tracing) -> StartApp:
    app = await load_app()
    tracing.attach(app.endpoint)
    return app


def attribute(span: ReadableSpan, field: str) -> Any:
    assert span.attributes is not None
    return span.attributes.get(ATTRIBUTE_NAMES[field])


@pytest.fixture(autouse=True)
def lock_storage(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    """The terminate and event routes take the per-ID lease in the app's storage."""
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)


async def manage(
    name: str, method: str, path: str, params: dict[str, str], durable: DurableStandin, tracing: Tracing
) -> func.HttpResponse:
    """Call one of the management functions, loaded as the worker loads it, with the test's tracer."""
    function = load_function(name)
    tracing.attach(function.module.endpoint)
    try:
        request = route_request(method, f"{PUBLIC_BASE_URL}/api/{path}", params, b"", None)
        response: func.HttpResponse = await invoke(function, req=request, starter=durable.starter_binding())
        return response
    finally:
        await function.module.endpoint.close()


# ------------------------------------------------------------------ the start route's span


async def test_a_start_has_one_span_named_for_its_route_with_instance_orchestrator_outcome_and_status(
    traced_app: StartApp, tracing: Tracing
) -> None:
    instance_id = new_instance_id()
    assert (await traced_app.post(instance_id)).status_code == 202
    span = tracing.only_span()
    assert span.name == START_ROUTE
    assert attribute(span, "instanceId") == instance_id
    assert attribute(span, "orchestrator") == ORCHESTRATOR
    assert attribute(span, "outcome") == "started"
    assert attribute(span, "status") == 202
    assert attribute(span, "startAttempts") == 1
    assert attribute(span, "lockWaitMs") >= 0
    assert span.status.status_code is StatusCode.UNSET


async def test_the_start_sent_to_the_backend_carries_the_request_span_as_its_parent(
    traced_app: StartApp, durable: DurableStandin, tracing: Tracing
) -> None:
    assert (await traced_app.post(new_instance_id())).status_code == 202
    span = tracing.only_span()
    traceparents = [headers.get("traceparent") for kind, headers in durable.received_headers if kind == "start"]
    assert len(traceparents) == 1 and traceparents[0] is not None
    version, trace_id, parent_id, _flags = traceparents[0].split("-")
    assert version == "00"
    assert int(trace_id, 16) == span.context.trace_id
    assert int(parent_id, 16) == span.context.span_id


async def test_a_409_is_not_an_error_and_reports_no_lock_wait_and_no_start_attempt(
    traced_app: StartApp, durable: DurableStandin, tracing: Tracing
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")
    assert (await traced_app.post(instance_id)).status_code == 409
    span = tracing.only_span()
    assert attribute(span, "outcome") == "conflict"
    assert attribute(span, "status") == 409
    assert attribute(span, "startAttempts") == 0
    assert attribute(span, "lockWaitMs") == 0
    assert span.status.status_code is StatusCode.UNSET


async def test_a_400_is_not_an_error_and_has_no_lock_or_start_figures(traced_app: StartApp, tracing: Tracing) -> None:
    assert (await traced_app.post("@entity")).status_code == 400
    span = tracing.only_span()
    assert attribute(span, "outcome") == "invalid"
    assert attribute(span, "startAttempts") is None
    assert attribute(span, "lockWaitMs") is None
    assert span.status.status_code is StatusCode.UNSET


async def test_a_503_span_has_the_error_status(load_app: LoadApp, durable: DurableStandin, tracing: Tracing) -> None:
    app = await load_app(SINGLETON_START_ATTEMPTS="2")
    tracing.attach(app.endpoint)
    durable.inject_fault("status", "error", times=2)
    assert (await app.post(new_instance_id())).status_code == 503
    span = tracing.only_span()
    assert attribute(span, "outcome") == "unavailable"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "unavailable"


async def test_a_500_span_has_the_error_status(traced_app: StartApp, tracing: Tracing) -> None:
    response = await invoke(traced_app.function, req=start_request(ORCHESTRATOR, new_instance_id()), starter="{}")
    assert response.status_code == 500
    span = tracing.only_span()
    assert attribute(span, "outcome") == "internal"
    assert span.status.status_code is StatusCode.ERROR


async def test_a_request_that_waited_on_another_holder_reports_the_wait(load_app: LoadApp, tracing: Tracing) -> None:
    app = await load_app(SINGLETON_LOCK_WAIT_SECONDS=str(WAIT_SECONDS))
    tracing.attach(app.endpoint)
    instance_id = new_instance_id()
    other_holder = LeaseLocks(app.endpoint.locks.container, 15)
    lease = await other_holder.try_acquire(TASK_HUB, instance_id, timeout=5, blob_may_be_missing=True)
    assert lease is not None
    acquires = app.endpoint.locks.calls
    waiter = asyncio.create_task(app.post(instance_id))
    try:
        await poll_until(lambda: acquires["lease_acquire"] >= 1)
        first_try_seen = time.perf_counter()
        # A second try comes after a backoff: the waiter is certainly waiting, not just taking a free lease.
        await poll_until(lambda: acquires["lease_acquire"] >= 2)
    finally:
        released = time.perf_counter()
        await other_holder.release(lease)
    assert (await asyncio.wait_for(waiter, WAIT_SECONDS)).status_code == 202
    span = tracing.only_span()
    assert attribute(span, "lockWaitMs") >= round((released - first_try_seen) * 1000, 1)
    assert attribute(span, "startAttempts") == 1


async def test_the_lock_wait_ends_when_the_lease_is_taken_so_a_slow_start_is_not_counted(
    traced_app: StartApp, durable: DurableStandin, tracing: Tracing
) -> None:
    durable.race_window_seconds = 0.3
    assert (await traced_app.post(new_instance_id())).status_code == 202
    span = tracing.only_span()
    # The start's 0.3 s in the backend come after the lease was taken: the wait and the start do not overlap.
    assert attribute(span, "lockWaitMs") <= attribute(span, "durationMs") - 300


async def test_a_request_that_waited_on_a_start_in_this_process_reports_the_wait_and_no_attempt(
    traced_app: StartApp, durable: DurableStandin, tracing: Tracing
) -> None:
    durable.race_window_seconds = 0.3
    instance_id = new_instance_id()
    answers = await asyncio.gather(traced_app.post(instance_id), traced_app.post(instance_id))
    assert sorted(answer.status_code for answer in answers) == [202, 409]
    [waiter] = [span for span in tracing.spans() if attribute(span, "outcome") == "conflict"]
    assert attribute(waiter, "lockWaitMs") > 0
    assert attribute(waiter, "startAttempts") == 0


async def test_a_start_not_sent_for_certain_is_sent_again_and_both_attempts_count(
    traced_app: StartApp, durable: DurableStandin, tracing: Tracing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a start that certainly did not leave (no connection) is sent again."""
    backend_start = DurableBackend.start
    failures = iter([Unavailable("The start was not sent: refused.")])

    async def first_not_sent(self: DurableBackend, *args: Any) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        await backend_start(self, *args)

    monkeypatch.setattr(DurableBackend, "start", first_not_sent)
    assert (await traced_app.post(new_instance_id())).status_code == 202
    assert durable.calls["start"] == 1
    assert attribute(tracing.only_span(), "startAttempts") == 2


# ------------------------------------------------------------------ the management routes' spans


async def test_each_management_route_has_one_span_named_for_its_route(
    durable: DurableStandin, tracing: Tracing
) -> None:
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")
    path = f"orchestrators/{ORCHESTRATOR}/{instance_id}"
    params = {"functionName": ORCHESTRATOR, "instanceId": instance_id}
    assert (await manage("HttpGetStatus", "GET", path, params, durable, tracing)).status_code == 202
    event_params = {**params, "eventName": "Stop"}
    assert (
        await manage("HttpRaiseEvent", "POST", f"{path}/events/Stop", event_params, durable, tracing)
    ).status_code == 202
    # An event holds its ID until its lease expires (it may still be queued), so the terminate takes another.
    other_id = new_instance_id()
    durable.add_instance(other_id, ORCHESTRATOR, "Running")
    other = {"functionName": ORCHESTRATOR, "instanceId": other_id}
    terminate_path = f"orchestrators/{ORCHESTRATOR}/{other_id}/terminate"
    assert (await manage("HttpTerminate", "POST", terminate_path, other, durable, tracing)).status_code == 202
    spans = tracing.spans()
    assert [span.name for span in spans] == [STATUS_ROUTE, EVENT_ROUTE, TERMINATE_ROUTE]
    assert [attribute(span, "outcome") for span in spans] == ["active", "accepted", "accepted"]
    assert [attribute(span, "instanceId") for span in spans] == [instance_id, instance_id, other_id]
    for span in spans:
        assert attribute(span, "orchestrator") == ORCHESTRATOR
        assert attribute(span, "status") == 202
        assert attribute(span, "startAttempts") is None
        assert span.status.status_code is StatusCode.UNSET


async def test_a_404_of_the_status_route_is_not_an_error(durable: DurableStandin, tracing: Tracing) -> None:
    instance_id = new_instance_id()
    params = {"functionName": ORCHESTRATOR, "instanceId": instance_id}
    response = await manage(
        "HttpGetStatus", "GET", f"orchestrators/{ORCHESTRATOR}/{instance_id}", params, durable, tracing
    )
    assert response.status_code == 404
    span = tracing.only_span()
    assert attribute(span, "outcome") == "not_found"
    assert span.status.status_code is StatusCode.UNSET


async def test_a_503_of_a_management_route_has_the_error_status(
    durable: DurableStandin, tracing: Tracing, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The refused terminate never shows as processed: a short wait for it keeps the answer quick.
    monkeypatch.setenv("SINGLETON_TERMINATE_WAIT_SECONDS", "0.5")
    instance_id = new_instance_id()
    durable.add_instance(instance_id, ORCHESTRATOR, "Running")
    durable.inject_fault("terminate", "error")
    path = f"orchestrators/{ORCHESTRATOR}/{instance_id}/terminate"
    params = {"functionName": ORCHESTRATOR, "instanceId": instance_id}
    assert (await manage("HttpTerminate", "POST", path, params, durable, tracing)).status_code == 503
    span = tracing.only_span()
    assert attribute(span, "outcome") == "in_doubt"  # a 500 leaves open whether the terminate was queued
    assert span.status.status_code is StatusCode.ERROR


# ------------------------------------------------------------------ the log line


async def test_the_log_line_keeps_its_json_message_and_passes_its_fields_as_extra_attributes(
    traced_app: StartApp, caplog: pytest.LogCaptureFixture
) -> None:
    instance_id = new_instance_id()
    with caplog.at_level(logging.INFO, logger="singleton_start"):
        assert (await traced_app.post(instance_id)).status_code == 202
    [record] = [record for record in caplog.records if record.levelno == logging.INFO]
    line = json.loads(record.getMessage())
    assert line["event"] == "singleton_start"
    assert line["instanceId"] == instance_id
    assert line["startAttempts"] == 1
    for field, name in ATTRIBUTE_NAMES.items():
        assert getattr(record, name) == line[field]


async def test_the_log_line_is_written_inside_the_request_span(
    traced_app: StartApp, tracing: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    """So that OpenTelemetry's log handler stamps it with the request's trace and span IDs."""
    span_ids: list[int] = []

    class SpanOfRecord(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            span_ids.append(trace.get_current_span().get_span_context().span_id)

    handler = SpanOfRecord(logging.INFO)
    logging.getLogger("singleton_start").addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="singleton_start"):
            assert (await traced_app.post(new_instance_id())).status_code == 202
    finally:
        logging.getLogger("singleton_start").removeHandler(handler)
    assert span_ids == [tracing.only_span().context.span_id]


# ------------------------------------------------------------------ no secrets


async def test_no_key_or_connection_string_in_any_span_attribute_or_log_field(
    load_app: LoadApp,
    azurite: Azurite,
    durable: DurableStandin,
    tracing: Tracing,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="singleton_start")
    app = await load_app()
    tracing.attach(app.endpoint)
    instance_id = new_instance_id()
    keyed = {"x-functions-key": FUNCTION_KEY}
    params = {"code": FUNCTION_KEY}
    starter = durable.starter_binding()
    answers = [
        await invoke(app.function, req=start_request(ORCHESTRATOR, target, b"", keyed, params), starter=starter)
        for target in (instance_id, instance_id, "@bad")
    ]
    # Storage that refuses connections, addressed with the real account key.
    dead_storage = azurite.connection_string.replace(f":{azurite.port}/", f":{free_port()}/")
    monkeypatch.setenv(STORAGE_CONNECTION, dead_storage)
    storage_down = load_function("HttpStartSingle")
    tracing.attach(storage_down.module.endpoint)
    try:
        request = start_request(ORCHESTRATOR, new_instance_id(), b"", keyed, params)
        answers.append(await invoke(storage_down, req=request, starter=starter))
    finally:
        await storage_down.module.endpoint.close()
    assert [answer.status_code for answer in answers] == [202, 409, 400, 503]

    spans = tracing.spans()
    assert len(spans) == 4
    written = [str(dict(span.attributes or {})) for span in spans]
    written += [str(vars(record)) for record in caplog.records]
    for secret in (FUNCTION_KEY, durable.system_key, azurite.account_key, azurite.connection_string, dead_storage):
        assert not [text for text in written if secret in text]
