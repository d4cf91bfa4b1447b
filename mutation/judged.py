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

SIGNAL_AND_COMMANDS: list[Rule] = []


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
