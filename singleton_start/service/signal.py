"""Signal-with-start: hand work to the singleton in one request. The event goes to the active instance of the
orchestrator; when there is none (or an ended one the reuse policy lets be replaced), the instance is started
first, with the request's input, under the ID's lease, and the event is sent once the new execution has run.

An event is always sent under the ID's shared lease (commands.py), so that no start can put another execution
under the ID while it may still land: a signal that started the instance turns its own lease into the shared one
before it sends, and the signals that waited for it join that lease. A 202 says the event was queued for the
execution the answer names, once: the event is never sent twice by one request, and one whose answer was lost is
in doubt (503).

A signal with an Idempotency-Key holds the ID's lease alone, whatever it finds, so that it alone reads and writes
its key's entry on the lock blob (core/idempotency.py): a retry is answered as the first request was once its
event was queued, sends the event to the instance the key started when only the start had landed, and never sends
or starts again what may have gone. It waits for the events in flight to the ID, where an unkeyed signal does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.decisions import Landed, SignalAction, signal_action
from ..core.errors import InDoubt, InstanceEnded, NoInstance, NotRunYet, Sent, Unavailable
from ..core.idempotency import (
    KEY_INSTANCE_GONE,
    IdempotencyClaim,
    KeyStartLanded,
    sending_entry,
    sent_entry,
    settled_signal_replay,
    signal_replay,
    with_entry,
)
from ..core.outcomes import Conflict, KeyReused, Signalled, SignalOutcome, Started
from ..core.ports import LockRecord
from ..core.status import InstanceState, Observed
from .commands import has_run_or_ended, run_first
from .hold import Deadline, Hold, Ports, poll, retried, take
from .start import Attempt, SingletonStarter, StartCommand, StartsInFlight, StartStats

# A signal goes round at most this often: the instance it found changes between the read and the lease (it ends,
# or another signal starts it), and each round reads again.
MAX_ROUNDS = 3


@dataclass(frozen=True)
class SignalCommand:
    """What a valid signal request asks for: the event, and the input to start the orchestrator with if needed."""

    orchestrator: str
    instance_id: str
    event_name: str
    data: Any
    input: Any
    idempotency: IdempotencyClaim | None = None


class Signal:
    """Runs signal-with-start for one request against the ports."""

    def __init__(
        self, command: SignalCommand, ports: Ports, flights: StartsInFlight, deadline: Deadline, stats: StartStats
    ) -> None:
        self.command, self.ports, self.deadline = command, ports, deadline
        self.key = (ports.backend.task_hub, command.instance_id)
        start = StartCommand(command.orchestrator, command.instance_id, command.input, command.idempotency)
        self.starter = SingletonStarter(start, ports, flights, deadline, stats)

    async def signal(self) -> SignalOutcome:
        """The outcome; Unavailable, NotRunYet or InDoubt as 503s say."""
        observed = await retried(self.ports, self.deadline, self.read)
        sent: SignalOutcome | Observed
        for _ in range(MAX_ROUNDS):
            match self.action(observed):
                case _ if self.command.idempotency is not None:
                    sent = await self.keyed(observed)
                case SignalAction.CONFLICT:
                    return Conflict(observed)
                case SignalAction.SEND:
                    sent = await self.send_to_running(observed)
                case SignalAction.START:
                    sent = await self.start_then_send(observed)
            if not isinstance(sent, Observed):
                return sent
            observed = sent  # the instance changed under us: decide again on what is there now
        raise NotRunYet("the instance kept changing while the signal was sent; nothing was sent")

    async def keyed(self, observed: Observed) -> SignalOutcome | Observed:
        """A keyed signal: a retry of one whose event went is answered at once; else, under the ID's lease held
        alone, its key's entry first, then the table."""
        claim = self.command.idempotency
        assert claim is not None
        timeout = self.deadline.timeout(self.ports.settings.backend_timeout_seconds)
        record = await self.ports.locks.read_record(*self.key, timeout)
        if (settled := settled_signal_replay(claim, record)) is not None:
            return settled  # no wait for the events in flight to the ID
        held = await take(self.ports, self.deadline, self.key, blob_may_be_missing=not observed.exists)
        assert isinstance(held, Hold)
        async with held as hold:
            return await self.keyed_under_lease(hold, claim)

    async def keyed_under_lease(self, hold: Hold, claim: IdempotencyClaim) -> SignalOutcome | Observed:
        before = await hold.call(self.read)
        record = await hold.call(lambda timeout: self.ports.locks.read_record(*self.key, timeout))
        match signal_replay(claim, record, before, self.command.input):
            case KeyStartLanded(observed=ours):
                return await self.deliver(hold, record, ours, started=True, retry=True)
            case Signalled() | Conflict() | KeyReused() as answer:
                return answer
        match self.action(before):
            case SignalAction.CONFLICT:
                return Conflict(before)
            case SignalAction.SEND:
                return await self.deliver(hold, record, before, started=False)
        # The starter records the key as starting; its own "started" mark is a last write, which a hold left to
        # expire never makes: the entries that follow are this signal's.
        attempt = Attempt(before, record)
        if not isinstance(await self.starter.send(hold, attempt), Started):
            return Conflict(await hold.call(self.read))  # only a start from outside the app gets in the way
        # A retry tells the key's instance by the window its start could land in: no one else may start the ID in
        # that window, so unless the event goes (and the lease is shared), the lease is left to expire, not released.
        hold.outstanding("key")
        return await self.deliver(hold, record, await self.run_started(hold, attempt), started=True)

    async def deliver(
        self, hold: Hold, record: LockRecord, observed: Observed, *, started: bool, retry: bool = False
    ) -> Signalled | Conflict | Observed:
        """A keyed signal's event, once the instance has run: the key recorded as sending first (from then on it is
        never sent again), then as sent. An instance that ended first is decided on again, unless the key started
        it: then this request answers that its start landed (503), and a retry that the key's instance is gone."""
        try:
            return await self._deliver(hold, record, observed, started=started, retry=retry)
        except Unavailable as error:
            if not started:
                raise
            # Whatever kept the event from going, the key's start has landed: the answer must say so.
            raise NotRunYet(f"the start landed, but no event was sent: {error}", started=True) from None

    async def _deliver(
        self, hold: Hold, record: LockRecord, observed: Observed, *, started: bool, retry: bool
    ) -> Signalled | Conflict | Observed:
        claim = self.command.idempotency
        assert claim is not None
        ran = await run_first(hold, self.read, observed)
        if self.action(ran) is not SignalAction.SEND or (started and ran.state is not InstanceState.ACTIVE):
            if retry:
                return Conflict(ran, KEY_INSTANCE_GONE)
            if started:
                raise NotRunYet("the instance this request started has ended already; no event was sent")
            return ran
        sending = sending_entry(claim, self.ports.clock.utcnow(), started=started)
        await hold.record(with_entry(record.metadata, claim, sending), starting=True)
        match await self.send(hold, started=started):
            case Signalled() as signalled:
                sent = sent_entry(claim, self.ports.clock.utcnow(), started=started)
                await hold.record(with_entry(record.metadata, claim, sent), starting=False)
                return signalled
            case gone:
                await hold.record(record.metadata, starting=False)  # certainly not sent: the key as it was
                return gone

    async def send_to_running(self, observed: Observed) -> Signalled | Observed:
        """The event to the active instance, once it has run, under the ID's shared lease."""
        if not observed.has_run:
            limit = self.ports.settings.backend_timeout_seconds
            ran = await poll(self.ports.clock, lambda: self.deadline, self.read, limit, has_run_or_ended)
            if ran is None:
                raise NotRunYet("the instance has not run yet, and an event sent to it before it runs is lost")
            if self.action(ran) is not SignalAction.SEND:
                return ran
        held = await take(self.ports, self.deadline, self.key, shared=True)
        assert isinstance(held, Hold)
        async with held as hold:
            seen = await hold.call(self.read)
            if self.action(seen) is not SignalAction.SEND:
                return seen
            if not seen.has_run:
                raise NotRunYet("the instance has not run yet, and an event sent to it before it runs is lost")
            return await self.send(hold, started=False)

    async def start_then_send(self, observed: Observed) -> Signalled | Conflict | Observed:
        """Start the orchestrator under the ID's lease, wait for the new execution to run, then send the event under
        the lease made shared. A wait for the lease ends early when a read shows another request started it."""

        def running(seen: Observed) -> Observed | None:
            return seen if self.action(seen) is SignalAction.SEND and seen.has_run else None

        held = await take(
            self.ports,
            self.deadline,
            self.key,
            blob_may_be_missing=not observed.exists,
            while_waiting=self.read,
            answer=running,
        )
        if not isinstance(held, Hold):
            return held
        async with held as hold:
            before = await hold.call(self.read)
            match self.action(before):
                case SignalAction.CONFLICT:
                    return Conflict(before)
                case SignalAction.SEND:
                    if (await run_first(hold, self.read, before)).state is not InstanceState.ACTIVE:
                        return await hold.call(self.read)
                    return await self.send(hold, started=False)
            attempt = Attempt(before, LockRecord())
            if not isinstance(await self.starter.send(hold, attempt), Started):
                return await hold.call(self.read)  # another start got there first: decide again on it
            try:
                ran = await self.run_started(hold, attempt)
                if ran.state is not InstanceState.ACTIVE:
                    raise NotRunYet("the instance this request started has ended already; no event was sent")
                return await self.send(hold, started=True)
            except Unavailable as error:
                # Whatever kept the event from going, this request's start has landed: the answer must say so.
                raise NotRunYet(f"the start landed, but no event was sent: {error}", started=True) from None

    async def run_started(self, hold: Hold, attempt: Attempt) -> Observed:
        """The instance this request's landed start made, once it has run (or ended); NotRunYet (started) when it
        has not run within the hold, InDoubt when another instance is there instead."""
        ran = await hold.poll(self.read, has_run_or_ended)  # a failed read is a poll lost: poll raises none
        if ran is None:
            raise NotRunYet("the start landed; the instance had not run yet, so no event was sent", started=True)
        if not isinstance(self.starter.settled(attempt, ran), Landed) or not ran.runs(self.command.orchestrator):
            # Only a start from outside the app can have taken the ID from ours: no event goes to it.
            raise InDoubt("another instance showed up where this request's start went", Sent.START)
        return ran

    async def send(self, hold: Hold, *, started: bool) -> Signalled | Observed:
        """Send the event under the shared lease (this hold made shared if it was held alone). An instance that
        ended by itself just before is decided on again, unless this request started it: the same request must
        not start the same input twice."""
        await hold.share()
        command, backend = self.command, self.ports.backend
        try:
            await hold.send(
                "event", lambda t: backend.raise_event(command.instance_id, command.event_name, command.data, t)
            )
        except (NoInstance, InstanceEnded):
            if started:
                message = "the instance this request started ended before the event was sent"
                raise NotRunYet(message, started=True) from None
            return await hold.call(self.read)
        return Signalled(started)

    def action(self, observed: Observed) -> SignalAction:
        return signal_action(observed, self.command.orchestrator, self.ports.settings.reuse_policy)

    async def read(self, timeout: float) -> Observed:
        return await self.ports.backend.read(self.command.instance_id, timeout, with_input=True)


async def signal(
    command: SignalCommand, ports: Ports, flights: StartsInFlight, deadline: Deadline, stats: StartStats
) -> SignalOutcome:
    """Run signal-with-start for one request."""
    try:
        return await Signal(command, ports, flights, deadline, stats).signal()
    finally:
        stats.lock_wait(False)
