"""The terminate, the event, the signal and the terminate-existing start when the instance changes just around a
command, on virtual time: the app's own adapters over the model of the backend and the lock storage, with the
instance ended (or replaced, by a start from outside the app) right before a command goes out, or while it is
queued, a start's answer lost, or a write of the keys' record refused. These races are rare in a simulation run;
here each is made to happen once, so that the answer the contract gives for it is checked."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from simulation.model import Message
from simulation.wire import ModelTransport, starter_binding
from singleton_start.adapters.durable_http import DurableBackend
from singleton_start.core.errors import InDoubt, NotRunYet, Sent, Unavailable
from singleton_start.core.idempotency import KEY_EVENT_IN_DOUBT, IdempotencyClaim
from singleton_start.core.outcomes import (
    Accepted,
    Active,
    CommandOutcome,
    Conflict,
    Ended,
    Found,
    NotFound,
    Signalled,
    SignalOutcome,
    Started,
    StartOutcome,
)
from singleton_start.core.ports import Lease
from singleton_start.core.status import Observed
from singleton_start.service.commands import TERMINATE_REASON, Target, raise_event, terminate
from singleton_start.service.hold import Deadline, Ports
from singleton_start.service.signal import SignalCommand, signal
from singleton_start.service.start import StartStats
from singleton_start.settings import ConflictPolicy, Settings
from tests.support.virtual import ORCHESTRATOR, QUIET, VirtualHost, VirtualRun

INSTANCE = "job-1"
OTHER = "OtherOrchestrator"
FOREIGN = "ForeignOrchestrator"  # not on the allowlist


@dataclass
class Twist:
    """What happens to the instance around the next command of one kind: `before` it goes out, `after` it went
    (or was refused)."""

    before: Callable[[], None] = lambda: None
    after: Callable[[], None] = lambda: None


class TwistingBackend(DurableBackend):
    """The app's backend over the model, with the instance changed around the first read, start, terminate or event
    sent, and each read's `with_input` noted."""

    def __init__(self, run: VirtualRun) -> None:
        super().__init__(ModelTransport(run.world), starter_binding())
        self.twists: dict[str, Twist] = {}
        self.reads: list[bool] = []
        # When set, the next start's answer is lost (InDoubt at once) and the start reaches the extension this many
        # seconds later, as one that lands late does.
        self.start_lands_after: float | None = None
        self.landing: asyncio.Future[None] | None = None

    async def read(
        self, instance_id: str, timeout: float, *, with_input: bool = False, with_history: bool = False
    ) -> Observed:
        twist = self.twists.pop("read", Twist())
        self.reads.append(with_input)
        twist.before()
        try:
            return await super().read(instance_id, timeout, with_input=with_input, with_history=with_history)
        finally:
            twist.after()

    async def start(self, orchestrator: str, instance_id: str, orchestrator_input: Any, timeout: float) -> None:
        if (delay := self.start_lands_after) is not None:
            self.start_lands_after = None
            self.landing = asyncio.ensure_future(self._land(delay, orchestrator, instance_id, orchestrator_input))
            raise InDoubt("no answer in time", Sent.START)
        twist = self.twists.pop("start", Twist())
        twist.before()
        try:
            await super().start(orchestrator, instance_id, orchestrator_input, timeout)
        finally:
            twist.after()

    async def _land(self, delay: float, orchestrator: str, instance_id: str, orchestrator_input: Any) -> None:
        await asyncio.sleep(delay)
        await super().start(orchestrator, instance_id, orchestrator_input, 5.0)

    async def terminate(self, instance_id: str, reason: str, timeout: float) -> None:
        twist = self.twists.pop("terminate", Twist())
        twist.before()
        try:
            await super().terminate(instance_id, reason, timeout)
        finally:
            twist.after()

    async def raise_event(self, instance_id: str, event_name: str, data: Any, timeout: float) -> None:
        twist = self.twists.pop("event", Twist())
        twist.before()
        try:
            await super().raise_event(instance_id, event_name, data, timeout)
        finally:
            twist.after()


@dataclass
class App:
    """One worker process over the model, its backend twisted."""

    run: VirtualRun
    host: VirtualHost
    backend: TwistingBackend
    stats: StartStats = field(default_factory=StartStats)

    @property
    def ports(self) -> Ports:
        return Ports(self.backend, self.host.locks, self.host.clock, self.host.settings)

    def deadline(self) -> Deadline:
        return Deadline(self.host.settings.request_timeout_seconds, self.host.clock.now)

    def target(self) -> Target:
        return Target(self.ports, self.deadline(), ORCHESTRATOR, INSTANCE)

    async def signal(self, key: str | None = None, data: Any = "x") -> SignalOutcome:
        """A signal-with-start request, as the route runs it."""
        claim = None if key is None else IdempotencyClaim(key, f"digest-{key}")
        command = SignalCommand(ORCHESTRATOR, INSTANCE, "Work", data, {"n": 1}, claim)
        return await signal(command, self.ports, self.host.flights, self.deadline(), self.stats)

    async def event(self) -> CommandOutcome:
        return await raise_event(self.target(), "Work", 1)

    async def terminate(self) -> CommandOutcome:
        return await terminate(self.target(), "stop")

    async def hold_the_id(self) -> Lease:
        """The ID's lease, taken as another request of this process would hold it."""
        holder = await self.host.locks.try_acquire(self.backend.task_hub, INSTANCE, 5, blob_may_be_missing=True)
        assert holder is not None
        return holder

    async def look(self) -> Found:
        return await self.target().look(with_input=True)

    def end(self) -> None:
        """The instance completes by itself, now."""
        self.run.world.move_instance(INSTANCE, "Completed")

    def running(self, orchestrator: str = ORCHESTRATOR) -> None:
        """A new execution, already running, takes the ID now (an earlier run, or a start from outside the app)."""
        self.run.world.put_instance(INSTANCE, orchestrator, "Running", {"n": 0})


def app(run: VirtualRun, existing: str | None = "Running", **settings: Any) -> App:
    chosen = Settings(orchestrators=(ORCHESTRATOR, OTHER), **settings)
    host = run.host("app", chosen)
    backend = TwistingBackend(run)
    if existing is not None:
        run.world.seed_instance(INSTANCE, ORCHESTRATOR, existing)
    return App(run, replace(host, backend=backend), backend)


def refuse_record_write(a: App, number: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock storage refuses the `number`th write of the keys' record from now on (1: the next one)."""
    locks, writes = a.host.locks, 0
    write = locks.write_record

    async def refusing(lease: Lease, record: Mapping[str, str], timeout: float) -> None:
        nonlocal writes
        writes += 1
        if writes == number:
            raise Unavailable("writing the lock record failed: refused")
        await write(lease, record, timeout)

    monkeypatch.setattr(locks, "write_record", refusing)


def sent(run: VirtualRun, kind: str) -> list[Message]:
    """The commands of one kind the model's control queues got."""
    return [message for message in run.world.messages if message.kind == kind]


@pytest.fixture
def slow_queue() -> VirtualRun:
    """A model whose control queue takes 2 s: a started instance shows Pending that long."""
    return VirtualRun(replace(QUIET, queue_delay=(2.0, 2.0)))


def test_an_event_to_an_instance_that_ended_just_before_it_went_is_410(virtual: VirtualRun) -> None:
    """The extension refuses an event to an ended instance: the caller learns it ended (410), not a failure."""
    a = app(virtual)
    a.backend.twists["event"] = Twist(before=a.end)
    found = virtual.run(a.event())
    assert isinstance(found, Ended) and found.observed.runtime_status == "Completed"


def test_an_event_whose_instance_was_replaced_before_the_read_after_it_is_404(virtual: VirtualRun) -> None:
    """The instance the event was meant for is gone; the active one there now is another, so the answer is 404."""
    a = app(virtual)
    a.backend.twists["event"] = Twist(before=a.end, after=a.running)
    assert virtual.run(a.event()) == NotFound()


def test_an_event_to_an_instance_that_has_not_run_yet_waits_for_it_to_run(slow_queue: VirtualRun) -> None:
    """An instance just started shows Pending for a while: the event waits for it to run instead of a 503."""
    a = app(slow_queue, existing=None)
    assert isinstance(slow_queue.run(a.host.start(INSTANCE, {"n": 1})), Started)
    assert slow_queue.run(a.event()) == Accepted()


@pytest.mark.parametrize("twist", ["before", "after"])
def test_a_terminate_of_an_instance_that_ended_first_is_410(virtual: VirtualRun, twist: str) -> None:
    """Ended just before the terminate went, or by itself while it was queued: either way the caller learns it
    ended (410), not that the terminate may still take effect."""
    a = app(virtual)
    a.backend.twists["terminate"] = Twist(**{twist: a.end})
    found = virtual.run(a.terminate())
    assert isinstance(found, Ended) and found.observed.runtime_status == "Completed"


def test_a_replacing_start_whose_instance_ended_before_the_terminate_went_starts_at_once(
    virtual: VirtualRun,
) -> None:
    """Nothing is queued for an instance that ended before the terminate went: the start decides again and starts."""
    a = app(virtual, conflict_policy=ConflictPolicy.TERMINATE_EXISTING)
    a.backend.twists["terminate"] = Twist(before=a.end)
    assert isinstance(virtual.run(a.host.start(INSTANCE, {"n": 2})), Started)
    virtual.deliver_queued()
    assert virtual.started_inputs(INSTANCE)[-1] == {"n": 2}


def test_a_replacing_start_whose_instance_ended_while_the_terminate_was_queued_is_503_for_the_terminate(
    virtual: VirtualRun,
) -> None:
    """The queued terminate could still hit a new execution: nothing is started, and the 503 says to retry later."""
    a = app(virtual, conflict_policy=ConflictPolicy.TERMINATE_EXISTING)
    a.backend.twists["terminate"] = Twist(after=a.end)
    with pytest.raises(InDoubt) as raised:
        virtual.run(a.host.start(INSTANCE, {"n": 2}))
    assert raised.value.sent is Sent.TERMINATE_FOR_START


def test_a_replacing_start_whose_terminate_does_not_show_is_503_for_the_terminate_once_the_wait_is_over() -> None:
    """The terminate takes 20 s to process; the start waits SINGLETON_TERMINATE_WAIT_SECONDS only, then says the
    terminate may still be queued and nothing was started."""
    run = VirtualRun(replace(QUIET, queue_delay=(20.0, 20.0)))
    try:
        a = app(run, conflict_policy=ConflictPolicy.TERMINATE_EXISTING, terminate_wait_seconds=2.0)
        began = run.now()
        with pytest.raises(InDoubt) as raised:
            run.run(a.host.start(INSTANCE, {"n": 2}))
        assert raised.value.sent is Sent.TERMINATE_FOR_START
        assert run.now() - began < 4.0
    finally:
        run.close()


def test_a_status_read_with_its_input_shows_the_input(virtual: VirtualRun) -> None:
    """?showInput=true on the status route must return the instance's input; without it, none is fetched."""
    a = app(virtual, existing=None)
    assert isinstance(virtual.run(a.host.start(INSTANCE, {"n": 7})), Started)
    virtual.deliver_queued()
    shown = virtual.run(a.look())
    assert isinstance(shown, Active) and json.loads(shown.observed.input) == {"n": 7}


@pytest.mark.parametrize("key", [None, "k"])
def test_a_signal_to_a_running_instance_says_it_started_nothing(virtual: VirtualRun, key: str | None) -> None:
    """The 202's "started" is the JSON boolean false, never null, whether the signal has a key or not."""
    a = app(virtual)
    outcome = virtual.run(a.signal(key))
    assert outcome == Signalled(started=False) and outcome.started is False


@pytest.mark.parametrize(
    ("orchestrator", "then"), [(ORCHESTRATOR, "Running"), (ORCHESTRATOR, "Completed"), (OTHER, "Running")]
)
def test_a_signal_that_finds_an_instance_once_it_has_the_lease_sends_to_it_starts_anew_or_is_409(
    virtual: VirtualRun, orchestrator: str, then: str
) -> None:
    """The signal found no instance and waited for the ID's lease; under it, an instance started meanwhile is
    there: the event goes to it once it runs, starting nothing (the boolean false); when it ended instead of
    running, the signal decides again and starts it; when it runs another orchestrator, the 409 names that one."""
    a = app(virtual, existing=None)

    async def behind_another_holder() -> SignalOutcome:
        holder = await a.hold_the_id()
        signalled = asyncio.ensure_future(a.signal())
        await asyncio.sleep(1.0)
        virtual.world.put_instance(INSTANCE, orchestrator, "Pending", {"n": 0})
        await a.host.locks.release(holder)
        await asyncio.sleep(1.0)
        virtual.world.move_instance(INSTANCE, then)
        return await signalled

    outcome = virtual.run(behind_another_holder())
    if orchestrator == ORCHESTRATOR and then == "Completed":
        assert outcome == Signalled(started=True)
    elif orchestrator == ORCHESTRATOR:
        assert outcome == Signalled(started=False) and outcome.started is False
    else:
        assert isinstance(outcome, Conflict) and outcome.observed.name == OTHER


def test_a_signal_whose_new_instance_ended_before_its_event_says_it_started_it(virtual: VirtualRun) -> None:
    """The start landed: the 503 must say this request started the instance, so that its retry starts nothing."""
    a = app(virtual, existing=None)
    a.backend.twists["event"] = Twist(before=a.end)
    with pytest.raises(NotRunYet) as raised:
        virtual.run(a.signal())
    assert raised.value.started is True


@pytest.mark.parametrize("key", [None, "k"])
def test_a_signal_whose_running_instance_ended_before_its_event_starts_it_again_and_sends(
    virtual: VirtualRun, key: str | None
) -> None:
    """The event certainly did not go: the signal decides again on the ended instance and, once the ID's shared
    lease it joined has run out (other events may have gone under it), starts it and sends."""
    a = app(virtual, lock_lease_seconds=15, lock_wait_seconds=20.0, request_timeout_seconds=40.0)
    a.backend.twists["event"] = Twist(before=a.end)
    assert virtual.run(a.signal(key)) == Signalled(started=True)


def test_a_keyed_signal_that_starts_the_instance_keeps_the_other_keys_answers(virtual: VirtualRun) -> None:
    """Another key's event went to the instance before it ended; its retry is still answered as it was."""
    a = app(virtual)
    assert virtual.run(a.signal("k1")) == Signalled(started=False)
    a.end()
    virtual.run(asyncio.sleep(a.host.settings.lock_lease_seconds))  # the shared lease of k1's event runs out
    assert virtual.run(a.signal("k2")) == Signalled(started=True)
    assert virtual.run(a.signal("k1")) == Signalled(started=False, replayed=True)


def test_a_keyed_signal_whose_start_never_runs_keeps_the_other_keys_answers() -> None:
    """The key's start landed but never ran (503): the record it left must still answer another key's retry."""
    run = VirtualRun(replace(QUIET, starts_run=False))
    try:
        a = app(run)
        assert run.run(a.signal("k1")) == Signalled(started=False)
        a.end()
        run.run(asyncio.sleep(a.host.settings.lock_lease_seconds))  # the shared lease of k1's event runs out
        with pytest.raises(NotRunYet):
            run.run(a.signal("k2"))
        assert run.run(a.signal("k1")) == Signalled(started=False, replayed=True)
    finally:
        run.close()


@pytest.mark.parametrize("key", [None, "k"])
def test_a_signal_to_a_pending_instance_that_ends_before_it_runs_starts_it_anew(
    virtual: VirtualRun, key: str | None
) -> None:
    """Nothing was sent to the instance that never ran: the signal decides again on the ended one and starts it,
    at once (no lease of it is left shared, to expire, in the way)."""
    a = app(virtual, existing="Pending")

    async def ending_while_waited_for() -> SignalOutcome:
        signalled = asyncio.ensure_future(a.signal(key))
        await asyncio.sleep(1.0)
        a.end()
        return await signalled

    assert virtual.run(ending_while_waited_for()) == Signalled(started=True)


def test_keyed_signals_to_another_orchestrators_instance_are_409_one_after_the_other(virtual: VirtualRun) -> None:
    """A keyed signal that finds another orchestrator's instance starts nothing and gives the ID back at once: the
    next request is answered without waiting for a lease left to expire."""
    a = app(virtual, existing=None)
    a.running(OTHER)
    for key in ("k1", "k2"):
        outcome = virtual.run(a.signal(key))
        assert isinstance(outcome, Conflict) and outcome.observed.name == OTHER


def test_each_terminate_goes_with_its_reason_tagged_with_its_request(virtual: VirtualRun) -> None:
    """The reason shown as the output tells this terminate from an earlier one with the same words still queued: the
    caller's reason (or terminate-existing's) and ` [request ` eight hex digits `]`."""
    a = app(virtual)
    assert virtual.run(a.terminate()) == Accepted()
    ended = virtual.run(a.look())
    assert isinstance(ended, Ended) and re.fullmatch(r"stop \[request [0-9a-f]{8}\]", str(ended.observed.output))

    b = app(VirtualRun(QUIET), conflict_policy=ConflictPolicy.TERMINATE_EXISTING)
    try:
        assert isinstance(b.run.run(b.host.start(INSTANCE, {"n": 2})), Started)
        reasons = [str(m.reason) for m in b.run.world.messages if m.kind == "terminate"]
        assert len(reasons) == 1 and TAGGED.fullmatch(reasons[0])
    finally:
        b.run.close()


TAGGED = re.compile(re.escape(TERMINATE_REASON) + r" \[request [0-9a-f]{8}\]")


@pytest.mark.parametrize(
    ("ended", "history"), [("terminated", True), ("terminated", False), ("by itself while pending", True)]
)
def test_a_replacing_start_whose_answer_was_lost_is_started_once_it_shows(
    virtual: VirtualRun, ended: str, history: bool
) -> None:
    """A lost start answer is settled by reads against the ended instance it replaces, read with its input (also
    where the backend shows no history): until the start lands, that instance is what was there before, not
    another start's (which would be a 503)."""
    existing = "Running" if ended == "terminated" else "Pending"
    a = app(virtual, existing=existing, conflict_policy=ConflictPolicy.TERMINATE_EXISTING)
    a.backend.shows_history = history
    a.backend.start_lands_after = 1.0

    async def started() -> StartOutcome:
        starting = asyncio.ensure_future(a.host.start(INSTANCE, {"n": 2}))
        await asyncio.sleep(1.0)
        if existing == "Pending":
            a.end()
        return await starting

    assert isinstance(virtual.run(started()), Started)
    shown = virtual.run(a.look())
    assert isinstance(shown, Active) and json.loads(shown.observed.input) == {"n": 2}


def test_the_event_and_terminate_routes_look_at_the_instance_without_its_input(virtual: VirtualRun) -> None:
    """They never use the input, which may be large: the reads they decide on leave it out (showInput=false)."""
    a = app(virtual)
    assert virtual.run(a.event()) == Accepted()
    assert a.backend.reads and not any(a.backend.reads)
    virtual.run(asyncio.sleep(a.host.settings.lock_lease_seconds))  # the event's shared lease runs out
    a.backend.reads.clear()
    before_terminate: list[bool] = []
    a.backend.twists["terminate"] = Twist(before=lambda: before_terminate.extend(a.backend.reads))
    assert virtual.run(a.terminate()) == Accepted()
    assert before_terminate and not any(before_terminate)


def test_a_keyed_signal_whose_sent_entry_could_not_be_written_is_still_202(
    virtual: VirtualRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event was queued: a failed write of the key's "sent" entry is only logged (its "sending" entry keeps the
    key from sending again), never a 503 that tells the caller to retry what went."""
    a = app(virtual)
    refuse_record_write(a, 2, monkeypatch)  # the first is the "sending" entry
    assert virtual.run(a.signal("k")) == Signalled(started=False)


def test_a_keyed_signal_whose_sending_entry_could_not_be_written_sends_nothing_and_is_503(
    virtual: VirtualRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without its "sending" entry a retry could not know the event went: so no entry, no event."""
    a = app(virtual)
    refuse_record_write(a, 1, monkeypatch)
    with pytest.raises(Unavailable):
        virtual.run(a.signal("k"))
    assert not sent(virtual, "event")


def test_a_keyed_signal_whose_key_could_not_be_restored_after_a_refused_event_answers_by_its_entry(
    virtual: VirtualRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event certainly did not go, but the key's "sending" entry could not be taken back: the failed write is
    only logged and the signal decides again, answering as that entry answers every retry (409), not with a 503."""
    a = app(virtual, lock_lease_seconds=15, lock_wait_seconds=20.0, request_timeout_seconds=40.0)
    a.backend.twists["event"] = Twist(before=a.end)
    refuse_record_write(a, 2, monkeypatch)  # the first is the "sending" entry
    outcome = virtual.run(a.signal("k"))
    assert isinstance(outcome, Conflict) and outcome.because == KEY_EVENT_IN_DOUBT
    assert not sent(virtual, "event") and not sent(virtual, "start")


def test_a_replacing_start_never_terminates_another_orchestrators_instance_that_came_while_it_waited(
    virtual: VirtualRun,
) -> None:
    """While the start waited for the Pending instance to run, a start from outside the app put an instance of an
    orchestrator off the allowlist there: the app may not stop it, so the answer is 409 and no terminate goes."""
    a = app(virtual, existing="Pending", conflict_policy=ConflictPolicy.TERMINATE_EXISTING)

    async def replaced_while_waited_for() -> StartOutcome:
        starting = asyncio.ensure_future(a.host.start(INSTANCE, {"n": 2}))
        await asyncio.sleep(1.0)
        a.running(FOREIGN)
        return await starting

    outcome = virtual.run(replaced_while_waited_for())
    assert isinstance(outcome, Conflict) and outcome.observed.name == FOREIGN
    assert not sent(virtual, "terminate") and not sent(virtual, "start")


def test_a_signal_whose_landed_start_was_overtaken_by_an_outside_one_sends_nothing_and_is_503_for_the_start(
    virtual: VirtualRun,
) -> None:
    """Its start was answered 202, but the instance there is another's, with another input: no event goes to it,
    and the 503 says this request's start may have run (it must not be sent blindly again)."""
    a = app(virtual, existing=None)
    a.backend.twists["start"] = Twist(after=a.running)
    with pytest.raises(InDoubt) as raised:
        virtual.run(a.signal())
    assert raised.value.sent is Sent.START
    assert not sent(virtual, "event")


@pytest.mark.parametrize("key", [None, "k"])
def test_a_signal_whose_start_an_outside_start_got_ahead_of_is_409_naming_that_instance(
    virtual: VirtualRun, key: str | None
) -> None:
    """The extension refused the start under the lease (AlreadyExists): the signal reads again and answers by the
    instance there now, another orchestrator's, instead of failing."""
    a = app(virtual, existing=None)
    a.backend.twists["start"] = Twist(before=lambda: a.running(OTHER))
    outcome = virtual.run(a.signal(key))
    assert isinstance(outcome, Conflict) and outcome.observed.name == OTHER
    assert not sent(virtual, "event")


@pytest.mark.parametrize("orchestrator", [ORCHESTRATOR, OTHER])
def test_a_signal_that_finds_an_active_instance_under_the_lease_sends_no_start(
    virtual: VirtualRun, orchestrator: str
) -> None:
    """The signal found no instance, then under the lease an active one: it sends its event to it, or answers 409
    for another orchestrator's, and sends no start the extension could only refuse."""
    a = app(virtual, existing=None)
    a.backend.twists["read"] = Twist(after=lambda: a.running(orchestrator))
    outcome = virtual.run(a.signal())
    if orchestrator == ORCHESTRATOR:
        assert outcome == Signalled(started=False)
    else:
        assert isinstance(outcome, Conflict) and outcome.observed.name == OTHER
    assert not virtual.world.sends


def test_a_signal_waiting_for_the_lease_is_not_409_for_an_instance_the_holder_may_be_replacing(
    virtual: VirtualRun,
) -> None:
    """Another orchestrator's instance seen during the lock wait may be the one the holder (a terminate-existing
    start) is replacing: the wait goes on, and the signal decides on what is there once the holder is done."""
    a = app(virtual, existing=None)

    async def behind_a_replacing_holder() -> SignalOutcome:
        holder = await a.hold_the_id()
        signalled = asyncio.ensure_future(a.signal())
        await asyncio.sleep(0.5)
        a.running(OTHER)
        await asyncio.sleep(1.0)
        a.running()  # the holder replaced it with an instance of the signal's orchestrator
        await a.host.locks.release(holder)
        return await signalled

    assert virtual.run(behind_a_replacing_holder()) == Signalled(started=False)
