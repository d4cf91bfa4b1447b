"""The policy table that turns a status read into an action."""

from __future__ import annotations

import pytest

from singleton_start.core.decisions import Action, decide
from singleton_start.core.status import ACTIVE_STATUSES, ENDED_STATUSES, MISSING, InstanceState, Observed
from singleton_start.settings import ConflictPolicy, ReusePolicy


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
