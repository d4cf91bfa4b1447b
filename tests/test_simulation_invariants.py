"""The invariant checker flags hand-built histories that break each promise, and passes a clean one."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from simulation.invariants import History, Request, check
from simulation.model import (
    OUTSIDE_TAG,
    SHARED_LEASE_NAME,
    Blob,
    Checkpoint,
    EventQueue,
    Execution,
    Faults,
    Landing,
    Message,
    StartSend,
    World,
)
from singleton_start.http.adapter import INTERNAL_MESSAGE
from singleton_start.settings import ConflictPolicy, ReusePolicy, Settings

ALLOW = ("SingletonOrchestrator",)


def execution(eid: str, tag: str, created: float, ended: float | None = None, **extra: Any) -> Execution:
    """An execution that ran from its creation (`ran_at` given in `extra` overrides it)."""
    fields: dict[str, Any] = {"name": "SingletonOrchestrator", "input": '{"order": 1}', "ran_at": created, **extra}
    made = Execution(eid, "job", fields["name"], fields["input"], tag, created, ended_at=ended, ran_at=fields["ran_at"])
    made.continued_from = extra.get("continued_from")
    return made


def started(tag: str, **extra: Any) -> Request:
    fields: dict[str, Any] = {"outcome": "Started", "status": 202, "input": {"order": 1}, **extra}
    return Request(
        tag,
        "start",
        "SingletonOrchestrator",
        fields["input"],
        extra.get("key"),
        fields["outcome"],
        fields["status"],
        extra.get("replayed", False),
        arrived=extra.get("arrived", 0.0),
        answered=extra.get("answered", 0.0),
    )


def history(
    requests: list[Request],
    executions: list[Execution],
    messages: list[Message] | None = None,
    sends: list[StartSend] | None = None,
) -> History:
    return History(requests, executions, messages or [], sends or [], ALLOW, 5.0)


def broken(h: History) -> set[str]:
    return {violation.invariant for violation in check(h)}


def test_a_clean_history_breaks_nothing() -> None:
    h = history(
        [
            started("a", arrived=0.8, answered=1.2),
            started("b", outcome="Conflict", status=409, arrived=2, answered=2.1),
        ],
        [execution("e1", "a", 1.0, 3.0)],
        sends=[StartSend("a", "job", 0.9, 20.0)],
    )
    assert broken(h) == set()


def test_a_202_whose_input_ran_twice_or_never_is_flagged() -> None:
    assert "told_202_runs_once" in broken(
        history([started("a")], [execution("e1", "a", 1, 2), execution("e2", "a", 3, 4)])
    )
    assert "told_202_runs_once" in broken(history([started("a")], []))
    assert "told_202_runs_once" in broken(history([started("a")], [execution("e1", "b", 1, 2)]))


def test_a_refused_start_whose_input_ran_is_flagged_but_an_unsettled_503_may_run_once() -> None:
    refused = started("a", outcome="Refused", status=409)
    unsettled = started("a", outcome="InDoubt", status=503)
    assert "not_202_runs_at_most_once" in broken(history([refused], [execution("e1", "a", 1, 2)]))
    assert broken(history([unsettled], [execution("e1", "a", 1, 2)])) == set()
    twice = [execution("e1", "a", 1, 2), execution("e2", "a", 3, 4)]
    assert "not_202_runs_at_most_once" in broken(history([unsettled], twice))


def test_a_keyed_retry_that_ran_its_input_again_is_flagged() -> None:
    first = started("a", key="k", outcome="InDoubt", status=503)
    retry = started("b", key="k")
    h = history([first, retry], [execution("e1", "a", 1, 2), execution("e2", "b", 3, 4)])
    assert "keyed_retry_never_runs_again" in broken(h)


def test_a_replayed_202_with_no_execution_of_its_key_is_flagged() -> None:
    h = history([started("a", key="k", outcome="Unavailable", status=503), started("b", key="k", replayed=True)], [])
    assert "told_202_runs_once" in broken(h)


def test_two_executions_active_at_once_are_flagged() -> None:
    h = history([], [execution("e1", "a", 1.0, 5.0), execution("e2", "b", 2.0, 6.0)])
    assert "one_active_execution" in broken(h)


def test_a_terminate_that_ends_an_execution_made_after_it_was_decided_is_flagged() -> None:
    terminate = Message("terminate", "job", "t", 1.0, decided_at=0.9, addressed="e1", hit="e2")
    h = history([], [execution("e1", "x", 0.0, 1.5), execution("e2", "y", 2.0, 3.0)], [terminate])
    assert "commands_reach_only_their_target" in broken(h)


def test_an_event_that_reaches_another_execution_than_the_one_addressed_is_flagged() -> None:
    event = Message("event", "job", "v", 1.0, decided_at=0.9, addressed="e1", hit="e2", route="SingletonOrchestrator")
    h = history([], [execution("e1", "x", 0.0, 1.5), execution("e2", "y", 2.0, 3.0)], [event])
    assert "commands_reach_only_their_target" in broken(h)


def test_a_command_reaching_an_execution_started_outside_the_app_after_it_was_decided_is_the_named_window() -> None:
    """No lock of the app keeps out a start made outside it; docs/guarantees.md names that window."""
    terminate = Message("terminate", "job", "t", 1.0, decided_at=0.9, addressed="e1", hit="e2")
    outside = execution("e2", OUTSIDE_TAG, 2.0, 3.0, name="Outsider")
    assert broken(history([], [execution("e1", "x", 0.0, 1.5), outside], [terminate])) == set()
    through_the_app = execution("e2", "y", 2.0, 3.0)
    h = history([], [execution("e1", "x", 0.0, 1.5), through_the_app], [terminate])
    assert "commands_reach_only_their_target" in broken(h)


def test_a_route_that_signals_an_instance_of_another_orchestrator_is_flagged() -> None:
    event = Message("event", "job", "v", 1.0, decided_at=0.9, addressed="e1", hit="e1", route="SingletonOrchestrator")
    h = history([], [execution("e1", "outside", 0.0, 3.0, name="Outsider")], [event])
    assert "routes_stay_in_allowlist" in broken(h)


def test_a_start_sent_without_a_lease_or_near_its_end_is_flagged() -> None:
    for left in (None, 4.9):
        h = history([started("a")], [execution("e1", "a", 1, 2)], sends=[StartSend("a", "job", 0.5, left)])
        assert broken(h) == {"starts_sent_under_lease"}


def test_a_202_whose_execution_was_made_but_never_ran_is_flagged_unless_a_terminate_marked_it_first() -> None:
    never_ran = execution("e1", "a", 1, ran_at=None)
    assert "told_202_runs_once" in broken(history([started("a")], [never_ran]))
    marked = execution("e1", "a", 1, ran_at=None)
    marked.merged_terminated_at = 2.0
    assert broken(history([started("a")], [marked])) == set()


def test_an_execution_that_never_ran_is_not_active_beside_the_next() -> None:
    h = history([], [execution("e1", "x", 1.0, ran_at=None), execution("e2", "y", 2.0, 6.0)])
    assert "one_active_execution" not in broken(h)


def test_an_execution_continued_as_new_is_one_with_its_first_for_its_start_and_its_commands() -> None:
    first = execution("e1", "a", 1.0, 5.0)
    first.continued_as = "e2"
    successor = execution("e2", "a", 5.0, 9.0, continued_from="e1")
    event = Message("event", "job", "v", 2.0, decided_at=1.5, addressed="e1", hit="e2", route="SingletonOrchestrator")
    terminate = Message("terminate", "job", "t", 2.0, decided_at=1.5, addressed="e1", hit="e2")
    assert broken(history([started("a")], [first, successor], [event, terminate])) == set()


def request(tag: str, kind: str, status: int, **extra: Any) -> Request:
    """A route's request as its caller saw it (window 0..1 s unless given)."""
    fields: dict[str, Any] = {"arrived": 0.0, "answered": 1.0, "outcome": "Accepted", **extra}
    return Request(
        tag,
        kind,
        "SingletonOrchestrator",
        extra.get("input"),
        extra.get("key"),
        fields["outcome"],
        status,
        arrived=fields["arrived"],
        answered=fields["answered"],
        body=extra.get("body", ""),
        started=extra.get("started"),
    )


def test_an_event_202_whose_event_was_dropped_or_sent_twice_is_flagged_unless_its_execution_ended_by_itself() -> None:
    running = execution("e1", "a", 0.0)
    dropped = Message("event", "job", "v", 1.0, addressed="e1", hit=None, delivered_at=1.5, outcome="dropped")
    assert "events_202_reach_their_execution_once" in broken(
        history([request("v", "event", 202)], [running], [dropped])
    )
    delivered = Message(
        "event", "job", "v", 1.0, addressed="e1", hit="e1", delivered_at=1.5, route="SingletonOrchestrator"
    )
    assert broken(history([request("v", "event", 202)], [execution("e1", "a", 0.0)], [delivered])) == set()
    twice = [delivered, Message("event", "job", "v", 1.1, addressed="e1", hit="e1", route="SingletonOrchestrator")]
    assert "events_202_reach_their_execution_once" in broken(
        history([request("v", "event", 202)], [execution("e1", "a", 0.0)], twice)
    )
    ended_first = execution("e1", "a", 0.0, 1.2)
    assert broken(history([request("v", "event", 202)], [ended_first], [dropped])) == set()


def test_a_signal_202_that_started_must_deliver_to_its_own_execution_and_one_that_did_not_start_nothing() -> None:
    own = execution("e1", "s", 0.5)
    event = Message("event", "job", "s", 1.0, addressed="e1", hit="e1", delivered_at=1.5, route="SingletonOrchestrator")
    signal = request("s", "signal", 202, input={"order": 1}, started=True)
    assert broken(history([signal], [own], [event])) == set()
    said_not_started = request("s", "signal", 202, input={"order": 1}, started=False)
    assert "told_202_runs_once" in broken(history([said_not_started], [execution("e1", "s", 0.5)], [event]))
    elsewhere = Message("event", "job", "s", 1.0, addressed="e0", hit="e0", route="SingletonOrchestrator")
    other = execution("e0", "b", 0.0, 0.4)
    assert "events_202_reach_their_execution_once" in broken(
        history([signal], [other, execution("e1", "s", 0.5)], [elsewhere])
    )


def test_a_terminate_202_whose_execution_ran_on_or_ended_otherwise_is_flagged() -> None:
    terminate = Message("terminate", "job", "t", 1.0, addressed="e1", hit="e1", route="SingletonOrchestrator")
    ended = execution("e1", "a", 0.0, 1.5, status="Terminated")
    ended.status, ended.ended_by = "Terminated", terminate
    assert broken(history([request("t", "terminate", 202)], [ended], [terminate])) == set()
    ran_on = execution("e1", "a", 0.0, 1.5)
    ran_on.status, ran_on.ended_by = "Terminated", terminate
    ran_on.checkpoints.append(Checkpoint(2.0, "Running"))
    assert "terminate_202_ended_it" in broken(history([request("t", "terminate", 202)], [ran_on], [terminate]))
    completed = execution("e1", "a", 0.0, 1.5)
    completed.status = "Completed"
    assert "terminate_202_ended_it" in broken(history([request("t", "terminate", 202)], [completed], [terminate]))


def test_an_answer_later_than_the_deadline_is_flagged_less_the_time_its_host_stood_frozen() -> None:
    limit = Settings().request_timeout_seconds
    late = request("h1/a", "event", 404, arrived=0.0, answered=limit + 1.0)
    assert "answers_within_the_deadline" in broken(history([late], []))
    frozen = History([late], [], [], [], ALLOW, 5.0, stalled=(("h1", 0.5, 2.0),))
    assert "answers_within_the_deadline" not in broken(frozen)
    cancelled = request("h1/a", "event", 0, arrived=0.0, answered=limit + 1.0, outcome="cancelled")
    assert broken(history([cancelled], [])) == set()


def test_an_answer_that_carries_a_key_of_the_extension_is_flagged() -> None:
    leaky = request("a", "event", 404, body='{"statusQueryGetUri": "http://x/?code=abc"}')
    assert broken(history([leaky], [])) == {"no_answer_carries_a_key"}


def test_a_409_or_410_or_200_for_nothing_the_request_could_have_seen_is_flagged() -> None:
    refused = started("b", outcome="Conflict", status=409, arrived=5.0, answered=5.1)
    assert "answers_follow_the_policies" in broken(history([refused], [execution("e1", "a", 1.0, 3.0)]))
    existing = started("b", outcome="Existing", status=200, arrived=2.0, answered=2.1)
    assert "answers_follow_the_policies" in broken(history([existing], [execution("e1", "a", 1.0, 3.0)]))
    gone = request("t", "terminate", 410, arrived=2.0, answered=2.1)
    assert "answers_follow_the_policies" in broken(history([gone], [execution("e1", "a", 1.0)]))
    assert "answers_follow_the_policies" not in broken(history([gone], [execution("e1", "a", 1.0, 1.5)]))
    kept = History(
        [refused],
        [execution("e1", "a", 1.0, 3.0)],
        [],
        [],
        ALLOW,
        5.0,
        settings=Settings(reuse_policy=ReusePolicy.REJECT_DUPLICATE),
    )
    assert "answers_follow_the_policies" not in broken(kept)


def test_an_event_lands_under_the_shared_lease_it_joined_in_its_process_and_nothing_else_does() -> None:
    """An event request may join its process's shared lease with no call storage sees: the shared lease standing
    from its send to its landing is its lease. A start or terminate needs a lease of its own, and an event whose
    shared lease ran out and was taken anew before it landed did not land under it."""
    clock = EventQueue()
    model = World(clock, 1, Faults())
    model.blobs["lock"] = Blob(created_at=0.0)
    assert model._blob_acquire("h0/r1", "lock", SHARED_LEASE_NAME, 30).status == 201

    model.record_command("h0/r2", "event", "job", "lock")()  # joined r1's lease in its process
    model.record_command("h0/r3", "start", "job", "lock")()
    model.record_command("h0/r3", "terminate", "job", "lock")()
    late = model.record_command("h0/r4", "event", "job", "lock")
    clock.run(until=31.0)
    assert model._blob_acquire("h1/r5", "lock", SHARED_LEASE_NAME, 30).status == 201
    late()
    model.blobs["alone"] = Blob(created_at=0.0)
    assert model._blob_acquire("h0/r6", "alone", "lease1", 30).status == 201
    model.record_command("h0/r7", "event", "job", "alone")()
    model.record_command("h0/r6", "start", "job", "alone")()
    landed = {(landing.tag, landing.kind): landing.under_its_lease for landing in model.landings}
    assert landed == {
        ("h0/r2", "event"): True,
        ("h0/r3", "start"): False,
        ("h0/r3", "terminate"): False,
        ("h0/r4", "event"): False,
        ("h0/r7", "event"): False,
        ("h0/r6", "start"): True,
    }


def test_a_command_that_landed_after_its_lease_ended_is_flagged() -> None:
    late = Landing("a", "start", "job", 3.0, under_its_lease=False)
    on_time = Landing("a", "start", "job", 1.0, under_its_lease=True)
    assert broken(History([], [], [], [], ALLOW, 5.0, landings=(late,))) == {"commands_land_under_their_lease"}
    assert broken(History([], [], [], [], ALLOW, 5.0, landings=(on_time,))) == set()


def test_a_request_answered_by_the_catch_all_for_a_bug_is_flagged() -> None:
    bug = request("a", "event", 500, outcome="internal", body=f'{{"message": "{INTERNAL_MESSAGE}"}}')
    assert broken(history([bug], [])) == {"no_request_fails_with_a_bug"}


def test_a_404_while_an_instance_of_the_orchestrator_stood_throughout_is_flagged() -> None:
    missing = request("t", "terminate", 404, arrived=2.0, answered=2.1)
    assert "answers_follow_the_policies" in broken(history([missing], [execution("e1", "a", 1.0)]))
    assert broken(history([missing], [execution("e1", "a", 1.0, name="Outsider")])) == set()
    purged = execution("e1", "a", 1.0, 1.5)
    purged.purged_at = 1.8
    assert broken(history([missing], [purged])) == set()


def test_a_202_start_that_replaced_an_ended_instance_the_reuse_policy_keeps_is_flagged() -> None:
    completed = execution("e1", "x", 0.0, 1.0)
    completed.status = "Completed"
    keeps = Settings(reuse_policy=ReusePolicy.REJECT_DUPLICATE)
    started_after = started("a", arrived=1.5, answered=2.5)
    replaced = [completed, execution("e2", "a", 2.0)]
    h = History([started_after], replaced, [], [], ALLOW, 5.0, settings=keeps)
    assert "answers_follow_the_policies" in broken(h)
    allows = History([started_after], [completed, execution("e2", "a", 2.0)], [], [], ALLOW, 5.0)
    assert "answers_follow_the_policies" not in broken(allows)


def test_a_409_under_terminate_existing_for_an_instance_there_before_the_request_is_flagged() -> None:
    replaces = Settings(conflict_policy=ConflictPolicy.TERMINATE_EXISTING)
    refused = started("b", outcome="Conflict", status=409, arrived=2.0, answered=2.1)
    before = History([refused], [execution("e1", "a", 1.0)], [], [], ALLOW, 5.0, settings=replaces)
    assert "answers_follow_the_policies" in broken(before)
    meanwhile = History([refused], [execution("e1", "a", 2.05)], [], [], ALLOW, 5.0, settings=replaces)
    assert "answers_follow_the_policies" not in broken(meanwhile)


def test_a_keyed_retry_that_ran_again_after_its_first_instance_was_purged_is_flagged_only_where_none_was_before() -> (
    None
):
    """Window 4 of docs/guarantees.md: a purge from outside of the key's instance leaves the retry nothing to tell it
    by, where the ID was empty before; where another instance was there before, the retry sees it gone (409)."""
    first = started("a", key="k", outcome="InDoubt", status=503)
    retry = started("b", key="k", arrived=5.0)
    purged = execution("e1", "a", 1.0, 2.0)
    purged.purged_at = 3.0
    assert broken(history([first, retry], [purged, execution("e2", "b", 6.0, 7.0)])) == set()
    before = execution("e0", OUTSIDE_TAG, 0.0, 0.5)
    seen_before = [before, purged, execution("e2", "b", 6.0, 7.0)]
    assert "keyed_retry_never_runs_again" in broken(history([first, retry], seen_before))


def test_a_404_while_the_row_was_purged_during_the_request_is_no_violation() -> None:
    """The row was gone at one moment of the request: between the purge and the next start."""
    missing = request("t", "terminate", 404, arrived=2.0, answered=4.0)
    purged = execution("e1", "a", 1.0, 1.5)
    purged.purged_at = 2.5
    assert broken(history([missing], [purged, execution("e2", "b", 3.0)])) == set()
    assert "answers_follow_the_policies" in broken(
        history([missing], [execution("e1", "a", 1.0), execution("e2", "b", 3.0)])
    )


def test_a_keyed_signals_retry_is_held_with_its_first_request_unless_the_record_went_while_they_were_at_work() -> None:
    """A retry answered from the key's record sent nothing of its own; one that came after the lock blob (and the
    record) was deleted acted as if new, and is held to its own event alone."""
    running = execution("e0", OUTSIDE_TAG, 0.0)

    def event(tag: str, at: float) -> Message:
        return Message(
            "event", "job", tag, at, addressed="e0", hit="e0", delivered_at=at + 0.5, route="SingletonOrchestrator"
        )

    first = request("s1", "signal", 202, key="k", input={"order": 1}, started=False)
    again = request("s2", "signal", 202, key="k", input={"order": 1}, started=False, arrived=10.0, answered=10.1)
    replayed = replace(again, replayed=True)
    lost = History([first, replayed], [running], [event("s1", 0.5)], [], ALLOW, 5.0, records_lost=((5.0, "job"),))
    assert broken(lost) == set()
    sent_twice = [event("s1", 0.5), event("s2", 10.05)]
    assert "events_202_reach_their_execution_once" in broken(history([first, again], [running], sent_twice))
    anew = History([first, again], [running], sent_twice, [], ALLOW, 5.0, records_lost=((5.0, "job"),))
    assert broken(anew) == set()


def test_a_lock_blob_deleted_for_another_id_leaves_a_keyed_signals_group_held_together() -> None:
    """A lifecycle rule that deleted another ID's lock blob took none of this key's record: the retry that sent the
    event to the instance its key's first request started is still held with that request; only a deletion of this
    ID's blob while they were at work holds the retry to what it did itself."""
    started = execution("e2", "r6", 1.0)
    first = request("r6", "signal", 503, key="k", input={"order": 1}, outcome="StartedNotSignalled", answered=2.0)
    retry = request("r6.3", "signal", 202, key="k", input={"order": 1}, started=True, arrived=2.0, answered=3.0)
    sent = Message(
        "event", "job", "r6.3", 2.5, addressed="e2", hit="e2", delivered_at=2.8, route="SingletonOrchestrator"
    )

    def lost(instance_id: str) -> History:
        return History([first, retry], [started], [sent], [], ALLOW, 5.0, records_lost=((1.5, instance_id),))

    assert broken(lost("job-2")) == set()
    assert "told_202_runs_once" in broken(lost("job"))


def test_a_keyed_signals_409_is_for_something_only_where_another_request_of_its_key_came_before_its_answer() -> None:
    """A request may stand frozen on its host long after it came: one of its key that came later, but before its
    answer, may have acted first, and the 409 saying so is no violation; with no such request and nothing there,
    the 409 is for nothing."""
    frozen = request("r3", "signal", 409, key="k", input={"order": 6}, arrived=1.0, answered=20.0)
    later = request("r4", "signal", 503, key="k", input={"order": 6}, outcome="InDoubt", arrived=2.0, answered=3.0)
    assert broken(history([frozen, later], [])) == set()
    assert "answers_follow_the_policies" in broken(history([frozen], []))
    after_it = replace(later, arrived=21.0, answered=22.0)
    assert "answers_follow_the_policies" in broken(history([frozen, after_it], []))
