"""Each route's main answers, on virtual time: the app's own routes, adapters and lease over the backend model in a
run with no fault at all, so that every answer is the one the contract gives (a 503 here has no excuse). Fast and
deterministic, they are part of the mutation run's tests beside the short simulation (docs/simulation.md)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from simulation.invariants import Request
from simulation.model import Faults
from simulation.scenario import ALLOWLIST, OUTSIDER, Actor, Scenario
from simulation.simulator import BACKENDS, run
from singleton_start.core.idempotency import KEY_INSTANCE_GONE
from singleton_start.settings import ConflictPolicy, ReusePolicy, Settings

JOB = ALLOWLIST[0]
# Nothing goes wrong; instances run for five minutes, so that they are active throughout a test's requests.
CALM = Faults(run_time=(300.0, 300.0), failure=0.0, queue_delay=(0.005, 0.05))


def actor(name: str, kind: str, at: float, **extra: Any) -> Actor:
    """A request to the first host (or `host`), for the orchestrator the app runs (or `orchestrator`)."""
    host, orchestrator = extra.pop("host", 0), extra.pop("orchestrator", JOB)
    return Actor(name, kind, at, host, orchestrator, **extra)


def calm(
    *actors: Actor,
    existing: tuple[str, str] | None = None,
    backend: str = "http",
    faults: Faults = CALM,
    **settings: Any,
) -> dict[str, Request]:
    """The answers of a run with no fault, by actor name; the run must keep every invariant (with a worker that
    runs what is started: without one, a 202's input never runs)."""
    chosen = Settings(orchestrators=ALLOWLIST, **settings)
    result = run(Scenario(1, chosen, 2, tuple(actors), faults, existing), backend)
    if faults.starts_run:
        assert result.violations == [], [v.detail for v in result.violations]
    return {request.tag.split("/")[1]: request for request in result.requests}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("policy", "second"),
    [(ConflictPolicy.REJECT, 409), (ConflictPolicy.USE_EXISTING, 200), (ConflictPolicy.TERMINATE_EXISTING, 202)],
)
def test_a_start_is_202_and_a_second_one_gets_the_conflict_policys_answer(
    backend: str, policy: ConflictPolicy, second: int
) -> None:
    answers = calm(
        actor("a", "start", 0.0, input={"n": 1}),
        actor("b", "start", 5.0, input={"n": 2}, host=1),
        backend=backend,
        conflict_policy=policy,
    )
    assert (answers["a"].status, answers["b"].status) == (202, second)


@pytest.mark.parametrize(
    ("status", "reuse", "answer"),
    [
        ("Completed", ReusePolicy.ALLOW_ENDED, 202),
        ("Completed", ReusePolicy.ALLOW_FAILED, 409),
        ("Failed", ReusePolicy.ALLOW_FAILED, 202),
        ("Terminated", ReusePolicy.ALLOW_FAILED, 202),
        ("Failed", ReusePolicy.REJECT_DUPLICATE, 409),
    ],
)
def test_an_ended_instance_is_replaced_or_kept_as_the_reuse_policy_says(
    status: str, reuse: ReusePolicy, answer: int
) -> None:
    answers = calm(actor("a", "start", 1.0, input={"n": 1}), existing=(JOB, status), reuse_policy=reuse)
    assert answers["a"].status == answer


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_keyed_start_sent_again_is_replayed(backend: str) -> None:
    answers = calm(
        actor("a", "start", 0.0, input={"n": 1}, key="k"),
        actor("b", "start", 5.0, input={"n": 1}, key="k", host=1),
        actor("c", "start", 6.0, input={"n": 2}, key="k"),
        backend=backend,
    )
    assert (answers["a"].status, answers["b"].status, answers["b"].replayed) == (202, 202, True)
    assert answers["c"].status == 422


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_terminate_is_202_once_then_410_and_404_where_there_is_nothing_of_the_orchestrator(backend: str) -> None:
    answers = calm(
        actor("a", "terminate", 1.0),
        actor("b", "terminate", 20.0, host=1),
        actor("c", "terminate", 21.0, orchestrator=ALLOWLIST[1]),
        actor("d", "terminate", 22.0, instance_id="job-2"),
        existing=(JOB, "Running"),
        backend=backend,
    )
    assert [answers[name].status for name in "abcd"] == [202, 410, 404, 404]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_event_is_202_to_a_running_instance_410_to_an_ended_one_and_404_to_none(backend: str) -> None:
    running = calm(actor("a", "event", 1.0, data=1), existing=(JOB, "Running"), backend=backend)
    ended = calm(actor("a", "event", 1.0, data=1), existing=(JOB, "Completed"), backend=backend)
    missing = calm(actor("a", "event", 1.0, data=1), backend=backend)
    assert (running["a"].status, ended["a"].status, missing["a"].status) == (202, 410, 404)


@pytest.mark.parametrize("backend", BACKENDS)
def test_events_to_one_instance_go_out_at_once_and_a_start_behind_them_waits_until_they_cannot_land(
    backend: str,
) -> None:
    """Five events share the ID's lease and are answered as fast as one; a start that would replace the instance
    waits for the shared lease to run out, longer than its lock wait here."""
    events = [actor(f"e{n}", "event", 1.0 + n * 0.01, data=n, host=n % 2) for n in range(5)]
    answers = calm(
        *events,
        actor("s", "start", 1.5, input={"n": 9}),
        existing=(JOB, "Running"),
        backend=backend,
        conflict_policy=ConflictPolicy.TERMINATE_EXISTING,
        lock_wait_seconds=2.0,
    )
    assert [answers[f"e{n}"].status for n in range(5)] == [202] * 5
    assert max(answers[f"e{n}"].answered - answers[f"e{n}"].arrived for n in range(5)) < 1.0
    assert answers["s"].status == 503


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_signal_starts_an_absent_instance_then_the_next_goes_to_it_and_another_orchestrators_is_409(
    backend: str,
) -> None:
    answers = calm(
        actor("a", "signal", 0.0, input={"n": 1}, data="x"),
        actor("b", "signal", 10.0, input={"n": 2}, data="y", host=1),
        actor("c", "signal", 11.0, input={"n": 3}, data="z", orchestrator=ALLOWLIST[1]),
        backend=backend,
    )
    assert (answers["a"].status, answers["a"].started) == (202, True)
    assert (answers["b"].status, answers["b"].started) == (202, False)
    assert answers["c"].status == 409


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_signals_start_once_and_every_one_is_202(backend: str) -> None:
    burst = [actor(f"s{n}", "signal", 0.0 + n * 0.005, input={"n": n}, data=n, host=n % 2) for n in range(8)]
    answers = calm(*burst, backend=backend)
    assert [answers[f"s{n}"].status for n in range(8)] == [202] * 8
    assert sum(1 for n in range(8) if answers[f"s{n}"].started) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_keyed_signal_sent_again_is_replayed_whether_it_started_the_instance_or_not(backend: str) -> None:
    started = calm(
        actor("k", "signal", 0.0, input={"n": 1}, data="k", key="key"),
        actor("r", "signal", 5.0, input={"n": 1}, data="k", key="key", host=1),
        backend=backend,
    )
    assert (started["k"].status, started["k"].started) == (202, True)
    assert (started["r"].status, started["r"].started, started["r"].replayed) == (202, True, True)
    running = calm(
        actor("k", "signal", 1.0, input={"n": 1}, data="k", key="key"),
        actor("r", "signal", 5.0, input={"n": 1}, data="k", key="key", host=1),
        actor("x", "signal", 6.0, input={"n": 1}, data="other", key="key"),
        existing=(JOB, "Running"),
        backend=backend,
    )
    assert (running["k"].status, running["k"].started) == (202, False)
    assert (running["r"].status, running["r"].started, running["r"].replayed) == (202, False, True)
    assert running["x"].status == 422


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_suspended_instance_is_active_to_a_start_and_a_terminate_ends_it(backend: str) -> None:
    answers = calm(
        actor("a", "start", 1.0, input={"n": 1}),
        actor("b", "terminate", 2.0, host=1),
        existing=(JOB, "Suspended"),
        backend=backend,
    )
    assert (answers["a"].status, answers["b"].status) == (409, 202)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nothing_is_sent_to_an_instance_that_has_not_run_and_a_start_of_another_orchestrator_is_409(
    backend: str,
) -> None:
    """No worker: the started instance stays Pending; an event or a terminate to it answers 503 with nothing sent."""
    answers = calm(
        actor("a", "start", 0.0, input={"n": 1}),
        actor("b", "event", 1.0, data=1, host=1),
        actor("c", "terminate", 1.0),
        actor("d", "start", 2.0, input={"n": 1}, orchestrator=ALLOWLIST[1]),
        backend=backend,
        faults=Faults(starts_run=False),
        request_timeout_seconds=5.0,
    )
    assert [answers[name].status for name in "abcd"] == [202, 503, 503, 409]
    assert "not started running yet" in answers["b"].body


def test_an_instance_outside_the_allowlist_is_404_to_the_routes_and_409_to_a_start() -> None:
    answers = calm(
        actor("a", "terminate", 1.0),
        actor("b", "event", 1.0, data=1, host=1),
        actor("c", "start", 2.0, input={"n": 1}),
        existing=(OUTSIDER, "Running"),
        conflict_policy=ConflictPolicy.TERMINATE_EXISTING,
    )
    assert [answers[name].status for name in "abc"] == [404, 404, 409]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_terminate_not_seen_done_within_its_wait_is_answered_503_then_and_leaves_the_lease_to_expire(
    backend: str,
) -> None:
    """The control queue takes 20 s to process the terminate; the route waits SINGLETON_TERMINATE_WAIT_SECONDS,
    answers that it may still take effect, and a start behind it finds the ID held until the terminate has landed."""
    slow_queue = replace(CALM, queue_delay=(20.0, 20.0))
    answers = calm(
        actor("t", "terminate", 1.0),
        actor("s", "start", 5.0, input={"n": 2}, host=1),
        existing=(JOB, "Running"),
        backend=backend,
        faults=slow_queue,
        terminate_wait_seconds=2.0,
        conflict_policy=ConflictPolicy.TERMINATE_EXISTING,
        lock_wait_seconds=2.0,
    )
    assert answers["t"].status == 503 and answers["t"].answered - answers["t"].arrived < 4.0
    assert answers["s"].status == 503


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_keyed_signal_whose_start_landed_unrun_delivers_on_retry_and_after_its_instance_ended_is_409(
    backend: str,
) -> None:
    """The control queue takes 8 s: the first request's start lands, its instance has not run by the deadline
    (503, it says it started the instance), and the ID stays the key's until its lease runs out (30 s), so that
    no other start can land in the window the key's entry tells its instance by; the retry then sends the event
    to that instance, as started by the key. Once that instance has ended, the key starts nothing again: 409."""
    slow_queue = replace(CALM, queue_delay=(8.0, 8.0), run_time=(40.0, 40.0))
    first = actor("a", "signal", 0.0, input={"n": 1}, data="w", key="key")
    answers = calm(
        first,
        actor("b", "signal", 31.0, input={"n": 1}, data="w", key="key", host=1),
        actor("c", "signal", 36.0, input={"n": 1}, data="w", key="key"),
        backend=backend,
        faults=slow_queue,
        request_timeout_seconds=5.0,
    )
    assert answers["a"].status == 503 and "This request started the instance" in answers["a"].body
    assert (answers["b"].status, answers["b"].started, answers["b"].replayed) == (202, True, False)
    assert (answers["c"].status, answers["c"].started, answers["c"].replayed) == (202, True, True)
    late = calm(
        first,
        actor("b", "signal", 60.0, input={"n": 1}, data="w", key="key", host=1),
        backend=backend,
        faults=slow_queue,
        request_timeout_seconds=5.0,
    )
    assert late["b"].status == 409 and KEY_INSTANCE_GONE in late["b"].body


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_signal_to_an_instance_that_never_runs_sends_nothing_and_answers_503(backend: str) -> None:
    answers = calm(
        actor("a", "signal", 1.0, input={"n": 1}, data="w"),
        actor("b", "signal", 1.0, input={"n": 1}, data="w", key="key", host=1),
        existing=(JOB, "Pending"),
        backend=backend,
        request_timeout_seconds=5.0,
    )
    assert [answers[name].status for name in "ab"] == [503, 503]
    assert all("not started running yet" in answers[name].body for name in "ab")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_signal_behind_one_that_started_the_instance_waits_for_it_to_run_and_sends_to_it(backend: str) -> None:
    slow_queue = replace(CALM, queue_delay=(2.0, 2.0))
    answers = calm(
        actor("a", "signal", 0.0, input={"n": 1}, data=1),
        actor("b", "signal", 0.3, input={"n": 2}, data=2, host=1),
        backend=backend,
        faults=slow_queue,
    )
    assert (answers["a"].status, answers["a"].started) == (202, True)
    assert (answers["b"].status, answers["b"].started) == (202, False)


@pytest.mark.parametrize(
    ("actors", "existing", "faults", "calls"),
    [
        ([actor("a", "start", 0.0, input=1)], None, CALM, {"blob_create": 1, "lease_acquire": 1, "lease_release": 1}),
        (
            [actor("a", "start", 0.0, input=1), actor("b", "start", 5.0, input=2, host=1)],
            None,
            CALM,
            {"blob_create": 2, "lease_acquire": 2, "lease_release": 2},
        ),
        (
            [actor("a", "signal", 0.0, input=1, data=1, key="k")],
            None,
            CALM,
            {"record_read": 2, "blob_create": 1, "lease_acquire": 1, "record_write": 3, "lease_change": 1},
        ),
        (
            [actor("a", "signal", 0.0, input=1, data=1)],
            None,
            CALM,
            {"blob_create": 1, "lease_acquire": 1, "lease_change": 1},
        ),
        (
            [actor("t", "terminate", 0.0)],
            (JOB, "Running"),
            replace(CALM, queue_delay=(8.0, 8.0)),
            {"lease_acquire": 2, "blob_create": 1, "lease_renew": 1, "lease_release": 1},
        ),
    ],
    ids=["start", "start-then-conflict", "keyed-signal", "signal", "terminate-with-a-renewal"],
)
def test_the_lock_costs_the_storage_calls_the_benchmark_counts(
    actors: list[Actor], existing: tuple[str, str] | None, faults: Faults, calls: dict[str, int]
) -> None:
    """Each kind of call on the lock blob, as LeaseLocks counts it for the benchmark: one create per blob not
    known to exist, one acquire per lease, a renewal only when a send would outlast the lease, a release unless
    the lease is left to expire or shared."""
    chosen = Settings(orchestrators=ALLOWLIST, lock_lease_seconds=15, terminate_wait_seconds=10.0)
    result = run(Scenario(1, chosen, 2, tuple(actors), faults, existing), "http")
    assert result.violations == []
    assert dict(result.storage_calls) == calls
