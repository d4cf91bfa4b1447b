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

LOCK_AND_HOLD: list[Rule] = [
    rule(
        r"blob_lease\.x_lock_blob_name$",
        r'encode\("UTF-8"\)',
        "Python's codec lookup ignores case: 'UTF-8' and 'utf-8' name the same codec.",
        equivalent=True,
    ),
    rule(
        r"blob_lease\.xǁLeaseLocksǁ_upload_unless_there$",
        r"\+ await blob\.upload_blob\(b\"\", (overwrite=None)?\)",
        "The Storage SDK reads overwrite with kwargs.pop('overwrite', False) and tests only its truth: None or "
        "leaving it out is overwrite=False.",
        equivalent=True,
    ),
    rule(
        r"blob_lease\.xǁLeaseLocksǁ_note_shared$",
        r"\+ if known is not None and known\.ends_at > lease\.ends_at:",
        "With the two ends equal, keeping the known Lease or a copy of the new one keeps the same end: what a later "
        "join reads of it (ends_at and the shared lease client) is the same either way.",
        equivalent=True,
    ),
    rule(
        r"hold\.x_retried$",
        r"start_attempts \+ 2\)",
        "The last attempt (attempt == start_attempts) returns or raises, so the loop never reaches one more.",
        equivalent=True,
    ),
    rule(
        r"hold\.xǁHoldǁ__aexit__$",
        r"last_write=(None|last_write is None)\)",
        "ending's last_write chooses only between RELEASE and RELEASE_AFTER_WRITE, which __aexit__ handles alike "
        "(release with first=last_write); EXPIRE depends on shared and unsettled alone.",
        equivalent=True,
    ),
]


# ---- the start (service/start.py) and the decisions (core/decisions.py)

START: list[Rule] = [
    rule(
        r"core\.decisions\.x_ending$",
        r"if \(last_write\) (and False|or True) else",
        "RELEASE and RELEASE_AFTER_WRITE are handled alike by Hold.__aexit__, the only caller of ending(): both give "
        "the lease back after `first=last_write`, which is None when there is no last write.",
        equivalent=True,
    ),
    rule(
        r"core\.decisions\.x_other_answer$",
        r"decide\(observed, conflict, None\)",
        "In the active branch decide() reads only the conflict policy, never the reuse policy.",
        equivalent=True,
    ),
    rule(
        r"core\.decisions\.x_(other_answer|signal_action)$",
        r"decide\(observed, None, reuse\)",
        "The instance is not active there (other_answer raised for a missing one and returned for an active one; "
        "signal_action returned for an active one), and decide() reads the conflict policy only for an active one.",
        equivalent=True,
    ),
    rule(
        r"service\.start\.(x_start|xǁSingletonStarterǁstart)$",
        r"lock_wait\(False\) / \+ (self\.)?stats\.lock_wait\(None\)",
        "StartStats.lock_wait only tests its argument's truth, and None is as false as False.",
        equivalent=True,
    ),
    rule(
        r"service\.start\.xǁSingletonStarterǁstart$",
        r"first_read_stands\(None,",
        "first_read_stands only uses `not keyed`, which is True for None as for False.",
        equivalent=True,
    ),
    rule(
        r"service\.start\.xǁSingletonStarterǁ_started$",
        r"is not None or starting is not None",
        "_started is only called after a send, and send sets its entry before the first send exactly when the "
        "request has a key: the claim and the entry are both None or both set, so `or` and `and` agree.",
        equivalent=True,
    ),
    rule(
        r"service\.start\.xǁSingletonStarterǁ_started$",
        r"starting=None, last=True",
        "Hold.record only tests `starting` for its truth, and None is as false as False.",
        equivalent=True,
    ),
    rule(
        r"service\.start\.xǁStartStatsǁlock_wait$",
        r"self\.lock_wait_seconds = time\.perf_counter\(\) - self\.waiting_since",
        "A wait is begun once per request (the one lock_wait(True) in SingletonStarter.start) on the request's own "
        "StartStats (http/routes.py makes one per call), so the figure is a single term added to 0.0.",
        equivalent=True,
    ),
    rule(
        r"service\.start\.xǁStartsInFlightǁshared_read$",
        r"self\._reads\.pop\(flight, \)",
        "The read's entry is removed only by this callback, and no other read is registered under the flight while "
        "it is there, so the entry is always present when the callback pops it.",
        equivalent=True,
    ),
]


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
]


# ---- the answers of the backends (core/http_answers.py, core/grpc_answers.py) and the keys (core/idempotency.py)

ANSWERS_AND_KEYS: list[Rule] = [
    rule(
        r"grpc_answers\.x_observed_state$",
        r'RUNTIME_STATUS_NAMES\.get\(status_name, (None|"XXXX")?\)',
        "an unknown status name maps to a status state_of does not know either way (None and 'XXXX' are in no "
        "status set), so it raises the same Unavailable, whose message names the status read",
        equivalent=True,
    ),
    rule(
        r"http_answers\.x__exception_type$|http_answers\.x__threw$",
        r'"XXXX"',
        "the default is only compared by endswith with an exception name and by startswith with a message start: "
        "'XXXX' matches neither where '' matches none but the empty start, which both match",
        equivalent=True,
    ),
    rule(
        r"http_answers\.x_error_text$",
        r'rstrip\("XX\.XX"\)',
        "the shortened text only goes into an exception's message and a log line; the answers carry the "
        "contract's own sentences",
        equivalent=True,
    ),
    rule(
        r"http_answers\.x_(url_segment|event_url|start_request)$",
        r"quote\((instance_id|event_name|orchestrator), (safe=('XXXX'|\"XXXX\"))?\)",
        "the contract lets through no instance ID with '/' (validate_instance_id), no event name but "
        "[A-Za-z0-9_.-] and no orchestrator but a configured function name: quote leaves 'X' and '/' alone, and "
        "none of them holds a '/', so the URL is the same",
        equivalent=True,
    ),
    rule(
        r"http_answers\.x_terminate_url$",
        r"quote\(reason, (safe='XXXX')?\)",
        "a '/' (or an 'X') left unescaped in the query string's value decodes to the same reason: only '&', '#', "
        "'+', '=', '%' and the like must be escaped there, and they still are",
        equivalent=True,
    ),
]


RULES = [*LOCK_AND_HOLD, *START, *SIGNAL_AND_COMMANDS, *ANSWERS_AND_KEYS]


def judge(name: str, change: str) -> Judgement | None:
    """The judgement of the first rule whose function and change patterns match the mutant, if any."""
    function = name.rpartition("__mutmut_")[0]
    for rule in RULES:
        if rule.function.search(function) and rule.change.search(change):
            return rule.judgement
    return None
