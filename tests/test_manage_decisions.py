"""The pure parts of the management routes: links, forwarded hosts, what a route may see, request rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import azure.functions as func
import pytest

from singleton_start.core.decisions import find
from singleton_start.core.outcomes import Active, Ended, NotFound
from singleton_start.core.status import MISSING, InstanceState, Observed
from singleton_start.http.contract import (
    ContractError,
    ErrorCode,
    allowed_target,
    app_links,
    request_origin,
    status_body,
    terminate_reason,
    validate_event_name,
)
from tests.support.no_master_key import assert_no_master_key, system_key_of

URL = "http://localhost:7071/api/orchestrators/Job/a?code=function-key"
FORWARDED = {"x-forwarded-host": "jobs.example.com", "x-forwarded-proto": "https"}


def status_of(name: str | None, runtime_status: str, state: InstanceState) -> Observed:
    moment = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    return Observed(state, runtime_status, moment, moment, '{"n": 1}', 7, name, {"phase": "x"})


def test_app_links_point_at_the_apps_routes_with_the_placeholders_clients_fill() -> None:
    assert app_links("https://host", "Job", "a b/%") == {
        "id": "a b/%",
        "statusQueryGetUri": "https://host/api/orchestrators/Job/a%20b%2F%25",
        "sendEventPostUri": "https://host/api/orchestrators/Job/a%20b%2F%25/events/{eventName}",
        "terminatePostUri": "https://host/api/orchestrators/Job/a%20b%2F%25/terminate?reason={text}",
    }


def test_origin_is_the_requests_own_scheme_and_host_without_its_query() -> None:
    assert request_origin(URL, FORWARDED, use_forwarded_host=False) == "http://localhost:7071"


def test_origin_follows_forwarded_host_and_proto_when_enabled() -> None:
    assert request_origin(URL, FORWARDED, use_forwarded_host=True) == "https://jobs.example.com"


def test_origin_takes_the_first_of_a_forwarded_list() -> None:
    headers = {"x-forwarded-host": "front.example, inner.local", "x-forwarded-proto": "https,http"}
    assert request_origin(URL, headers, use_forwarded_host=True) == "https://front.example"


@pytest.mark.parametrize(
    "headers",
    [
        {"x-forwarded-host": "jobs.example.com"},
        {"x-forwarded-proto": "https"},
        {"x-forwarded-host": "jobs.example.com", "x-forwarded-proto": "javascript"},
        {"x-forwarded-host": "evil.example/path?", "x-forwarded-proto": "https"},
        {"x-forwarded-host": "user@evil.example", "x-forwarded-proto": "https"},
        {"x-forwarded-host": "", "x-forwarded-proto": "https"},
    ],
)
def test_origin_ignores_forwarded_headers_that_are_missing_or_malformed(headers: dict[str, str]) -> None:
    assert request_origin(URL, headers, use_forwarded_host=True) == "http://localhost:7071"


def test_an_instance_of_another_orchestrator_is_not_found() -> None:
    assert find(status_of("Billing", "Running", InstanceState.ACTIVE), "Job") == NotFound()
    assert find(MISSING, "Job") == NotFound()
    assert find(status_of(None, "Running", InstanceState.ACTIVE), "Job") == NotFound()


def test_the_named_orchestrator_is_matched_case_insensitively() -> None:
    active = status_of("Job", "Running", InstanceState.ACTIVE)
    ended = status_of("Job", "Completed", InstanceState.ENDED)
    assert find(active, "JOB") == Active(active)
    assert find(ended, "job") == Ended(ended)


def test_status_body_has_the_input_only_when_asked() -> None:
    status = status_of("Job", "Running", InstanceState.ACTIVE)
    links = app_links("http://h", "Job", "a")
    hidden = status_body(status, links, with_input=False)
    assert "input" not in hidden
    assert hidden["createdTime"] == "2026-11-29T03:00:00Z"
    assert hidden["output"] == 7 and hidden["customStatus"] == {"phase": "x"}
    assert status_body(status, links, with_input=True)["input"] == '{"n": 1}'


def test_allowed_target_refuses_names_off_the_allowlist_before_the_id() -> None:
    with pytest.raises(ContractError) as raised:
        allowed_target("Billing", "@bad", ("Job",))
    assert raised.value.error is ErrorCode.UNKNOWN_ORCHESTRATOR
    with pytest.raises(ContractError) as raised:
        allowed_target("job", "@bad", ("Job",))
    assert raised.value.error is ErrorCode.INVALID_INSTANCE_ID
    assert allowed_target("JOB", "a", ("Job",)) == ("Job", "a")


@pytest.mark.parametrize("name", ["Stop", "a", "x" * 128, "v1.2_b-3"])
def test_event_names_of_letters_digits_and_three_marks_pass(name: str) -> None:
    assert validate_event_name(name) is None


@pytest.mark.parametrize("name", [None, "", "x" * 129, "a b", "Stop\n", "ü", "a/b"])
def test_other_event_names_are_refused(name: str | None) -> None:
    assert "1 to 128" in (validate_event_name(name) or "")


def test_terminate_reason_comes_from_the_query_first_then_the_body() -> None:
    body = json.dumps({"reason": "from body"}).encode()
    assert terminate_reason("from query", "application/json", body, 1024) == "from query"
    assert terminate_reason(None, "application/json", body, 1024) == "from body"
    assert terminate_reason(None, None, b"", 1024) is None
    assert terminate_reason(None, None, b"{}", 1024) is None


def test_terminate_reason_of_1000_characters_passes_and_1001_is_refused() -> None:
    assert terminate_reason("r" * 1000, None, b"", 1024) == "r" * 1000
    with pytest.raises(ContractError) as raised:
        terminate_reason(None, None, json.dumps({"reason": "r" * 1001}).encode(), 4096)
    assert raised.value.error is ErrorCode.INVALID_REASON


def test_the_master_key_guard_catches_a_key_in_a_body_a_header_or_a_webhook_link() -> None:
    starter = json.dumps({"requiredQueryStringParameters": "code=sys-key"})
    key = system_key_of(starter)
    assert key == "sys-key"
    leaks = [
        func.HttpResponse('{"x": "sys-key"}'),
        func.HttpResponse("{}", headers={"Location": "http://h/a?code=other"}),
        func.HttpResponse('{"statusQueryGetUri": "http://h/runtime/webhooks/durabletask/instances/a"}'),
    ]
    for response in leaks:
        with pytest.raises(AssertionError):
            assert_no_master_key(response, key)
    assert_no_master_key(func.HttpResponse('{"statusQueryGetUri": "http://h/api/orchestrators/Job/a"}'), key)
