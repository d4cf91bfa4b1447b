"""The start use case on virtual time, against the model of the backend and the lock storage (simulation/).

For tests whose point is a wait (a lease left to expire, a lock wait, a deadline) rather than the wiring: the
same start the route runs, through the app's own adapters over the model at the wire, where a 15 s lease
expires in milliseconds of real time. The wiring itself stays tested on Azurite and the Durable API stand-in.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from simulation.loop import LoopScheduler, VirtualLoop
from simulation.model import Faults, World
from simulation.wire import ModelContainer, ModelTransport, SimClock, starter_binding
from singleton_start.adapters.blob_lease import LeaseLocks
from singleton_start.adapters.durable_http import DurableBackend
from singleton_start.core.outcomes import StartOutcome
from singleton_start.service.hold import Deadline, Ports
from singleton_start.service.start import StartCommand, StartsInFlight, StartStats, start
from singleton_start.settings import Settings

T = TypeVar("T")
ORCHESTRATOR = "SingletonOrchestrator"
# No faults, and instances that run long enough not to end by themselves during a test.
QUIET = Faults(run_time=(600.0, 600.0))


@dataclass
class VirtualHost:
    """One worker process: its own adapters (the app's, over the model at the wire) and starts in flight, as Host in
    simulation.simulator."""

    backend: DurableBackend
    locks: LeaseLocks
    clock: SimClock
    settings: Settings
    flights: StartsInFlight = field(default_factory=StartsInFlight)

    async def start(self, instance_id: str, orchestrator_input: Any, orchestrator: str = ORCHESTRATOR) -> StartOutcome:
        """The start use case's outcome; raises Unavailable or InDoubt as it does."""
        ports = Ports(self.backend, self.locks, self.clock, self.settings)
        deadline = Deadline(self.settings.request_timeout_seconds, self.clock.now)
        command = StartCommand(orchestrator, instance_id, orchestrator_input)
        return await start(command, ports, self.flights, deadline, StartStats())


class VirtualRun:
    """One world on one virtual loop; `run` drives a coroutine to its end, however long it waits."""

    def __init__(self, faults: Faults = QUIET, seed: int = 1) -> None:
        self.loop = VirtualLoop()
        self.world = World(LoopScheduler(self.loop), seed, faults)

    def host(self, name: str, settings: Settings) -> VirtualHost:
        clock = SimClock(self.world, name)
        container = ModelContainer(self.world, settings.lock_lease_seconds)
        model: Any = container  # the container client's calls LeaseLocks makes, over the model
        locks = LeaseLocks(model, settings.lock_lease_seconds, clock, lease_client=container.lease_client)
        return VirtualHost(DurableBackend(ModelTransport(self.world), starter_binding()), locks, clock, settings)

    def now(self) -> float:
        return self.loop.time()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    def deliver_queued(self) -> None:
        """Let every control-queue message sent so far be delivered (the model's longest queue delay, and more)."""
        self.run(asyncio.sleep(self.world.faults.queue_delay[1] + 1.0))

    def close(self) -> None:
        """Let the work left in the background end first (a lease given back after the answer), then close."""
        pending = asyncio.all_tasks(self.loop)
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def started_inputs(self, instance_id: str) -> list[Any]:
        """The inputs of the executions of the ID that ran, in the order they were created."""
        executions = sorted(self.world.executions.values(), key=lambda execution: execution.created_at)
        return [
            None if execution.input is None else json.loads(execution.input)
            for execution in executions
            if execution.instance_id == instance_id and execution.ran_at is not None
        ]
