"""The surviving mutants read one by one: each rule names the functions it covers and the change it accepts, and
says why such a mutant survives. An equivalent mutant changes no behaviour any caller can see and is left out of
the score; a gap is a behaviour no test or invariant checks yet, and stays in it."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Judgement:
    equivalent: bool
    why: str


@dataclass(frozen=True)
class Rule:
    function: re.Pattern[str]
    change: re.Pattern[str]
    judgement: Judgement


def rule(function: str, change: str, why: str, *, equivalent: bool) -> Rule:
    """A rule for the mutants of the functions matching `function` whose change matches `change` (regexes)."""
    return Rule(re.compile(function), re.compile(change), Judgement(equivalent, why))


# ---- the lock blob (adapters/blob_lease.py) and the held lease (service/hold.py)

LOCK_AND_HOLD: list[Rule] = []


# ---- the start (service/start.py) and the decisions (core/decisions.py)

START: list[Rule] = []


# ---- signals (service/signal.py) and the terminate and event routes (service/commands.py)

SIGNAL_AND_COMMANDS: list[Rule] = [
    rule(
        r"service\.(commands\.x_raise_event|signal\.xǁSignalǁsend)$",
        r'\+ (await hold\.send\()?(None|"XXeventXX"|"EVENT"), lambda t',
        "The label only names the command in the words of an Unavailable (a log line) and in the hold's unsettled set,"
        " which decides nothing on the shared hold an event goes under (always left to expire; only 'start' settles).",
        equivalent=True,
    ),
    rule(
        r"service\.signal\.xǁSignalǁsend$",
        r"raise NotRunYet\(message, (started=(None|False))?\)",
        "Both callers that send with started=True (start_then_send, deliver) turn any Unavailable from it into"
        " NotRunYet(started=True), so the flag raised here never reaches the answer.",
        equivalent=True,
    ),
    rule(
        r"service\.signal\.xǁSignalǁrun_started$",
        r"no event was sent: \{error\}",
        "Unreachable handler: Hold.poll never raises Unavailable (poll suppresses it around each read and its timeout,"
        " and _keep turns a failed renewal into False), so what it raises here is never built.",
        equivalent=True,
    ),
    rule(
        r"service\.signal\.(x_signal|xǁSignalǁ__init__)$",
        r"\+ return await Signal\(command, ports, None|SingletonStarter\(start, ports, None, deadline",
        "A signal calls only the starter's send and settled, which never read the starts in flight (start() does).",
        equivalent=True,
    ),
    rule(
        r"service\.signal\.x_signal$",
        r"stats\.lock_wait\((None|True)\)",
        "A signal never begins a lock-wait count (only SingletonStarter.start does), so lock_wait(False/None) does"
        " nothing, and lock_wait(True) after the answer only sets a start time that nothing reads.",
        equivalent=True,
    ),
    rule(
        r"service\.signal\.xǁSignalǁ_deliver$",
        r"sending_entry\(claim, self\.ports\.clock\.utcnow\(\), started=None\)",
        "KeyEntry writes started_it only when it is truthy, so None is stored exactly as False.",
        equivalent=True,
    ),
    rule(
        r"service\.signal\.xǁSignalǁ_deliver$",
        r"\+ await hold\.record\((with_entry\(record\.metadata, claim, sent\)|record\.metadata), starting=None\)",
        "Hold.record only tests `if starting`, for which None is False.",
        equivalent=True,
    ),
    rule(
        r"service\.commands\.x_replace_active$",
        r"- case EndedOtherwise\(\): / - raise InDoubt",
        "Without the case the match falls through to the raise below it: the same InDoubt and Sent.TERMINATE_FOR_START,"
        " only the message (a log line's words) differs.",
        equivalent=True,
    ),
    rule(
        r"service\.signal\.xǁSignalǁstart_then_send$",
        r"attempt = Attempt\(before, (None)?\)",
        "An unkeyed signal's start reads the attempt's record only for a key's entries, so None and the default"
        " LockRecord() are never read.",
        equivalent=True,
    ),
    rule(
        r"service\.commands\.x_(replace_active|terminate_and_watch)$",
        r"with_input=(None|False)|\+ return await backend\.read\(instance_id, timeout, (with_history=|\))",
        "Gap: this read without the input is the `before` a terminate-existing start settles a lost start answer"
        " against (is_new_instance compares inputs); no selected test loses the start's answer after a replacement;"
        " a virtual test whose start after a terminate is in doubt, settled against the terminated read, would.",
        equivalent=False,
    ),
    rule(
        r"service\.commands\.xǁTargetǁ(look|read)$",
        r"with_input: bool = True",
        "Gap, only a cost: the event and terminate reads would fetch the input they never use (the status route passes"
        " its own flag); a test of the query those reads make (showInput=false) would kill it.",
        equivalent=False,
    ),
    rule(
        r"service\.commands\.x_replace_active$",
        r"ran\.state is not InstanceState\.ACTIVE and not may_replace",
        "Gap: differs only when another orchestrator's instance took the ID while the replacing start waited for the"
        " Pending one to run (the mutant terminates it), or with a needless terminate to an ended one; a virtual test"
        " with an outside start of another orchestrator during run_first would kill it.",
        equivalent=False,
    ),
    rule(
        r"service\.commands\.x_replace_active$",
        r"secrets\.token_hex\((None|5)\)",
        "Gap: only the length of the random token in the terminate reason the replaced instance shows changes; a test"
        " reading the replaced execution's reason (Request and 8 hex digits) would kill it.",
        equivalent=False,
    ),
    rule(
        r"service\.signal\.xǁSignalǁ_deliver$",
        r"starting=True\)",
        "Gap: a write after the send marked as starting raises Unavailable when it fails or the lease runs low instead"
        " of being logged, so a queued event would be answered 503; no selected test fails a record write after the"
        " event; a virtual test with the lock storage refusing that write would.",
        equivalent=False,
    ),
    rule(
        r"service\.signal\.xǁSignalǁ(keyed_under_lease|start_then_send)$",
        r"return Conflict\(await hold\.call\(None\)\)|return Conflict\(None\)  # only|"
        r"return await hold\.call\(None\)  # another start",
        "Gap: reached only when the start under the lease is refused, i.e. a start from outside the app took the ID"
        " between the read under the lease and the send; a virtual test with such an outside start would kill it.",
        equivalent=False,
    ),
    rule(
        r"service\.signal\.xǁSignalǁ__init__$",
        r"SingletonStarter\(start, ports, flights, None, stats\)",
        "Gap: the starter's deadline is read by a signal only in its retried read after a start refused with"
        " AlreadyExists (a start from outside the app under the lease); a virtual test with one would kill it.",
        equivalent=False,
    ),
    rule(
        r"service\.signal\.xǁSignalǁrun_started$",
        r"isinstance\(self\.starter\.settled\(attempt, ran\), Landed\) and not|raise InDoubt\((Sent\.START\)|"
        r"\"another instance showed up where this request's start went\", \))",
        "Gap: only another instance where this request's start went (a start from outside the app) reaches this"
        " InDoubt(START) and its sentence; a virtual test with an outside start landing before ours would kill it.",
        equivalent=False,
    ),
    rule(
        r"service\.signal\.xǁSignalǁstart_then_send$",
        r"return seen if self\.action\(seen\) is SignalAction\.SEND or seen\.has_run",
        "Gap, a round more: a Pending instance of ours seen during the lock wait ends the wait, and the signal waits"
        " for it to run in send_to_running instead, with the same answer; only a count of reads or rounds sees it.",
        equivalent=False,
    ),
    rule(
        r"service\.signal\.xǁSignalǁstart_then_send$",
        r"^- case SignalAction\.(CONFLICT|SEND): / - (return Conflict|if \(await run_first)",
        "Gap, a refused start more: without the case the signal sends a start over the active instance it found under"
        " the lease, AlreadyExists refuses it, and the next round gives the same answer; a count of the start commands"
        " sent (the simulation's or a virtual test's) would kill it.",
        equivalent=False,
    ),
]


# ---- the answers of the backends (core/http_answers.py, core/grpc_answers.py) and the keys (core/idempotency.py)

ANSWERS_AND_KEYS: list[Rule] = []


RULES = [*LOCK_AND_HOLD, *START, *SIGNAL_AND_COMMANDS, *ANSWERS_AND_KEYS]


def judge(name: str, change: str) -> Judgement | None:
    """The judgement of the first rule whose function and change patterns match the mutant, if any."""
    function = name.rpartition("__mutmut_")[0]
    for rule in RULES:
        if rule.function.search(function) and rule.change.search(change):
            return rule.judgement
    return None
