"""What a use case comes to, as values the HTTP answer is made from. What went wrong is an error instead
(core/errors.py): Unavailable and InDoubt are answered 503, in one place (http/adapter.py)."""

from __future__ import annotations

from dataclasses import dataclass

from .status import Observed


@dataclass(frozen=True)
class Started:
    """A new instance was started with this request's input (or, replayed, the one this key started before)."""

    replayed: bool = False


@dataclass(frozen=True)
class Conflict:
    """An instance with the ID exists and the policies do not let it be replaced: 409. `because` is the sentence
    when it is not the policies but an Idempotency-Key's earlier request that keeps this one from acting."""

    observed: Observed
    because: str | None = None


@dataclass(frozen=True)
class Existing:
    """The active instance is the answer (conflict policy use-existing): 200."""

    observed: Observed


@dataclass(frozen=True)
class KeyReused:
    """The Idempotency-Key was first sent with another request: 422."""


StartOutcome = Started | Conflict | Existing | KeyReused


@dataclass(frozen=True)
class NotFound:
    """No instance has the ID, or it runs another orchestrator than the route names: 404."""


@dataclass(frozen=True)
class Active:
    """The instance runs the named orchestrator and has not ended (the status route's 202)."""

    observed: Observed


@dataclass(frozen=True)
class Ended:
    """The instance runs the named orchestrator and has ended: the status route's 200, a command's 410."""

    observed: Observed


Found = NotFound | Active | Ended


@dataclass(frozen=True)
class Accepted:
    """A terminate or an event was queued for the instance it was meant for: 202."""


@dataclass(frozen=True)
class Signalled:
    """A signal's event was queued for the instance the answer names; `started`: this request (or, replayed, the
    first request with its Idempotency-Key) started it."""

    started: bool
    replayed: bool = False


CommandOutcome = Accepted | NotFound | Ended
SignalOutcome = Signalled | Conflict | KeyReused
