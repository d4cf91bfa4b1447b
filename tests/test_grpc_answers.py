"""The 2.x adapter's classification of gRPC answers, by status code name and details: no SDK needed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import NoReturn

import pytest

from singleton_start.core import grpc_answers
from singleton_start.core.errors import (
    AlreadyExists,
    InDoubt,
    InstanceEnded,
    NoInstance,
    Refused,
    Sent,
    SingletonStartError,
    Unavailable,
)
from singleton_start.core.grpc_answers import (
    NO_ANSWER,
    certainly_not_sent,
    command_failure,
    no_answer,
    observed_state,
    read_failure,
    start_failure,
)
from singleton_start.core.status import InstanceState

REFUSED_CONNECTION = (
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:4001: "
    "Failed to connect to remote host: Connection refused"
)
HANDLER_THREW = "Exception was thrown by handler."


def raised(classify: Callable[..., NoReturn], *answer: str) -> Exception:
    """What a classification raises for one answer (each classification always raises)."""
    with pytest.raises(SingletonStartError) as error:
        classify(*answer)
    return error.value


def test_already_exists_is_a_refusal_of_the_start_as_already_existing() -> None:
    outcome = raised(start_failure, "ALREADY_EXISTS", "An Orchestration instance with the ID job already exists.")
    assert isinstance(outcome, AlreadyExists)


@pytest.mark.parametrize("code", ["INVALID_ARGUMENT", "FAILED_PRECONDITION"])
def test_an_invalid_start_is_refused_but_not_as_already_existing(code: str) -> None:
    outcome = raised(start_failure, code, "bad instance ID")
    assert isinstance(outcome, Refused) and not isinstance(outcome, AlreadyExists)


def test_a_start_whose_connection_was_refused_was_certainly_not_sent() -> None:
    assert isinstance(raised(start_failure, "UNAVAILABLE", REFUSED_CONNECTION), Unavailable)


@pytest.mark.parametrize("code", ["UNAUTHENTICATED", "PERMISSION_DENIED", "UNIMPLEMENTED"])
def test_a_start_refused_before_any_handler_ran_was_not_sent(code: str) -> None:
    assert isinstance(raised(start_failure, code, ""), Unavailable)


@pytest.mark.parametrize(
    ("code", "details"),
    [
        ("UNAVAILABLE", "Socket closed"),  # the channel dropped after the request was written
        ("UNAVAILABLE", "recvmsg:Connection reset by peer"),
        ("INTERNAL", "Failed to start instance with ID job."),  # the extension's catch-all, maybe after the enqueue
        ("UNKNOWN", HANDLER_THREW),
        ("DEADLINE_EXCEEDED", "Deadline Exceeded"),
        ("CANCELLED", ""),
    ],
)
def test_a_start_that_may_have_reached_the_extension_has_an_unknown_outcome(code: str, details: str) -> None:
    assert isinstance(raised(start_failure, code, details), InDoubt)


def test_the_adapters_own_timeout_is_a_deadline_and_leaves_the_outcome_unknown() -> None:
    code, details = no_answer(2.5)
    assert code == NO_ANSWER == "DEADLINE_EXCEEDED" and "2.5 seconds" in details
    assert isinstance(raised(start_failure, code, details), InDoubt)
    assert type(raised(command_failure, "The terminate", code, details)) is InDoubt
    assert isinstance(raised(read_failure, code, details), Unavailable)


def test_only_a_refused_connection_or_a_call_no_handler_took_counts_as_not_sent() -> None:
    assert certainly_not_sent("UNAVAILABLE", "DNS resolution failed for localhost:4001")
    assert certainly_not_sent("UNIMPLEMENTED", "")
    assert not certainly_not_sent("UNAVAILABLE", "Socket closed")
    assert not certainly_not_sent("INTERNAL", "connection refused")  # a handler's failure, whatever it says


def test_the_sidecars_not_found_and_failed_precondition_are_no_instance_and_an_ended_one() -> None:
    assert isinstance(raised(command_failure, "The event", "NOT_FOUND", "not found"), NoInstance)
    assert isinstance(raised(command_failure, "The event", "FAILED_PRECONDITION", "ended"), InstanceEnded)
    assert isinstance(raised(command_failure, "The event", "INVALID_ARGUMENT", "no name"), Refused)


def test_the_extensions_unknown_for_a_command_leaves_its_outcome_unknown() -> None:
    # LocalGrpcListener answers "no instance", "not running" and a failure after the enqueue alike.
    error = raised(command_failure, "The terminate", "UNKNOWN", HANDLER_THREW)
    assert type(error) is InDoubt and str(error).startswith("The terminate was answered with gRPC UNKNOWN")


def test_a_command_whose_connection_was_refused_or_dropped_is_not_sent_or_unknown() -> None:
    assert isinstance(raised(command_failure, "The event", "UNAVAILABLE", REFUSED_CONNECTION), Unavailable)
    assert type(raised(command_failure, "The event", "UNAVAILABLE", "Socket closed")) is InDoubt


def test_a_failed_read_is_unavailable_whatever_its_code() -> None:
    for code in ("NOT_FOUND", "UNKNOWN", "UNAVAILABLE", "INTERNAL"):
        assert isinstance(raised(read_failure, code, "x"), Unavailable)


def state(status_name: str) -> tuple[InstanceState, str | None]:
    observed = observed_state(status_name, created=None, updated=None, serialized_input=None, output=None, name=None)
    return observed.state, observed.runtime_status


def test_protocol_statuses_read_as_active_or_ended_under_the_http_apis_names() -> None:
    assert state("RUNNING") == (InstanceState.ACTIVE, "Running")
    assert state("CONTINUED_AS_NEW") == (InstanceState.ACTIVE, "ContinuedAsNew")
    assert state("SUSPENDED") == (InstanceState.ACTIVE, "Suspended")
    assert state("CANCELED") == (InstanceState.ENDED, "Canceled")
    assert state("TERMINATED") == (InstanceState.ENDED, "Terminated")
    with pytest.raises(Unavailable, match="does not know: STALLED"):
        state("STALLED")


def test_every_code_named_is_one_of_grpcs_own_where_grpc_is_installed() -> None:
    grpc = pytest.importorskip("grpc", reason="grpcio comes with the 2.x SDK, not with the 1.x line")
    named = {NO_ANSWER, "ALREADY_EXISTS", "NOT_FOUND", "UNAVAILABLE"}
    named |= grpc_answers.NOT_HANDLED_CODES | grpc_answers.REFUSED_CODES
    assert named <= {code.name for code in grpc.StatusCode}


def test_a_state_read_keeps_its_times_and_custom_status_and_an_unknown_name_is_no_status() -> None:
    created, updated = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    observed = observed_state(
        "RUNNING", created=created, updated=updated, serialized_input="1", output=None, name="J", custom_status=[1]
    )
    assert (observed.created_time, observed.last_updated_time, observed.custom_status) == (created, updated, [1])
    for name in ("", "XXXX", "PENDING_OR_WHAT"):
        with pytest.raises(Unavailable):
            observed_state(name, created=None, updated=None, serialized_input=None, output=None, name=None)


def test_a_start_that_may_have_landed_says_a_start_is_in_doubt_and_names_the_code_and_details() -> None:
    error = raised(start_failure, "UNKNOWN", "  Exception was thrown by handler.  ")
    assert isinstance(error, InDoubt) and error.sent is Sent.START
    assert "gRPC UNKNOWN (Exception was thrown by handler.)" in str(error)
    assert "gRPC INTERNAL;" in str(raised(start_failure, "INTERNAL", "   "))
