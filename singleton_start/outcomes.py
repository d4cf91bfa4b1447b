"""What a start request comes to: the outcome types the HTTP answer is made from."""

from __future__ import annotations

from dataclasses import dataclass

from .status import Action, Observed


@dataclass(frozen=True)
class Started:
    """A new instance was started (or, replayed, the one this key started before)."""

    replayed: bool = False


@dataclass(frozen=True)
class Refused:
    """An instance with the ID exists and the policies do not let it be replaced."""

    observed: Observed


@dataclass(frozen=True)
class Existing:
    """The active instance is the answer (conflict policy use-existing)."""

    observed: Observed


@dataclass(frozen=True)
class KeyReused:
    """The Idempotency-Key was first sent with another request."""


@dataclass(frozen=True)
class Unavailable:
    """Storage or the backend could not be used in time; this request started nothing."""

    reason: str


@dataclass(frozen=True)
class Unsettled:
    """A start was sent and had not shown up by the deadline: it may still land. Its lease is left to
    expire rather than released, so that no one else starts the ID while it may."""

    reason: str


@dataclass(frozen=True)
class TerminatePending:
    """Under terminate-existing, the old execution ended otherwise than by this request's terminate, which
    may still be queued: nothing was started, and the ID is held until the lease expires."""

    reason: str


@dataclass(frozen=True)
class ArgumentsRefused:
    """The extension refused the start's arguments (its 400) before queueing anything: a configuration
    error, such as an orchestrator name the app allows but the function app does not have."""

    reason: str


Outcome = Started | Refused | Existing | KeyReused | Unavailable | Unsettled | TerminatePending | ArgumentsRefused


def answer_for(action: Action, observed: Observed) -> Outcome | None:
    """The answer for an action that starts nothing; None for one that starts."""
    if action is Action.REJECT:
        return Refused(observed)
    if action is Action.USE_EXISTING:
        return Existing(observed)
    return None
