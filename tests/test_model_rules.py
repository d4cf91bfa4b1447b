"""One test per rule of the backend model (docs/model.md), each driving `World` on a plain `EventQueue`."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from simulation.model import (
    EPOCH,
    MAX_START_DEQUEUES,
    Answer,
    Create,
    EventQueue,
    Faults,
    Message,
    Versions,
    World,
    draw_versions,
    grpc_answer,
)

ID = "job"
NAME = "SingletonOrchestrator"
BEFORE_2_7 = Versions(terminate_marks_never_run=False)
# No wire faults, a fixed queue delay and work time, and executions that run long enough not to end in a test.
QUIET: dict[str, Any] = {"queue_delay": (0.1, 0.1), "work_time": (0.01, 0.01), "run_time": (500.0, 500.0)}


class Answers:
    """Collects the answers the model sends back, by name."""

    def __init__(self) -> None:
        self.got: dict[str, Answer] = {}

    def to(self, name: str) -> Any:
        return lambda answer: self.got.__setitem__(name, answer)


def world(versions: Versions | None = None, seed: int = 1, **faults: Any) -> tuple[EventQueue, World]:
    clock = EventQueue()
    return clock, World(clock, seed, Faults(**{**QUIET, **faults}), versions)


def begin(model: World, tag: str, text: str = '"in"') -> Create:
    """A create's status read and its enqueue, its row not yet written."""
    create = Create(tag, ID, NAME, text)
    assert model.create_read(create) is None
    model.create_enqueue(create)
    return create


def at(clock: EventQueue, when: float, action: Callable[[], object]) -> None:
    """Do `action` at `when`, whatever it returns."""

    def run() -> None:
        action()

    clock.at(when, run)


def started(model: World, tag: str) -> Message:
    return next(m for m in model.messages if m.kind == "start" and m.tag == tag)


def command(model: World, kind: str, tag: str, **fields: Any) -> Message:
    """A management message queued as DurableClient sends it: no execution ID."""
    row = model.rows.get(ID)
    message = Message(
        kind,
        ID,
        tag,
        model.clock.now(),
        decided_at=model.clock.now(),
        addressed=row.execution_id if row else None,
        **fields,
    )
    model.send_command(message)
    return message


def running(model: World, clock: EventQueue) -> str:
    """An instance started through the create path, run by the worker; its execution ID."""
    create = begin(model, "h0/a")
    model.create_write(create)
    clock.run(until=clock.now() + 1.0)
    assert model.rows[ID].status == "Running"
    assert create.execution_id is not None
    return create.execution_id


# -- the create path ---------------------------------------------------------------------------------------------


def test_a_start_queues_its_execution_started_before_it_writes_the_row_pending_and_answers_202_with_the_urls() -> None:
    clock, model = world()
    answers = Answers()
    model.start("h0/a", ID, NAME, {"order": 1}, answers.to("a"))
    clock.run(until=0.0011)  # landed, read: nothing written yet
    clock.run(until=0.05)
    (message,) = model.messages
    assert message.kind == "start" and message.execution_id == model.rows[ID].execution_id
    assert message.sent_at < model.executions[message.execution_id].created_at  # queued, then the row
    assert model.rows[ID].status == "Pending" and model.rows[ID].input == '{"order": 1}'
    assert answers.got["a"].status == 202
    body = answers.got["a"].body
    assert body["id"] == ID and body["statusQueryGetUri"].endswith(
        "/runtime/webhooks/durabletask/instances/job?taskHub=SimHub&connection=Storage&code=simulated-system-key"
    )
    assert set(body) >= {"sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri", "suspendPostUri"}


@pytest.mark.parametrize("status", ["Pending", "Running", "ContinuedAsNew", "Suspended"])
def test_a_start_over_a_dedupe_status_is_the_catch_all_500_naming_the_exception_and_queues_nothing(
    status: str,
) -> None:
    clock, model = world()
    model.put_instance(ID, NAME, status, None)
    answers = Answers()
    model.start("h0/a", ID, NAME, None, answers.to("a"))
    clock.run(until=1.0)
    answer = answers.got["a"]
    assert answer.status == 500 and answer.body["Message"] == "Something went wrong while processing your request"
    assert answer.body["ExceptionType"] == "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"
    assert answer.body["ExceptionMessage"] == f"An Orchestration instance with the status {status} already exists."
    assert model.messages == []


def test_a_replace_conditioned_on_a_stale_etag_is_lost_quietly_and_its_start_is_still_answered_202() -> None:
    clock, model = world(slow_writes=1.0)
    model.put_instance(ID, NAME, "Completed", None)
    answers = Answers()
    model.start("h0/a", ID, NAME, 1, answers.to("a"))
    model.start("h1/b", ID, NAME, 2, answers.to("b"))
    clock.run(until=5.0)
    assert answers.got["a"].status == answers.got["b"].status == 202
    written = [tag for tag in ("h0/a", "h1/b") if any(e.tag == tag for e in model.executions.values())]
    assert len(written) == 1 and model.coverage["etag_race_lost"] == 1


def test_an_insert_after_a_read_that_saw_no_row_loses_to_a_row_written_since() -> None:
    _, model = world()
    late = begin(model, "h0/a")
    first = begin(model, "h1/b")
    assert model.create_write(first) is True
    assert model.create_write(late) is False
    assert model.rows[ID].execution_id == first.execution_id


# -- the ExecutionStarted filter ---------------------------------------------------------------------------------


def test_an_execution_started_runs_when_the_row_names_its_execution_whatever_status_the_row_shows() -> None:
    clock, model = world(starts_run=False)
    create = begin(model, "h0/a")
    model.create_write(create)
    model.rows[ID].status = "Completed"  # the filter compares execution IDs only
    model.faults = Faults(**QUIET)
    model._poll(started(model, "h0/a"))
    clock.run(until=1.0)
    assert started(model, "h0/a").outcome == "ran"
    assert model.rows[ID].status == "Running"


def test_an_execution_started_seen_before_its_row_is_deferred_2_then_4_seconds_and_runs_once_the_row_is_its_own() -> (
    None
):
    clock, model = world()
    create = begin(model, "h0/a")
    at(clock, 3.0, lambda: model.create_write(create))
    clock.run(until=10.0)
    message = started(model, "h0/a")
    assert message.dequeues == pytest.approx([0.1, 2.2, 6.3])
    assert message.outcome == "ran" and model.executions[message.execution_id or ""].ran_at == pytest.approx(6.31)
    assert model.coverage["deferred_start_ran_later"] == 1


def test_an_execution_started_that_never_finds_its_row_is_discarded_at_its_tenth_dequeue() -> None:
    clock, model = world()
    begin(model, "h0/a")  # the handler failed before its row write
    clock.run(until=2000.0)
    message = started(model, "h0/a")
    assert len(message.dequeues) == MAX_START_DEQUEUES
    assert message.dequeues[-1] == pytest.approx(sum(2**n for n in range(1, 10)) + 10 * 0.1)  # 1022 s of hiding
    assert message.outcome == "discarded: still not the row's after 10 dequeues"
    assert model.coverage["start_discarded_after_dequeues"] == 1


def test_an_execution_started_of_the_rows_generation_scheduled_after_the_row_was_written_is_discarded_at_once() -> None:
    clock, model = world()
    winner = begin(model, "h0/a")
    clock.run(until=0.01)
    loser = begin(model, "h1/b")  # read the same missing row: the same generation
    assert model.create_write(winner) is True and model.create_write(loser) is False
    clock.run(until=1.0)
    message = started(model, "h1/b")
    assert message.dequeues == [pytest.approx(0.1)]  # its first dequeue, with the winner's
    assert message.outcome == "discarded: scheduled after the row was written for another execution"


# -- messages to an instance that never ran ------------------------------------------------------------------------


def never_run(versions: Versions | None) -> tuple[EventQueue, World, Create]:
    """A start whose ExecutionStarted was seen before its row: hidden until 2.1 s, its row written at 0.5 s."""
    clock, model = world(versions)
    create = begin(model, "h0/a")
    at(clock, 0.5, lambda: model.create_write(create))
    clock.run(until=0.9)
    return clock, model, create


def test_a_terminate_processed_before_the_start_marks_the_row_terminated_and_the_start_still_runs_on_2_7() -> None:
    clock, model, create = never_run(None)
    terminate = command(model, "terminate", "h1/t", reason="stop")
    clock.run(until=1.5)
    row = model.rows[ID]
    assert (row.status, row.output, row.execution_id) == ("Terminated", "stop", create.execution_id)
    assert terminate.outcome == f"merged into the row of {create.execution_id}" and terminate.hit is None
    clock.run(until=10.0)
    execution = model.executions[create.execution_id or ""]
    assert execution.ran_at is not None and execution.merged_terminated_at == pytest.approx(1.0)
    # The first checkpoint's InsertOrMerge writes Running back and leaves the terminate's output.
    assert (model.rows[ID].status, model.rows[ID].output) == ("Running", "stop")


def test_a_terminate_processed_before_the_start_is_dropped_and_the_row_stays_pending_before_2_7() -> None:
    clock, model, create = never_run(BEFORE_2_7)
    terminate = command(model, "terminate", "h1/t", reason="stop")
    clock.run(until=1.5)
    assert model.rows[ID].status == "Pending" and terminate.outcome == "dropped: No such instance"
    clock.run(until=10.0)
    assert model.executions[create.execution_id or ""].status == "Running" and model.rows[ID].output is None


@pytest.mark.parametrize("versions", [None, BEFORE_2_7], ids=["2.7", "before 2.7"])
@pytest.mark.parametrize("kind", ["event", "suspend", "resume"])
def test_an_event_suspend_or_resume_to_an_instance_that_never_ran_is_dropped(
    versions: Versions | None, kind: str
) -> None:
    clock, model, create = never_run(versions)
    message = command(model, kind, "h1/x")
    clock.run(until=10.0)
    assert message.outcome == "dropped: No such instance" and message.hit is None
    execution = model.executions[create.execution_id or ""]
    assert execution.status == "Running" and execution.events == []


def test_an_event_after_the_execution_started_in_one_dequeue_joins_its_batch_and_is_delivered() -> None:
    clock, model = world()
    create = begin(model, "h0/a")
    model.create_write(create)
    event = command(model, "event", "h0/v")  # the same sender: after the start in the queue's order
    clock.run(until=1.0)
    assert event.outcome == "delivered" and event.hit == create.execution_id
    assert event.dequeues == started(model, "h0/a").dequeues


def test_a_terminate_for_an_instance_with_no_row_is_seen_again_after_the_visibility_timeout_on_2_7() -> None:
    clock, model = world()
    running(model, clock)
    model.purge(ID)
    terminate = command(model, "terminate", "h1/t", reason="stop")
    clock.run(until=700.0)
    assert len(terminate.dequeues) == 3 and terminate.dequeues[1] - terminate.dequeues[0] == pytest.approx(300.1)
    assert terminate.outcome == "released: the row to mark Terminated was not there (404)"


def test_messages_of_one_dequeue_come_by_insertion_second_then_the_senders_own_sequence() -> None:
    """Two processes number their messages from counters of their own: within one second either may come first.
    A terminate that comes first is a batch of its own (the row marked Terminated); one that comes after the
    ExecutionStarted joins its batch and ends the execution in its first work item."""
    outcomes = set()
    for seed in range(1, 30):
        clock, model = world(seed=seed)
        create = begin(model, "h0/a")
        model.create_write(create)
        terminate = command(model, "terminate", "h1/t", reason="stop")
        clock.run(until=1.0)
        first = terminate.sequence < started(model, "h0/a").sequence
        assert terminate.outcome == ("merged into the row of e1" if first else "ended")
        outcomes.add(first)
    assert outcomes == {True, False}


# -- the checkpoint ------------------------------------------------------------------------------------------------


def merged_then_run(clock: EventQueue, model: World) -> Create:
    """e1's row marked Terminated before it ran; its ExecutionStarted passes at 2.2 s, its checkpoint at 3.2 s."""
    model.faults = Faults(**{**QUIET, "work_time": (1.0, 1.0)})
    first = begin(model, "h0/a")
    at(clock, 0.5, lambda: model.create_write(first))
    at(clock, 1.0, lambda: command(model, "terminate", "h1/t", reason="stop"))
    clock.run(until=3.1)
    assert model.rows[ID].status == "Terminated"
    return first


def test_the_first_checkpoint_of_a_stale_execution_overwrites_the_row_a_newer_start_wrote_which_never_runs() -> None:
    clock, model = world()
    first = merged_then_run(clock, model)
    second = begin(model, "h2/b")  # reads Terminated: no dedupe, a replace
    assert model.create_write(second) is True
    clock.run(until=2000.0)
    assert model.executions[first.execution_id or ""].checkpoints[0].overwrote == second.execution_id
    assert model.coverage["checkpoint_overwrote_newer_row"] == 1
    message = started(model, "h2/b")
    assert message.outcome == "discarded: still not the row's after 10 dequeues"
    assert model.executions[second.execution_id or ""].ran_at is None


def test_a_start_that_read_the_row_before_a_stale_checkpoint_loses_its_write_and_is_still_answered_202() -> None:
    clock, model = world()
    merged_then_run(clock, model)
    second = begin(model, "h2/b")
    clock.run(until=3.3)  # the stale checkpoint wrote the row after the read
    assert model.create_write(second) is False
    clock.run(until=2000.0)
    assert started(model, "h2/b").outcome == "discarded: still not the row's after 10 dequeues"


# -- running, suspended and ended instances ----------------------------------------------------------------------


def test_a_terminate_ends_a_running_execution_with_its_reason_as_the_output() -> None:
    clock, model = world()
    execution_id = running(model, clock)
    terminate = command(model, "terminate", "h1/t", reason="stop")
    clock.run(until=clock.now() + 1.0)
    assert (model.rows[ID].status, model.rows[ID].output) == ("Terminated", "stop")
    assert model.executions[execution_id].ended_by is terminate and terminate.hit == execution_id


def test_an_event_reaches_a_running_execution() -> None:
    clock, model = world()
    execution_id = running(model, clock)
    event = command(model, "event", "h1/v", event_name="Go")
    clock.run(until=clock.now() + 1.0)
    assert event.outcome == "delivered" and model.executions[execution_id].events == [event]


def test_a_suspend_writes_suspended_with_its_reason_and_events_wait_until_the_resume() -> None:
    clock, model = world()
    execution_id = running(model, clock)
    command(model, "suspend", "h1/s", reason="hold")
    clock.run(until=clock.now() + 1.0)
    assert (model.rows[ID].status, model.rows[ID].output) == ("Suspended", "hold")
    event = command(model, "event", "h1/v")
    clock.run(until=clock.now() + 1.0)
    assert event.outcome == "buffered while suspended" and model.executions[execution_id].events == []
    command(model, "resume", "h1/r", reason="go")
    clock.run(until=clock.now() + 1.0)
    assert (model.rows[ID].status, model.rows[ID].output) == ("Running", "go")
    assert model.executions[execution_id].events == [event] and event.outcome == "delivered"


def test_a_terminate_overrides_a_suspension() -> None:
    clock, model = world()
    running(model, clock)
    command(model, "suspend", "h1/s", reason="hold")
    clock.run(until=clock.now() + 1.0)
    command(model, "terminate", "h1/t", reason="stop")
    clock.run(until=clock.now() + 1.0)
    assert (model.rows[ID].status, model.rows[ID].output) == ("Terminated", "stop")


def test_a_suspended_execution_ends_only_after_it_is_resumed() -> None:
    clock, model = world(run_time=(2.0, 2.0), failure=0.0)
    execution_id = running(model, clock)
    command(model, "suspend", "h1/s", reason="hold")
    clock.run(until=20.0)
    assert model.executions[execution_id].status == "Suspended"
    command(model, "resume", "h1/r", reason="go")
    clock.run(until=25.0)
    assert model.executions[execution_id].status == "Completed"


def test_a_resume_of_a_running_execution_changes_nothing_in_it_but_the_row_takes_its_reason() -> None:
    clock, model = world()
    execution_id = running(model, clock)
    resume = command(model, "resume", "h1/r", reason="why")
    clock.run(until=clock.now() + 1.0)
    assert resume.outcome == "no effect: not suspended" and model.executions[execution_id].status == "Running"
    assert (model.rows[ID].status, model.rows[ID].output) == ("Running", "why")


@pytest.mark.parametrize("kind", ["terminate", "event", "suspend", "resume"])
def test_every_message_to_an_ended_instance_is_dropped(kind: str) -> None:
    clock, model = world()
    model.put_instance(ID, NAME, "Completed", None, output="done")
    message = command(model, kind, "h1/x", reason="late")
    clock.run(until=1.0)
    assert message.outcome == "dropped: Instance is Completed"
    assert (model.rows[ID].status, model.rows[ID].output) == ("Completed", "done")


# -- continue-as-new -------------------------------------------------------------------------------------------------


def test_continue_as_new_runs_a_new_execution_id_at_once_and_the_row_goes_straight_to_it_running() -> None:
    clock, model = world(run_time=(2.0, 2.0), continue_as_new=1.0)
    first = running(model, clock)
    clock.run(until=3.0)
    successor = model.executions[first].continued_as
    assert successor is not None and model.executions[successor].continued_from == first
    assert (model.rows[ID].execution_id, model.rows[ID].status) == (successor, "Running")
    assert model.executions[first].status == "ContinuedAsNew" and model.executions[successor].ran_at is not None


@pytest.mark.parametrize(("kept", "outcome"), [(True, "carried over into e2"), (False, "lost at continue-as-new")])
def test_events_received_and_not_consumed_are_carried_over_with_save_events_and_lost_without(
    kept: bool, outcome: str
) -> None:
    clock, model = world(Versions(continue_as_new_keeps_events=kept), run_time=(2.0, 2.0), event_waits=0.0)
    running(model, clock)
    model.faults = Faults(**{**QUIET, "run_time": (2.0, 2.0), "event_waits": 0.0, "continue_as_new": 1.0})
    event = command(model, "event", "h1/v")
    clock.run(until=3.5)
    assert event.outcome == outcome
    assert model.executions["e2"].events == ([event] if kept else [])


def test_an_event_sent_to_an_execution_that_continued_as_new_reaches_its_successor() -> None:
    clock, model = world(run_time=(2.0, 2.0), continue_as_new=1.0)
    first = running(model, clock)
    clock.run(until=2.5)
    event = command(model, "event", "h1/v")
    assert event.addressed == model.executions[first].continued_as
    clock.run(until=3.0)
    assert event.hit == model.executions[first].continued_as


# -- purge -------------------------------------------------------------------------------------------------------------


def test_a_purge_deletes_the_row_and_history_whatever_the_status_and_queued_messages_find_no_instance() -> None:
    clock, model = world(BEFORE_2_7)
    execution_id = running(model, clock)
    model.faults = Faults(**{**QUIET, "queue_delay": (1.0, 1.0)})
    event = command(model, "event", "h1/v")
    assert model.purge(ID) and ID not in model.rows and ID not in model.histories
    clock.run(until=clock.now() + 2.0)
    assert event.outcome == "dropped: No such instance"
    assert model.executions[execution_id].end == "purged while Running"


# -- the HTTP API ------------------------------------------------------------------------------------------------------


def test_the_status_read_answers_404_with_no_body_202_for_active_200_for_ended_with_times_to_the_second() -> None:
    clock, model = world()
    assert model.status_answer(ID) == Answer(404)
    clock.run(until=5.7)
    model.put_instance(ID, NAME, "Running", '"in"')
    answer = model.status_answer(ID)
    assert answer.status == 202 and answer.body["createdTime"] == "2026-01-01T00:00:05Z"
    assert answer.body["runtimeStatus"] == "Running" and answer.body["input"] == '"in"'
    model.move_instance(ID, "Failed")
    assert model.status_answer(ID).status == 200 and model.status_answer(ID, fail_500=True).status == 500
    assert EPOCH.year == 2026


def drive(model: World, clock: EventQueue, kind: str, meanwhile: Callable[[], object]) -> Answer:
    """A management call whose two reads are slow steps apart, with `meanwhile` done between them."""
    answers = Answers()
    model.command("h1/t", kind, ID, None, answers.to(kind), reason="stop", event_name="Go")
    at(clock, 0.03, meanwhile)
    clock.run(until=10.0)
    return answers.got[kind]


def test_terminate_answers_404_for_no_instance_and_410_for_an_ended_one_at_the_handlers_read() -> None:
    clock, model = world()
    assert drive(model, clock, "terminate", lambda: None) == Answer(404)
    clock, model = world()
    model.put_instance(ID, NAME, "Completed", None)
    assert drive(model, clock, "terminate", lambda: None) == Answer(410)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("terminate", "Cannot terminate the orchestration instance job because instance is in the Completed state."),
        ("event", "Cannot raise event Go for orchestration instance job because instance is in Completed state"),
    ],
)
def test_terminate_or_event_answers_500_when_the_instance_ended_before_durable_clients_own_read(
    kind: str, message: str
) -> None:
    clock, model = world(slow_commands=1.0)
    model.put_instance(ID, NAME, "Running", None)
    answer = drive(model, clock, kind, lambda: model.move_instance(ID, "Completed"))
    assert answer.status == 500 and answer.body["ExceptionType"] == "System.InvalidOperationException"
    assert answer.body["ExceptionMessage"] == message
    assert [m for m in model.messages if m.kind == kind] == []


def test_terminate_answers_400_when_the_instance_was_purged_before_durable_clients_own_read() -> None:
    clock, model = world(slow_commands=1.0)
    model.put_instance(ID, NAME, "Running", None)
    answer = drive(model, clock, "terminate", lambda: model.purge(ID))
    assert answer.status == 400 and answer.body["ExceptionType"] == "System.ArgumentException"
    assert answer.body["ExceptionMessage"] == "No instance with ID 'job' was found. (Parameter 'instanceId')"


@pytest.mark.parametrize(("kind", "status"), [("suspend", "Suspended"), ("resume", "Running")])
def test_suspending_a_suspended_instance_or_resuming_a_running_one_answers_500(kind: str, status: str) -> None:
    clock, model = world()
    model.put_instance(ID, NAME, status, None)
    answer = drive(model, clock, kind, lambda: None)
    assert answer.status == 500
    assert answer.body["ExceptionMessage"] == (
        f"Cannot {kind} the orchestration instance job because instance is in the {status} state."
    )


def test_purge_answers_404_for_no_instance_and_200_with_the_count_for_any_status() -> None:
    clock, model = world()
    answers = Answers()
    model.purge_request("h1/p", ID, answers.to("none"))
    model.put_instance(ID, NAME, "Running", None)
    model.purge_request("h1/p", ID, answers.to("running"))
    clock.run(until=1.0)
    assert answers.got["none"] == Answer(404)
    assert answers.got["running"] == Answer(200, {"instancesDeleted": 1}) and ID not in model.rows


# -- the gRPC endpoint -------------------------------------------------------------------------------------------------


def test_grpc_commands_over_no_instance_or_the_wrong_state_answer_unknown_in_3_0_and_precise_codes_later() -> None:
    _, model = world(slow_commands=1.0)
    model.put_instance(ID, NAME, "Running", None)
    gone = model.client_read_refusal("terminate", "ghost")
    wrong = model.client_read_refusal("resume", ID)
    assert gone is not None and wrong is not None
    unknown, precise = Versions(grpc_command_codes="unknown"), Versions(grpc_command_codes="precise")
    for answer in (Answer(404), Answer(410), gone, wrong):
        assert grpc_answer("terminate", answer, unknown) == ("UNKNOWN", "Exception was thrown by handler.")
    assert grpc_answer("event", Answer(404), precise)[0] == grpc_answer("event", gone, precise)[0] == "NOT_FOUND"
    assert grpc_answer("terminate", Answer(410), precise)[0] == "FAILED_PRECONDITION"
    assert grpc_answer("resume", wrong, precise)[0] == "FAILED_PRECONDITION"
    assert grpc_answer("terminate", Answer(500), precise)[0] == "UNKNOWN"  # a thrown handler, no exception named


def test_grpc_start_answers_already_exists_for_the_duplicate_and_internal_for_a_bad_argument() -> None:
    clock, model = world()
    model.put_instance(ID, NAME, "Running", None)
    answers = Answers()
    model.start("h0/a", ID, NAME, None, answers.to("a"))
    clock.run(until=1.0)
    assert grpc_answer("start", answers.got["a"], Versions())[0] == "ALREADY_EXISTS"
    assert grpc_answer("start", Answer(400, {"Message": "bad"}), Versions())[0] == "INTERNAL"
    assert grpc_answer("status", Answer(404), Versions()) == ("OK", "")


# -- clients outside the app, and the versions -----------------------------------------------------------------------


def test_an_outside_terminate_goes_through_the_handlers_and_marks_a_never_run_row_on_2_7() -> None:
    clock, model, create = never_run(None)
    model.terminate_outside(ID)
    clock.run(until=1.5)
    assert model.rows[ID].status == "Terminated" and model.coverage["outside_terminate"] == 1
    assert model.executions[create.execution_id or ""].merged_terminated_at is not None


def test_each_seed_draws_versions_and_an_exploration_meets_both_sides_of_each_change() -> None:
    drawn = [draw_versions(random.Random(seed)) for seed in range(40)]
    assert {v.terminate_marks_never_run for v in drawn} == {True, False}
    assert {v.grpc_command_codes for v in drawn} == {"unknown", "precise"}
    assert {v.continue_as_new_keeps_events for v in drawn} == {True, False}
    assert Versions() == Versions(True, "precise", True)  # the newest behaviour by default
