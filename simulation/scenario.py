"""What one simulated run is made of, drawn from its seed: settings, hosts, actors and faults.

A scenario is a plain value, so that a failing one can be shrunk (fewer actors, fewer faults, fewer hosts)
and run again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from singleton_start.settings import ConflictPolicy, ReusePolicy, Settings

from .model import FAULT_NAMES, Faults, Versions, draw_versions

INSTANCE_ID = "job"
# A run's requests address one to three instance IDs (the first is the one an earlier instance may hold).
INSTANCE_IDS = ("job", "job-2", "job-3")
ALLOWLIST = ("SingletonOrchestrator", "Reporter")
OUTSIDER = "Outsider"  # an orchestrator of the task hub that the app's allowlist does not name
INPUTS: tuple[Any, ...] = (*({"order": n} for n in range(1, 7)), "text", [1, 2], None)
KEYS = ("key-a", "key-b", "key-c", "key-d", "key-e")
# Concurrent signals for an absent ID, in runs that draw a signal burst: one start, every event to it.
SIGNAL_BURST = 30
# How far a host's wall clock may be from storage's: within the second the app's records count on.
CLOCK_SKEWS = (0.0, 0.0, 0.3, -0.3, 0.9, -0.9)
# What a client of the task hub outside the app does to the instance (Actor.kind), each through the extension's
# own handler; "outside" is a start.
DEFAULT_VERSIONS = Versions()
OUTSIDE_KINDS = ("outside", "outside-terminate", "outside-event", "outside-suspend", "outside-resume", "outside-purge")


@dataclass(frozen=True)
class Actor:
    """One caller: a start, terminate or event request to a host of the app, or a client outside the app."""

    name: str
    kind: str  # "start", "terminate", "event", "signal", or one of OUTSIDE_KINDS
    at: float
    host: int
    orchestrator: str
    input: Any = None
    key: str | None = None
    instance_id: str = INSTANCE_ID
    data: Any = None  # an event's or a signal's
    cancel_after: float | None = None  # the request is cancelled this long after it arrived (its caller left)
    # A caller that sends the same request again, this long after each 503, at most `retries` times (with its key).
    retries: int = 0
    retry_delay: float = 0.0

    def describe(self) -> str:
        target = "" if self.instance_id == INSTANCE_ID else f" ({self.instance_id})"
        if self.kind == "outside":
            return f"{self.name}: at {self.at:.3f} a start of {self.orchestrator} outside the app{target}"
        if self.kind in OUTSIDE_KINDS:
            return f"{self.name}: at {self.at:.3f} a {self.kind.removeprefix('outside-')} outside the app{target}"
        what = f"{self.kind} {self.orchestrator}{target}"
        if self.kind in ("start", "signal"):
            what += f" input {self.input!r}" + (f" Idempotency-Key {self.key}" if self.key else "")
        if self.kind in ("event", "signal"):
            what += f" data {self.data!r}"
        if self.cancel_after is not None:
            what += f", cancelled after {self.cancel_after:.3f} s"
        if self.retries:
            what += f", sent again {self.retry_delay:.3f} s after each 503, {self.retries} times at most"
        return f"{self.name}: at {self.at:.3f} host {self.host}: {what}"


@dataclass(frozen=True)
class Scenario:
    seed: int
    settings: Settings
    hosts: int
    actors: tuple[Actor, ...]
    faults: Faults
    existing: tuple[str, str] | None  # (orchestrator, runtime status) of an instance there before the run
    versions: Versions = DEFAULT_VERSIONS  # the releases the backend behaves as
    skews: tuple[float, ...] = ()  # each host's wall clock ahead of storage's (seconds; behind when negative)

    def describe(self) -> list[str]:
        s = self.settings
        lines = [
            f"seed {self.seed}: {self.hosts} hosts; conflict {s.conflict_policy.value}, reuse {s.reuse_policy.value}; "
            f"lease {s.lock_lease_seconds} s, backend timeout {s.backend_timeout_seconds:g} s, "
            f"{s.start_attempts} attempts, deadline {s.request_timeout_seconds:g} s, "
            f"lock wait {s.lock_wait_seconds:g} s",
        ]
        lines.append(f"versions: {self.versions.describe()}")
        if any(self.skews):
            lines.append("clock skew: " + ", ".join(f"host {i} {skew:+g} s" for i, skew in enumerate(self.skews)))
        if self.existing:
            lines.append(f"before the run: an instance of {self.existing[0]}, {self.existing[1]}")
        faults = [f"{name}={getattr(self.faults, name):g}" for name in FAULT_NAMES if getattr(self.faults, name)]
        lines.append("faults: " + (", ".join(faults) if faults else "none"))
        lines.extend(actor.describe() for actor in self.actors)
        return lines

    def smaller(self) -> list[Scenario]:
        """Each one-step smaller scenario: one actor, one fault, one host or the earlier instance fewer."""
        options = [replace(self, actors=self.actors[:i] + self.actors[i + 1 :]) for i in range(len(self.actors))]
        options += [
            replace(self, faults=self.faults.without(name)) for name in FAULT_NAMES if getattr(self.faults, name)
        ]
        if self.existing is not None:
            options.append(replace(self, existing=None))
        if self.hosts > 1:
            fewer = self.hosts - 1
            actors = tuple(replace(actor, host=actor.host % fewer) for actor in self.actors)
            options.append(replace(self, hosts=fewer, actors=actors, skews=self.skews[:fewer]))
        if any(self.skews):
            options.append(replace(self, skews=()))
        return options

    def size(self) -> int:
        return (
            len(self.actors)
            + self.hosts
            + sum(1 for name in FAULT_NAMES if getattr(self.faults, name))
            + bool(self.existing)
        )


def _fault(rng: random.Random, *choices: float) -> float:
    return rng.choice((0.0, 0.0, *choices))


def draw(seed: int, late_landing_bound: float = 8.0) -> Scenario:
    """The scenario of one seed: small (2-3 hosts, a handful of requests over one to three IDs), with faults drawn per
    seed. Deadlines as short as 2 s, against landings up to `late_landing_bound`, so that a send can land after its
    request has answered; many keys, inputs and IDs; skewed clocks; cancelled requests; signals, in bursts too."""
    rng = random.Random(seed)
    settings = Settings(
        orchestrators=ALLOWLIST,
        lock_wait_seconds=rng.choice((0.5, 2.0, 10.0)),
        lock_lease_seconds=rng.choice((15, 20, 30)),
        backend_timeout_seconds=rng.choice((1.0, 2.0, 5.0)),
        start_attempts=rng.choice((1, 2, 3, 3)),
        request_timeout_seconds=rng.choice((2.0, 5.0, 10.0, 25.0, 40.0)),
        terminate_wait_seconds=rng.choice((2.0, 10.0)),
        conflict_policy=rng.choice(tuple(ConflictPolicy)),
        reuse_policy=rng.choice(tuple(ReusePolicy)),
    )
    calm = rng.random() < 0.25
    faults = Faults(
        late_landing_bound=late_landing_bound,
        run_time=rng.choice(((0.2, 3.0), (0.5, 20.0), (5.0, 60.0))),
    )
    if not calm:
        faults = replace(
            faults,
            not_sent=_fault(rng, 0.1, 0.3),
            server_error=_fault(rng, 0.1, 0.3),
            empty_500=_fault(rng, 0.1, 0.3),
            answer_lost=_fault(rng, 0.1, 0.3, 0.6),
            answer_late=_fault(rng, 0.1, 0.3),
            land_late=_fault(rng, 0.2, 0.5),
            slow_commands=_fault(rng, 0.5, 1.0),
            storage_refused=_fault(rng, 0.05, 0.2),
            storage_late=_fault(rng, 0.1, 0.3),
            storage_answer_lost=_fault(rng, 0.1, 0.3),
            blob_deletion=_fault(rng, 0.5, 1.0),
            slow_writes=_fault(rng, 0.3, 1.0),
            storage_outage=_fault(rng, 0.5),
            host_pause=_fault(rng, 0.02, 0.1),
        )
    hosts = rng.choice((2, 3))
    ids = INSTANCE_IDS[: rng.choice((1, 1, 1, 2, 2, 3))]
    burst = rng.random() < 0.5
    span = 1.0 if burst else 30.0
    actors: list[Actor] = []

    def add(kind: str, orchestrator: str, **extra: Any) -> Actor:
        at = round(extra.pop("at", rng.uniform(0, span)), 3)
        cancel = round(rng.uniform(0.0, 3.0), 3) if rng.random() < 0.05 else None
        actor = Actor(
            f"r{len(actors) + 1}",
            kind,
            at,
            rng.randrange(hosts),
            orchestrator,
            instance_id=rng.choice(ids),
            cancel_after=cancel,
            **extra,
        )
        actors.append(actor)
        return actor

    def allowed() -> str:
        return ALLOWLIST[0] if rng.random() < 0.85 else ALLOWLIST[1]

    for _ in range(rng.randint(1, 4)):
        key = rng.choice(KEYS) if rng.random() < 0.4 else None
        first = add(rng.choice(("start", "start", "start", "signal")), allowed(), input=rng.choice(INPUTS), key=key)
        if first.kind == "signal":
            actors[-1] = first = replace(first, data=rng.choice(INPUTS))
        if key is not None and rng.random() < 0.6:
            # The caller retries the same request with the same key.
            retry = replace(first, name=f"r{len(actors) + 1}", at=round(first.at + rng.uniform(0.1, 40.0), 3))
            actors.append(replace(retry, host=rng.randrange(hosts), cancel_after=None))
        if rng.random() < 0.3:
            # A caller that sends the request again after a 503, at once or after a while (with its key, if any).
            delay = rng.choice((0.0, 0.2, 1.0, 5.0))
            actors[-1] = replace(actors[-1], retries=rng.choice((1, 2, 3)), retry_delay=delay)
    for kind in ("terminate", "event", "event"):
        if rng.random() < 0.35:
            add(kind, allowed(), data=rng.choice(INPUTS) if kind == "event" else None)
    if rng.random() < 0.08:
        # Many callers hand work to an ID at once: concurrent signals, most with the same orchestrator.
        at, instance_id = rng.uniform(0, span), rng.choice(ids)
        for n in range(SIGNAL_BURST if rng.random() < 0.5 else 8):
            actors.append(
                Actor(
                    f"r{len(actors) + 1}",
                    "signal",
                    round(at + rng.uniform(0.0, 0.05), 3),
                    rng.randrange(hosts),
                    ALLOWLIST[0],
                    input=rng.choice(INPUTS),
                    instance_id=instance_id,
                    data=n,
                )
            )
    for _ in range(rng.choice((0, 0, 0, 1, 2))):
        add("outside", OUTSIDER)
    existing = None
    if rng.random() < 0.4:
        name = rng.choice((ALLOWLIST[0], ALLOWLIST[0], OUTSIDER))
        statuses = ("Running", "Running", "Completed", "Failed", "Terminated", "Pending", "Canceled", "Suspended")
        existing = (name, rng.choice(statuses))
    # What is drawn after the app's requests comes from streams of its own, so that the app's requests of a seed
    # stay as they were drawn before these were.
    versions = draw_versions(random.Random(f"{seed}/versions"))
    others = random.Random(f"{seed}/others")
    faults = replace(
        faults,
        continue_as_new=others.choice((0.0, 0.0, 0.3, 0.6)),
        # A worker whose control queue sat idle polls it every 30 s (the default MaxQueuePollingInterval); one
        # kept busy by other instances takes a message within the queue delay.
        max_polling_interval=others.choice((0.0, 30.0)),
    )
    actors.extend(_outside_actors(others, actors, span, ids))
    skews = tuple(others.choice(CLOCK_SKEWS) for _ in range(hosts))
    scenario = Scenario(seed, settings, hosts, tuple(actors), faults, existing, versions, skews)
    scenario = _focus(random.Random(f"{seed}/focus"), scenario)
    return replace(scenario, actors=tuple(sorted(scenario.actors, key=lambda a: a.at)))


# The hard cases, each an episode that some seeds add on top of what they drew: where a lease given back too
# early, a command taken as done too soon or a start settled too eagerly would show (docs/simulation.md).
FOCUS = (
    "events_then_replace",
    "terminate_race",
    "lost_start_sent_again",
    "twin_starts",
    "terminates_meet_new",
    "outside_start_races",
)


def _focus(rng: random.Random, scenario: Scenario) -> Scenario:
    """The scenario with one focused episode on the first instance ID, in two seeds of five."""
    if rng.random() >= 0.4:
        return scenario
    episode = rng.choice(FOCUS)
    at, hosts, settings, faults = rng.uniform(0.0, 20.0), scenario.hosts, scenario.settings, scenario.faults
    running = (ALLOWLIST[0], "Running")
    lossy = replace(
        faults,
        answer_lost=max(faults.answer_lost, rng.choice((0.3, 0.6))),
        land_late=max(faults.land_late, rng.choice((0.3, 0.6))),
    )
    actors: list[Actor] = []

    def add(kind: str, when: float, **extra: Any) -> None:
        name = f"f{len(scenario.actors) + len(actors) + 1}"
        orchestrator = extra.pop("orchestrator", ALLOWLIST[0])
        actors.append(Actor(name, kind, round(when, 3), rng.randrange(hosts), orchestrator, **extra))

    existing = scenario.existing
    if episode == "events_then_replace":
        # Events in flight, then what puts a new execution under the ID: it must wait until they cannot land.
        existing, faults = running, lossy
        settings = replace(settings, conflict_policy=ConflictPolicy.TERMINATE_EXISTING)
        for n in range(rng.randint(1, 4)):
            add(rng.choice(("event", "event", "terminate")), at + rng.uniform(0.0, 0.3), data=n)
        add(rng.choice(("start", "signal")), at + rng.uniform(0.05, 2.0), input=rng.choice(INPUTS), data="after")
    elif episode == "terminate_race":
        # The instance is terminated from outside the app while the app's terminate is on its way.
        existing = running
        add(rng.choice(("terminate", "start")), at, input=rng.choice(INPUTS))
        settings = replace(settings, conflict_policy=ConflictPolicy.TERMINATE_EXISTING)
        add("outside-terminate", at + rng.uniform(-0.3, 1.5), orchestrator=OUTSIDER)
    elif episode == "lost_start_sent_again":
        # A start whose answer is lost, sent again at once by its caller, maybe with its key.
        faults = lossy
        key = rng.choice((None, KEYS[0]))
        add(rng.choice(("start", "signal")), at, input=rng.choice(INPUTS), key=key, retries=3, retry_delay=0.0)
        settings = replace(settings, request_timeout_seconds=rng.choice((2.0, 5.0)))
    elif episode == "twin_starts":
        # One request delivered to two or three hosts at once: the same input, no key; storage slow to answer.
        faults = replace(lossy, storage_late=max(faults.storage_late, 0.3))
        settings = replace(settings, reuse_policy=ReusePolicy.ALLOW_ENDED)
        value = rng.choice(INPUTS)
        for _ in range(rng.randint(2, 3)):
            add("start", at + rng.uniform(0.0, 0.05), input=value)
    elif episode == "outside_start_races":
        # A start from outside the app lands between the app's read under its lease and its own start, which the
        # extension then refuses as a duplicate: the policies answer again on what is there.
        existing = rng.choice((None, (ALLOWLIST[0], "Completed"), (ALLOWLIST[0], "Failed")))
        add("start", at, input=rng.choice(INPUTS))
        add("outside", at + rng.uniform(0.0, 0.15), orchestrator=rng.choice((ALLOWLIST[0], OUTSIDER)))
    else:
        # Terminates meet an instance that continues as new: a terminate may be batched with the messages of the
        # execution before.
        existing = running
        faults = replace(faults, continue_as_new=0.6)
        for _ in range(rng.randint(1, 3)):
            add(rng.choice(("terminate", "start")), at + rng.uniform(0.0, 10.0), input=rng.choice(INPUTS))
        settings = replace(settings, conflict_policy=ConflictPolicy.TERMINATE_EXISTING)
    return replace(scenario, settings=settings, faults=faults, existing=existing, actors=(*scenario.actors, *actors))


def _outside_actors(rng: random.Random, app: list[Actor], span: float, ids: tuple[str, ...]) -> list[Actor]:
    """Another client of the task hub: in some runs, a few of its terminates, events, suspends (each perhaps
    resumed), purges and starts (each perhaps terminated soon after), at any time or just after a request of the
    app, when the instance it started may not have run yet."""
    if rng.random() < 0.45:
        return []
    actors: list[Actor] = []

    def add(kind: str, at: float, instance_id: str) -> None:
        name = f"o{len(app) + len(actors) + 1}"
        actors.append(Actor(name, kind, round(at, 3), 0, OUTSIDER, instance_id=instance_id))

    for _ in range(rng.randint(1, 3)):
        near = rng.choice(app) if app and rng.random() < 0.5 else None
        at = rng.uniform(0.0, span + 30.0) if near is None else near.at + rng.uniform(0.1, 4.0)
        instance_id = near.instance_id if near is not None else rng.choice(ids)
        kind = rng.choice((*OUTSIDE_KINDS, "outside-suspend", "outside-terminate"))
        add(kind, at, instance_id)
        if kind == "outside-suspend" and rng.random() < 0.7:
            add("outside-resume", at + rng.uniform(0.5, 30.0), instance_id)
        if kind == "outside" and rng.random() < 0.6:
            add("outside-terminate", at + rng.uniform(0.1, 4.0), instance_id)
    return actors
