"""The pure contract: validation of IDs, names, keys and bodies, and the shape of answers."""

from __future__ import annotations

import json

import pytest

from singleton_start.http.contract import (
    NO_INPUT,
    ContractError,
    ErrorCode,
    conflict_body,
    error_response,
    parse_input,
    resolve_orchestrator,
    validate_idempotency_key,
    validate_instance_id,
)

MAX = 1_048_576


@pytest.mark.parametrize(
    "instance_id", ["a", "job-1", "x" * 256, "with space", "ünïcödé", "a@b", "50%", "a.b.", "😀" * 128]
)
def test_valid_instance_ids_pass(instance_id: str) -> None:
    assert validate_instance_id(instance_id) is None


@pytest.mark.parametrize(
    ("instance_id", "fragment"),
    [
        ("", "empty"),
        (None, "empty"),
        ("x" * 257, "257 characters"),
        ("😀" * 129, "258 characters"),
        ("@entity", "'@'"),
        ("a/b", "'/'"),
        ("a\\b", "'\\\\'"),
        ("a#b", "'#'"),
        ("a?b", "'?'"),
        ("a\nb", "U+000A"),
        ("a\x00b", "U+0000"),
        ("a\x7fb", "U+007F"),
        ("a\x85b", "U+0085"),
        (".", "'.' or '..'"),
        ("..", "'.' or '..'"),
    ],
)
def test_invalid_instance_ids_are_named_in_the_message(instance_id: str | None, fragment: str) -> None:
    problem = validate_instance_id(instance_id)
    assert problem is not None
    assert fragment in problem


def test_orchestrator_names_match_case_insensitively_and_return_the_configured_spelling() -> None:
    allowed = ("SingletonOrchestrator", "Monitor")
    assert resolve_orchestrator("singletonorchestrator", allowed) == "SingletonOrchestrator"
    assert resolve_orchestrator("MONITOR", allowed) == "Monitor"
    assert resolve_orchestrator("SampleActivity", allowed) is None
    assert resolve_orchestrator("HttpStartSingle", allowed) is None
    assert resolve_orchestrator("", allowed) is None


@pytest.mark.parametrize("key", [None, "k", "a" * 255, "order-42 retry #1 ~!"])
def test_valid_idempotency_keys_pass(key: str | None) -> None:
    assert validate_idempotency_key(key) is None


@pytest.mark.parametrize("key", ["", "a" * 256, "tab\there", "ключ", "nul\x00"])
def test_invalid_idempotency_keys_are_refused(key: str) -> None:
    assert validate_idempotency_key(key) is not None


def test_empty_body_means_no_input() -> None:
    assert parse_input(None, b"", MAX) is NO_INPUT
    assert parse_input("application/json", b"", MAX) is NO_INPUT


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        (None, b'{"workItems": 2}', {"workItems": 2}),
        ("application/json", b"[1, 2]", [1, 2]),
        ("application/json; charset=utf-8", b'"text"', "text"),
        ("Application/JSON;charset=UTF-8", b"42", 42),
        ("application/merge-patch+json", b"true", True),
        ("application/json", b"\xef\xbb\xbf{}", {}),
        ("application/json; charset=utf-16", '{"a": "ü"}'.encode("utf-16"), {"a": "ü"}),
        ("application/json; charset=latin-1", '"café"'.encode("latin-1"), "café"),
        (None, b"12345678901234567890123", 12345678901234567890123),
    ],
)
def test_json_bodies_become_the_input(content_type: str | None, body: bytes, expected: object) -> None:
    assert parse_input(content_type, body, MAX) == expected


def test_unknown_charset_is_refused_even_with_an_empty_body() -> None:
    with pytest.raises(ContractError) as raised:
        parse_input("application/json; charset=no-such-codec", b"", MAX)
    assert raised.value.error is ErrorCode.UNSUPPORTED_MEDIA_TYPE


def test_json_null_body_means_no_input() -> None:
    assert parse_input(None, b"null", MAX) is NO_INPUT


@pytest.mark.parametrize(
    ("content_type", "body", "error"),
    [
        ("text/plain", b"{}", ErrorCode.UNSUPPORTED_MEDIA_TYPE),
        ("application/x-www-form-urlencoded", b"a=1", ErrorCode.UNSUPPORTED_MEDIA_TYPE),
        ("application/jsonx", b"{}", ErrorCode.UNSUPPORTED_MEDIA_TYPE),
        ("application/json; charset=no-such-charset", b"{}", ErrorCode.UNSUPPORTED_MEDIA_TYPE),
        ("application/json; charset=rot13", b"{}", ErrorCode.UNSUPPORTED_MEDIA_TYPE),
        (None, b"{", ErrorCode.INVALID_JSON),
        (None, b"{} {}", ErrorCode.INVALID_JSON),
        (None, b"NaN", ErrorCode.INVALID_JSON),
        (None, b"[Infinity]", ErrorCode.INVALID_JSON),
        (None, b"-Infinity", ErrorCode.INVALID_JSON),
        (None, b"1e400", ErrorCode.INVALID_JSON),
        (None, b"9" * 5000, ErrorCode.INVALID_JSON),
        (None, b"\xff\xfe\x00", ErrorCode.INVALID_JSON),
        (None, b"   ", ErrorCode.INVALID_JSON),
        (None, b"[" * 65 + b"]" * 65, ErrorCode.INVALID_JSON),
        (None, b"[" * 100_000 + b"]" * 100_000, ErrorCode.INVALID_JSON),
    ],
)
def test_bad_bodies_are_refused_with_their_code(content_type: str | None, body: bytes, error: ErrorCode) -> None:
    with pytest.raises(ContractError) as raised:
        parse_input(content_type, body, 10_000_000)
    assert raised.value.error is error
    assert raised.value.message


def test_json_nested_to_the_limit_is_accepted() -> None:
    assert parse_input(None, b"[" * 64 + b"]" * 64, MAX) is not NO_INPUT


def test_body_over_the_limit_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(ContractError) as raised:
        parse_input("text/plain", b"x" * 11, 10)
    assert raised.value.error is ErrorCode.PAYLOAD_TOO_LARGE
    assert parse_input(None, b'"' + b"x" * 8 + b'"', 10) == "x" * 8


def test_error_responses_have_one_json_shape() -> None:
    response = error_response(ErrorCode.UNAVAILABLE, "Try later.", {"Retry-After": "5"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert json.loads(response.get_body()) == {"error": "unavailable", "message": "Try later."}


def test_every_error_code_has_a_distinct_name_and_a_client_or_server_status() -> None:
    codes = [error.code for error in ErrorCode]
    assert len(codes) == len(set(codes))
    assert {error.status for error in ErrorCode} <= {400, 404, 409, 410, 413, 415, 422, 500, 503}


def test_conflict_body_names_the_instance_and_carries_its_links() -> None:
    links = {"id": "job", "statusQueryGetUri": "http://x/status", "terminatePostUri": "http://x/terminate"}
    body = conflict_body("job", "Running", None, None, links, "busy")
    assert body["error"] == "conflict"
    assert body["instanceId"] == "job"
    assert body["runtimeStatus"] == "Running"
    assert body["statusQueryGetUri"] == "http://x/status"
    assert body["terminatePostUri"] == "http://x/terminate"
