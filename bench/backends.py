"""The Durable API stand-in and the blob delay proxy, run in a child process so the app's CPU is its own.

The benchmark drives them through a pipe: reset between rounds, counts from zero
between scenarios, instances moved to Completed or Running as a worker would, the counts read.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from bench.delay_proxy import DelayProxy
from tests.support.durable_standin import DurableStandin


@dataclass(frozen=True)
class Endpoints:
    """What the app needs to reach the backends: the starter binding and the proxied blob port."""

    starter: str
    task_hub: str
    blob_port: int


async def _serve(connection: Connection, azurite_port: int, storage_op_seconds: float) -> None:
    standin = DurableStandin()
    proxy = DelayProxy(azurite_port, storage_op_seconds)
    await standin.start()
    blob_port = await proxy.start()
    loop = asyncio.get_running_loop()
    connection.send(Endpoints(standin.starter_binding(), standin.task_hub, blob_port))
    try:
        while True:
            command, argument = await loop.run_in_executor(None, connection.recv)
            if command == "stop":
                return
            connection.send(_apply(standin, proxy, command, argument, storage_op_seconds))
    finally:
        await proxy.stop()
        await standin.stop()


def _apply(standin: DurableStandin, proxy: DelayProxy, command: str, argument: Any, storage_op_seconds: float) -> Any:
    if command == "reset":
        standin.reset()
        standin.storage_op_seconds = storage_op_seconds
        proxy.ops.clear()
        return None
    if command == "recount":
        standin.storage_ops.clear()
        standin.effective_starts.clear()
        standin.accepted_starts = 0
        proxy.ops.clear()
        return None
    if command == "status":
        runtime_status, instance_ids = argument
        for instance_id in instance_ids:
            standin.set_status(instance_id, runtime_status)
        return None
    if command == "counts":
        return {
            "backend": dict(standin.storage_ops),
            "blob": dict(proxy.ops),
            "effective_starts": len(standin.effective_starts),
            "accepted_starts": standin.accepted_starts,
        }
    raise ValueError(f"unknown command {command!r}")


def _child(connection: Connection, azurite_port: int, storage_op_seconds: float) -> None:
    asyncio.run(_serve(connection, azurite_port, storage_op_seconds))


class Backends:
    """The child process and its pipe; every call waits for the child's answer."""

    def __init__(self, azurite_port: int, storage_op_seconds: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child_end = context.Pipe()
        self._process = context.Process(
            target=_child, args=(child_end, azurite_port, storage_op_seconds), name="bench-backends", daemon=True
        )
        self._process.start()
        child_end.close()
        if not self._connection.poll(60):
            self.stop()
            raise RuntimeError("the benchmark's backends did not start within 60 s")
        self.endpoints: Endpoints = self._connection.recv()

    def _call(self, command: str, argument: Any = None) -> Any:
        self._connection.send((command, argument))
        return self._connection.recv()

    def reset(self) -> None:
        """No instances and no counts; the storage latency charged again."""
        self._call("reset")

    def recount(self) -> None:
        """Counts from zero; the instances stay."""
        self._call("recount")

    def set_status(self, runtime_status: str, instance_ids: Iterable[str]) -> None:
        """Move instances to a status, as the orchestration worker would (a Completed run, a Running one)."""
        self._call("status", (runtime_status, list(instance_ids)))

    def counts(self) -> dict[str, Any]:
        """Storage operations since the reset: backend ops by API call, blob ops by kind, and starts."""
        result: dict[str, Any] = self._call("counts")
        return result

    def stop(self) -> None:
        if self._process.is_alive():
            try:
                self._connection.send(("stop", None))
            except OSError:
                pass
            self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(10)
        self._connection.close()
