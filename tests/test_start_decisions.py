"""The pure parts of the start use case: request digests, input matching, deadlines and backoff."""

from __future__ import annotations

import itertools

import pytest

from singleton_start.core.decisions import ConflictPolicy, ReusePolicy, other_answer
from singleton_start.core.errors import DeadlineReached, Unavailable
from singleton_start.core.http_answers import url_segment
from singleton_start.core.idempotency import request_digest
from singleton_start.core.outcomes import Conflict, Existing
from singleton_start.core.status import MISSING, InstanceState, Observed, state_of
from singleton_start.service.hold import MAX_BACKOFF_SECONDS, Deadline, backoff_delays


def test_request_digest_ignores_the_case_of_the_orchestrator_name_only() -> None:
    assert request_digest("Job", b"{}") == request_digest("job", b"{}")
    assert request_digest("Job", b"{}") != request_digest("Job", b"[]")


@pytest.mark.parametrize(
    ("stored", "sent", "matches"),
    [
        (None, None, True),
        ('{"n": 1}', {"n": 1}, True),
        ('"text"', "text", True),
        ("[1, 2]", [1, 2], True),
        ('{"n": 1}', {"n": 2}, False),
        ({"n": 1}, {"n": 1}, False),
        ("not json", "not json", False),
        (None, {"n": 1}, False),
        ('{"n": 1}', None, False),
    ],
)
def test_stored_input_matches_what_the_sdk_sent(stored: object, sent: object, matches: bool) -> None:
    assert Observed(InstanceState.ACTIVE, input=stored).has_input(sent) is matches


def test_instance_ids_become_one_escaped_url_segment() -> None:
    assert url_segment("job 50%") == "job%2050%25"
    assert url_segment("ü&=") == "%C3%BC%26%3D"


def test_a_plus_is_escaped_twice_so_no_release_reads_it_as_a_space() -> None:
    assert url_segment("a+b") == "a%252Bb"


def test_deadline_cuts_call_timeouts_to_what_is_left() -> None:
    now = [0.0]
    deadline = Deadline(10, clock=lambda: now[0])
    assert deadline.timeout(5) == 5
    now[0] = 8
    assert deadline.timeout(5) == 2
    assert deadline.sooner(30).remaining() == 2
    now[0] = 10
    with pytest.raises(DeadlineReached):
        deadline.timeout(5)


def test_backoff_grows_and_stays_under_its_ceiling() -> None:
    delays = list(itertools.islice(backoff_delays(), 12))
    assert delays[0] <= 0.025
    assert all(0 < delay <= MAX_BACKOFF_SECONDS for delay in delays)
    assert delays[-1] >= MAX_BACKOFF_SECONDS / 2


@pytest.mark.parametrize(
    ("status", "conflict", "reuse", "answer"),
    [
        ("Running", ConflictPolicy.REJECT, ReusePolicy.ALLOW_ENDED, "conflict"),
        ("Pending", ConflictPolicy.USE_EXISTING, ReusePolicy.ALLOW_ENDED, "existing"),
        ("Running", ConflictPolicy.TERMINATE_EXISTING, ReusePolicy.ALLOW_ENDED, "conflict"),
        ("Completed", ConflictPolicy.REJECT, ReusePolicy.ALLOW_ENDED, None),
        ("Completed", ConflictPolicy.USE_EXISTING, ReusePolicy.ALLOW_FAILED, "conflict"),
        ("Failed", ConflictPolicy.TERMINATE_EXISTING, ReusePolicy.ALLOW_FAILED, None),
        ("Failed", ConflictPolicy.REJECT, ReusePolicy.REJECT_DUPLICATE, "conflict"),
    ],
)
def test_a_start_refused_as_a_duplicate_is_answered_by_the_policies_or_sent_again_over_an_ended_instance(
    status: str, conflict: ConflictPolicy, reuse: ReusePolicy, answer: str | None
) -> None:
    """The refusal queued nothing: an active instance gets the policy's answer (409 where the policy would replace
    it: this request did not see it run); an ended one the reuse policy lets be replaced may be started again."""
    observed = Observed(state_of(status), status, name="Job")
    expected = {"conflict": Conflict(observed), "existing": Existing(observed), None: None}[answer]
    assert other_answer(observed, conflict, reuse) == expected


def test_a_start_refused_as_a_duplicate_over_no_instance_is_unavailable() -> None:
    with pytest.raises(Unavailable):
        other_answer(MISSING, ConflictPolicy.REJECT, ReusePolicy.ALLOW_ENDED)
