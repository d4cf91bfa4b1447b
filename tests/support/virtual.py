"""The start use case on virtual time, against the model of the backend and the lock storage (simulation/).

For tests whose point is a wait (a lease left to expire, a lock wait, a deadline) rather than the wiring: the
same SingletonStarter the endpoint runs, through the simulator's adapters, where a 15 s lease expires in
milliseconds of real time. The wiring itself stays tested on Azurite and the Durable API stand-in.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from simulation.adapters import SimBackend, SimClock, SimLocks
from simulation.loop import LoopScheduler, VirtualLoop
from simulation.model import Faults, World
from singleton_start.command import StartCommand
from singleton_start.flights import StartsInFlight
from singleton_start.outcomes import Outcome
from singleton_start.settings import Settings
from singleton_start.start import SingletonStarter

T = TypeVar("T")
ORCHESTRATOR = "SingletonOrchestrator"
# No faults, and instances that run long enough not to end by themselves during a test.
QUIET = Faults(run_time=(600.0, 600.0))


@dataclass
class VirtualHost:
    """One worker process: its own adapters and starts in flight, as Host in simulation.simulator."""

    backend: SimBackend
    locks: SimLocks
    clock: SimClock
    settings: Settings
    flights: StartsInFlight = field(default_factory=StartsInFlight)

    async def start(self, instance_id: str, orchestrator_input: Any, orchestrator: str = ORCHESTRATOR) -> Outcome:
        starter = SingletonStarter(self.backend, self.locks, self.settings, self.flights, self.clock)
        return await starter.start(StartCommand(orchestrator, instance_id, orchestrator_input))


class VirtualRun:
    """One world on one virtual loop; `run` drives a coroutine to its end, however long it waits."""

    def __init__(self, faults: Faults = QUIET, seed: int = 1) -> None:
        self.loop = VirtualLoop()
        self.world = World(LoopScheduler(self.loop), seed, faults)

    def host(self, name: str, settings: Settings) -> VirtualHost:
        return VirtualHost(
            SimBackend(self.world),
            SimLocks(self.world, settings.lock_lease_seconds, name),
            SimClock(self.world, name),
            settings,
        )

    def now(self) -> float:
        return self.loop.time()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    def deliver_queued(self) -> None:
        """Let every control-queue message sent so far be delivered (the model's longest queue delay, and more)."""
        self.run(asyncio.sleep(self.world.faults.queue_delay[1] + 1.0))

    def close(self) -> None:
        self.loop.close()

    def started_inputs(self, instance_id: str) -> list[Any]:
        """The inputs of the executions of the ID that ran, in the order they were created."""
        executions = sorted(self.world.executions.values(), key=lambda execution: execution.created_at)
        return [
            None if execution.input is None else json.loads(execution.input)
            for execution in executions
            if execution.instance_id == instance_id and execution.ran_at is not None
        ]
