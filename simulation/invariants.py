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

from .model import OUTSIDE_TAG, Execution, Message, StartSend


@dataclass(frozen=True)
class Request:
    """A request as the caller saw it: what it asked and what it was answered."""

    tag: str
    kind: str  # "start", "terminate", "event"
    orchestrator: str
    input: Any = None
    key: str | None = None
    outcome: str = ""  # what the answer says (Started, InDoubt, Conflict, ...) or "internal"
    status: int = 0
    replayed: bool = False


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
    # When a lifecycle rule deleted the lock blob: the README's named window (keep such rules off the lock
    # container), so a key whose record went with it is not held to the keyed-retry promise.
    records_lost_at: tuple[float, ...] = ()


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


def _groups(history: History) -> dict[tuple[str, str, str | None], list[Request]]:
    """Keyed start requests by key and request (orchestrator and body): a request and its retries."""
    groups: dict[tuple[str, str, str | None], list[Request]] = defaultdict(list)
    for request in history.requests:
        if request.kind == "start" and request.key is not None:
            groups[(request.key, request.orchestrator.casefold(), _text(request.input))].append(request)
    return groups


def _record_lost_after(history: History, runs: Sequence[Execution]) -> bool:
    """Whether a lifecycle rule deleted the lock blob, and a key's record with it, after the key's first run."""
    first = min((execution.created_at for execution in runs), default=None)
    return first is not None and any(lost > first for lost in history.records_lost_at)


def told_202_runs_once(history: History) -> list[Violation]:
    found = []
    for request in history.requests:
        if request.kind != "start" or request.status != 202 or request.tag in history.outside_raced:
            continue
        if request.replayed:
            continue  # checked with its key's group below
        own = _own(history, request.tag)
        if len(own) != 1 or own[0].input != _text(request.input):
            listed = ", ".join(f"{e.execution_id} input {e.input}" for e in own) or "none"
            found.append(Violation("told_202_runs_once", f"{request.tag} was told 202; its executions: {listed}"))
    for key, requests in _groups(history).items():
        if any(request.tag in history.outside_raced for request in requests):
            continue  # the key's start lost its tracking write to a start outside the app
        replayed = [r for r in requests if r.status == 202 and r.replayed]
        runs = [e for r in requests for e in _own(history, r.tag)]
        if replayed and len(runs) != 1 and not _record_lost_after(history, runs):
            found.append(
                Violation(
                    "told_202_runs_once",
                    f"{replayed[0].tag} was told 202 (replayed) for key {key[0]}; the key's executions: {len(runs)}",
                )
            )
    return found


def not_202_runs_at_most_once(history: History) -> list[Violation]:
    """Anything but 202 starts nothing, but the 503 of an unsettled start: that may still run, once."""
    found = []
    for request in history.requests:
        if request.kind != "start" or request.status == 202 or request.tag in history.outside_raced:
            continue
        allowed = 1 if request.outcome == "InDoubt" else 0
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
        if _record_lost_after(history, runs):
            continue  # the record went with its lock blob, as the README warns
        if len(runs) > 1:
            by = ", ".join(f"{e.execution_id} by {e.tag}" for e in runs)
            found.append(Violation("keyed_retry_never_runs_again", f"key {key[0]} ran {len(runs)} times: {by}"))
    return found


def one_active_execution(history: History) -> list[Violation]:
    found = []
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
    (the README's named window: keep every start of these IDs behind the app). `hit` is the first of its line."""
    return hit.tag == OUTSIDE_TAG and hit.created_at > message.decided_at


def commands_reach_only_their_target(history: History) -> list[Violation]:
    """A terminate never ends an execution made after it was decided; an event reaches only the one addressed."""
    executions = {execution.execution_id: execution for execution in history.executions}
    found = []
    for message in history.messages:
        if message.tag == OUTSIDE_TAG or message.hit is None or message.kind == "start":
            continue
        hit = _first(executions, executions[message.hit])
        if slipped_in_from_outside(message, hit):
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


INVARIANTS: tuple[Callable[[History], list[Violation]], ...] = (
    told_202_runs_once,
    not_202_runs_at_most_once,
    keyed_retry_never_runs_again,
    one_active_execution,
    commands_reach_only_their_target,
    routes_stay_in_allowlist,
    starts_sent_under_lease,
)


def check(history: History) -> list[Violation]:
    """Every invariant's violations, in the order the invariants are listed."""
    return [violation for invariant in INVARIANTS for violation in invariant(history)]
