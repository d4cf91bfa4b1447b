"""Runs the app's start and management use cases against the model, one seed at a time, and checks the
invariants after every run; shrinks a failing run to the fewest actors and faults that still fail."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, cast

from singleton_start import manage
from singleton_start.command import StartCommand
from singleton_start.flights import StartsInFlight
from singleton_start.idempotency import IdempotencyClaim, request_digest
from singleton_start.outcomes import Unavailable
from singleton_start.ports import BackendUnavailable, StorageUnavailable
from singleton_start.start import SingletonStarter
from singleton_start.timing import Deadline, DeadlineReached

from .adapters import REQUEST_TAG, ROUTE_ORCHESTRATOR, SimBackend, SimClock, SimGrpcBackend, SimLocks
from .invariants import History, Request, Violation, check
from .loop import VirtualLoop
from .model import OUTSIDE_TAG, World
from .scenario import INSTANCE_ID, OUTSIDE_KINDS, Actor, Scenario, draw

# Long enough after the last request for every queued message, late answer and instance to have ended: an
# ExecutionStarted whose row is not its own is seen ten times over 1,022 s, plus up to 30 s of polling each time,
# before it is discarded.
QUIET_SECONDS = 1500.0
ANSWER_CODES = {
    "Started": 202,
    "Refused": 409,
    "Existing": 200,
    "KeyReused": 422,
    "Unavailable": 503,
    "Unsettled": 503,
    "ArgumentsRefused": 500,
    "Active": 202,
    "Ended": 410,
    "NotFound": 404,
    "Unsure": 503,
    "TerminatePending": 503,
}
# The Backend adapters a run may use: the 1.x SDK's HTTP mapping, or the 2.x SDK's gRPC one.
BACKENDS: dict[str, type[SimBackend]] = {"http": SimBackend, "grpc": SimGrpcBackend}
# The hard cases: a run that reaches none of these explored nothing worth proving.
COVERAGE = (
    "answer_lost",
    "landed_late",
    "landed_after_request_ended",
    "already_exists",
    "etag_race_lost",
    "stale_start_dropped",
    "queued_command_outlived_instance",
    "terminate_discarded",
    "event_discarded",
    "lease_expired",
    "lease_expired_under_holder",
    "renewal_failed",
    "lock_blob_deleted",
    "resend",
    "keyed_retry",
    "replayed",
    "unsettled",
    "terminate_existing",
    "terminate_pending",
    "first_read_stood_in",
    "terminate_route",
    "event_route",
    "outside_start",
    "duplicate_start_500",
    "deferred_start_ran_later",
    "start_discarded_after_dequeues",
    "terminate_merged_never_run",
    "event_dropped_never_run",
    "command_to_ended_discarded",
    "suspended",
    "resumed",
    "continued_as_new",
    "outside_terminate",
    "outside_event",
    "outside_suspend",
    "outside_purge",
)


@dataclass
class RunResult:
    scenario: Scenario
    violations: list[Violation]
    coverage: Counter[str]
    timeline: list[str]

    @property
    def failed(self) -> bool:
        return bool(self.violations)


class Host:
    """One worker process of the app: its own adapters and its own starts in flight."""

    def __init__(self, world: World, scenario: Scenario, index: int, backend: str) -> None:
        self.backend = BACKENDS[backend](world)
        self.locks = SimLocks(world, scenario.settings.lock_lease_seconds, f"h{index}")
        self.clock = SimClock(world, f"h{index}")
        self.flights = StartsInFlight()


def outcome_name(outcome: object) -> str:
    return type(outcome).__name__


async def _start(host: Host, scenario: Scenario, actor: Actor) -> Request:
    claim = None
    if actor.key is not None:
        body = json.dumps(actor.input).encode() if actor.input is not None else b""
        claim = IdempotencyClaim(actor.key, request_digest(actor.orchestrator, body))
    command = StartCommand(actor.orchestrator, INSTANCE_ID, actor.input, claim)
    starter = SingletonStarter(
        backend=host.backend, locks=host.locks, settings=scenario.settings, flights=host.flights, clock=host.clock
    )
    outcome = await starter.start(command)
    name = outcome_name(outcome)
    return Request(
        REQUEST_TAG.get(),
        "start",
        actor.orchestrator,
        actor.input,
        actor.key,
        name,
        ANSWER_CODES.get(name, 500),
        bool(getattr(outcome, "replayed", False)),
    )


async def _route(host: Host, scenario: Scenario, actor: Actor) -> Request:
    """The terminate or event route's use case: act only on an active instance of the named orchestrator."""
    ROUTE_ORCHESTRATOR.set(actor.orchestrator)
    settings = scenario.settings
    deadline = Deadline(settings.request_timeout_seconds, host.clock.now)
    reason = "simulated" if actor.kind == "terminate" else None

    async def act(limit: float) -> None:
        if actor.kind == "terminate":
            await host.backend.terminate(INSTANCE_ID, "simulated", limit)
        else:
            await host.backend.raise_event(INSTANCE_ID, "Approval", None, limit)

    under_lease = manage.UnderLease(cast(Any, host.backend), host.locks, host.clock, settings, deadline)
    try:
        found: object = await under_lease.act(actor.orchestrator, INSTANCE_ID, manage.Send(act, reason))
    except (BackendUnavailable, StorageUnavailable, DeadlineReached):
        found = Unavailable("unavailable")
    name = outcome_name(found)
    return Request(REQUEST_TAG.get(), actor.kind, actor.orchestrator, outcome=name, status=ANSWER_CODES.get(name, 500))


async def _request(world: World, host: Host, scenario: Scenario, actor: Actor) -> Request:
    tag = f"h{actor.host}/{actor.name}"
    REQUEST_TAG.set(tag)
    world.active_requests.add(tag)
    world.log(tag, f"arrives: {actor.describe()}")
    try:
        if actor.kind == "start":
            request = await _start(host, scenario, actor)
        else:
            request = await _route(host, scenario, actor)
    except Exception as error:  # noqa: BLE001 - a bug in the use case: its caller gets 500
        world.log(tag, f"raised {type(error).__name__}: {error}")
        request = Request(tag, actor.kind, actor.orchestrator, actor.input, actor.key, "internal", 500)
    finally:
        world.active_requests.discard(tag)
    world.log(tag, f"answered {request.status} ({request.outcome}{', replayed' if request.replayed else ''})")
    return request


async def _run(world: World, scenario: Scenario, backend: str) -> list[Request]:
    loop = asyncio.get_running_loop()
    hosts = [Host(world, scenario, index, backend) for index in range(scenario.hosts)]
    if scenario.existing is not None:
        world.seed_instance(INSTANCE_ID, *scenario.existing)
    tasks: list[asyncio.Task[Request]] = []
    for actor in scenario.actors:
        await asyncio.sleep(max(0.0, actor.at - loop.time()))
        if actor.kind in OUTSIDE_KINDS:
            _outside(world, actor)
            continue
        tasks.append(asyncio.ensure_future(_request(world, hosts[actor.host], scenario, actor)))
    requests = [await task for task in tasks]
    await asyncio.sleep(QUIET_SECONDS)
    return requests


def _outside(world: World, actor: Actor) -> None:
    """A client of the task hub that is not the app acts on the instance, through the extension's handlers."""
    acts: dict[str, Callable[[], None]] = {
        "outside": lambda: world.start_outside(INSTANCE_ID, actor.orchestrator),
        "outside-terminate": lambda: world.terminate_outside(INSTANCE_ID),
        "outside-event": lambda: world.raise_event_outside(INSTANCE_ID),
        "outside-suspend": lambda: world.suspend_outside(INSTANCE_ID),
        "outside-resume": lambda: world.resume_outside(INSTANCE_ID),
        "outside-purge": lambda: world.purge_outside(INSTANCE_ID),
    }
    world.log(OUTSIDE_TAG, actor.describe())
    acts[actor.kind]()


def run(scenario: Scenario, backend: str = "http") -> RunResult:
    """One run of a scenario on a fresh virtual loop, the app's hosts talking through the named Backend
    adapter (BACKENDS); the same scenario and adapter give the same run."""
    random.seed(scenario.seed)  # the app's backoff jitter
    loop = VirtualLoop()
    versions = scenario.versions
    if backend == "http":
        # The 1.x SDK's continue_as_new has no flag to keep unconsumed events.
        versions = replace(versions, continue_as_new_keeps_events=False)
    world = World(_LoopClock(loop), scenario.seed, scenario.faults, versions)
    logging.disable(logging.WARNING)
    try:
        requests = loop.run_until_complete(_run(world, scenario, backend))
    finally:
        logging.disable(logging.NOTSET)
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.close()
    history = History(
        requests,
        list(world.executions.values()),
        world.messages,
        world.sends,
        scenario.settings.orchestrators,
        scenario.faults.late_landing_bound,
        frozenset(world.foreign_raced),
        tuple(world.records_lost_at),
    )
    coverage = _coverage(world, scenario, requests)
    timeline = [f"{at:9.3f}  {who:<10} {what}" for at, who, what in world.timeline]
    return RunResult(scenario, check(history), coverage, timeline)


class _LoopClock:
    """The model's Scheduler on the virtual loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def now(self) -> float:
        return self._loop.time()

    def at(self, when: float, callback: Any) -> None:
        self._loop.call_at(when, callback)


def _coverage(world: World, scenario: Scenario, requests: Iterable[Request]) -> Counter[str]:
    coverage = Counter({name: 1 for name, count in world.coverage.items() if count})
    keys: Counter[str] = Counter()
    for request in requests:
        if request.kind == "start" and request.key is not None:
            keys[request.key] += 1
        if request.replayed:
            coverage["replayed"] = 1
        if request.outcome == "Unsettled":
            coverage["unsettled"] = 1
        if request.outcome == "TerminatePending":
            coverage["terminate_pending"] = 1
        if request.kind in ("terminate", "event"):
            coverage[f"{request.kind}_route"] = 1
    if any(count > 1 for count in keys.values()):
        coverage["keyed_retry"] = 1
    if any(m.kind == "terminate" and m.route is None and m.tag != OUTSIDE_TAG for m in world.messages):
        coverage["terminate_existing"] = 1
    coverage[f"conflict:{scenario.settings.conflict_policy.value}"] = 1
    coverage[f"dt.azurestorage:{'>=2.7.0' if world.versions.terminate_marks_never_run else '<2.7.0'}"] = 1
    coverage[f"reuse:{scenario.settings.reuse_policy.value}"] = 1
    return coverage


def shrink(result: RunResult, rerun: Callable[[Scenario], RunResult] | None = None) -> RunResult:
    """The smallest scenario found, one step at a time, that still breaks the first invariant broken."""
    rerun = rerun or run
    target = result.violations[0].invariant
    best = result
    improved = True
    while improved:
        improved = False
        for candidate in best.scenario.smaller():
            attempt = rerun(candidate)
            if any(v.invariant == target for v in attempt.violations):
                best, improved = attempt, True
                break
    return best


def run_seed(seed: int, late_landing_bound: float = 8.0, backend: str = "http") -> RunResult:
    """The run of a seed's scenario, which is the same whichever adapter runs it."""
    return run(draw(seed, late_landing_bound), backend)
