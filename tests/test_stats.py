"""The start's figures: a lock wait is counted once, and only while one is under way."""

from __future__ import annotations

from singleton_start.stats import StartStats


def test_a_lock_wait_ended_twice_is_counted_once() -> None:
    stats = StartStats()
    stats.lock_wait_began()
    stats.lock_wait_ended()
    counted = stats.lock_wait_seconds
    stats.lock_wait_ended()
    assert counted > 0
    assert stats.lock_wait_seconds == counted


def test_ending_a_wait_that_never_began_counts_nothing() -> None:
    stats = StartStats()
    stats.lock_wait_ended()
    assert stats.lock_wait_seconds == 0
