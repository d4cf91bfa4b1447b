"""The request log line's fields and their attribute names, with no I/O."""

from __future__ import annotations

import logging

from singleton_start.http.adapter import ATTRIBUTE_NAMES, attributes_of, request_fields
from singleton_start.service.start import StartStats


def test_no_attribute_name_clashes_with_a_log_record_attribute() -> None:
    record = logging.LogRecord("singleton_start", logging.INFO, __file__, 1, "line", None, None)
    taken = set(vars(record)) | {"message", "asctime"}
    assert not taken & set(ATTRIBUTE_NAMES.values())
    assert all(name.startswith("singleton_start.") for name in ATTRIBUTE_NAMES.values())


def test_missing_values_are_left_out_of_the_attributes() -> None:
    fields = request_fields("GET x", None, None, "invalid", 400, 1.5, None)
    assert attributes_of(fields) == {
        "singleton_start.route": "GET x",
        "singleton_start.outcome": "invalid",
        "singleton_start.status_code": 400,
        "singleton_start.duration_ms": 1.5,
    }


def test_the_start_figures_are_in_milliseconds_and_attempts() -> None:
    stats = StartStats(start_attempts=2, lock_wait_seconds=0.01234)
    fields = request_fields("POST x", "id", "Orch", "started", 202, 20.0, stats)
    assert (fields["lockWaitMs"], fields["startAttempts"]) == (12.3, 2)
