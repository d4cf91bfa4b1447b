"""Reading the extension's answers by HTTP status, as pure decisions."""

from __future__ import annotations

import pytest

from singleton_start.backend import start_answer, status_read_problem
from singleton_start.ports import StartOutcomeUnknown, StartRefused

ACCEPTED_BODY = {"id": "job", "statusQueryGetUri": "http://localhost/instances/job"}
ALREADY_EXISTS_500 = {
    "Message": "Something went wrong while processing your request",
    "ExceptionMessage": "An Orchestration instance with the status Running already exists.",
    "ExceptionType": "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException",
    "StackTrace": None,
}
OTHER_500 = {**ALREADY_EXISTS_500, "ExceptionType": "DurableTask.AzureStorage.Storage.DurableTaskStorageException"}


def test_a_202_with_the_instance_links_is_an_acceptance() -> None:
    assert start_answer(202, ACCEPTED_BODY) is None


def test_a_400_is_a_refusal_of_the_arguments() -> None:
    outcome = start_answer(400, {"Message": "One or more of the arguments submitted is incorrect"})
    assert isinstance(outcome, StartRefused) and not outcome.already_exists


@pytest.mark.parametrize(
    ("http_status", "body"),
    [
        (409, {"Message": "An Orchestration instance with the status Running already exists."}),
        (500, ALREADY_EXISTS_500),
    ],
)
def test_409_and_500_with_already_exists_are_an_already_exists_refusal(http_status: int, body: object) -> None:
    outcome = start_answer(http_status, body)
    assert isinstance(outcome, StartRefused) and outcome.already_exists


@pytest.mark.parametrize(
    ("http_status", "body"),
    [(500, None), (500, OTHER_500), (503, None), (202, None), (200, "not json"), (None, None)],
)
def test_any_other_answer_leaves_the_start_outcome_unknown(http_status: int | None, body: object) -> None:
    assert isinstance(start_answer(http_status, body), StartOutcomeUnknown)


def test_only_a_404_is_read_as_no_instance() -> None:
    assert status_read_problem(404, None) is None
    assert status_read_problem(500, None) == (
        "The status read was answered with HTTP 500 and an empty body, which is not an instance status."
    )
    assert status_read_problem(500, {"runtimeStatus": "Failed"}) is None
    assert status_read_problem(500, OTHER_500) is not None
