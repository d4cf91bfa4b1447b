"""Settling a start whose outcome is unknown: did it land, did someone else's, or nothing yet?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .backend import input_matches
from .calls import Calls
from .command import StartCommand
from .ports import BackendUnavailable, Lease, StartOutcomeUnknown, StartRefused
from .settings import LEASE_SAFETY_SECONDS
from .status import InstanceState, Observed
from .timing import Deadline, DeadlineReached, backoff_delays


@dataclass(frozen=True)
class Landed:
    """A new instance with this request's input: the start went through."""

    observed: Observed


@dataclass(frozen=True)
class OtherStarted:
    """A new instance with another input: someone else started the ID."""

    observed: Observed


@dataclass(frozen=True)
class NotYet:
    """The ID still shows what it showed before the start."""


Settled = Landed | OtherStarted | NotYet


def is_new_instance(before: Observed, after: Observed) -> bool:
    """Whether `after` is another instance than `before` (both read with their input). createdTime has
    whole seconds only, so an instance replaced within the same second is told apart by its input."""
    if not after.exists:
        return False
    if not before.exists:
        return True
    if before.state is InstanceState.ENDED and after.state is InstanceState.ACTIVE:
        return True
    return (after.created_time, after.input) != (before.created_time, before.input)


def settle(before: Observed, after: Observed, our_input: Any) -> Settled:
    """What a status read after a start of unknown outcome says about it."""
    if not is_new_instance(before, after):
        return NotYet()
    if input_matches(after.input, our_input):
        return Landed(after)
    return OtherStarted(after)


async def settle_unknown_start(
    calls: Calls, command: StartCommand, lease: Lease, before: Observed, deadline: Deadline
) -> Settled:
    """Keep the lease and read the status with backoff until the start shows or the deadline passes,
    sending the same start (same input) again while nothing has shown."""
    delays = backoff_delays()
    resends = calls.settings.start_attempts - 1
    # Renewed after the start was sent, the lease now lasts its full length past the start's request.
    await calls.renew(lease, deadline)
    while deadline.remaining() > 0:
        await calls.clock.sleep(min(next(delays), deadline.remaining()))
        if calls.remaining(lease) < LEASE_SAFETY_SECONDS + calls.settings.backend_timeout_seconds:
            await calls.renew(lease, deadline)
        verdict = await _read_verdict(calls, command, before, deadline)
        if isinstance(verdict, Landed | OtherStarted):
            return verdict
        # Sent again only once a read has shown nothing: an unreadable status tells nothing.
        if isinstance(verdict, NotYet) and resends:
            resends -= 1
            await _resend(calls, command, lease, deadline)
    return NotYet()


async def _read_verdict(calls: Calls, command: StartCommand, before: Observed, deadline: Deadline) -> Settled | None:
    """What one status read says; None when it could not be read."""
    try:
        after = await calls.backend.read(command.instance_id, calls.limit(deadline), with_input=True)
    except (BackendUnavailable, DeadlineReached):
        return None
    return settle(before, after, command.input_value)


async def _resend(calls: Calls, command: StartCommand, lease: Lease, deadline: Deadline) -> None:
    """The same start again: harmless, the backend keeps one execution per ID and this one has our input."""
    try:
        timeout = calls.start_timeout(lease, deadline)
    except DeadlineReached:
        return  # The hold is spent: no new start may be sent under this lease.
    try:
        await calls.send_start(command, timeout)
    except (BackendUnavailable, StartOutcomeUnknown, StartRefused):
        pass  # The next read says what became of it.
    await calls.renew(lease, deadline)
