"""The pure settling decision: what a status read after a start of unknown outcome says about it."""

from __future__ import annotations

from datetime import UTC, datetime

from singleton_start.core.decisions import Landed, NotYet, OtherStarted, Unclear, settle
from singleton_start.core.status import MISSING, InstanceState, Observed

EARLIER = datetime(2026, 1, 1, 8, 0, 0, tzinfo=UTC)
LATER = datetime(2026, 1, 1, 8, 0, 5, tzinfo=UTC)
OURS = {"n": 1}


def running(created: datetime, stored_input: str | None) -> Observed:
    return Observed(InstanceState.ACTIVE, "Running", created, created, stored_input)


def test_nothing_there_yet_is_not_yet() -> None:
    assert settle(MISSING, MISSING, OURS) == NotYet()


def test_a_new_instance_with_our_input_is_our_start_landed() -> None:
    after = running(LATER, '{"n": 1}')
    assert settle(MISSING, after, OURS) == Landed(after)


def test_a_new_instance_with_another_input_is_someone_elses_start() -> None:
    after = running(LATER, '{"n": 2}')
    assert settle(MISSING, after, OURS) == OtherStarted(after)


def test_the_ended_instance_that_was_there_before_is_not_yet() -> None:
    before = Observed(InstanceState.ENDED, "Completed", EARLIER, EARLIER, '{"n": 1}')
    assert settle(before, before, OURS) == NotYet()


def test_an_ended_instance_that_moved_to_running_is_a_new_instance_even_in_the_same_second_with_the_same_input() -> (
    None
):
    before = Observed(InstanceState.ENDED, "Completed", EARLIER, EARLIER, '{"n": 1}')
    after = running(EARLIER, '{"n": 1}')
    assert settle(before, after, OURS) == Landed(after)


def test_a_replacement_created_in_the_same_second_is_told_apart_by_its_input() -> None:
    before = Observed(InstanceState.ENDED, "Terminated", EARLIER, EARLIER, '{"n": 9}')
    after = Observed(InstanceState.ENDED, "Completed", EARLIER, LATER, '{"n": 1}')
    assert settle(before, after, OURS) == Landed(after)


def test_no_input_sent_matches_an_instance_without_input() -> None:
    after = running(LATER, None)
    assert settle(MISSING, after, None) == Landed(after)
    assert settle(MISSING, after, OURS) == OtherStarted(after)


def test_an_instance_made_no_later_than_the_second_the_lease_was_granted_may_be_another_starts() -> None:
    """Read before the lease, `before` may miss a start that slipped in before the grant: an instance with our input
    made in the grant's second or earlier is unclear; one made in a later second is surely ours."""
    granted = datetime(2026, 1, 1, 8, 0, 5, 300_000, tzinfo=UTC)
    same_second, next_second = running(LATER, '{"n": 1}'), running(LATER.replace(second=6), '{"n": 1}')
    assert settle(MISSING, same_second, OURS, made_after=granted) == Unclear(same_second)
    assert settle(MISSING, next_second, OURS, made_after=granted) == Landed(next_second)
    assert settle(MISSING, running(EARLIER, '{"n": 1}'), OURS, made_after=granted) == Unclear(
        running(EARLIER, '{"n": 1}')
    )
    timeless = Observed(InstanceState.ACTIVE, "Running", None, None, '{"n": 1}')
    assert settle(MISSING, timeless, OURS, made_after=granted) == Unclear(timeless)
    assert settle(MISSING, same_second, OURS, made_after=LATER) == Unclear(same_second)
    assert settle(MISSING, same_second, OURS) == Landed(same_second)
