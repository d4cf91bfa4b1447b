"""The sample background job: a cycle of work items, repeated forever or until told to stop, that takes more work by
event: the data of each `Work` event becomes one more item of the next cycle.

Everything but `run_job` is pure: values in, values out. `run_job` is the orchestrator body and
must stay deterministic (no wall clock, randomness or I/O), because the Durable runtime replays it
from its history on every wake-up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, TypeGuard

from azure.durable_functions import DurableOrchestrationContext, RetryOptions
from azure.durable_functions.models.Task import TaskBase, TaskState

ACTIVITY_NAME = "SampleActivity"
STOP_EVENT_NAME = "Stop"
WORK_EVENT_NAME = "Work"
# Work handed in by events and not done yet rides in the input to the next execution: bounded, so that the input
# stays small; what arrives beyond it is counted as dropped.
MAX_QUEUED_WORK = 1000

DEFAULT_WORK_ITEMS = 3
WORK_ITEMS_RANGE = (1, 100)
DEFAULT_INTERVAL_SECONDS = 60
# A day at most: longer pauses would need the SDK's long-timer splitting, which this job avoids.
INTERVAL_SECONDS_RANGE = (1, 86_400)
MAX_CYCLES_RANGE = (1, 1_000_000)

RETRY_FIRST_INTERVAL_MS = 1_000
RETRY_MAX_ATTEMPTS = 3
# Activity failures arrive with the host's JSON exception details; the start of it is enough to
# tell what went wrong, and the custom status must stay well below its 16 KB limit.
MAX_ERROR_LENGTH = 300

_FIELDS = ("workItems", "intervalSeconds", "eternal", "maxCycles", "failItems", "carried", "queued")
_CARRIED_FIELDS = ("cycles", "itemsDone", "itemsFailed")


class JobInputError(ValueError):
    """The job input cannot be run; the message names the offending field."""


class WorkItemFailure(RuntimeError):
    """A work item failed on purpose, because its index is listed in failItems."""


class StoppedBy(Enum):
    """Why the job ended."""

    COMPLETED = "completed"
    STOP_EVENT = "stop-event"
    MAX_CYCLES = "max-cycles"


@dataclass(frozen=True)
class JobTotals:
    """What all cycles so far have achieved; carried from one execution to the next."""

    cycles: int = 0
    items_done: int = 0
    items_failed: int = 0

    def plus(self, report: CycleReport) -> JobTotals:
        return JobTotals(
            cycles=self.cycles + 1,
            items_done=self.items_done + report.items_done,
            items_failed=self.items_failed + len(report.failed_items),
        )

    def to_json(self) -> dict[str, int]:
        return {"cycles": self.cycles, "itemsDone": self.items_done, "itemsFailed": self.items_failed}


@dataclass(frozen=True)
class JobInput:
    """A validated job input: the settings plus the totals carried over by continue-as-new."""

    work_items: int = DEFAULT_WORK_ITEMS
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS
    eternal: bool = False
    max_cycles: int | None = None
    fail_items: tuple[int, ...] = ()
    carried: JobTotals = field(default_factory=JobTotals)
    # The data of Work events received by the execution before, done by this one's cycle.
    queued: tuple[Any, ...] = ()

    @property
    def next_cycle(self) -> int:
        return self.carried.cycles + 1

    def to_json(self) -> dict[str, Any]:
        """The input that `parse_job_input` turns back into this value, for continue-as-new."""
        document: dict[str, Any] = {
            "workItems": self.work_items,
            "intervalSeconds": self.interval_seconds,
            "eternal": self.eternal,
            "failItems": list(self.fail_items),
            "carried": self.carried.to_json(),
        }
        if self.max_cycles is not None:
            document["maxCycles"] = self.max_cycles
        if self.queued:
            document["queued"] = list(self.queued)
        return document


@dataclass(frozen=True)
class ItemOutcome:
    """How one work item ended, after the activity's retries."""

    item: int
    succeeded: bool
    error: str | None = None


@dataclass(frozen=True)
class CycleReport:
    """What one cycle did, as seen by the orchestrator."""

    cycle: int
    items_total: int
    items_done: int
    failed_items: tuple[int, ...]
    first_error: str | None
    finished_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "itemsTotal": self.items_total,
            "itemsDone": self.items_done,
            "itemsFailed": len(self.failed_items),
            "failedItems": list(self.failed_items),
            "firstError": self.first_error,
            "finishedAt": iso_utc(self.finished_at),
        }


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass in Python, but `true` is never a count in JSON.
    return isinstance(value, int) and not isinstance(value, bool)


def _bounded_int(document: Mapping[str, Any], name: str, default: int, bounds: tuple[int, int]) -> int:
    value = document.get(name, default)
    low, high = bounds
    if not _is_int(value) or not low <= value <= high:
        raise JobInputError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def _non_negative_int(document: Mapping[str, Any], name: str, label: str) -> int:
    if name not in document:
        raise JobInputError(f"{label} is required")
    value = document[name]
    if not _is_int(value) or value < 0:
        raise JobInputError(f"{label} must be a non-negative integer, got {value!r}")
    return value


def _reject_unknown(document: Mapping[str, Any], known: tuple[str, ...], prefix: str) -> None:
    for name in document:
        if name not in known:
            allowed = ", ".join(known)
            raise JobInputError(f"{prefix}{name} is not a known field; allowed: {allowed}")


def _fail_items(document: Mapping[str, Any], work_items: int) -> tuple[int, ...]:
    value = document.get("failItems", [])
    if not isinstance(value, list):
        raise JobInputError(f"failItems must be a list of item indexes, got {value!r}")
    seen: set[int] = set()
    for position, item in enumerate(value):
        if not _is_int(item) or not 0 <= item < work_items:
            raise JobInputError(f"failItems[{position}] must be an item index from 0 to {work_items - 1}, got {item!r}")
        if item in seen:
            raise JobInputError(f"failItems[{position}] repeats item index {item}")
        seen.add(item)
    return tuple(sorted(seen))


def _carried(document: Mapping[str, Any], max_cycles: int | None) -> JobTotals:
    value = document.get("carried")
    if value is None:
        return JobTotals()
    if not isinstance(value, dict):
        raise JobInputError(f"carried must be an object, got {value!r}")
    _reject_unknown(value, _CARRIED_FIELDS, "carried.")
    totals = JobTotals(
        cycles=_non_negative_int(value, "cycles", "carried.cycles"),
        items_done=_non_negative_int(value, "itemsDone", "carried.itemsDone"),
        items_failed=_non_negative_int(value, "itemsFailed", "carried.itemsFailed"),
    )
    # The job never continues past maxCycles, so such a state was not written by it.
    if max_cycles is not None and totals.cycles >= max_cycles:
        raise JobInputError(f"carried.cycles must be below maxCycles ({max_cycles}), got {totals.cycles}")
    return totals


def _queued(document: Mapping[str, Any]) -> tuple[Any, ...]:
    value = document.get("queued", [])
    if not isinstance(value, list) or len(value) > MAX_QUEUED_WORK:
        raise JobInputError(f"queued must be a list of at most {MAX_QUEUED_WORK} work items, got {value!r:.80}")
    return tuple(value)


def parse_job_input(raw: object) -> JobInput:
    """Validate an orchestration input (None means all defaults); raises JobInputError."""
    if raw is None:
        return JobInput()
    if not isinstance(raw, dict):
        raise JobInputError(f"input must be a JSON object or nothing, got {type(raw).__name__}")
    _reject_unknown(raw, _FIELDS, "")
    work_items = _bounded_int(raw, "workItems", DEFAULT_WORK_ITEMS, WORK_ITEMS_RANGE)
    interval_seconds = _bounded_int(raw, "intervalSeconds", DEFAULT_INTERVAL_SECONDS, INTERVAL_SECONDS_RANGE)
    eternal = raw.get("eternal", False)
    if not isinstance(eternal, bool):
        raise JobInputError(f"eternal must be true or false, got {eternal!r}")
    max_cycles = None
    if raw.get("maxCycles") is not None:
        if not eternal:
            raise JobInputError("maxCycles only applies when eternal is true")
        max_cycles = _bounded_int(raw, "maxCycles", 1, MAX_CYCLES_RANGE)
    return JobInput(
        work_items=work_items,
        interval_seconds=interval_seconds,
        eternal=eternal,
        max_cycles=max_cycles,
        fail_items=_fail_items(raw, work_items),
        carried=_carried(raw, max_cycles),
        queued=_queued(raw),
    )


def iso_utc(moment: datetime) -> str:
    """An ISO 8601 UTC timestamp with a Z, the way the Durable HTTP API prints times."""
    # The SDK's clock is timezone-aware UTC; a naive value can only mean UTC here.
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def activity_payload(job: JobInput, cycle: int, item: int) -> dict[str, Any]:
    """The SampleActivity input for one item; `fail` passes failItems through to the activity. The items after the
    regular ones are the queued work, each with its event's data."""
    payload = {"cycle": cycle, "item": item, "fail": item in job.fail_items}
    if item >= job.work_items:
        payload["work"] = job.queued[item - job.work_items]
    return payload


def run_work_item(payload: object) -> dict[str, Any]:
    """SampleActivity's work: a checksum of the item, or WorkItemFailure if asked to fail."""
    if not isinstance(payload, dict):
        raise TypeError(f"SampleActivity input must be an object, got {type(payload).__name__}")
    cycle, item, fail = payload.get("cycle"), payload.get("item"), payload.get("fail", False)
    if not _is_int(cycle) or cycle < 1:
        raise ValueError(f"SampleActivity input cycle must be a positive integer, got {cycle!r}")
    if not _is_int(item) or item < 0:
        raise ValueError(f"SampleActivity input item must be a non-negative integer, got {item!r}")
    if not isinstance(fail, bool):
        raise TypeError(f"SampleActivity input fail must be true or false, got {fail!r}")
    if fail:
        raise WorkItemFailure(f"item {item} of cycle {cycle} fails on purpose (listed in failItems)")
    if "work" in payload:
        work = json.dumps(payload["work"], sort_keys=True)
        return {"cycle": cycle, "item": item, "work": payload["work"], "checksum": _checksum(f"{cycle}:{item}:{work}")}
    return {"cycle": cycle, "item": item, "checksum": _checksum(f"{cycle}:{item}")}


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def short_error(error: BaseException) -> str:
    """An error's text on one line, cut to MAX_ERROR_LENGTH characters."""
    # Activity failures read "<reason> \n <details>"; the reason alone rarely says what happened.
    text = " ".join(str(error).split())
    return (text or type(error).__name__)[:MAX_ERROR_LENGTH]


def build_cycle_report(cycle: int, outcomes: list[ItemOutcome], finished_at: datetime) -> CycleReport:
    """Aggregate the item outcomes of one cycle."""
    failed = [outcome for outcome in outcomes if not outcome.succeeded]
    return CycleReport(
        cycle=cycle,
        items_total=len(outcomes),
        items_done=len(outcomes) - len(failed),
        failed_items=tuple(outcome.item for outcome in failed),
        first_error=failed[0].error if failed else None,
        finished_at=finished_at,
    )


def working_status(job: JobInput) -> dict[str, Any]:
    """Custom status while a cycle's items run; the last-cycle fields are unknown yet."""
    return {
        "phase": "working",
        "cycle": job.next_cycle,
        "itemsDone": None,
        "itemsFailed": None,
        "itemsTotal": job.work_items + len(job.queued),
        "lastCycleAt": None,
        "nextCycleAt": None,
        "queuedWork": 0,
        "totals": job.carried.to_json(),
    }


def cycle_status(
    report: CycleReport, totals: JobTotals, next_cycle_at: datetime | None, queued: int = 0
) -> dict[str, Any]:
    """Custom status after a cycle: waiting for the next one (with the work queued for it), or finished."""
    return {
        "phase": "waiting" if next_cycle_at is not None else "finished",
        "cycle": report.cycle,
        "itemsDone": report.items_done,
        "itemsFailed": len(report.failed_items),
        "itemsTotal": report.items_total,
        "lastCycleAt": iso_utc(report.finished_at),
        "nextCycleAt": iso_utc(next_cycle_at) if next_cycle_at is not None else None,
        "queuedWork": queued,
        "totals": totals.to_json(),
    }


def build_summary(
    totals: JobTotals, stopped_by: StoppedBy, last_cycle: CycleReport, work_not_done: int = 0
) -> dict[str, Any]:
    """The orchestration output: totals over every execution, why it ended, the last cycle, and how much work
    handed in by events arrived too late for a cycle (no cycle follows the last one)."""
    summary = {**totals.to_json(), "stoppedBy": stopped_by.value, "lastCycle": last_cycle.to_json()}
    return {**summary, "workNotDone": work_not_done}


def _outcome(item: int, task: TaskBase) -> ItemOutcome:
    if task.state is TaskState.SUCCEEDED:
        return ItemOutcome(item=item, succeeded=True)
    return ItemOutcome(item=item, succeeded=False, error=short_error(task.result))


@dataclass
class WorkInbox:
    """The Work events this execution receives. One waiter is always open, so that every event is taken as it
    arrives: the 1.x SDK keeps only one event of a name that arrives while no waiter for it is open."""

    context: DurableOrchestrationContext
    waiter: TaskBase
    arrived: list[Any] = field(default_factory=list)
    dropped: int = 0

    @classmethod
    def open(cls, context: DurableOrchestrationContext) -> WorkInbox:
        return cls(context, context.wait_for_external_event(WORK_EVENT_NAME))

    def take(self) -> None:
        """Keep the event the waiter got (beyond MAX_QUEUED_WORK it is dropped, counted) and open the next waiter."""
        if len(self.arrived) < MAX_QUEUED_WORK:
            self.arrived.append(self.waiter.result)
        else:
            self.dropped += 1
        self.waiter = self.context.wait_for_external_event(WORK_EVENT_NAME)

    @property
    def not_done(self) -> int:
        """Work that arrived and that no cycle of this execution will do."""
        return len(self.arrived) + self.dropped


def _run_items(
    context: DurableOrchestrationContext, job: JobInput, cycle: int, inbox: WorkInbox
) -> Generator[TaskBase, Any, list[ItemOutcome]]:
    """Fan the items out (the regular ones, then the queued work) and wait until every one has succeeded or run out
    of retries, taking Work events as they come.

    An item that still fails after RETRY_MAX_ATTEMPTS is recorded as failed and the cycle carries on: one bad item
    must not end an eternal job. The all-items task fails at the first item that runs out of retries while the
    others may still be running, so those are then waited for one by one.
    """
    retry = RetryOptions(
        first_retry_interval_in_milliseconds=RETRY_FIRST_INTERVAL_MS,
        max_number_of_attempts=RETRY_MAX_ATTEMPTS,
    )
    tasks = [
        context.call_activity_with_retry(ACTIVITY_NAME, retry, activity_payload(job, cycle, item))
        for item in range(job.work_items + len(job.queued))
    ]
    waiting = [context.task_all(tasks)]
    while waiting:
        if (yield context.task_any([*waiting, inbox.waiter])) is inbox.waiter:
            inbox.take()
            continue
        # The failure of an item is read from its task's state below, not raised here.
        waiting = [task for task in tasks if not task.is_completed]
    return [_outcome(item, task) for item, task in enumerate(tasks)]


def run_job(context: DurableOrchestrationContext) -> Generator[TaskBase, Any, dict[str, Any] | None]:
    """Run one cycle, then finish, or wait for the timer (next cycle) or a Stop event, taking Work events all along.

    The next cycle starts as a new execution (continue-as-new) carrying the totals and the work that arrived in its
    input, so the history never grows beyond one cycle. A Work event processed in the same batch as the timer, after
    it, is lost with this execution: the 1.x SDK cannot carry unprocessed events over.
    """
    try:
        raw = context.get_input(expected_type=dict)
    except (TypeError, ValueError):
        # The SDK only decodes object inputs; lists, numbers and plain strings fail inside it.
        raise JobInputError("input must be a JSON object or nothing") from None
    job = parse_job_input(raw)
    inbox = WorkInbox.open(context)

    cycle = job.next_cycle
    context.set_custom_status(working_status(job))
    outcomes = yield from _run_items(context, job, cycle, inbox)
    report = build_cycle_report(cycle, outcomes, context.current_utc_datetime)
    totals = job.carried.plus(report)

    if not job.eternal:
        context.set_custom_status(cycle_status(report, totals, None))
        return build_summary(totals, StoppedBy.COMPLETED, report, inbox.not_done)
    if job.max_cycles is not None and totals.cycles >= job.max_cycles:
        context.set_custom_status(cycle_status(report, totals, None))
        return build_summary(totals, StoppedBy.MAX_CYCLES, report, inbox.not_done)

    next_cycle_at = context.current_utc_datetime + timedelta(seconds=job.interval_seconds)
    timer = context.create_timer(next_cycle_at)
    stop = context.wait_for_external_event(STOP_EVENT_NAME)
    while True:
        context.set_custom_status(cycle_status(report, totals, next_cycle_at, len(inbox.arrived)))
        winner = yield context.task_any([timer, stop, inbox.waiter])
        if winner is not inbox.waiter:
            break
        inbox.take()
    if winner is stop:
        # A pending timer would keep the instance alive until it fires. create_timer is hinted TaskBase, which has
        # no cancel, but returns a TimerTask or LongTimerTask, which do.
        timer.cancel()  # type: ignore[attr-defined]
        context.set_custom_status(cycle_status(report, totals, None))
        return build_summary(totals, StoppedBy.STOP_EVENT, report, inbox.not_done)

    context.continue_as_new(replace(job, carried=totals, queued=tuple(inbox.arrived)).to_json())
    return None
