"""The start's figures: a lock wait is counted once, and only while one is under way."""

from __future__ import annotations

from singleton_start.service.start import StartStats


def test_a_lock_wait_ended_twice_is_counted_once() -> None:
    stats = StartStats()
    stats.lock_wait(True)
    stats.lock_wait(False)
    counted = stats.lock_wait_seconds
    stats.lock_wait(False)
    assert counted > 0
    assert stats.lock_wait_seconds == counted


def test_ending_a_wait_that_never_began_counts_nothing() -> None:
    stats = StartStats()
    stats.lock_wait(False)
    assert stats.lock_wait_seconds == 0
