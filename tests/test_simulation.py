"""The simulation's model of the backend, its virtual-time loop, determinism, shrinking and the CLI's figures."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from simulation.__main__ import explore, main
from simulation.invariants import Request, Violation
from simulation.loop import Stuck, VirtualLoop
from simulation.model import (
    GRPC_DROPPED,
    GRPC_HANDLER_THREW,
    GRPC_NOT_CONNECTED,
    NOT_SENT,
    Answer,
    Create,
    EventQueue,
    Faults,
    Message,
    Versions,
    World,
    already_exists_answer,
)
from simulation.scenario import Actor, Scenario, draw
from simulation.simulator import RunResult, run_seed, shrink
from simulation.wire import TIMED_OUT, grpc_answer
from singleton_start.adapters.blob_lease import LeaseLocks
from singleton_start.core.errors import Refused

ID = "job"


class Answers:
    """Collects the answers the model sends back, by name."""

    def __init__(self) -> None:
        self.got: dict[str, Answer] = {}

    def to(self, name: str) -> Any:
        return lambda answer: self.got.__setitem__(name, answer)


def world(**faults: Any) -> tuple[EventQueue, World]:
    clock = EventQueue()
    return clock, World(clock, 1, Faults(**faults))


def test_start_over_an_active_instance_is_refused_with_500_naming_the_exception_and_queues_nothing() -> None:
    clock, model = world(run_time=(100.0, 100.0))
    model.seed_instance(ID, "SingletonOrchestrator", "Running")
    answers = Answers()
    model.start("a", ID, "SingletonOrchestrator", {"order": 1}, answers.to("a"))
    clock.run(until=10.0)
    assert answers.got["a"].status == 500
    assert "OrchestrationAlreadyExistsException" in answers.got["a"].body["ExceptionType"]
    assert [m for m in model.messages if m.kind == "start"] == []


def test_concurrent_creates_over_an_ended_instance_are_both_answered_202_but_only_one_row_write_wins() -> None:
    clock, model = world(slow_writes=1.0, run_time=(1.0, 1.0))
    model.seed_instance(ID, "SingletonOrchestrator", "Completed")
    answers = Answers()
    model.start("a", ID, "SingletonOrchestrator", {"order": 1}, answers.to("a"))
    model.start("b", ID, "SingletonOrchestrator", {"order": 2}, answers.to("b"))
    clock.run()
    assert answers.got["a"].status == answers.got["b"].status == 202
    made = [e for e in model.executions.values() if e.tag in ("a", "b")]
    assert len(made) == 1 and made[0].ran_at is not None
    # The loser's ExecutionStarted was queued too, and dropped: its execution ID is not the row's.
    assert model.coverage["etag_race_lost"] == 1
    assert model.coverage["stale_start_dropped"] == 1


def test_execution_started_runs_only_when_the_row_names_its_execution() -> None:
    clock, model = world(run_time=(1.0, 1.0))
    answers = Answers()
    model.start("a", ID, "SingletonOrchestrator", {"order": 1}, answers.to("a"))
    clock.run()
    (execution,) = model.executions.values()
    assert execution.tag == "a" and execution.status == "Completed" and execution.ran_at is not None
    start = next(m for m in model.messages if m.kind == "start")
    assert start.hit == execution.execution_id


def test_terminate_and_event_answer_404_for_no_instance_and_410_for_an_ended_one() -> None:
    clock, model = world()
    answers = Answers()
    model.command("t", "terminate", ID, None, answers.to("none"))
    clock.run()
    model.seed_instance(ID, "SingletonOrchestrator", "Failed")
    model.command("e", "event", ID, "SingletonOrchestrator", answers.to("ended"))
    clock.run()
    assert answers.got["none"].status == 404 and answers.got["ended"].status == 410


def test_an_event_is_discarded_when_no_execution_is_current_at_delivery() -> None:
    clock, model = world(run_time=(1.0, 1.0), queue_delay=(0.5, 0.5))
    model.seed_instance(ID, "SingletonOrchestrator", "Running")  # its end is processed at 1.5
    answers = Answers()
    clock.at(1.4, lambda: model.command("e", "event", ID, "SingletonOrchestrator", answers.to("e")))
    clock.run()
    (event,) = [m for m in model.messages if m.kind == "event"]
    assert answers.got["e"].status == 202 and event.hit is None and model.coverage["event_discarded"] == 1


def blob(model: World, clock: EventQueue, tag: str, op: str, **args: Any) -> Answer:
    answers = Answers()
    model.blob_op(tag, op, "hub/job", answers.to(op), **args)
    clock.run(clock.now() + 0.1)
    return answers.got[op]


def test_a_lease_runs_out_on_the_virtual_clock_and_is_then_granted_to_another() -> None:
    clock, model = world()
    assert blob(model, clock, "a", "create").status == 201
    assert blob(model, clock, "a", "acquire", lease_id="A", seconds=15).status == 201
    clock.run(14.0)
    assert blob(model, clock, "b", "acquire", lease_id="B", seconds=15).status == 409
    assert blob(model, clock, "a", "renew", lease_id="A", seconds=15).status == 200
    clock.run(29.5)
    assert blob(model, clock, "b", "acquire", lease_id="B", seconds=15).status == 201
    assert blob(model, clock, "a", "renew", lease_id="A", seconds=15).status == 409


def test_an_expired_lease_can_be_renewed_while_no_one_else_took_it() -> None:
    clock, model = world()
    blob(model, clock, "a", "create")
    blob(model, clock, "a", "acquire", lease_id="A", seconds=15)
    clock.run(40.0)
    assert blob(model, clock, "a", "renew", lease_id="A", seconds=15).status == 200


def test_a_record_needs_the_active_lease_and_a_lifecycle_rule_deletes_it_with_its_blob() -> None:
    clock, model = world(blob_deletion=1.0)
    blob(model, clock, "a", "create")
    blob(model, clock, "a", "acquire", lease_id="A", seconds=15)
    assert blob(model, clock, "a", "set_metadata", lease_id="A", metadata={"state": "starting"}).status == 200
    assert blob(model, clock, "b", "set_metadata", lease_id="B", metadata={"state": "x"}).status == 412
    assert blob(model, clock, "a", "get_properties").body["metadata"] == {"state": "starting"}
    blob(model, clock, "a", "release", lease_id="A")
    clock.run(200.0)
    assert blob(model, clock, "a", "get_properties").status == 404
    assert model.coverage["lock_blob_deleted"] == 1


def test_a_request_can_land_after_its_caller_gave_up() -> None:
    clock, model = world(land_late=1.0, late_landing_bound=10.0)
    answers = Answers()
    model.start("a", ID, "SingletonOrchestrator", {"order": 1}, answers.to("a"))
    clock.run()
    (execution,) = model.executions.values()
    assert execution.created_at > 0.05  # drawn up to 10 s; the caller is not there (no active request)
    assert model.coverage["landed_after_request_ended"] == 1


def test_the_virtual_loop_moves_its_clock_to_the_next_timer_instead_of_waiting() -> None:
    async def an_hour() -> float:
        await asyncio.sleep(3600)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(60), 5)
        return asyncio.get_running_loop().time()

    loop = VirtualLoop()
    try:
        assert loop.run_until_complete(an_hour()) == pytest.approx(3605)
    finally:
        loop.close()


def test_the_virtual_loop_reports_a_run_where_nothing_can_happen_any_more() -> None:
    async def forever() -> None:
        await asyncio.get_running_loop().create_future()

    loop = VirtualLoop()
    try:
        with pytest.raises(Stuck):
            loop.run_until_complete(forever())
    finally:
        loop.close()


def test_a_seed_reproduces_its_run_exactly() -> None:
    seed = next(s for s in range(50) if len(draw(s).actors) >= 3 and not draw(s).existing)
    first, second = run_seed(seed), run_seed(seed)
    assert len(first.timeline) > 10
    assert first.timeline == second.timeline
    assert first.violations == second.violations and first.coverage == second.coverage


def test_different_seeds_draw_different_runs() -> None:
    assert run_seed(1).timeline != run_seed(2).timeline


def test_shrinking_keeps_only_the_actors_and_faults_the_failure_needs() -> None:
    scenario = replace(draw(7), faults=Faults(land_late=0.5, answer_lost=0.3, not_sent=0.2), existing=None)
    actors = tuple(Actor(f"r{i}", "start", float(i), i % 2, "SingletonOrchestrator") for i in range(1, 6))
    scenario = replace(scenario, actors=actors, hosts=2)

    def rerun(candidate: Scenario) -> RunResult:
        # Fails while r3 is there and starts land late, whatever else the scenario holds.
        fails = any(a.name == "r3" for a in candidate.actors) and candidate.faults.land_late > 0
        violations = [Violation("told_202_runs_once", "r3")] if fails else []
        return RunResult(candidate, violations, run_seed(0).coverage, [])

    small = shrink(rerun(scenario), rerun)
    assert [a.name for a in small.scenario.actors] == ["r3"]
    assert small.scenario.faults.land_late == 0.5
    assert small.scenario.faults.answer_lost == small.scenario.faults.not_sent == 0
    assert small.scenario.hosts == 1


def test_simulate_prints_figures_and_ends_with_the_summary_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sim.json"
    code = main(["--runs", "30", "--seed", "5", "--workers", "1", "--explain", "0", "--json", str(out)])
    printed = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out.read_text())
    assert re.fullmatch(r"simulated 30 runs \(seed 5\): \d+ violations", printed[-1])
    assert printed[-1].endswith(f": {summary['violations']} violations")
    assert summary["runs"] == 30 and code == (1 if summary["violations"] else 0)
    assert printed[0] == "== backend http" and printed[1].startswith("runs per second: ")
    assert sorted(summary["backends"]) == ["grpc", "http"]
    for backend in summary["backends"].values():
        assert backend["coverage"]["keyed_retry"] > 0 and "lease_expired_under_holder" in backend["coverage"]


def test_a_create_whose_read_row_was_purged_before_its_write_is_thrown_and_its_start_dropped() -> None:
    clock, model = world(run_time=(1.0, 1.0))
    model.put_instance(ID, "SingletonOrchestrator", "Completed", "old")
    create = Create("a", ID, "SingletonOrchestrator", "new")
    assert model.create_read(create) is None
    model.create_enqueue(create)
    assert model.purge(ID) and not model.purge(ID)
    assert model.create_write(create) is None
    clock.run()
    assert ID not in model.rows and model.coverage["stale_start_dropped"] == 1


def test_a_row_made_again_after_a_purge_never_reuses_an_etag_so_a_stale_create_loses() -> None:
    _, model = world()
    model.put_instance(ID, "SingletonOrchestrator", "Completed", "first")
    create = Create("a", ID, "SingletonOrchestrator", "new")
    model.create_read(create)
    model.purge(ID)
    model.put_instance(ID, "SingletonOrchestrator", "Completed", "second")
    model.create_enqueue(create)
    assert model.create_write(create) is False
    assert model.rows[ID].input == "second"


def test_without_a_worker_a_started_instance_stays_pending_with_its_execution_started_queued() -> None:
    clock, model = world(starts_run=False)
    answers = Answers()
    model.start("a", ID, "SingletonOrchestrator", {"order": 1}, answers.to("a"))
    clock.run()
    (start,) = [m for m in model.messages if m.kind == "start"]
    assert answers.got["a"].status == 202 and model.rows[ID].status == "Pending" and start.delivered_at is None


def test_a_terminate_reaches_a_suspended_execution_and_leaves_its_reason_as_the_output() -> None:
    clock, model = world()
    model.put_instance(ID, "SingletonOrchestrator", "Suspended", None, output="was")
    model.send_command(Message("terminate", ID, "t", clock.now(), reason="stop"))
    clock.run()
    row = model.rows[ID]
    assert (row.status, row.output) == ("Terminated", "stop")
    assert model.executions[row.execution_id].ended_by is not None


def test_suspend_and_resume_act_on_the_current_execution_and_only_from_the_right_state() -> None:
    clock, model = world()
    model.put_instance(ID, "SingletonOrchestrator", "Running", None)
    model.send_command(Message("resume", ID, "r", clock.now()))
    clock.run()
    assert model.rows[ID].status == "Running"  # nothing to resume
    model.send_command(Message("suspend", ID, "s", clock.now()))
    clock.run()
    assert model.rows[ID].status == "Suspended"
    model.send_command(Message("resume", ID, "r", clock.now()))
    clock.run()
    assert model.rows[ID].status == "Running"


def test_rows_put_or_moved_from_outside_keep_their_output_and_never_end_by_themselves() -> None:
    clock, model = world(run_time=(1.0, 1.0))
    model.put_instance(ID, "SingletonOrchestrator", "Running", "in", output="out", custom_status={"p": 1})
    clock.run(until=100.0)
    assert model.rows[ID].status == "Running"
    etag = model.rows[ID].etag
    model.move_instance(ID, "Completed", custom_status="done")
    row = model.rows[ID]
    assert (row.status, row.output, row.custom_status) == ("Completed", "out", "done") and row.etag != etag
    assert model.command_refusal(ID) == 410 and model.command_refusal("ghost") == 404
    with pytest.raises(KeyError):
        model.move_instance("ghost", "Running")


def test_the_models_start_answers_become_the_extensions_grpc_answers() -> None:
    _, model = world()
    assert grpc_answer("start", Answer(202, {"id": ID}), 1.0, model) == ("OK", "")
    assert grpc_answer("start", already_exists_answer("Running"), 1.0, model)[0] == "ALREADY_EXISTS"
    assert grpc_answer("start", Answer(500), 1.0, model)[0] == "INTERNAL"
    assert grpc_answer("start", Answer(503, {"Message": "Service Unavailable"}), 1.0, model) == (
        "UNAVAILABLE",
        GRPC_DROPPED,
    )
    assert grpc_answer("start", NOT_SENT, 1.0, model) == ("UNAVAILABLE", GRPC_NOT_CONNECTED)
    assert grpc_answer("start", TIMED_OUT, 2.0, model) == ("DEADLINE_EXCEEDED", "no answer within 2.0 seconds")


def test_the_extensions_grpc_commands_answer_no_instance_and_an_ended_one_as_a_thrown_handler_in_2_13_and_3_0() -> None:
    clock = EventQueue()
    model = World(clock, 1, Faults(), Versions(grpc_command_codes="unknown"))
    for kind in ("terminate", "event"):
        assert grpc_answer(kind, Answer(202), 1.0, model) == ("OK", "")
        for status in (404, 410, 500):
            assert grpc_answer(kind, Answer(status), 1.0, model) == ("UNKNOWN", GRPC_HANDLER_THREW)
    assert grpc_answer("status", Answer(404), 1.0, model) == ("OK", "")  # GetInstance: exists = false
    assert grpc_answer("status", Answer(500), 1.0, model) == ("UNKNOWN", GRPC_HANDLER_THREW)


def test_a_seed_draws_the_same_scenario_for_either_backend_and_the_grpc_run_speaks_grpc() -> None:
    http = next(run for run in map(run_seed, range(50)) if any("start answered" in line for line in run.timeline))
    grpc = run_seed(http.scenario.seed, backend="grpc")
    assert http.scenario == grpc.scenario
    assert any("over gRPC" in line for line in grpc.timeline)
    assert not any("over gRPC" in line for line in http.timeline)


def test_hundreds_of_seeds_through_the_grpc_adapter_keep_every_invariant_and_lose_answers() -> None:
    coverage, failures = explore(1, 300, 8.0, "grpc")
    assert failures == []
    assert coverage["answer_lost"] > 0 and coverage["landed_after_request_ended"] > 0


def test_the_simulator_runs_the_apps_own_adapters_so_a_change_to_them_changes_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No answer mapping and no lease arithmetic is written twice: the simulated hosts answer through the app's
    routes, its DurableBackend over the model's HTTP API and its LeaseLocks over the model's blobs."""
    seed = next(s for s in range(1, 200) if any("start answered HTTP 202" in line for line in run_seed(s).timeline))

    def refused(status: int, body: object) -> None:
        raise Refused("every start answer read as a refusal of its arguments")

    monkeypatch.setattr("singleton_start.adapters.durable_http.start_answer", refused)
    assert any(r.kind in ("start", "signal") and r.status == 500 for r in _requests_of(seed))
    monkeypatch.undo()

    async def never(*args: object, **kwargs: object) -> None:
        return None

    monkeypatch.setattr(LeaseLocks, "try_acquire", never)
    assert all(r.status != 202 for r in _requests_of(seed) if r.kind in ("start", "terminate"))


def _requests_of(seed: int) -> list[Request]:
    """The requests of a seed's run, as their callers saw them."""
    return run_seed(seed).requests
