"""A real protocol peer for the 2.x adapter: durabletask's in-memory sidecar, a worker that runs a waiting
orchestrator on it, the client binding the extension would hand over, and a proxy that loses an answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Generator, Iterator
from typing import Any

from durabletask import task
from durabletask.testing import InMemoryOrchestrationBackend
from durabletask.worker import TaskHubGrpcWorker

from tests.support.azurite import free_port

TASK_HUB = "TestHubName"
# Named as the example app's orchestrator: the app's Blueprint refuses, when the app is indexed, a name in
# SINGLETON_ORCHESTRATORS that the app does not define.
WAITER = "SingletonOrchestrator"
STOP_EVENT = "Stop"


def waiter(context: task.OrchestrationContext, _: Any) -> Generator[task.Task[Any], Any, Any]:
    """Runs until a Stop event arrives and returns that event's data."""
    data = yield context.wait_for_external_event(STOP_EVENT)
    return data


# The worker registers an orchestrator under its function's name.
waiter.__name__ = WAITER


class Sidecar:
    """The in-memory backend on a free loopback port, with a worker that runs `waiter` on it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.backend = InMemoryOrchestrationBackend(port=self.port)
        self.address = f"localhost:{self.port}"
        self.worker = TaskHubGrpcWorker(host_address=self.address)
        self.worker.add_orchestrator(waiter)

    def start(self) -> None:
        self.backend.start()
        # durabletask's worker leaves start and stop unannotated.
        self.worker.start()  # type: ignore[no-untyped-call,unused-ignore]

    def stop(self) -> None:
        self.worker.stop()  # type: ignore[no-untyped-call,unused-ignore]
        self.backend.stop(grace=0)


def client_binding(rpc_address: str, task_hub: str = TASK_HUB) -> str:
    """The durableClient binding's JSON as the extension hands it to a 2.x app (DurableClientAttribute and
    the extension's gRPC endpoint address), with the fields azure.durable_functions.client reads."""
    return json.dumps(
        {
            "taskHubName": task_hub,
            "connectionName": "Storage",
            "rpcBaseUrl": f"http://{rpc_address}",
            "baseUrl": "http://127.0.0.1:7071/runtime/webhooks/durabletask",
            "httpBaseUrl": "",
            "requiredQueryStringParameters": "code=systemkey",
            "managementUrls": {},
            "creationUrls": {},
            "useForwardedHost": False,
            "maxGrpcMessageSizeInBytes": 0,
        }
    )


class AnswerDroppingProxy:
    """A TCP proxy on loopback in front of the sidecar. Armed with a marker, it forwards the client's bytes
    up to and including the first chunk that carries the marker, so that request reaches the sidecar and
    is handled, then closes the client's connection before any answer goes back: a start written and
    landed whose answer was lost."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._server: asyncio.Server | None = None
        self._marker: bytes | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._upstreams: list[asyncio.StreamWriter] = []
        self.dropped = asyncio.Event()
        self.port = 0

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for pending in list(self._tasks):
            pending.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for upstream in self._upstreams:
            upstream.close()

    def drop_answer_to(self, marker: str) -> None:
        """Lose the answer to the next request whose bytes contain `marker`."""
        self._marker = marker.encode()
        self.dropped.clear()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        # Upstream connections stay open until the proxy stops, so the sidecar finishes what it received.
        self._upstreams.append(upstream_writer)
        up = asyncio.create_task(self._upward(client_reader, upstream_writer, client_writer))
        down = asyncio.create_task(self._pipe(upstream_reader, client_writer))
        self._tasks.update({up, down})
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in (up, down):
                pipe.cancel()
            client_writer.close()
            self._tasks.difference_update({up, down})

    async def _upward(
        self, reader: asyncio.StreamReader, upstream: asyncio.StreamWriter, client: asyncio.StreamWriter
    ) -> None:
        while chunk := await reader.read(65536):
            if self._marker is not None and self._marker in chunk:
                self._marker = None
                # The client's connection goes first, so no answer can reach it; then the request goes on.
                client.transport.abort()
                upstream.write(chunk)
                await upstream.drain()
                self.dropped.set()
                return
            upstream.write(chunk)
            await upstream.drain()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()


def running_sidecar() -> Iterator[Sidecar]:
    """A started sidecar for the tests of one module, stopped after them (the body of their fixture)."""
    peer = Sidecar()
    peer.start()
    yield peer
    peer.stop()
