"""The one HTTP adapter the four routes share: its error answers, its deadline and its log line, tested on the
adapter itself and on the four real endpoints. No I/O: the failures happen before any call leaves."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import azure.functions as func
import pytest
from azure.storage.blob.aio import BlobServiceClient

from singleton_start.adapters.blob_lease import LeaseLocks
from singleton_start.core.errors import DeadlineReached, Unavailable
from singleton_start.http.adapter import INTERNAL_MESSAGE, Call, HttpAdapter
from singleton_start.http.contract import ContractError, ErrorCode, error_response, unavailable_response
from singleton_start.http.routes import EventRoute, StartRoute, StatusRoute, TerminateRoute
from singleton_start.service.start import StartStats
from singleton_start.settings import Settings
from tests.conftest import body_of
from tests.support.worker import route_request

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROUTE = "POST orchestrators/{functionName}/{instanceId}/probe"
# A binding the SDK cannot parse: every route fails with a bug once it makes its backend.
BROKEN_BINDING = "{}"


class FixedClock:
    """A clock that stands still, so that a deadline's remaining time is exactly what it was given."""

    def now(self) -> float:
        return 100.0

    def utcnow(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("the adapter never sleeps")


class Probe(HttpAdapter):
    """A use case that raises what a test gives it, after recording the call it got."""

    route = ROUTE

    def __init__(self, error: Exception | None) -> None:
        super().__init__(Settings())
        self.error = error
        self.calls: list[Call] = []

    async def answer(self, call: Call) -> tuple[str, func.HttpResponse]:
        self.calls.append(call)
        call.stats = StartStats(start_attempts=2)
        if self.error is not None:
            raise self.error
        return "probed", func.HttpResponse(b"{}", status_code=200)


def probe_request(instance_id: str = "job-1") -> func.HttpRequest:
    params = {"functionName": "SingletonOrchestrator", "instanceId": instance_id}
    return route_request("POST", f"http://localhost/api/orchestrators/SingletonOrchestrator/{instance_id}", params)


def log_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith('{"event"')]


@pytest.mark.parametrize("error", [Unavailable("no answer"), Unavailable("no storage"), DeadlineReached()], ids=repr)
async def test_an_unavailable_backend_storage_or_deadline_answers_503_and_logs_unavailable(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="singleton_start"):
        response = await Probe(error).handle(probe_request(), BROKEN_BINDING)

    assert (response.status_code, response.get_body()) == (503, unavailable_response().get_body())
    assert [(line["outcome"], line["status"]) for line in log_lines(caplog)] == [("unavailable", 503)]


async def test_a_contract_error_answers_its_code_and_logs_invalid(caplog: pytest.LogCaptureFixture) -> None:
    error = ContractError(ErrorCode.INVALID_INSTANCE_ID, "The instance ID is not valid.")
    with caplog.at_level(logging.INFO, logger="singleton_start"):
        response = await Probe(error).handle(probe_request(), BROKEN_BINDING)

    assert response.status_code == 400
    assert body_of(response) == {"error": "invalid_instance_id", "message": "The instance ID is not valid."}
    assert [line["outcome"] for line in log_lines(caplog)] == ["invalid"]


async def test_a_bug_answers_the_one_500_and_the_log_line_keeps_the_start_figures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="singleton_start"):
        response = await Probe(RuntimeError("secret=abc")).handle(probe_request("job-7"), BROKEN_BINDING)

    assert response.status_code == 500
    assert body_of(response) == {"error": "internal", "message": INTERNAL_MESSAGE}
    (line,) = log_lines(caplog)
    assert (line["outcome"], line["instanceId"], line["startAttempts"]) == ("internal", "job-7", 2)
    assert "secret" not in response.get_body().decode()


async def test_each_request_gets_a_deadline_of_the_request_timeout_on_the_adapter_clock() -> None:
    probe = Probe(None)
    probe.clock = FixedClock()

    await probe.handle(probe_request(), BROKEN_BINDING)

    (call,) = probe.calls
    assert call.deadline.remaining() == Settings().request_timeout_seconds


async def test_a_bug_in_any_of_the_four_routes_answers_the_same_500_byte_for_byte() -> None:
    def storage() -> LeaseLocks:
        service = BlobServiceClient.from_connection_string("UseDevelopmentStorage=true")
        return LeaseLocks(service.get_container_client("singleton-locks"), 30)

    settings = Settings()
    endpoints: list[HttpAdapter] = [
        StartRoute(settings, storage()),
        StatusRoute(settings),
        TerminateRoute(settings, storage()),
        EventRoute(settings, storage()),
    ]
    params = {"functionName": "SingletonOrchestrator", "instanceId": "job-1", "eventName": "Stop"}
    answers = set()
    try:
        for endpoint in endpoints:
            response = await endpoint.handle(route_request("POST", "http://localhost/api/x", params), BROKEN_BINDING)
            answers.add((response.status_code, response.get_body()))
    finally:
        for endpoint in endpoints:
            await endpoint.close()

    assert answers == {(500, error_response(ErrorCode.INTERNAL, INTERNAL_MESSAGE).get_body())}
