"""SingletonOrchestrator replayed through the real Durable Python SDK.

Each test builds the orchestration context the Functions host sends (history, input, schema
versions), calls the function's `main` as the Python worker would, and reads back the state the
SDK returns to the host: scheduled actions, custom status, isDone and output.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

import azure.functions as func
import pytest

from sample_job.job import WorkItemFailure
from singleton_start.core.http_answers import event_body
from tests.support.worker import LoadedFunction, load_function

ORCHESTRATOR = "SingletonOrchestrator"
ACTIVITY = "SampleActivity"
INSTANCE_ID = "sample-job"
STARTED_AT = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
RETRY_OPTIONS = {"firstRetryIntervalInMilliseconds": 1000, "maxNumberOfAttempts": 3}
OUT_OF_PROC_ERROR_LABEL = "\n\n$OutOfProcData$:"
# The orchestrator's entry point as the worker calls it: the context in, the state for the host out (JSON).
OrchestratorMain = Callable[[func.OrchestrationContext], str]


class Event(IntEnum):
    """History event types, numbered as the Durable extension serializes them."""

    EXECUTION_STARTED = 0
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_RAISED = 15


class Action(IntEnum):
    """Action types the SDK sends back to the host."""

    CALL_ACTIVITY_WITH_RETRY = 1
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    WHEN_ANY = 11
    WHEN_ALL = 12


def _dotnet_time(moment: datetime) -> str:
    # .NET writes seven fractional digits; the SDK must cope with them.
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}0Z"


def _sdk_time(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}Z"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class History:
    """One execution's history, written episode by episode the way the host records it.

    An episode is OrchestratorStarted, the messages that woke the orchestrator, the actions it
    scheduled in answer, then OrchestratorCompleted; the last episode is still open (the one
    being decided now).
    """

    def __init__(self, job_input: Any, start: datetime = STARTED_AT) -> None:
        self.job_input = job_input
        self.now = start
        self.events: list[dict[str, Any]] = []
        self._add(Event.ORCHESTRATOR_STARTED)
        self._add(
            Event.EXECUTION_STARTED,
            OrchestrationInstance={"InstanceId": INSTANCE_ID, "ExecutionId": "execution-1"},
            ParentInstance=None,
            Name=ORCHESTRATOR,
            Version="",
            Input=None if job_input is None else json.dumps(job_input),
            Tags=None,
        )

    def _add(self, event_type: Event, event_id: int = -1, **fields: Any) -> History:
        self.events.append(
            {
                "EventType": int(event_type),
                "EventId": event_id,
                "IsPlayed": False,
                "Timestamp": _dotnet_time(self.now),
                **fields,
            }
        )
        return self

    def next_episode(self, seconds: float = 1) -> History:
        self._add(Event.ORCHESTRATOR_COMPLETED)
        self.now += timedelta(seconds=seconds)
        return self._add(Event.ORCHESTRATOR_STARTED)

    def scheduled(self, task_id: int, payload: dict[str, Any]) -> History:
        return self._add(Event.TASK_SCHEDULED, task_id, Name=ACTIVITY, Version="", Input=json.dumps(payload))

    def completed(self, task_id: int, result: Any) -> History:
        return self._add(Event.TASK_COMPLETED, TaskScheduledId=task_id, Result=json.dumps(result))

    def failed(self, task_id: int, message: str) -> History:
        details = json.dumps({"Message": f"Result: Failure\nException: {message}\nStack: ..."})
        return self._add(
            Event.TASK_FAILED,
            TaskScheduledId=task_id,
            Reason=f"Activity function '{ACTIVITY}' failed: ",
            Details=details,
        )

    def timer_created(self, timer_id: int, fire_at: datetime) -> History:
        return self._add(Event.TIMER_CREATED, timer_id, FireAt=_dotnet_time(fire_at))

    def timer_fired(self, timer_id: int, fire_at: datetime) -> History:
        return self._add(Event.TIMER_FIRED, TimerId=timer_id, FireAt=_dotnet_time(fire_at))

    def event_raised(self, name: str, payload: Any = None) -> History:
        return self._add(
            Event.EVENT_RAISED,
            Name=name,
            Input=None if payload is None else json.dumps(payload),
        )

    def context_json(self) -> str:
        """The orchestration trigger payload, as the Durable extension builds it."""
        last_start = max(
            index for index, event in enumerate(self.events) if event["EventType"] == Event.ORCHESTRATOR_STARTED
        )
        history = [{**event, "IsPlayed": index < last_start} for index, event in enumerate(self.events)]
        return json.dumps(
            {
                "history": history,
                "input": self.job_input,
                "instanceId": INSTANCE_ID,
                "isReplaying": last_start > 0,
                "parentInstanceId": None,
                "upperSchemaVersion": 1,
                "upperSchemaVersionNew": 2,
                "longRunningTimerIntervalDuration": "3.00:00:00",
                "maximumShortTimerDuration": "6.00:00:00",
                "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
            }
        )


@pytest.fixture(scope="module")
def orchestrator() -> LoadedFunction:
    return load_function(ORCHESTRATOR)


@pytest.fixture(scope="module")
def orchestrator_main(orchestrator: LoadedFunction) -> OrchestratorMain:
    (binding,) = orchestrator.input_binding_names
    return lambda context: orchestrator.main(**{binding: context})


def replay(main: OrchestratorMain, history: History) -> dict[str, Any]:
    """Run the orchestrator over the history and return the state it hands back to the host."""
    state: dict[str, Any] = json.loads(main(func.OrchestrationContext(history.context_json())))
    return state


def _walk(actions: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for action in actions:
        yield action
        yield from _walk(action.get("compoundActions", []))


def all_actions(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every action, compound ones and their children, in the order the SDK emitted them."""
    (actions,) = state["actions"]  # schema V2 and later: one flat list per execution
    return list(_walk(actions))


def activity_calls(state: dict[str, Any]) -> list[dict[str, Any]]:
    calls = [a for a in all_actions(state) if a["actionType"] == Action.CALL_ACTIVITY_WITH_RETRY]
    for call in calls:
        assert call["functionName"] == ACTIVITY
        assert call["retryOptions"] == RETRY_OPTIONS
    return [json.loads(call["input"]) for call in calls]


def actions_of(state: dict[str, Any], action_type: Action) -> list[dict[str, Any]]:
    return [action for action in all_actions(state) if action["actionType"] == action_type]


def payloads(cycle: int, items: int, fail: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    return [{"cycle": cycle, "item": item, "fail": item in fail} for item in range(items)]


def result_of(payload: dict[str, Any]) -> dict[str, Any]:
    return {"cycle": payload["cycle"], "item": payload["item"], "checksum": "0123456789abcdef"}


def cycle_scheduled(history: History, items: list[dict[str, Any]], first_id: int = 0) -> History:
    for offset, payload in enumerate(items):
        history.scheduled(first_id + offset, payload)
    return history


def cycle_completed(history: History, items: list[dict[str, Any]], first_id: int = 0) -> History:
    history.next_episode(5)
    for offset, payload in enumerate(items):
        history.completed(first_id + offset, result_of(payload))
    return history


ETERNAL_INPUT = {"eternal": True, "workItems": 2, "intervalSeconds": 30}


def eternal_cycle_waiting() -> tuple[History, datetime]:
    """An eternal job whose first cycle finished and whose timer (ID 2) is pending."""
    items = payloads(1, 2)
    history = cycle_completed(cycle_scheduled(History(ETERNAL_INPUT), items), items)
    fire_at = history.now + timedelta(seconds=30)
    history.timer_created(2, fire_at)
    return history, fire_at


# --- function folders -----------------------------------------------------------------------------


def test_orchestrator_folder_binds_an_orchestration_trigger(orchestrator: LoadedFunction) -> None:
    assert orchestrator.bindings == [{"name": "context", "type": "orchestrationTrigger", "direction": "in"}]


def test_activity_folder_does_the_work_and_fails_listed_items() -> None:
    activity = load_function(ACTIVITY)
    (binding,) = activity.input_binding_names

    assert activity.binding(binding)["type"] == "activityTrigger"
    result = activity.main(**{binding: {"cycle": 1, "item": 0, "fail": False}})
    assert (result["cycle"], result["item"], len(result["checksum"])) == (1, 0, 16)
    with pytest.raises(WorkItemFailure, match="item 2 of cycle 1"):
        activity.main(**{binding: {"cycle": 1, "item": 2, "fail": True}})


# --- one cycle, not eternal ---------------------------------------------------------------------


def test_first_episode_fans_out_every_item_with_retry_and_reports_working(orchestrator_main: OrchestratorMain) -> None:
    state = replay(orchestrator_main, History(None))

    assert state["isDone"] is False
    (race,) = state["actions"][0]
    assert race["actionType"] == Action.WHEN_ANY
    fan_out, work = race["compoundActions"]
    assert fan_out["actionType"] == Action.WHEN_ALL
    assert (work["actionType"], work["externalEventName"]) == (Action.WAIT_FOR_EXTERNAL_EVENT, "Work")
    assert activity_calls(state) == payloads(1, 3)
    assert state["customStatus"] == {
        "phase": "working",
        "cycle": 1,
        "itemsDone": None,
        "itemsFailed": None,
        "itemsTotal": 3,
        "lastCycleAt": None,
        "nextCycleAt": None,
        "queuedWork": 0,
        "totals": {"cycles": 0, "itemsDone": 0, "itemsFailed": 0},
    }


def test_single_cycle_completes_with_summary_once_every_item_is_done(orchestrator_main: OrchestratorMain) -> None:
    items = payloads(1, 3)
    history = cycle_completed(cycle_scheduled(History(None), items), items)

    state = replay(orchestrator_main, history)

    assert state["isDone"] is True
    assert activity_calls(state) == items
    assert actions_of(state, Action.CREATE_TIMER) == []
    assert actions_of(state, Action.CONTINUE_AS_NEW) == []
    finished_at = _iso(history.now)
    assert state["output"] == {
        "cycles": 1,
        "itemsDone": 3,
        "itemsFailed": 0,
        "stoppedBy": "completed",
        "lastCycle": {
            "cycle": 1,
            "itemsTotal": 3,
            "itemsDone": 3,
            "itemsFailed": 0,
            "failedItems": [],
            "firstError": None,
            "finishedAt": finished_at,
        },
        "workNotDone": 0,
    }
    assert state["customStatus"]["phase"] == "finished"
    assert state["customStatus"]["lastCycleAt"] == finished_at
    assert state["customStatus"]["nextCycleAt"] is None


def test_cycle_is_not_done_while_some_items_are_still_running(orchestrator_main: OrchestratorMain) -> None:
    items = payloads(1, 3)
    history = cycle_scheduled(History(None), items).next_episode().completed(0, result_of(items[0]))

    state = replay(orchestrator_main, history)

    assert state["isDone"] is False
    assert "output" not in state
    assert state["customStatus"]["phase"] == "working"


# --- eternal: timer, Stop, and the race between them --------------------------------------------


def test_eternal_cycle_then_waits_for_the_timer_or_a_stop_event(orchestrator_main: OrchestratorMain) -> None:
    items = payloads(1, 2)
    history = cycle_completed(cycle_scheduled(History(ETERNAL_INPUT), items), items)

    state = replay(orchestrator_main, history)

    assert state["isDone"] is False
    race, wait = state["actions"][0]
    assert race["compoundActions"][0]["actionType"] == Action.WHEN_ALL
    assert wait["actionType"] == Action.WHEN_ANY
    timer, stop = wait["compoundActions"]  # the Work waiter of the cycle stays open, scheduled once
    next_cycle_at = history.now + timedelta(seconds=30)
    assert timer == {
        "actionType": Action.CREATE_TIMER,
        "fireAt": _sdk_time(next_cycle_at),
        "isCanceled": False,
    }
    assert stop["actionType"] == Action.WAIT_FOR_EXTERNAL_EVENT
    assert stop["externalEventName"] == "Stop"
    assert state["customStatus"] == {
        "phase": "waiting",
        "cycle": 1,
        "itemsDone": 2,
        "itemsFailed": 0,
        "itemsTotal": 2,
        "lastCycleAt": _iso(history.now),
        "nextCycleAt": _iso(next_cycle_at),
        "queuedWork": 0,
        "totals": {"cycles": 1, "itemsDone": 2, "itemsFailed": 0},
    }


CARRIED_AFTER_FIRST_CYCLE = {
    **ETERNAL_INPUT,
    "failItems": [],
    "carried": {"cycles": 1, "itemsDone": 2, "itemsFailed": 0},
}


def test_timer_firing_continues_as_new_with_the_carried_totals(orchestrator_main: OrchestratorMain) -> None:
    history, fire_at = eternal_cycle_waiting()
    history.next_episode(30).timer_fired(2, fire_at)

    state = replay(orchestrator_main, history)

    assert state["isDone"] is True
    assert "output" not in state
    (restart,) = actions_of(state, Action.CONTINUE_AS_NEW)
    assert json.loads(restart["input"]) == CARRIED_AFTER_FIRST_CYCLE
    assert state["actions"][0][-1] == restart


def test_continued_execution_runs_the_next_cycle_from_the_carried_state(orchestrator_main: OrchestratorMain) -> None:
    state = replay(orchestrator_main, History(CARRIED_AFTER_FIRST_CYCLE))

    assert activity_calls(state) == payloads(2, 2)
    assert state["customStatus"]["cycle"] == 2
    assert state["customStatus"]["totals"] == {"cycles": 1, "itemsDone": 2, "itemsFailed": 0}


def test_stop_event_completes_with_summary_and_cancels_the_timer(orchestrator_main: OrchestratorMain) -> None:
    history, _ = eternal_cycle_waiting()
    finished_at = _iso(history.now)
    history.next_episode(7).event_raised("Stop")

    state = replay(orchestrator_main, history)

    assert state["isDone"] is True
    (timer,) = actions_of(state, Action.CREATE_TIMER)
    assert timer["isCanceled"] is True
    assert actions_of(state, Action.CONTINUE_AS_NEW) == []
    assert state["output"]["stoppedBy"] == "stop-event"
    assert state["output"]["cycles"] == 1
    assert state["output"]["itemsDone"] == 2
    assert state["output"]["lastCycle"]["finishedAt"] == finished_at
    assert state["customStatus"]["phase"] == "finished"


def test_stop_event_payload_is_ignored(orchestrator_main: OrchestratorMain) -> None:
    history, _ = eternal_cycle_waiting()
    history.next_episode().event_raised("Stop", {"reason": "maintenance"})

    state = replay(orchestrator_main, history)

    assert state["output"]["stoppedBy"] == "stop-event"


# The SDK warns when an event arrives before anything waits for it, then keeps it for later.
@pytest.mark.filterwarnings("ignore:Potential duplicate Task completion")
def test_stop_sent_while_a_cycle_runs_ends_the_job_when_the_cycle_finishes(orchestrator_main: OrchestratorMain) -> None:
    items = payloads(1, 2)
    history = cycle_scheduled(History(ETERNAL_INPUT), items).next_episode().event_raised("Stop")
    history.next_episode().completed(0, result_of(items[0])).completed(1, result_of(items[1]))

    state = replay(orchestrator_main, history)

    assert state["isDone"] is True
    assert state["output"]["stoppedBy"] == "stop-event"
    assert state["output"]["itemsDone"] == 2
    (timer,) = actions_of(state, Action.CREATE_TIMER)
    assert timer["isCanceled"] is True


# The SDK warns about an event no task waits for; that is this test's premise.
@pytest.mark.filterwarnings("ignore:Potential duplicate Task completion")
def test_other_external_events_do_not_stop_the_job(orchestrator_main: OrchestratorMain) -> None:
    history, _ = eternal_cycle_waiting()
    history.next_episode().event_raised("Pause")

    state = replay(orchestrator_main, history)

    assert state["isDone"] is False
    assert "output" not in state


@pytest.mark.parametrize(
    ("first", "expected_end"),
    [("timer", "continue-as-new"), ("stop", "stop-event")],
)
def test_timer_and_stop_in_one_batch_the_event_first_in_history_wins(
    orchestrator_main: OrchestratorMain, first: str, expected_end: str
) -> None:
    # The SDK feeds events to task_any in history order, so the earlier one resolves it.
    history, fire_at = eternal_cycle_waiting()
    history.next_episode(30)
    if first == "timer":
        history.timer_fired(2, fire_at).event_raised("Stop")
    else:
        history.event_raised("Stop").timer_fired(2, fire_at)

    state = replay(orchestrator_main, history)
    again = replay(orchestrator_main, history)

    assert state == again
    assert state["isDone"] is True
    (timer,) = actions_of(state, Action.CREATE_TIMER)
    if expected_end == "continue-as-new":
        assert "output" not in state
        assert timer["isCanceled"] is False
        (restart,) = actions_of(state, Action.CONTINUE_AS_NEW)
        assert json.loads(restart["input"])["carried"]["cycles"] == 1
    else:
        assert state["output"]["stoppedBy"] == "stop-event"
        assert timer["isCanceled"] is True
        assert actions_of(state, Action.CONTINUE_AS_NEW) == []


def test_max_cycles_reached_completes_with_summary_instead_of_waiting(orchestrator_main: OrchestratorMain) -> None:
    job_input = {
        **ETERNAL_INPUT,
        "maxCycles": 2,
        "carried": {"cycles": 1, "itemsDone": 2, "itemsFailed": 0},
    }
    items = payloads(2, 2)
    history = cycle_completed(cycle_scheduled(History(job_input), items), items)

    state = replay(orchestrator_main, history)

    assert state["isDone"] is True
    assert actions_of(state, Action.CREATE_TIMER) == []
    assert actions_of(state, Action.CONTINUE_AS_NEW) == []
    assert state["output"]["stoppedBy"] == "max-cycles"
    assert state["output"]["cycles"] == 2
    assert state["output"]["itemsDone"] == 4
    assert state["output"]["lastCycle"]["cycle"] == 2


def test_eternal_job_below_max_cycles_carries_the_bound_into_the_next_execution(
    orchestrator_main: OrchestratorMain,
) -> None:
    job_input = {**ETERNAL_INPUT, "maxCycles": 3}
    items = payloads(1, 2)
    history = cycle_completed(cycle_scheduled(History(job_input), items), items)
    fire_at = history.now + timedelta(seconds=30)
    history.timer_created(2, fire_at).next_episode(30).timer_fired(2, fire_at)

    state = replay(orchestrator_main, history)

    (restart,) = actions_of(state, Action.CONTINUE_AS_NEW)
    assert json.loads(restart["input"])["maxCycles"] == 3


# --- activity failures ----------------------------------------------------------------------------


def failed_attempt(history: History, task_id: int, retry_timer_id: int, message: str) -> History:
    """The activity fails and the host schedules the retry timer (it takes the next ID)."""
    history.next_episode().failed(task_id, message)
    return history.timer_created(retry_timer_id, history.now + timedelta(seconds=1))


def retry_fired(history: History, retry_timer_id: int, next_task_id: int, payload: dict[str, Any]) -> History:
    history.next_episode().timer_fired(retry_timer_id, history.now)
    return history.scheduled(next_task_id, payload)


def test_item_failing_once_then_succeeding_on_retry_counts_as_done(orchestrator_main: OrchestratorMain) -> None:
    items = payloads(1, 2)
    history = cycle_scheduled(History({"workItems": 2}), items)
    failed_attempt(history, task_id=0, retry_timer_id=2, message="Exception: transient")
    retry_fired(history, retry_timer_id=2, next_task_id=3, payload=items[0])
    history.next_episode().completed(1, result_of(items[1])).completed(3, result_of(items[0]))

    state = replay(orchestrator_main, history)

    assert state["isDone"] is True
    assert activity_calls(state) == items  # retries are the host's job, not new actions
    assert state["output"]["itemsDone"] == 2
    assert state["output"]["itemsFailed"] == 0
    assert state["output"]["lastCycle"]["firstError"] is None


FAILING_INPUT = {"eternal": True, "workItems": 3, "intervalSeconds": 30, "failItems": [1]}
FAILURE_MESSAGE = "WorkItemFailure: item 1 of cycle 1 fails on purpose (listed in failItems)"


def item_one_out_of_retries() -> tuple[History, list[dict[str, Any]]]:
    """Item 1 fails all three attempts while items 0 and 2 are still running."""
    items = payloads(1, 3, fail=(1,))
    history = cycle_scheduled(History(FAILING_INPUT), items)
    failed_attempt(history, task_id=1, retry_timer_id=3, message=FAILURE_MESSAGE)
    retry_fired(history, retry_timer_id=3, next_task_id=4, payload=items[1])
    failed_attempt(history, task_id=4, retry_timer_id=5, message=FAILURE_MESSAGE)
    retry_fired(history, retry_timer_id=5, next_task_id=6, payload=items[1])
    failed_attempt(history, task_id=6, retry_timer_id=7, message=FAILURE_MESSAGE)
    # The SDK resolves a retried task only after the timer that follows its last attempt.
    history.next_episode().timer_fired(7, history.now)
    return history, items


def test_item_out_of_retries_does_not_end_the_cycle_while_others_run(orchestrator_main: OrchestratorMain) -> None:
    history, items = item_one_out_of_retries()

    state = replay(orchestrator_main, history)

    assert state["isDone"] is False
    assert "output" not in state
    assert activity_calls(state) == items
    (race,) = actions_of(state, Action.WHEN_ANY)  # the items still running, raced with the Work inbox
    assert [action["actionType"] for action in race["compoundActions"]][-1] == Action.WAIT_FOR_EXTERNAL_EVENT
    assert state["customStatus"]["phase"] == "working"


def test_item_out_of_retries_is_recorded_as_failed_and_eternal_job_carries_on(
    orchestrator_main: OrchestratorMain,
) -> None:
    history, items = item_one_out_of_retries()
    history.next_episode().completed(0, result_of(items[0])).completed(2, result_of(items[2]))

    state = replay(orchestrator_main, history)

    assert state["isDone"] is False
    wait = actions_of(state, Action.WHEN_ANY)[-1]
    assert wait["compoundActions"][1]["externalEventName"] == "Stop"
    status = state["customStatus"]
    assert (status["phase"], status["itemsDone"], status["itemsFailed"]) == ("waiting", 2, 1)
    assert status["totals"] == {"cycles": 1, "itemsDone": 2, "itemsFailed": 1}

    fire_at = history.now + timedelta(seconds=30)
    history.timer_created(8, fire_at).next_episode(30).timer_fired(8, fire_at)
    restarted = replay(orchestrator_main, history)

    (restart,) = actions_of(restarted, Action.CONTINUE_AS_NEW)
    assert json.loads(restart["input"])["carried"] == {"cycles": 1, "itemsDone": 2, "itemsFailed": 1}


def test_failed_item_appears_in_the_summary_with_its_error(orchestrator_main: OrchestratorMain) -> None:
    history, items = item_one_out_of_retries()
    history.next_episode().completed(0, result_of(items[0])).completed(2, result_of(items[2]))
    history.timer_created(8, history.now + timedelta(seconds=30))
    history.next_episode().event_raised("Stop")

    state = replay(orchestrator_main, history)

    last_cycle = state["output"]["lastCycle"]
    assert (last_cycle["itemsDone"], last_cycle["itemsFailed"]) == (2, 1)
    assert last_cycle["failedItems"] == [1]
    assert last_cycle["firstError"].startswith(f"Activity function '{ACTIVITY}' failed:")
    assert "fails on purpose" in last_cycle["firstError"]
    assert len(last_cycle["firstError"]) <= 300
    assert state["output"]["itemsFailed"] == 1


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job_input", "field"),
    [
        ({"workItems": 0}, "workItems"),
        ({"workItems": True}, "workItems"),
        ({"intervalSeconds": 86_401}, "intervalSeconds"),
        ({"eternal": "yes"}, "eternal"),
        ({"eternal": True, "maxCycles": 0}, "maxCycles"),
        ({"failItems": [7]}, "failItems[0]"),
        ({"carried": {"cycles": -1, "itemsDone": 0, "itemsFailed": 0}}, "carried.cycles"),
        ({"workitems": 3}, "workitems"),
        ([1, 2, 3], "input"),
        ("hello", "input"),
        (5, "input"),
    ],
)
def test_bad_input_fails_the_instance_with_a_message_naming_the_field(
    orchestrator_main: OrchestratorMain, job_input: object, field: str
) -> None:
    # The SDK reports an orchestrator failure as a plain Exception carrying the state.
    with pytest.raises(Exception) as raised:
        replay(orchestrator_main, History(job_input))

    message, _, state_json = str(raised.value).partition(OUT_OF_PROC_ERROR_LABEL)
    assert field in message
    state = json.loads(state_json)
    assert state["isDone"] is False
    assert state["error"] == message
    assert all_actions(state) == []


# --- determinism ----------------------------------------------------------------------------------


def _one_cycle() -> History:
    items = payloads(1, 3)
    return cycle_completed(cycle_scheduled(History(None), items), items)


def _stopped() -> History:
    history, _ = eternal_cycle_waiting()
    return history.next_episode().event_raised("Stop")


def _continued() -> History:
    history, fire_at = eternal_cycle_waiting()
    return history.next_episode(30).timer_fired(2, fire_at)


def _failed_item() -> History:
    history, items = item_one_out_of_retries()
    return history.next_episode().completed(0, result_of(items[0])).completed(2, result_of(items[2]))


@pytest.mark.parametrize("build", [_one_cycle, _stopped, _continued, _failed_item])
def test_replaying_the_same_history_twice_gives_identical_state(
    orchestrator_main: OrchestratorMain, build: Callable[[], History]
) -> None:
    history = build()

    first = orchestrator_main(func.OrchestrationContext(history.context_json()))
    second = orchestrator_main(func.OrchestrationContext(history.context_json()))

    assert first == second


# --- work handed in by Work events ----------------------------------------------------------------


def test_work_events_while_waiting_are_kept_and_carried_into_the_next_cycle(
    orchestrator_main: OrchestratorMain,
) -> None:
    history, fire_at = eternal_cycle_waiting()
    history.next_episode(3).event_raised("Work", {"file": "a.csv"}).event_raised("Work", {"file": "b.csv"})

    waiting = replay(orchestrator_main, history)

    assert waiting["isDone"] is False and waiting["customStatus"]["queuedWork"] == 2
    history.next_episode(27).timer_fired(2, fire_at)
    state = replay(orchestrator_main, history)

    (restart,) = actions_of(state, Action.CONTINUE_AS_NEW)
    assert json.loads(restart["input"])["queued"] == [{"file": "a.csv"}, {"file": "b.csv"}]


def test_work_events_during_a_cycle_are_taken_as_they_come_not_only_the_last(
    orchestrator_main: OrchestratorMain,
) -> None:
    """The 1.x SDK keeps one event of a name that arrives while nothing waits for it; the job keeps a waiter open."""
    items = payloads(1, 2)
    history = cycle_scheduled(History(ETERNAL_INPUT), items)
    history.next_episode().event_raised("Work", 1).event_raised("Work", 2).event_raised("Work", 3)
    cycle_completed(history, items)
    fire_at = history.now + timedelta(seconds=30)
    history.timer_created(2, fire_at).next_episode(30).timer_fired(2, fire_at)

    state = replay(orchestrator_main, history)

    (restart,) = actions_of(state, Action.CONTINUE_AS_NEW)
    assert json.loads(restart["input"])["queued"] == [1, 2, 3]


def test_the_next_cycle_does_the_queued_work_as_items_after_the_regular_ones(
    orchestrator_main: OrchestratorMain,
) -> None:
    state = replay(orchestrator_main, History({**CARRIED_AFTER_FIRST_CYCLE, "queued": [{"file": "a.csv"}]}))

    assert activity_calls(state) == [*payloads(2, 2), {"cycle": 2, "item": 2, "fail": False, "work": {"file": "a.csv"}}]
    assert state["customStatus"]["itemsTotal"] == 3


def test_work_that_arrives_when_no_cycle_follows_is_counted_as_not_done(orchestrator_main: OrchestratorMain) -> None:
    history, _ = eternal_cycle_waiting()
    history.next_episode().event_raised("Work", "late").event_raised("Stop")

    state = replay(orchestrator_main, history)

    assert state["output"]["stoppedBy"] == "stop-event" and state["output"]["workNotDone"] == 1


def event_raised_as_posted(history: History, name: str, body: bytes) -> History:
    """An EventRaised as the extension records the body of a raise-event request: the JSON value the body holds,
    serialized again (HttpApiHandler.HandleRaiseEventRequestAsync reads the body as a JToken)."""
    return history._add(Event.EVENT_RAISED, Name=name, Input=json.dumps(json.loads(body)))


@pytest.mark.parametrize("data", [{"file": "a.csv", "rows": 3}, [1, 2], "text", 7])
def test_event_data_posted_by_the_app_arrives_as_the_value_itself(
    orchestrator_main: OrchestratorMain, data: Any
) -> None:
    history, fire_at = eternal_cycle_waiting()
    event_raised_as_posted(history.next_episode(), "Work", event_body(data))
    history.next_episode(29).timer_fired(2, fire_at)

    state = replay(orchestrator_main, history)

    (restart,) = actions_of(state, Action.CONTINUE_AS_NEW)
    assert json.loads(restart["input"])["queued"] == [data]


def test_event_data_posted_as_the_1x_sdks_raise_event_does_arrives_as_a_string(
    orchestrator_main: OrchestratorMain,
) -> None:
    """What the app's own posting avoids: the SDK posts json.dumps(data) as JSON again (azure-functions-durable-python
    #295), so wait_for_external_event yields the JSON text, not the object."""
    data = {"file": "a.csv"}
    history, fire_at = eternal_cycle_waiting()
    event_raised_as_posted(history.next_episode(), "Work", json.dumps(json.dumps(data)).encode())
    history.next_episode(29).timer_fired(2, fire_at)

    state = replay(orchestrator_main, history)

    (restart,) = actions_of(state, Action.CONTINUE_AS_NEW)
    assert json.loads(restart["input"])["queued"] == [json.dumps(data)]
