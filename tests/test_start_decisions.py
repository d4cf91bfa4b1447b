"""The pure parts of the start use case: request digests, input matching, deadlines and backoff."""

from __future__ import annotations

import itertools

import pytest

from singleton_start.core.errors import DeadlineReached
from singleton_start.core.http_answers import url_segment
from singleton_start.core.idempotency import request_digest
from singleton_start.core.status import InstanceState, Observed
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
