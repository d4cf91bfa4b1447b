"""Classifying a status read, and the policy table that turns it into an action."""

from __future__ import annotations

import pytest
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from singleton_start.settings import ConflictPolicy, ReusePolicy
from singleton_start.status import (
    ACTIVE_STATUSES,
    ENDED_STATUSES,
    MISSING,
    Action,
    InstanceState,
    Observed,
    UnreadableStatus,
    classify,
    decide,
)


def status(runtime_status: str) -> DurableOrchestrationStatus:
    parsed: DurableOrchestrationStatus = DurableOrchestrationStatus.from_json(
        {
            "name": "SingletonOrchestrator",
            "instanceId": "job",
            "runtimeStatus": runtime_status,
            "createdTime": "2026-01-01T00:00:00Z",
            "lastUpdatedTime": "2026-01-01T00:00:05Z",
            "input": {"workItems": 2},
        }
    )
    return parsed


@pytest.mark.parametrize("runtime_status", sorted(ACTIVE_STATUSES))
def test_pending_running_continued_and_suspended_are_active(runtime_status: str) -> None:
    observed = classify(status(runtime_status))
    assert observed.state is InstanceState.ACTIVE
    assert observed.runtime_status == runtime_status
    assert observed.created_time is not None
    assert observed.input == {"workItems": 2}


@pytest.mark.parametrize("runtime_status", sorted(ENDED_STATUSES))
def test_completed_failed_terminated_and_canceled_have_ended(runtime_status: str) -> None:
    assert classify(status(runtime_status)).state is InstanceState.ENDED


def test_the_404_answer_is_missing() -> None:
    # The SDK turns the extension's empty 404 body into a status with only an empty message.
    assert classify(DurableOrchestrationStatus.from_json("")) == MISSING


def test_an_error_answer_is_not_taken_for_missing() -> None:
    error = DurableOrchestrationStatus.from_json({"Message": "Something went wrong while processing your request"})
    with pytest.raises(UnreadableStatus):
        classify(error)


def observed(runtime_status: str | None) -> Observed:
    if runtime_status is None:
        return MISSING
    state = InstanceState.ACTIVE if runtime_status in ACTIVE_STATUSES else InstanceState.ENDED
    return Observed(state, runtime_status)


START, REJECT, EXISTING, TERMINATE = (
    Action.START,
    Action.REJECT,
    Action.USE_EXISTING,
    Action.TERMINATE_THEN_START,
)

# The whole policy matrix: existing state, then the action for each conflict or reuse policy.
CONFLICT_TABLE = {
    ConflictPolicy.REJECT: REJECT,
    ConflictPolicy.USE_EXISTING: EXISTING,
    ConflictPolicy.TERMINATE_EXISTING: TERMINATE,
}
REUSE_TABLE = {
    "Completed": {
        ReusePolicy.ALLOW_ENDED: START,
        ReusePolicy.ALLOW_FAILED: REJECT,
        ReusePolicy.REJECT_DUPLICATE: REJECT,
    },
    "Failed": {ReusePolicy.ALLOW_ENDED: START, ReusePolicy.ALLOW_FAILED: START, ReusePolicy.REJECT_DUPLICATE: REJECT},
    "Terminated": {
        ReusePolicy.ALLOW_ENDED: START,
        ReusePolicy.ALLOW_FAILED: START,
        ReusePolicy.REJECT_DUPLICATE: REJECT,
    },
    "Canceled": {ReusePolicy.ALLOW_ENDED: START, ReusePolicy.ALLOW_FAILED: START, ReusePolicy.REJECT_DUPLICATE: REJECT},
}


@pytest.mark.parametrize("conflict", list(ConflictPolicy))
@pytest.mark.parametrize("reuse", list(ReusePolicy))
def test_a_missing_instance_is_always_started(conflict: ConflictPolicy, reuse: ReusePolicy) -> None:
    assert decide(observed(None), conflict, reuse) is START


@pytest.mark.parametrize("runtime_status", sorted(ACTIVE_STATUSES))
@pytest.mark.parametrize("conflict", list(ConflictPolicy))
@pytest.mark.parametrize("reuse", list(ReusePolicy))
def test_an_active_instance_follows_the_conflict_policy(
    runtime_status: str, conflict: ConflictPolicy, reuse: ReusePolicy
) -> None:
    assert decide(observed(runtime_status), conflict, reuse) is CONFLICT_TABLE[conflict]


@pytest.mark.parametrize("runtime_status", sorted(ENDED_STATUSES))
@pytest.mark.parametrize("conflict", list(ConflictPolicy))
@pytest.mark.parametrize("reuse", list(ReusePolicy))
def test_an_ended_instance_follows_the_reuse_policy(
    runtime_status: str, conflict: ConflictPolicy, reuse: ReusePolicy
) -> None:
    assert decide(observed(runtime_status), conflict, reuse) is REUSE_TABLE[runtime_status][reuse]
