"""Runs the app's start and management use cases against the model, one seed at a time, and checks the
invariants after every run; shrinks a failing run to the fewest actors and faults that still fail."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, cast

import azure.functions as func

from singleton_start.adapters.blob_lease import LeaseLocks
from singleton_start.adapters.durable_http import DurableBackend
from singleton_start.core.errors import Sent
from singleton_start.core.ports import Backend
from singleton_start.http.adapter import HttpAdapter
from singleton_start.http.contract import IN_DOUBT_MESSAGES
from singleton_start.http.routes import EventRoute, SignalRoute, StartRoute, TerminateRoute

from .invariants import History, Request, Violation, check
from .loop import VirtualLoop
from .model import OUTSIDE_TAG, World
from .scenario import INSTANCE_ID, OUTSIDE_KINDS, Actor, Scenario, draw
from .wire import (
    REQUEST_TAG,
    ROUTE_ORCHESTRATOR,
    STALLED,
    ModelContainer,
    ModelGrpcBackend,
    ModelTransport,
    SimClock,
    lock_key,
    starter_binding,
)

# Long enough after the last request for every queued message, late answer and instance to have ended: an
# ExecutionStarted whose row is not its own is seen ten times over 1,022 s, plus up to 30 s of polling each time,
# before it is discarded.
QUIET_SECONDS = 1500.0
# The Backend adapters a run may use: the 1.x adapter over the model's HTTP API, or the 2.x one's reading of
# the extension's gRPC answers.
BACKENDS = ("http", "grpc")
PUBLIC_BASE_URL = "http://localhost:7071/api/orchestrators"
EVENT_NAME = "Work"
# What a 503 in doubt says, by its message: a start that may still land, or a terminate-existing's terminate.
IN_DOUBT = {
    message: "TerminatePending" if sent is Sent.TERMINATE_FOR_START else "InDoubt"
    for sent, message in IN_DOUBT_MESSAGES.items()
}
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
    "terminate_merged_into_a_run_row",
    "checkpoint_overwrote_newer_row",
    "event_dropped_never_run",
    "command_to_ended_discarded",
    "suspended",
    "resumed",
    "continued_as_new",
    "outside_terminate",
    "outside_event",
    "outside_suspend",
    "outside_purge",
    "request_cancelled",
    "signal_started",
    "signal_to_running",
    "signal_started_not_run_yet",
    "concurrent_signals_one_start",
    "shared_lease_joined",
    "keyed_signal_replayed",
    "keyed_signal_delivered_on_retry",
    "sent_again_after_503",
    "not_run_yet",
    "clock_skew",
    "several_ids",
    "canceled_instance",
)


@dataclass
class RunResult:
    scenario: Scenario
    violations: list[Violation]
    coverage: Counter[str]
    timeline: list[str]
    requests: list[Request] = field(default_factory=list)  # as their callers saw them
    # The storage calls the hosts' LeaseLocks made, by kind (what the benchmark counts as the lock's cost).
    storage_calls: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> bool:
        return bool(self.violations)


class Host:
    """One worker process of the app: its routes, as the v1 folders load them, each with its own lock client over
    the model's storage and the host's clock (its wall clock skewed as the scenario says)."""

    def __init__(self, world: World, scenario: Scenario, index: int, backend: str) -> None:
        self.world, self.backend_kind = world, backend
        skew = scenario.skews[index] if index < len(scenario.skews) else 0.0
        self.clock = SimClock(world, f"h{index}", skew)
        settings = scenario.settings
        container = ModelContainer(world, settings.lock_lease_seconds)

        self.locks: list[LeaseLocks] = []

        def locks() -> LeaseLocks:
            model = cast(Any, container)  # the container client's calls LeaseLocks makes, over the model
            made = LeaseLocks(model, settings.lock_lease_seconds, self.clock, lease_client=container.lease_client)
            self.locks.append(made)
            return made

        self.routes: dict[str, HttpAdapter] = {
            "start": StartRoute(settings, locks(), self.clock),
            "terminate": TerminateRoute(settings, locks(), self.clock),
            "event": EventRoute(settings, locks(), self.clock),
            "signal": SignalRoute(settings, locks(), self.clock),
        }
        self.transport = ModelTransport(world)

    def backend(self) -> str | Backend:
        """What the function is handed: the 1.x binding (DurableBackend over the model's HTTP API), or the 2.x one."""
        if self.backend_kind == "grpc":
            return ModelGrpcBackend(self.world)
        return DurableBackend(self.transport, starter_binding())


def http_request(actor: Actor) -> func.HttpRequest:
    """The HttpRequest the worker builds for the actor's request."""
    url = f"{PUBLIC_BASE_URL}/{actor.orchestrator}/{actor.instance_id}"
    route_params = {"functionName": actor.orchestrator, "instanceId": actor.instance_id}
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    value: Any = None
    if actor.kind == "start":
        value = actor.input
    elif actor.kind == "signal":
        url, route_params = f"{url}/signal/{EVENT_NAME}", {**route_params, "eventName": EVENT_NAME}
        value = {"input": actor.input, "data": actor.data}
    elif actor.kind == "terminate":
        url, params = f"{url}/terminate?reason=simulated", {"reason": "simulated"}
    else:
        url, route_params = f"{url}/events/{EVENT_NAME}", {**route_params, "eventName": EVENT_NAME}
        value = actor.data
    body = json.dumps(value).encode() if value is not None else b""
    if body:
        headers["Content-Type"] = "application/json"
    if actor.key is not None:
        headers["Idempotency-Key"] = actor.key
    return func.HttpRequest("POST", url, headers=headers, params=params, route_params=route_params, body=body)


def answer_of(actor: Actor, tag: str, response: func.HttpResponse, arrived: float, answered: float) -> Request:
    """The request as its caller saw it: the answer's status, and what it says (a 503 in doubt, a replay)."""
    status = response.status_code
    body = json.loads(response.get_body() or b"null")
    message = body.get("message") if isinstance(body, dict) else None
    if status == 503:
        outcome = IN_DOUBT.get(message, "Unavailable") if isinstance(message, str) else "Unavailable"
        if isinstance(message, str) and message.startswith("This request started the instance"):
            outcome = "StartedNotSignalled"
    elif actor.kind in ("start", "signal"):
        outcome = {202: "Started", 200: "Existing", 409: "Conflict", 422: "KeyReused"}.get(status, "internal")
    else:
        outcome = {202: "Accepted", 404: "NotFound", 410: "Ended"}.get(status, "internal")
    replayed = response.headers.get("Idempotent-Replayed") == "true"
    started = bool(body.get("started")) if actor.kind == "signal" and isinstance(body, dict) else None
    return Request(
        tag,
        actor.kind,
        actor.orchestrator,
        actor.input,
        actor.key,
        outcome,
        status,
        replayed,
        instance_id=actor.instance_id,
        arrived=arrived,
        answered=answered,
        body=response.get_body().decode(),
        started=started,
        data=actor.data,
    )


async def _requests(world: World, host: Host, actor: Actor) -> list[Request]:
    """The actor's request, and the same request again after each 503 as long as its caller retries."""
    answered = [await _request(world, host, actor, f"h{actor.host}/{actor.name}")]
    for attempt in range(2, actor.retries + 2):
        if answered[-1].status != 503:
            break
        await asyncio.sleep(actor.retry_delay)
        answered.append(await _request(world, host, actor, f"h{actor.host}/{actor.name}.{attempt}"))
    return answered


async def _request(world: World, host: Host, actor: Actor, tag: str) -> Request:
    REQUEST_TAG.set(tag)
    ROUTE_ORCHESTRATOR.set(actor.orchestrator if actor.kind != "start" else None)
    world.active_requests.add(tag)
    world.log(tag, f"arrives: {actor.describe()}")
    loop = asyncio.get_running_loop()
    arrived = loop.time()
    handling = asyncio.ensure_future(host.routes[actor.kind].handle(http_request(actor), host.backend()))
    if actor.cancel_after is not None:
        loop.call_at(arrived + actor.cancel_after, handling.cancel)
    try:
        response = await handling
    except asyncio.CancelledError:
        world.log(tag, "cancelled: its caller left")
        return Request(
            tag,
            actor.kind,
            actor.orchestrator,
            actor.input,
            actor.key,
            "cancelled",
            0,
            instance_id=actor.instance_id,
            arrived=arrived,
            answered=loop.time(),
        )
    finally:
        world.active_requests.discard(tag)
    request = answer_of(actor, tag, response, arrived, loop.time())
    world.log(tag, f"answered {request.status} ({request.outcome}{', replayed' if request.replayed else ''})")
    return request


async def _run(world: World, scenario: Scenario, backend: str) -> tuple[list[Request], Counter[str]]:
    loop = asyncio.get_running_loop()
    hosts = [Host(world, scenario, index, backend) for index in range(scenario.hosts)]
    if scenario.existing is not None:
        world.seed_instance(INSTANCE_ID, *scenario.existing)
    tasks: list[asyncio.Task[list[Request]]] = []
    for actor in scenario.actors:
        await asyncio.sleep(max(0.0, actor.at - loop.time()))
        if actor.kind in OUTSIDE_KINDS:
            _outside(world, actor)
            continue
        tasks.append(asyncio.ensure_future(_requests(world, hosts[actor.host], actor)))
    requests = [request for task in tasks for request in await task]
    await asyncio.sleep(QUIET_SECONDS)
    return requests, sum((locks.calls for host in hosts for locks in host.locks), Counter())


def _outside(world: World, actor: Actor) -> None:
    """A client of the task hub that is not the app acts on the instance, through the extension's handlers."""
    instance_id = actor.instance_id
    acts: dict[str, Callable[[], None]] = {
        "outside": lambda: world.start_outside(instance_id, actor.orchestrator),
        "outside-terminate": lambda: world.terminate_outside(instance_id),
        "outside-event": lambda: world.raise_event_outside(instance_id),
        "outside-suspend": lambda: world.suspend_outside(instance_id),
        "outside-resume": lambda: world.resume_outside(instance_id),
        "outside-purge": lambda: world.purge_outside(instance_id),
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
        requests, storage_calls = loop.run_until_complete(_run(world, scenario, backend))
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
        records_lost(world, scenario),
        settings=scenario.settings,
        reads_history=backend == "http",
        stalled=tuple(STALLED.get(world, [])),
        outside_purged_unrun=bool(world.coverage["outside_purge_never_run"]),
        landings=tuple(world.landings),
    )
    coverage = _coverage(world, scenario, requests, storage_calls)
    timeline = [f"{at:9.3f}  {who:<10} {what}" for at, who, what in world.timeline]
    return RunResult(scenario, check(history), coverage, timeline, requests, storage_calls)


class _LoopClock:
    """The model's Scheduler on the virtual loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def now(self) -> float:
        return self._loop.time()

    def at(self, when: float, callback: Any) -> None:
        self._loop.call_at(when, callback)


def records_lost(world: World, scenario: Scenario) -> tuple[tuple[float, str], ...]:
    """When a lifecycle rule deleted a lock blob, by the instance ID the blob is named after."""
    ids = {lock_key(actor.instance_id): actor.instance_id for actor in scenario.actors}
    return tuple((at, ids.get(key, key)) for at, key in world.records_lost)


def _coverage(
    world: World, scenario: Scenario, requests: Iterable[Request], storage_calls: Counter[str]
) -> Counter[str]:
    coverage = Counter({name: 1 for name, count in world.coverage.items() if count})
    if storage_calls["lease_joined"]:
        coverage["shared_lease_joined"] = 1  # an event request joined its process's shared lease, no call made
    keys: Counter[str] = Counter()
    for request in requests:
        if request.kind in ("start", "signal") and request.key is not None:
            keys[f"{request.instance_id}/{request.key}"] += 1
        if request.replayed:
            coverage["replayed"] = 1
        if request.outcome == "InDoubt" and request.kind == "start":
            coverage["unsettled"] = 1
        if request.outcome == "TerminatePending":
            coverage["terminate_pending"] = 1
        if request.kind in ("terminate", "event"):
            coverage[f"{request.kind}_route"] = 1
        if request.outcome == "cancelled":
            coverage["request_cancelled"] = 1
        if request.kind == "signal" and request.status == 202:
            coverage["signal_started" if request.started else "signal_to_running"] = 1
        if request.outcome == "StartedNotSignalled":
            coverage["signal_started_not_run_yet"] = 1
        if request.kind == "signal" and request.key is not None and request.status == 202:
            own = any(e.tag == request.tag for e in world.executions.values())
            if request.replayed:
                coverage["keyed_signal_replayed"] = 1
            elif request.started and not own:
                coverage["keyed_signal_delivered_on_retry"] = 1
        if "." in request.tag.rsplit("/", 1)[-1]:
            coverage["sent_again_after_503"] = 1
        if request.status == 503 and request.outcome == "Unavailable" and "not started running yet" in request.body:
            coverage["not_run_yet"] = 1
    if any(count > 1 for count in keys.values()):
        coverage["keyed_retry"] = 1
    signals = [r for r in requests if r.kind == "signal"]
    if len(signals) >= 8 and sum(1 for r in signals if r.status == 202 and r.started) == 1:
        coverage["concurrent_signals_one_start"] = 1
    if any(scenario.skews):
        coverage["clock_skew"] = 1
    if len({r.instance_id for r in requests}) > 1:
        coverage["several_ids"] = 1
    if any(e.status == "Canceled" for e in world.executions.values()):
        coverage["canceled_instance"] = 1
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
