"""Every error the app raises on purpose, under one root; each adapter maps its foreign errors (aiohttp, gRPC,
azure-core) to these once, where it calls out.

    SingletonStartError
    ├── SettingsError        a setting the app cannot run with: the function fails at load
    ├── ContractError        a request the HTTP contract refuses (4xx), with its code (http/contract.py)
    ├── Unavailable          nothing of this request took effect: a read failed, a command was certainly not
    │   │                    sent, storage refused, the lock stayed busy, or time ran out      -> 503
    │   ├── DeadlineReached  no time was left for another call
    │   └── NotRunYet        the instance has not run yet, and a command to it would be lost -> 503
    ├── InDoubt              a command was sent and may still take effect                    -> 503
    ├── Refused              the extension refused a command before queueing anything (its 400)
    │   └── AlreadyExists    a start over an active instance
    ├── NoInstance           no instance has the ID (404)
    └── InstanceEnded        the instance has ended (410)
"""

from __future__ import annotations

from enum import Enum


class SingletonStartError(Exception):
    """The root of every error the app raises on purpose."""


class SettingsError(SingletonStartError, ValueError):
    """A setting has a value the app cannot run with; the message names it."""


class Unavailable(SingletonStartError):
    """Nothing of this request took effect; the caller may send it again after a short wait."""


class DeadlineReached(Unavailable):
    """No time is left for another call."""


class NotRunYet(Unavailable):
    """The instance shows Pending: its ExecutionStarted has not been processed, and a terminate or an event
    processed before it is lost or only marks the row, so nothing is sent until it runs. `started`: this request
    started it (a signal's start landed; the same request again sends the event and starts nothing)."""

    def __init__(self, message: str, *, started: bool = False) -> None:
        super().__init__(message)
        self.started = started


class Sent(Enum):
    """What a command in doubt was: each has its own sentence in the 503 that answers it."""

    START = "start"
    TERMINATE_FOR_START = "terminate-for-start"
    COMMAND = "command"


class InDoubt(SingletonStartError):
    """A command was sent and may still take effect: its answer was lost, late or neither a clear acceptance
    nor a clear refusal, or what it did has not shown yet. Whoever holds the ID's lease leaves it to expire."""

    def __init__(self, message: str, sent: Sent = Sent.COMMAND) -> None:
        super().__init__(message)
        self.sent = sent


class Refused(SingletonStartError):
    """The extension refused a command as invalid before queueing anything."""


class AlreadyExists(Refused):
    """The extension refused a start because an active instance has the ID."""


class NoInstance(SingletonStartError):
    """No instance has the ID."""


class InstanceEnded(SingletonStartError):
    """The instance has already ended."""
