"""The promises every simulated run is checked against, each a pure function of the run's history.

The history names requests by their hidden tags, so an execution is tied to the request that caused it,
not merely to an equal input.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from singleton_start.core.decisions import ConflictPolicy, ReusePolicy
from singleton_start.http.adapter import INTERNAL_MESSAGE
from singleton_start.settings import Settings

from .model import OUTSIDE_TAG, Execution, Landing, Message, StartSend


@dataclass(frozen=True)
class Request:
    """A request as the caller saw it: what it asked and what it was answered."""

    tag: str
    kind: str  # "start", "terminate", "event", "signal"
    orchestrator: str
    input: Any = None
    key: str | None = None
    # What the answer says (Started, InDoubt, Conflict, StartedNotSignalled, ...), "internal", or "cancelled" (the
    # caller left before any answer).
    outcome: str = ""
    status: int = 0
    replayed: bool = False
    instance_id: str = "job"
    arrived: float = 0.0
    answered: float = 0.0
    body: str = ""  # the answer's body as sent
    started: bool | None = None  # a signal's answer: whether this request started the instance
    data: Any = None  # an event's or a signal's event data, as the caller sent it


@dataclass(frozen=True)
class History:
    requests: Sequence[Request]
    executions: Sequence[Execution]
    messages: Sequence[Message]
    sends: Sequence[StartSend]
    allowlist: tuple[str, ...]
    safety_margin: float
    # Requests whose start lost the tracking write to a start outside the app: outside the guarantee.
    outside_raced: frozenset[str] = field(default_factory=frozenset)
    # When a lifecycle rule deleted a lock blob, and whose ID's it was: the named window of docs/guarantees.md (keep
    # such rules off the lock container), so a key whose record went with it is not held to the keyed-retry promise.
    records_lost: tuple[tuple[float, str], ...] = ()
    settings: Settings = field(default_factory=Settings)
    # Whether the app's reads show an execution's history (the 1.x HTTP API does; the 2.x gRPC endpoint does not).
    reads_history: bool = True
    # When each host stood frozen, (host, from, to): a paused VM answers nothing meanwhile.
    stalled: tuple[tuple[str, float, float], ...] = ()
    # Whether a client outside the app purged an instance whose start had not run yet (its ExecutionStarted stays
    # queued and may run later): the named window, as a terminate from outside is.
    outside_purged_unrun: bool = False
    # Each command of the app as it reached the extension, and whether its request's lease still stood.
    landings: Sequence[Landing] = ()


@dataclass(frozen=True)
class Violation:
    invariant: str
    detail: str


def _text(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _own(history: History, tag: str) -> list[Execution]:
    """The executions a request's start made that took effect: ran, or were marked Terminated before they could
    (an execution whose start was discarded never did). One continued as new is one with its first."""
    return [
        execution
        for execution in history.executions
        if execution.tag == tag
        and (execution.ran_at is not None or execution.merged_terminated_at is not None)
        and execution.continued_from is None
    ]


def _first(executions: dict[str, Execution], execution: Execution) -> Execution:
    """The execution a line of continue-as-new began with: a command meant for it is meant for its successors."""
    while execution.continued_from is not None and execution.continued_from in executions:
        execution = executions[execution.continued_from]
    return execution


GroupKey = tuple[str, str | None, str, str, str | None]


def _group_key(request: Request) -> GroupKey:
    return (request.instance_id, request.key, request.kind, request.orchestrator.casefold(), _text(request.input))


def _groups(history: History) -> dict[GroupKey, list[Request]]:
    """Keyed start and signal requests by instance ID, key and request (route, orchestrator and input): a request
    and its retries (a key's record lives on its ID's lock blob, so a key is one ID's)."""
    groups: dict[GroupKey, list[Request]] = defaultdict(list)
    for request in history.requests:
        if request.kind in ("start", "signal") and request.key is not None:
            groups[_group_key(request)].append(request)
    return groups


def _group_of(history: History, request: Request) -> list[Request]:
    """A keyed signal with its retries; any other request alone. A signal's retry may deliver the event its key's
    first request could not, to the instance that request started."""
    if request.kind != "signal" or request.key is None:
        return [request]
    return _groups(history)[_group_key(request)]


def _records_lost_at(history: History, instance_id: str) -> list[float]:
    """When a lifecycle rule deleted the lock blob of this ID, and the records of its keys with it."""
    return [at for at, lost_id in history.records_lost if lost_id == instance_id]


def _record_lost_after(history: History, runs: Sequence[Execution]) -> bool:
    """Whether a lifecycle rule deleted the lock blob, and a key's record with it, after the key's first run."""
    first = min(runs, key=lambda execution: execution.created_at, default=None)
    return first is not None and any(lost > first.created_at for lost in _records_lost_at(history, first.instance_id))


def _same_record(history: History, request: Request) -> list[Request]:
    """The requests of a keyed signal's group held to one record of the key: all of them, unless a lifecycle rule
    deleted the lock blob, and the record with it, while the group was at work (after its first request came,
    before its last was answered), or the key's instance was purged from outside where none was before it. A
    request may read the record well after it came, so which of them still saw it cannot be told: each is then
    held to what it did itself."""
    group = _group_of(history, request)
    if request.replayed:
        return group  # answered from the key's record: it was there
    began, ended = min(r.arrived for r in group), max(r.answered for r in group)
    if any(began < lost < ended for lost in _records_lost_at(history, request.instance_id)):
        return [request]
    if _purged_before_a_later_run(history, [e for r in group for e in _own(history, r.tag)]):
        return [request]  # the key's instance was purged from outside: window 4 of docs/guarantees.md
    return group


def _purged_before_a_later_run(history: History, runs: Sequence[Execution]) -> bool:
    """Whether the ID's row was purged (only a client outside the app purges) after the key's first run was made
    and before another of its runs, where no instance was there before the key's first: the key's retry then finds
    the ID as its first request did and cannot tell that its start ran (docs/guarantees.md, window 4). Where one
    was there, the retry sees it gone and answers 409."""
    if not runs:
        return False
    first = min(runs, key=lambda execution: execution.created_at)
    earlier = [e for e in history.executions if e.instance_id == first.instance_id and e.created_at < first.created_at]
    if _current(earlier, first.created_at) is not None:
        return False
    latest = max(execution.created_at for execution in runs)
    return any(
        e.instance_id == first.instance_id and e.purged_at is not None and first.created_at < e.purged_at < latest
        for e in history.executions
    )


def in_named_window(history: History) -> bool:
    """Whether the run reached one of the windows docs/guarantees.md names, where no lock of the app can keep a
    promise: a terminate sent outside the app to an instance that had not run (DurableTask.AzureStorage 2.7.0+ marks
    its row Terminated and the instance still runs), a purge from outside the app of an instance that had not run
    (its ExecutionStarted, still queued, may run later and write a row of its own), or, on the 2.x line (no history
    over gRPC), a terminate the backend batched with an earlier execution's messages (it marks the row Terminated
    while the execution runs on)."""
    outside_marked = any(m.tag == OUTSIDE_TAG and m.merged_into is not None for m in history.messages)
    marked_running = any(e.marked_terminated_while_running_at is not None for e in history.executions)
    return outside_marked or history.outside_purged_unrun or (marked_running and not history.reads_history)


def told_202_runs_once(history: History) -> list[Violation]:
    """A 202 start (or a signal that says it started the instance) ran its input, once; a signal that says it
    started nothing started nothing."""
    found: list[Violation] = []
    if in_named_window(history):
        return found
    for request in history.requests:
        if request.kind not in ("start", "signal") or request.status != 202 or request.tag in history.outside_raced:
            continue
        if request.replayed:
            continue  # checked with its key's group below
        own = [e for r in _same_record(history, request) for e in _own(history, r.tag)]
        listed = ", ".join(f"{e.execution_id} input {e.input}" for e in own) or "none"
        if request.kind == "signal" and not request.started:
            if own:
                found.append(Violation("told_202_runs_once", f"{request.tag} said it started nothing; ran: {listed}"))
            continue
        if len(own) != 1 or own[0].input != _text(request.input):
            found.append(Violation("told_202_runs_once", f"{request.tag} was told 202; its executions: {listed}"))
    for key, requests in _groups(history).items():
        if any(request.tag in history.outside_raced for request in requests):
            continue  # the key's start lost its tracking write to a start outside the app
        replayed = [r for r in requests if r.status == 202 and r.replayed]
        runs = [e for r in requests for e in _own(history, r.tag)]
        expected = 0 if replayed and replayed[0].kind == "signal" and not replayed[0].started else 1
        lost = _record_lost_after(history, runs) or _purged_before_a_later_run(history, runs)
        if replayed and len(runs) != expected and not lost:
            found.append(
                Violation(
                    "told_202_runs_once",
                    f"{replayed[0].tag} was told 202 (replayed) for key {key[1]}; the key's executions: {len(runs)}",
                )
            )
    return found


# Answers other than 202 after which the request's start may have run, once: in doubt, a signal whose start landed
# before its event could go, a request cancelled while its send was out.
MAY_HAVE_STARTED = frozenset({"InDoubt", "StartedNotSignalled", "cancelled"})


def not_202_runs_at_most_once(history: History) -> list[Violation]:
    """Anything but 202 starts nothing, but what may have started (MAY_HAVE_STARTED): that runs at most once."""
    found = []
    for request in history.requests:
        if request.kind not in ("start", "signal") or request.status == 202 or request.tag in history.outside_raced:
            continue
        allowed = 1 if request.outcome in MAY_HAVE_STARTED else 0
        own = _own(history, request.tag)
        if len(own) > allowed:
            found.append(
                Violation(
                    "not_202_runs_at_most_once",
                    f"{request.tag} was answered {request.status} ({request.outcome}); its input ran {len(own)} times",
                )
            )
    return found


def keyed_retry_never_runs_again(history: History) -> list[Violation]:
    found = []
    for key, requests in _groups(history).items():
        runs = [e for r in requests for e in _own(history, r.tag)]
        if _record_lost_after(history, runs) or _purged_before_a_later_run(history, runs):
            continue  # the record went with its lock blob, or the key's instance was purged: docs/guarantees.md
        if len(runs) > 1:
            by = ", ".join(f"{e.execution_id} by {e.tag}" for e in runs)
            found.append(Violation("keyed_retry_never_runs_again", f"key {key[1]} ran {len(runs)} times: {by}"))
    return found


def one_active_execution(history: History) -> list[Violation]:
    found: list[Violation] = []
    if in_named_window(history):
        return found
    by_id: dict[str, list[Execution]] = defaultdict(list)
    for execution in history.executions:
        if execution.tag != OUTSIDE_TAG and execution.ran_at is not None:
            by_id[execution.instance_id].append(execution)
    for executions in by_id.values():
        ordered = sorted(executions, key=lambda e: e.created_at)
        for before, after in itertools.pairwise(ordered):
            if before.ended_at is None or before.ended_at > after.created_at:
                found.append(
                    Violation(
                        "one_active_execution",
                        f"{before.execution_id} was still active when {after.execution_id} began",
                    )
                )
    return found


def slipped_in_from_outside(message: Message, hit: Execution) -> bool:
    """An execution started outside the app after the command was decided: no lock of the app can keep it out
    (the named window of docs/guarantees.md: keep every start of these IDs behind the app). `hit` is the first of
    its line."""
    return hit.tag == OUTSIDE_TAG and hit.created_at > message.decided_at


def _purged_while_queued(message: Message, hit: Execution, executions: dict[str, Execution]) -> bool:
    """Whether the ID's row was purged (from outside the app) after the command was decided and before the
    execution it reached was made: the command stayed queued with no row to act on (window 4 of
    docs/guarantees.md)."""
    return any(
        e.instance_id == hit.instance_id
        and e.purged_at is not None
        and message.decided_at < e.purged_at <= hit.created_at
        for e in executions.values()
    )


def commands_reach_only_their_target(history: History) -> list[Violation]:
    """A terminate never ends an execution made after it was decided; an event reaches only the one addressed."""
    executions = {execution.execution_id: execution for execution in history.executions}
    found = []
    for message in history.messages:
        if message.tag == OUTSIDE_TAG or message.hit is None or message.kind == "start":
            continue
        hit = _first(executions, executions[message.hit])
        if slipped_in_from_outside(message, hit) or _purged_while_queued(message, hit, executions):
            continue
        if message.kind == "terminate" and hit.created_at > message.decided_at:
            found.append(
                Violation(
                    "commands_reach_only_their_target",
                    f"{message.tag}'s terminate, decided at {message.decided_at:.3f}, ended {message.hit} "
                    f"({hit.tag}) made at {hit.created_at:.3f}",
                )
            )
        if message.kind == "event" and message.addressed not in executions[message.hit].lineage(executions):
            found.append(
                Violation(
                    "commands_reach_only_their_target",
                    f"{message.tag}'s event addressed {message.addressed} and reached {message.hit} ({hit.tag})",
                )
            )
    return found


def routes_stay_in_allowlist(history: History) -> list[Violation]:
    """A management route acts only on an instance of the orchestrator it names; no terminate of the app ends,
    and no event reaches, an instance outside the allowlist."""
    executions = {execution.execution_id: execution for execution in history.executions}
    allowed = {name.casefold() for name in history.allowlist}
    found = []
    for message in history.messages:
        if message.tag == OUTSIDE_TAG or message.hit is None or message.kind == "start":
            continue
        if slipped_in_from_outside(message, _first(executions, executions[message.hit])):
            continue
        name = executions[message.hit].name.casefold()
        named = message.route.casefold() if message.route is not None else None
        if name not in allowed or (named is not None and name != named):
            found.append(
                Violation(
                    "routes_stay_in_allowlist",
                    f"{message.tag}'s {message.kind} (route {message.route}) reached {message.hit}, an instance of "
                    f"{executions[message.hit].name}",
                )
            )
    return found


def starts_sent_under_lease(history: History) -> list[Violation]:
    found = []
    for send in history.sends:
        if send.lease_left is None or send.lease_left < history.safety_margin:
            left = "no lease" if send.lease_left is None else f"a lease with {send.lease_left:.3f} s left"
            found.append(
                Violation("starts_sent_under_lease", f"{send.tag} sent a start at {send.at:.3f} holding {left}")
            )
    return found


def _ended_by_itself(execution: Execution, before: float | None) -> bool:
    """Whether an execution ended (by itself, by continuing as new, or by a terminate from outside the app) no later
    than `before`: what reached it after that was never its to process."""
    if execution.ended_at is None or (before is not None and execution.ended_at > before):
        return False
    return execution.ended_by is None or execution.ended_by.tag == OUTSIDE_TAG


def events_202_reach_their_execution_once(history: History) -> list[Violation]:
    """An event route's or a signal's 202: its one event reached the execution it was meant for (the one the request
    saw, or the one a signal started), or a successor of it by continue-as-new, unless that execution ended by
    itself before the event could be processed."""
    executions = {execution.execution_id: execution for execution in history.executions}
    found = []
    for request in history.requests:
        if request.kind not in ("event", "signal") or request.status != 202:
            continue
        group = {r.tag for r in _same_record(history, request)}  # a keyed signal's event may be its retry's
        sent = [m for m in history.messages if m.tag in group and m.kind == "event"]
        if len(sent) != 1:
            found.append(Violation("events_202_reach_their_execution_once", f"{request.tag} sent {len(sent)} events"))
            continue
        (event,) = sent
        if event.data != request.data:
            found.append(
                Violation("events_202_reach_their_execution_once", f"{request.tag}'s event carried {event.data!r}")
            )
            continue
        own = [e for tag in group for e in _own(history, tag)]
        target = own[0].execution_id if request.kind == "signal" and request.started and own else event.addressed
        meant = executions.get(target or "")
        if event.hit is not None and target in executions[event.hit].lineage(executions):
            continue
        if event.hit is not None and slipped_in_from_outside(event, _first(executions, executions[event.hit])):
            continue  # an execution started outside the app took it: window 2 of docs/guarantees.md
        if event.hit is None and meant is not None and _ended_by_itself(_last(executions, meant), event.delivered_at):
            continue
        if meant is not None and meant.tag == OUTSIDE_TAG and event.hit is None:
            continue  # an instance started outside the app, acted on from outside too: the named window (guarantees.md)
        where = event.hit or event.outcome or "nowhere"
        found.append(
            Violation("events_202_reach_their_execution_once", f"{request.tag}'s event was meant for {target}: {where}")
        )
    return found


def _last(executions: dict[str, Execution], execution: Execution) -> Execution:
    """The latest of a line of continue-as-new: the one that ended the line."""
    while execution.continued_as is not None and execution.continued_as in executions:
        execution = executions[execution.continued_as]
    return execution


def terminate_202_ended_it(history: History) -> list[Violation]:
    """A terminate route's 202: the execution it reached ended Terminated by this very terminate, and never ran after
    it (no checkpoint put it back to Running)."""
    executions = {execution.execution_id: execution for execution in history.executions}
    found = []
    for request in history.requests:
        if request.kind != "terminate" or request.status != 202:
            continue
        sent = [m for m in history.messages if m.tag == request.tag and m.kind == "terminate"]
        ended = [executions[m.hit] for m in sent if m.hit is not None and executions[m.hit].ended_by is m]
        if len(ended) != 1 or ended[0].status != "Terminated":
            found.append(Violation("terminate_202_ended_it", f"{request.tag} was told 202; it ended {len(ended)}"))
            continue
        (execution,) = ended
        if not history.reads_history and execution.marked_terminated_while_running_at is not None:
            continue  # the 2.x window of in_named_window
        ran_after = [c for c in execution.checkpoints if c.at > (execution.ended_at or 0.0) and c.status == "Running"]
        if ran_after:
            found.append(Violation("terminate_202_ended_it", f"{execution.execution_id} ran after {request.tag}'s 202"))
    return found


def commands_land_under_their_lease(history: History) -> list[Violation]:
    """Every start, terminate and event of the app reaches the extension while the lease its request held when it
    sent it still stands (the same lease: not released, not run out, not taken anew by another; for an event, the
    ID's shared lease, which its request may have joined in its process): the lease is what keeps any other request
    from putting another execution under the ID until the command has landed."""
    return [
        Violation("commands_land_under_their_lease", f"{landing.tag}'s {landing.kind} landed at {landing.at:.3f}")
        for landing in history.landings
        if not landing.under_its_lease
    ]


def answers_within_the_deadline(history: History) -> list[Violation]:
    """Every request is answered within SINGLETON_REQUEST_TIMEOUT_SECONDS of its arrival, less the time its host
    stood frozen."""
    limit = history.settings.request_timeout_seconds + 1e-6

    def frozen(request: Request) -> float:
        host = request.tag.split("/")[0]
        return sum(
            max(0.0, min(end, request.answered) - max(begin, request.arrived))
            for name, begin, end in history.stalled
            if name == host
        )

    return [
        Violation("answers_within_the_deadline", f"{r.tag} answered after {r.answered - r.arrived:.3f} s")
        for r in history.requests
        if r.outcome != "cancelled" and r.answered - r.arrived - frozen(r) > limit
    ]


def no_request_fails_with_a_bug(history: History) -> list[Violation]:
    """No request ends in the app's catch-all answer for an error it did not expect: every fault the backend and
    storage can show has its own answer."""
    return [
        Violation("no_request_fails_with_a_bug", f"{r.tag} was answered {r.status}: an unexpected error")
        for r in history.requests
        if INTERNAL_MESSAGE in r.body
    ]


def no_answer_carries_a_key(history: History) -> list[Violation]:
    """No answer hands out a key of the extension (the app's links carry none)."""
    return [
        Violation("no_answer_carries_a_key", f"{r.tag}'s answer carries a key")
        for r in history.requests
        if "code=" in r.body or "systemKey" in r.body
    ]


def _active_in(execution: Execution, begin: float, end: float) -> bool:
    return execution.created_at <= end and (execution.ended_at is None or execution.ended_at >= begin)


def _ended_by(execution: Execution, at: float) -> bool:
    return execution.ended_at is not None and execution.ended_at <= at


def _kept(status: str, reuse: ReusePolicy) -> bool:
    """Whether the reuse policy keeps an ended instance of this status (refuses to replace it)."""
    if reuse is ReusePolicy.REJECT_DUPLICATE:
        return True
    return reuse is ReusePolicy.ALLOW_FAILED and status == "Completed"


def answers_follow_the_policies(history: History) -> list[Violation]:
    """Each answer is the policy table's for something the request could have seen: a 409 of a start or a signal
    names an instance that was active (under a conflict policy that answers so) or had ended with a status the reuse
    policy keeps; a 200 is use-existing's answer to an active instance; a 410 an ended instance's."""
    settings, found = history.settings, []
    for request in history.requests:
        mine = [e for e in history.executions if e.instance_id == request.instance_id]
        window = (request.arrived, request.answered)
        active = [e for e in mine if _active_in(e, *window)]
        kept = [e for e in mine if _ended_by(e, window[1]) and _kept(e.status, settings.reuse_policy)]
        if request.kind == "start" and request.status == 409:
            # Terminate-existing replaces an active instance of the allowlist that was there when the request came;
            # one that came meanwhile (a start refused as a duplicate) is answered as reject answers it.
            came = [e for e in active if e.created_at > request.arrived]
            policy = settings.conflict_policy
            answers = (policy is ConflictPolicy.REJECT and active) or (
                policy is ConflictPolicy.TERMINATE_EXISTING and came
            )
            ok = bool(answers or kept or _has_other(active, request) or _keyed_caution(history, request, mine))
        elif request.kind == "signal" and request.status == 409:
            came_from_outside = any(e.tag == OUTSIDE_TAG and e.created_at > request.arrived for e in active)
            ok = bool(
                kept or _has_other(active, request) or _keyed_caution(history, request, mine) or came_from_outside
            )
        elif request.kind == "start" and request.status == 200:
            ok = settings.conflict_policy is ConflictPolicy.USE_EXISTING and bool(active)
        elif request.kind in ("terminate", "event") and request.status == 410:
            # An instance of the orchestrator had ended, and not by this request's own terminate.
            ended = [
                e for e in mine if _ended_by(e, window[1]) and e.name.casefold() == request.orchestrator.casefold()
            ]
            ok = any(e.ended_by is None or e.ended_by.tag != request.tag for e in ended)
        elif request.kind in ("terminate", "event") and request.status == 404:
            # No instance of the orchestrator at some moment of the request: none made yet, one of another
            # orchestrator active, or the row purged.
            changes = [e.created_at for e in mine] + [e.purged_at for e in mine if e.purged_at is not None]
            moments = [window[0], window[1], *(at for at in changes if window[0] <= at <= window[1])]
            current = [_current(mine, moment) for moment in moments]
            ok = any(e is None or not e.runs(request.orchestrator) for e in current)
        elif request.kind == "start" and request.status == 202 and not request.replayed:
            ok = not _replaced_a_kept_instance(history, request, mine)
        else:
            continue
        if not ok and not in_named_window(history):
            found.append(
                Violation("answers_follow_the_policies", f"{request.tag} was answered {request.status} for nothing")
            )
    return found


def _current(executions: list[Execution], moment: float) -> Execution | None:
    """The execution whose row the ID showed at `moment`: the last one made by then, unless it was purged."""
    last = max((e for e in executions if e.created_at <= moment), key=lambda e: e.created_at, default=None)
    return None if last is None or (last.purged_at is not None and last.purged_at <= moment) else last


def _replaced_a_kept_instance(history: History, request: Request, executions: list[Execution]) -> bool:
    """Whether this request's own execution replaced an ended instance whose status the reuse policy keeps (one that
    this request terminated itself under terminate-existing does not count: it was active when seen)."""
    own = [e for e in executions if e.tag == request.tag and e.continued_from is None]
    for execution in own:
        before = [e for e in executions if e.created_at < execution.created_at and e.ran_at is not None]
        previous = max(before, key=lambda e: e.created_at, default=None)
        if previous is None or previous.ended_at is None or previous.ended_at > execution.created_at:
            continue
        if previous.purged_at is not None and previous.purged_at <= execution.created_at:
            continue  # no row was there to keep
        if previous.ended_by is not None and previous.ended_by.tag == request.tag:
            continue
        if previous.tag == OUTSIDE_TAG and previous.created_at > request.arrived:
            continue  # started outside the app while this request was at work: window 2 of docs/guarantees.md
        if _kept(previous.status, history.settings.reuse_policy):
            return True
    return False


def _keyed_caution(history: History, request: Request, executions: list[Execution]) -> bool:
    """A keyed start answered 409 because another request of its key may have run (its record says starting and
    another instance came), or because its key's record may have gone with its lock blob while an instance with its
    input is there: docs/guarantees.md's answer to a key that can no longer be told apart, never a second run."""
    if request.key is None:
        return False
    # Another request with the key that came before this one was answered may have acted first (a request may
    # stand frozen on its host long after it came).
    other = any(
        r.key == request.key
        and r.instance_id == request.instance_id
        and r.tag != request.tag
        and r.arrived < request.answered
        for r in history.requests
    )
    return other or any(e.input == _text(request.input) for e in executions)


def _has_other(active: list[Execution], request: Request) -> bool:
    """An active instance of another orchestrator than the request's: in the way whatever the policies."""
    return any(e.name.casefold() != request.orchestrator.casefold() for e in active)


INVARIANTS: tuple[Callable[[History], list[Violation]], ...] = (
    told_202_runs_once,
    not_202_runs_at_most_once,
    keyed_retry_never_runs_again,
    one_active_execution,
    commands_reach_only_their_target,
    routes_stay_in_allowlist,
    starts_sent_under_lease,
    commands_land_under_their_lease,
    events_202_reach_their_execution_once,
    terminate_202_ended_it,
    answers_within_the_deadline,
    no_answer_carries_a_key,
    no_request_fails_with_a_bug,
    answers_follow_the_policies,
)


def check(history: History) -> list[Violation]:
    """Every invariant's violations, in the order the invariants are listed."""
    return [violation for invariant in INVARIANTS for violation in invariant(history)]
