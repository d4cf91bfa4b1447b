"""Defects the simulation must catch: each put back into the app as a small change of one decision (the kind a
reviewer would make), with a seed whose run breaks an invariant with it and keeps them all without it. Each is a
fix of the app or a case the generator was taught to reach; `scripts/simulate --runs 1 --seed SEED` prints a run.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from simulation.simulator import run_seed
from singleton_start.core import decisions, idempotency, status
from singleton_start.core.decisions import EndedOtherwise, StillActive, TerminatedByUs
from singleton_start.core.outcomes import Conflict
from singleton_start.core.status import TERMINATED, InstanceState, Observed
from singleton_start.service import commands, hold, signal, start


def commands_go_to_instances_that_have_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Terminates, events and terminate-existing sent to a Pending instance (dropped, or only marking its row)."""
    monkeypatch.setattr(Observed, "has_run", property(lambda self: self.state is InstanceState.ACTIVE))


def any_terminated_instance_counts_as_terminated_by_us(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminate taken as done when the instance shows Terminated by anyone."""

    def seen(observed: Observed, reason: str, *, history: bool) -> decisions.TerminateSeen:
        if observed.state is InstanceState.ACTIVE:
            return StillActive()
        return TerminatedByUs(observed) if observed.runtime_status == TERMINATED else EndedOtherwise(observed)

    monkeypatch.setattr(commands, "terminate_seen", seen)


def a_row_marked_terminated_counts_as_the_execution_terminated(monkeypatch: pytest.MonkeyPatch) -> None:
    """The row's Terminated with our reason taken as done without the execution's own history showing it."""
    real = decisions.terminate_seen
    monkeypatch.setattr(commands, "terminate_seen", lambda o, r, *, history: real(o, r, history=False))


def suspended_counts_as_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Suspended instance taken for one that has ended (so replaceable, and 410 to commands)."""
    monkeypatch.setattr(status, "ACTIVE_STATUSES", status.ACTIVE_STATUSES - {status.SUSPENDED})
    monkeypatch.setattr(status, "ENDED_STATUSES", status.ENDED_STATUSES | {status.SUSPENDED})


def the_lease_is_given_back_while_a_send_may_land(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hold released after a send whose outcome is unknown, instead of left to expire."""
    real = decisions.ending
    monkeypatch.setattr(
        hold, "ending", lambda *, shared, unsettled, last_write: real(shared=shared, unsettled=False, last_write=False)
    )


def a_start_in_doubt_is_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A start whose answer was lost sent again instead of settled by reads."""

    async def send_again(self: start.SingletonStarter, held: hold.Hold, attempt: start.Attempt) -> object:
        held.settled("start")
        return await start.SingletonStarter.send(self, held, attempt)

    monkeypatch.setattr(start.SingletonStarter, "_settle", send_again)


def a_keyed_signal_forgets_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A keyed signal that reads nothing of its key's entry: a retry sends again."""
    monkeypatch.setattr(signal, "settled_signal_replay", lambda claim, record: None)
    monkeypatch.setattr(signal, "signal_replay", lambda claim, record, observed, sent: None)


def terminates_go_with_the_callers_reason_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminate sent with the caller's reason untagged: an earlier terminate with the same words, still queued
    after its request's lease ran out, is taken for this one."""
    monkeypatch.setattr(commands, "tagged_reason", lambda reason, token: reason)


def a_key_acts_afresh_when_its_instance_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A keyed start whose record says starting, finding no instance where one was before, starts again: its own
    start may have run and been purged from outside the app."""
    real = idempotency.replay_answer

    def afresh(claim: object, record: object, observed: Observed, sent: object) -> object:
        answer = real(claim, record, observed, sent)  # type: ignore[arg-type]
        return None if isinstance(answer, Conflict) and not observed.exists else answer

    monkeypatch.setattr(start, "replay_answer", afresh)


def a_key_lets_the_id_go_once_its_start_landed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key recorded as starting does not keep the lease: a signal whose start landed and whose event has not gone
    gives the ID back, and another start with its input may land in the window its retry tells the key's instance
    by."""
    real = hold.Hold.outstanding
    monkeypatch.setattr(hold.Hold, "outstanding", lambda self, what: None if what == "key" else real(self, what))


Defect = Callable[[pytest.MonkeyPatch], None]
# (the defect, a seed whose run it breaks, the backend, the invariant it breaks there)
CAUGHT: list[tuple[Defect, int, str, str]] = [
    (commands_go_to_instances_that_have_not_run, 469, "http", "events_202_reach_their_execution_once"),
    (commands_go_to_instances_that_have_not_run, 97, "grpc", "commands_reach_only_their_target"),
    (any_terminated_instance_counts_as_terminated_by_us, 1615, "http", "terminate_202_ended_it"),
    (any_terminated_instance_counts_as_terminated_by_us, 151, "grpc", "answers_follow_the_policies"),
    (a_row_marked_terminated_counts_as_the_execution_terminated, 7593, "http", "one_active_execution"),
    (suspended_counts_as_ended, 3, "http", "answers_follow_the_policies"),
    (suspended_counts_as_ended, 3, "grpc", "answers_follow_the_policies"),
    (the_lease_is_given_back_while_a_send_may_land, 15, "http", "commands_land_under_their_lease"),
    (a_start_in_doubt_is_sent_again, 1, "http", "not_202_runs_at_most_once"),
    (a_start_in_doubt_is_sent_again, 1, "grpc", "not_202_runs_at_most_once"),
    (a_keyed_signal_forgets_its_key, 52, "http", "events_202_reach_their_execution_once"),
    (a_keyed_signal_forgets_its_key, 282, "grpc", "told_202_runs_once"),
    (terminates_go_with_the_callers_reason_alone, 51002, "http", "terminate_202_ended_it"),
    (a_key_acts_afresh_when_its_instance_is_gone, 58673, "http", "keyed_retry_never_runs_again"),
    (a_key_lets_the_id_go_once_its_start_landed, 113283, "http", "events_202_reach_their_execution_once"),
]


@pytest.mark.parametrize(
    ("defect", "seed", "backend", "invariant"),
    CAUGHT,
    ids=[f"{case[0].__name__}-{case[1]}-{case[2]}" for case in CAUGHT],
)
def test_the_defect_breaks_an_invariant_in_its_seeds_run_and_the_app_keeps_them_all(
    defect: Defect, seed: int, backend: str, invariant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_seed(seed, backend=backend).violations == []
    defect(monkeypatch)
    broken = {violation.invariant for violation in run_seed(seed, backend=backend).violations}
    assert invariant in broken, f"{defect.__doc__} (seed {seed}) broke {sorted(broken) or 'nothing'}"
