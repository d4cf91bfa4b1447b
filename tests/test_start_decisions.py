"""The pure parts of the start use case: replay decisions, input matching, deadlines and backoff."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from singleton_start.backend import input_matches, url_segment
from singleton_start.idempotency import IdempotencyClaim, record_for, replay_answer, request_digest
from singleton_start.outcomes import KeyReused, Started
from singleton_start.ports import LockRecord
from singleton_start.status import MISSING, InstanceState, Observed
from singleton_start.timing import MAX_BACKOFF_SECONDS, Deadline, DeadlineReached, backoff_delays

CREATED = datetime(2026, 1, 1, tzinfo=UTC)
RUNNING = Observed(InstanceState.ACTIVE, "Running", CREATED)
CLAIM = IdempotencyClaim("order-42", request_digest("SingletonOrchestrator", b'{"n": 1}'))


def test_replay_when_the_record_names_this_key_and_this_very_instance() -> None:
    assert replay_answer(CLAIM, LockRecord(record_for(CLAIM, RUNNING)), RUNNING, None) == Started(replayed=True)


def test_replay_also_for_an_instance_that_has_ended_but_still_exists() -> None:
    completed = Observed(InstanceState.ENDED, "Completed", CREATED)
    assert replay_answer(CLAIM, LockRecord(record_for(CLAIM, RUNNING)), completed, None) == Started(replayed=True)


def test_no_replay_once_another_instance_replaced_the_one_the_key_started() -> None:
    newer = Observed(InstanceState.ACTIVE, "Running", datetime(2026, 1, 2, tzinfo=UTC))
    assert replay_answer(CLAIM, LockRecord(record_for(CLAIM, RUNNING)), newer, None) is None


def test_no_replay_for_another_key_or_a_missing_instance() -> None:
    other = IdempotencyClaim("order-43", CLAIM.request_digest)
    assert replay_answer(other, LockRecord(record_for(CLAIM, RUNNING)), RUNNING, None) is None
    assert replay_answer(CLAIM, LockRecord(record_for(CLAIM, RUNNING)), MISSING, None) is None
    assert replay_answer(CLAIM, LockRecord({}), RUNNING, None) is None


def test_same_key_with_another_body_is_key_reuse() -> None:
    changed = IdempotencyClaim("order-42", request_digest("SingletonOrchestrator", b'{"n": 2}'))
    assert replay_answer(changed, LockRecord(record_for(CLAIM, RUNNING)), RUNNING, None) == KeyReused()


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
    assert input_matches(stored, sent) is matches


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


def test_no_replay_for_an_instance_started_in_the_same_second_with_another_input() -> None:
    # createdTime has whole seconds only; the input tells the two instances apart.
    keyed = Observed(InstanceState.ACTIVE, "Running", CREATED, input='{"n": 1}')
    replacement = Observed(InstanceState.ACTIVE, "Running", CREATED, input='{"n": 2}')
    assert replay_answer(CLAIM, LockRecord(record_for(CLAIM, keyed)), keyed, None) == Started(replayed=True)
    assert replay_answer(CLAIM, LockRecord(record_for(CLAIM, keyed)), replacement, None) is None
