"""The 1.x adapter's requests and its reading of the extension's HTTP answers, as pure functions
(core/http_answers.py); the answers are those HttpApiHandler gives (docs/model.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from singleton_start.core.errors import AlreadyExists, InDoubt, InstanceEnded, NoInstance, Refused, Sent, Unavailable
from singleton_start.core.http_answers import (
    command_answer,
    describe,
    error_text,
    event_body,
    event_url,
    start_answer,
    start_request,
    status_answer,
    status_url,
    terminate_url,
)
from singleton_start.core.status import ACTIVE_STATUSES, ENDED_STATUSES, MISSING, InstanceState

BASE = "http://127.0.0.1:17071/durabletask/"
ACCEPTED_BODY = {"id": "job", "statusQueryGetUri": "http://localhost/instances/job"}
ALREADY_EXISTS_500 = {
    "Message": "Something went wrong while processing your request",
    "ExceptionMessage": "An Orchestration instance with the status Running already exists.",
    "ExceptionType": "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException",
    "StackTrace": None,
}
OTHER_500 = {**ALREADY_EXISTS_500, "ExceptionType": "DurableTask.AzureStorage.Storage.DurableTaskStorageException"}
NOT_RUNNING_500 = {
    "Message": "Something went wrong while processing your request",
    "ExceptionMessage": "Cannot terminate the orchestration instance job because instance is in the Completed state.",
    "ExceptionType": "System.InvalidOperationException",
}
GONE_400 = {
    "Message": "One or more of the arguments submitted is incorrect",
    "ExceptionMessage": "No instance with ID 'job' was found.",
    "ExceptionType": "System.ArgumentException",
}


def status_body(runtime_status: str) -> dict[str, object]:
    return {
        "name": "SingletonOrchestrator",
        "instanceId": "job",
        "runtimeStatus": runtime_status,
        "createdTime": "2026-01-01T00:00:00Z",
        "lastUpdatedTime": "2026-01-01T00:00:05Z",
        "input": '{"workItems": 2}',
        "customStatus": {"done": 1},
        "output": None,
    }


def test_a_202_with_the_instance_links_is_an_acceptance() -> None:
    start_answer(202, ACCEPTED_BODY)  # raises nothing


def test_a_400_is_a_refusal_of_the_arguments() -> None:
    with pytest.raises(Refused) as refused:
        start_answer(400, {"Message": "One or more of the arguments submitted is incorrect"})
    assert not isinstance(refused.value, AlreadyExists)


@pytest.mark.parametrize(
    ("http_status", "body"),
    [
        (500, ALREADY_EXISTS_500),
        (409, {"Message": "An Orchestration instance with the status Running already exists."}),
    ],
)
def test_the_catch_all_500_naming_already_exists_is_an_already_exists_refusal(http_status: int, body: object) -> None:
    with pytest.raises(AlreadyExists):
        start_answer(http_status, body)


@pytest.mark.parametrize(
    ("http_status", "body"),
    [(500, None), (500, OTHER_500), (503, None), (202, None), (200, "not json"), (None, None)],
)
def test_any_other_answer_leaves_the_start_in_doubt(http_status: int | None, body: object) -> None:
    """A 500 too: the extension's row write may have timed out and still land (docs/model.md)."""
    with pytest.raises(InDoubt) as in_doubt:
        start_answer(http_status, body)
    assert in_doubt.value.sent is Sent.START


@pytest.mark.parametrize("runtime_status", sorted(ACTIVE_STATUSES))
def test_pending_running_continued_and_suspended_are_active(runtime_status: str) -> None:
    observed = status_answer(202, status_body(runtime_status))
    assert observed.state is InstanceState.ACTIVE and observed.runtime_status == runtime_status
    assert observed.created_time == datetime(2026, 1, 1, tzinfo=UTC)
    assert observed.input == '{"workItems": 2}' and observed.has_input({"workItems": 2})
    assert observed.custom_status == {"done": 1} and observed.name == "SingletonOrchestrator"


@pytest.mark.parametrize("runtime_status", sorted(ENDED_STATUSES))
def test_completed_failed_terminated_and_canceled_have_ended(runtime_status: str) -> None:
    assert status_answer(200, status_body(runtime_status)).state is InstanceState.ENDED


def test_only_a_404_is_read_as_no_instance() -> None:
    assert status_answer(404, None) == MISSING
    with pytest.raises(Unavailable, match="HTTP 500 and an empty body"):
        status_answer(500, None)
    with pytest.raises(Unavailable):
        status_answer(500, OTHER_500)
    assert status_answer(500, status_body("Failed")).state is InstanceState.ENDED


def test_a_status_this_app_does_not_know_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="Rewinding"):
        status_answer(200, status_body("Rewinding"))


def test_a_command_is_queued_only_on_202() -> None:
    command_answer("The event", 202, None)
    with pytest.raises(NoInstance):
        command_answer("The event", 404, None)
    with pytest.raises(InstanceEnded):
        command_answer("The event", 410, None)
    with pytest.raises(Refused):
        command_answer("The event", 400, {"Message": "Only application/json request content is supported"})


def test_durable_clients_second_read_is_a_clear_answer_not_a_doubt() -> None:
    """DurableClient reads again before it sends: an instance that ended in between is its InvalidOperationException
    (500), one that is gone its ArgumentException (400); nothing was queued either way."""
    with pytest.raises(InstanceEnded):
        command_answer("The terminate", 500, NOT_RUNNING_500)
    with pytest.raises(NoInstance):
        command_answer("The terminate", 400, GONE_400)


@pytest.mark.parametrize("answer", [(500, None), (500, OTHER_500), (503, None), (None, None)])
def test_any_other_command_answer_is_in_doubt(answer: tuple[int | None, object]) -> None:
    with pytest.raises(InDoubt):
        command_answer("The terminate", *answer)


def test_requests_are_built_as_the_extension_routes_them() -> None:
    assert status_url(BASE, "a b+c", with_input=False) == f"{BASE}instances/a%20b%252Bc?showInput=false"
    assert status_url(BASE, "job", with_input=True) == f"{BASE}instances/job?showInput=true"
    assert terminate_url(BASE, "job", "why & how") == f"{BASE}instances/job/terminate?reason=why%20%26%20how"
    assert event_url(BASE, "job", "Work") == f"{BASE}instances/job/raiseEvent/Work"


def test_a_starts_input_goes_as_the_1x_sdk_sends_it() -> None:
    """The input's JSON text as a JSON string, which the 1.x orchestrator's get_input() parses again."""
    url, body = start_request(BASE, "SingletonOrchestrator", "job", {"workItems": 2})
    assert url == f"{BASE}orchestrators/SingletonOrchestrator/job"
    assert json.loads(json.loads(body)) == {"workItems": 2}
    assert start_request(BASE, "SingletonOrchestrator", "job", None)[1] == b""


def test_an_events_data_goes_as_the_json_value_itself() -> None:
    """Not a JSON string of its text, which would reach wait_for_external_event as a string."""
    assert json.loads(event_body({"items": [1, 2]})) == {"items": [1, 2]}
    assert event_body("text") == b'"text"'


def test_a_status_read_keeps_every_field_the_answers_and_the_routes_show() -> None:
    observed = status_answer(202, status_body("Running"))
    assert observed.created_time == datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert observed.last_updated_time == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    assert (observed.input, observed.custom_status, observed.name) == (
        '{"workItems": 2}',
        {"done": 1},
        "SingletonOrchestrator",
    )
    timeless = status_answer(202, {**status_body("Running"), "createdTime": None, "lastUpdatedTime": ""})
    assert (timeless.created_time, timeless.last_updated_time) == (None, None)


def test_a_log_line_names_the_extensions_own_message_shortened_and_ending_in_one_stop() -> None:
    assert describe(500, OTHER_500) == f"HTTP 500 ({OTHER_500['ExceptionMessage']})"
    assert describe(500, {"Message": "Something went wrong."}) == "HTTP 500 (Something went wrong.)"
    assert describe(503, {"code": 1}) == "HTTP 503 ({'code': 1}.)"
    assert describe(500, None) == "HTTP 500 and an empty body"
    assert error_text("x" * 300) == "x" * 200 + "."
    assert error_text("Busy...") == "Busy."
    with pytest.raises(InDoubt, match=r"answered with HTTP 502 \(Bad gateway\.\); it may still run") as error:
        start_answer(502, {"Message": "Bad gateway"})
    assert error.value.sent is Sent.START


def test_a_catch_all_names_the_exception_its_type_and_message_must_both_match() -> None:
    with pytest.raises(InDoubt):
        command_answer("The terminate", 500, {**NOT_RUNNING_500, "ExceptionType": "System.TimeoutException"})
    with pytest.raises(Refused):
        command_answer("The terminate", 400, {**GONE_400, "ExceptionMessage": "Bad reason."})
    with pytest.raises(InDoubt):
        start_answer(500, {"ExceptionMessage": ALREADY_EXISTS_500["ExceptionMessage"]})
