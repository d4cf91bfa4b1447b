"""The routes for a decorator-model ("v2") app: one Blueprint, the same route objects the v1 folders call.

A decorator app hands each function a Durable client made by the SDK it installed (1.x: a
DurableOrchestrationClient over HTTP; 2.x: a DurableFunctionsClient over gRPC); `backend_for` adapts it to
the Backend port, and the routes do the rest: the same contract, settings, answers, log line and span.
"""

import importlib.metadata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from ..adapters.durable_http import DurableBackend, DurableHttp
from ..core.ports import Backend
from .adapter import HttpAdapter
from .routes import EventRoute, SignalRoute, StartRoute, StatusRoute, TerminateRoute

DURABLE_SDK = "azure-functions-durable"
CLIENT_PARAMETER = "client"
INSTANCE_ROUTE = "orchestrators/{functionName}/{instanceId}"
# The v1 folders' names and routes (each function.json), so links, keys and logs read the same in both models.
ROUTES = {
    "HttpStartSingle": (INSTANCE_ROUTE, "POST"),
    "HttpGetStatus": (INSTANCE_ROUTE, "GET"),
    "HttpTerminate": (f"{INSTANCE_ROUTE}/terminate", "POST"),
    "HttpRaiseEvent": (f"{INSTANCE_ROUTE}/events/{{eventName}}", "POST"),
    "HttpSignal": (f"{INSTANCE_ROUTE}/signal/{{eventName}}", "POST"),
}

Handler = Callable[[func.HttpRequest, str | Backend], Awaitable[func.HttpResponse]]


def durable_sdk_major() -> int:
    """The installed azure-functions-durable's major version: 1 (HTTP client) or 2 (gRPC, on durabletask)."""
    return int(importlib.metadata.version(DURABLE_SDK).split(".")[0])


def backend_for(client: Any, http: DurableHttp) -> Backend:
    """The Backend adapter for the client the installed SDK line hands a decorator app's function."""
    if durable_sdk_major() >= 2:
        from ..adapters.durable_grpc import GrpcBackend

        return GrpcBackend(client)
    return DurableBackend(http, client)


def _function(blueprint: df.Blueprint, name: str, handle: Handler, http: DurableHttp) -> None:
    """Register one route: the SDK's client in, adapted to a backend, handed to the endpoint's handle."""
    route, method = ROUTES[name]

    async def run(req: func.HttpRequest, client: Any) -> func.HttpResponse:
        return await handle(req, backend_for(client, http))

    run.__name__ = run.__qualname__ = name
    with_client = blueprint.durable_client_input(client_name=CLIENT_PARAMETER)(run)
    blueprint.function_name(name)(blueprint.route(route=route, methods=[method])(with_client))


class SingletonStartBlueprint(df.Blueprint):
    """A Blueprint that keeps the endpoints its functions call, so that their clients can be closed."""

    def __init__(self, endpoints: Sequence[HttpAdapter], http_auth_level: func.AuthLevel) -> None:
        super().__init__(http_auth_level=http_auth_level)
        self.endpoints = endpoints

    async def close(self) -> None:
        """Close every endpoint's clients; the worker never needs to, tests and tools do."""
        for endpoint in self.endpoints:
            await endpoint.close()


def singleton_start_blueprint(
    env: Mapping[str, str] | None = None, *, http_auth_level: func.AuthLevel = func.AuthLevel.FUNCTION
) -> SingletonStartBlueprint:
    """The start, status, terminate, event and signal routes as a Blueprint; register it with
    `app.register_functions(singleton_start_blueprint())`. Settings are read and checked now, so a bad one
    fails the app at indexing, as a v1 folder fails at load."""
    start, status, terminate, event, signal = (
        cls.from_environment(env) for cls in (StartRoute, StatusRoute, TerminateRoute, EventRoute, SignalRoute)
    )
    blueprint = SingletonStartBlueprint((start, status, terminate, event, signal), http_auth_level)
    _function(blueprint, "HttpStartSingle", start.handle, start.durable_http)
    _function(blueprint, "HttpGetStatus", status.handle, status.durable_http)
    _function(blueprint, "HttpTerminate", terminate.handle, terminate.durable_http)
    _function(blueprint, "HttpRaiseEvent", event.handle, event.durable_http)
    _function(blueprint, "HttpSignal", signal.handle, signal.durable_http)
    return blueprint
