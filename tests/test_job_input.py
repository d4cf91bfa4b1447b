"""The job's pure rules: input validation, the activity's work, reports, status and summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from sample_job.job import (
    DEFAULT_INTERVAL_SECONDS,
    DEFAULT_WORK_ITEMS,
    MAX_ERROR_LENGTH,
    CycleReport,
    ItemOutcome,
    JobInput,
    JobInputError,
    JobTotals,
    StoppedBy,
    WorkItemFailure,
    activity_payload,
    build_cycle_report,
    build_summary,
    cycle_status,
    iso_utc,
    parse_job_input,
    run_work_item,
    short_error,
    working_status,
)

AT = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)


def rejects(raw: object) -> str:
    with pytest.raises(JobInputError) as raised:
        parse_job_input(raw)
    return str(raised.value)


# --- defaults and accepted values ----------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, {}])
def test_no_input_or_empty_object_runs_one_default_cycle(raw: object) -> None:
    job = parse_job_input(raw)

    assert job == JobInput()
    assert (job.work_items, job.interval_seconds) == (DEFAULT_WORK_ITEMS, DEFAULT_INTERVAL_SECONDS)
    assert (job.eternal, job.max_cycles, job.fail_items) == (False, None, ())
    assert job.carried == JobTotals(cycles=0, items_done=0, items_failed=0)
    assert job.next_cycle == 1


@pytest.mark.parametrize(("field", "value"), [("workItems", 1), ("workItems", 100)])
def test_work_items_bounds_are_inclusive(field: str, value: int) -> None:
    assert parse_job_input({field: value}).work_items == value


@pytest.mark.parametrize("value", [1, 86_400])
def test_interval_bounds_are_inclusive(value: int) -> None:
    assert parse_job_input({"intervalSeconds": value}).interval_seconds == value


def test_max_cycles_null_means_unbounded() -> None:
    assert parse_job_input({"eternal": True, "maxCycles": None}).max_cycles is None


def test_fail_items_are_kept_sorted() -> None:
    assert parse_job_input({"workItems": 5, "failItems": [4, 0, 2]}).fail_items == (0, 2, 4)


def test_a_full_input_round_trips_through_to_json() -> None:
    job = JobInput(
        work_items=5,
        interval_seconds=30,
        eternal=True,
        max_cycles=10,
        fail_items=(1, 3),
        carried=JobTotals(cycles=4, items_done=17, items_failed=3),
    )

    assert parse_job_input(job.to_json()) == job


def test_to_json_leaves_out_max_cycles_when_unbounded() -> None:
    assert "maxCycles" not in JobInput(eternal=True).to_json()


# --- every bad value names its field --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"workItems": 0}, "workItems"),
        ({"workItems": 101}, "workItems"),
        ({"workItems": True}, "workItems"),
        ({"workItems": "3"}, "workItems"),
        ({"workItems": 3.0}, "workItems"),
        ({"workItems": None}, "workItems"),
        ({"intervalSeconds": 0}, "intervalSeconds"),
        ({"intervalSeconds": 86_401}, "intervalSeconds"),
        ({"intervalSeconds": False}, "intervalSeconds"),
        ({"intervalSeconds": 1.5}, "intervalSeconds"),
        ({"eternal": "true"}, "eternal"),
        ({"eternal": 1}, "eternal"),
        ({"eternal": None}, "eternal"),
        ({"eternal": True, "maxCycles": 0}, "maxCycles"),
        ({"eternal": True, "maxCycles": 1_000_001}, "maxCycles"),
        ({"eternal": True, "maxCycles": True}, "maxCycles"),
        ({"eternal": True, "maxCycles": "5"}, "maxCycles"),
        ({"maxCycles": 5}, "maxCycles"),
        ({"failItems": 1}, "failItems"),
        ({"failItems": [3]}, "failItems[0]"),
        ({"failItems": [-1]}, "failItems[0]"),
        ({"failItems": [0, True]}, "failItems[1]"),
        ({"failItems": [1, 1]}, "failItems[1]"),
        ({"workItems": 2, "failItems": [0, 2]}, "failItems[1]"),
        ({"carried": []}, "carried"),
        ({"carried": {"itemsDone": 0, "itemsFailed": 0}}, "carried.cycles"),
        ({"carried": {"cycles": -1, "itemsDone": 0, "itemsFailed": 0}}, "carried.cycles"),
        ({"carried": {"cycles": 0, "itemsDone": True, "itemsFailed": 0}}, "carried.itemsDone"),
        ({"carried": {"cycles": 0, "itemsDone": 0, "itemsFailed": 0.5}}, "carried.itemsFailed"),
        ({"carried": {"cycles": 0, "itemsDone": 0, "itemsFailed": 0, "x": 1}}, "carried.x"),
        (
            {"eternal": True, "maxCycles": 2, "carried": {"cycles": 2, "itemsDone": 0, "itemsFailed": 0}},
            "carried.cycles",
        ),
        ({"workitems": 3}, "workitems"),
        ({"stop": True}, "stop"),
    ],
)
def test_bad_field_is_rejected_with_a_message_naming_it(raw: object, field: str) -> None:
    assert field in rejects(raw)


@pytest.mark.parametrize("raw", [[], "eternal", 3, True])
def test_input_that_is_not_an_object_is_rejected(raw: object) -> None:
    assert "input" in rejects(raw)


def test_unknown_field_message_lists_the_allowed_fields() -> None:
    message = rejects({"interval": 5})

    assert "interval" in message
    assert "intervalSeconds" in message


def test_bad_value_message_shows_the_bounds_and_the_value() -> None:
    assert rejects({"workItems": 500}) == "workItems must be an integer from 1 to 100, got 500"


# --- the activity's unit of work -------------------------------------------------------------------


def test_activity_payload_passes_the_fail_flag_for_listed_items() -> None:
    job = JobInput(work_items=3, fail_items=(1,))

    assert [activity_payload(job, 4, item) for item in range(3)] == [
        {"cycle": 4, "item": 0, "fail": False},
        {"cycle": 4, "item": 1, "fail": True},
        {"cycle": 4, "item": 2, "fail": False},
    ]


def test_work_item_returns_a_checksum_that_depends_only_on_cycle_and_item() -> None:
    first = run_work_item({"cycle": 1, "item": 2, "fail": False})

    assert first == run_work_item({"cycle": 1, "item": 2})
    assert first["cycle"] == 1
    assert first["item"] == 2
    assert len(first["checksum"]) == 16
    assert first["checksum"] != run_work_item({"cycle": 2, "item": 2})["checksum"]


def test_work_item_marked_to_fail_raises_naming_the_item() -> None:
    with pytest.raises(WorkItemFailure, match="item 1 of cycle 3"):
        run_work_item({"cycle": 3, "item": 1, "fail": True})


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [1],
        {"item": 0},
        {"cycle": 0, "item": 0},
        {"cycle": True, "item": 0},
        {"cycle": 1, "item": -1},
        {"cycle": 1, "item": "0"},
        {"cycle": 1, "item": 0, "fail": "yes"},
    ],
)
def test_work_item_rejects_a_malformed_payload(payload: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        run_work_item(payload)


# --- reports, status and summary -------------------------------------------------------------------


def test_iso_utc_prints_milliseconds_and_z_in_utc() -> None:
    assert iso_utc(AT) == "2024-05-01T10:00:05.000Z"
    two_hours_east = timezone(timedelta(hours=2))
    assert iso_utc(datetime(2024, 5, 1, 12, 0, 5, tzinfo=two_hours_east)) == "2024-05-01T10:00:05.000Z"
    assert iso_utc(datetime(2024, 5, 1, 10, 0, 5, 123456)) == "2024-05-01T10:00:05.123Z"


def test_short_error_keeps_one_line_and_a_bounded_length() -> None:
    assert short_error(Exception("Activity failed: \n  boom\n")) == "Activity failed: boom"
    assert len(short_error(Exception("x" * 5000))) == MAX_ERROR_LENGTH
    assert short_error(Exception()) == "Exception"


def test_cycle_report_counts_done_and_failed_items_and_keeps_the_first_error() -> None:
    outcomes = [
        ItemOutcome(item=0, succeeded=True),
        ItemOutcome(item=1, succeeded=False, error="first"),
        ItemOutcome(item=2, succeeded=False, error="second"),
    ]

    report = build_cycle_report(3, outcomes, AT)

    assert report == CycleReport(
        cycle=3,
        items_total=3,
        items_done=1,
        failed_items=(1, 2),
        first_error="first",
        finished_at=AT,
    )
    assert JobTotals(cycles=2, items_done=5, items_failed=0).plus(report) == JobTotals(
        cycles=3, items_done=6, items_failed=2
    )


def _report() -> CycleReport:
    return build_cycle_report(2, [ItemOutcome(0, True), ItemOutcome(1, False, "boom")], AT)


def test_summary_holds_totals_the_reason_and_the_last_cycle() -> None:
    totals = JobTotals(cycles=2, items_done=3, items_failed=1)

    summary: dict[str, Any] = build_summary(totals, StoppedBy.STOP_EVENT, _report())

    assert summary == {
        "cycles": 2,
        "itemsDone": 3,
        "itemsFailed": 1,
        "stoppedBy": "stop-event",
        "lastCycle": {
            "cycle": 2,
            "itemsTotal": 2,
            "itemsDone": 1,
            "itemsFailed": 1,
            "failedItems": [1],
            "firstError": "boom",
            "finishedAt": "2024-05-01T10:00:05.000Z",
        },
        "workNotDone": 0,
    }


def test_status_is_waiting_with_a_next_cycle_and_finished_without_one() -> None:
    totals = JobTotals(cycles=2, items_done=3, items_failed=1)

    waiting = cycle_status(_report(), totals, AT + timedelta(seconds=60))
    finished = cycle_status(_report(), totals, None)

    assert waiting["phase"] == "waiting"
    assert waiting["nextCycleAt"] == "2024-05-01T10:01:05.000Z"
    assert finished["phase"] == "finished"
    assert finished["nextCycleAt"] is None
    assert finished["lastCycleAt"] == "2024-05-01T10:00:05.000Z"
    assert (finished["cycle"], finished["itemsDone"], finished["itemsFailed"]) == (2, 1, 1)
    assert finished["totals"] == {"cycles": 2, "itemsDone": 3, "itemsFailed": 1}


def test_working_status_has_the_same_keys_as_the_cycle_status() -> None:
    job = JobInput(work_items=4, carried=JobTotals(cycles=1, items_done=4, items_failed=0))

    working = working_status(job)

    assert working.keys() == cycle_status(_report(), job.carried, None).keys()
    assert (working["phase"], working["cycle"], working["itemsTotal"]) == ("working", 2, 4)
