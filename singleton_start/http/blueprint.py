"""The routes for a decorator-model ("v2") app: one Blueprint, the same route objects the v1 folders call.

A decorator app hands each function a Durable client made by the SDK it installed (1.x: a
DurableOrchestrationClient over HTTP; 2.x: a DurableFunctionsClient over gRPC); `backend_for` adapts it to
the Backend port, and the routes do the rest: the same contract, settings, answers, log line and span.

A decorator app's orchestrators are registered on its own app, after the Blueprint is made; given that app,
the Blueprint checks SINGLETON_ORCHESTRATORS against them when the worker indexes the app (it calls the app's
`get_functions`, once every decorator in function_app.py has run), so a name the app does not define fails the
indexing as it fails a v1 folder's load.
"""

import importlib.metadata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from ..adapters.durable_http import DurableBackend, DurableHttp
from ..core.ports import Backend
from ..settings import check_known_orchestrators
from .adapter import HttpAdapter
from .routes import EventRoute, SignalRoute, StartRoute, StatusRoute, TerminateRoute

DURABLE_SDK = "azure-functions-durable"
CLIENT_PARAMETER = "client"
INSTANCE_ROUTE = "orchestrators/{functionName}/{instanceId}"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
# The v1 folders' names and routes (each function.json), so links, keys and logs read the same in both models.
ROUTES: dict[str, tuple[str, str, type[HttpAdapter]]] = {
    "HttpStartSingle": (INSTANCE_ROUTE, "POST", StartRoute),
    "HttpGetStatus": (INSTANCE_ROUTE, "GET", StatusRoute),
    "HttpTerminate": (f"{INSTANCE_ROUTE}/terminate", "POST", TerminateRoute),
    "HttpRaiseEvent": (f"{INSTANCE_ROUTE}/events/{{eventName}}", "POST", EventRoute),
    "HttpSignal": (f"{INSTANCE_ROUTE}/signal/{{eventName}}", "POST", SignalRoute),
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
    """Register one route: the SDK's client in, adapted to a backend, handed to the route's handle."""
    route, method, _ = ROUTES[name]

    async def run(req: func.HttpRequest, client: Any) -> func.HttpResponse:
        return await handle(req, backend_for(client, http))

    run.__name__ = run.__qualname__ = name
    with_client = blueprint.durable_client_input(client_name=CLIENT_PARAMETER)(run)
    blueprint.function_name(name)(blueprint.route(route=route, methods=[method])(with_client))


class SingletonStartBlueprint(df.Blueprint):
    """A Blueprint that keeps the routes its functions call, so that their clients can be closed."""

    def __init__(self, endpoints: Sequence[HttpAdapter], http_auth_level: func.AuthLevel) -> None:
        super().__init__(http_auth_level=http_auth_level)
        self.endpoints = endpoints

    async def close(self) -> None:
        """Close every route's clients; the worker never needs to, tests and tools do."""
        for endpoint in self.endpoints:
            await endpoint.close()


def orchestrators_of(functions: Sequence[func.Function]) -> list[str]:
    """The names of the indexed functions that an orchestrationTrigger starts."""
    return [
        str(function.get_function_name())
        for function in functions
        if any(binding.get_binding_name() == ORCHESTRATION_TRIGGER for binding in function.get_bindings())
    ]


def check_orchestrators_when_indexed(app: func.FunctionRegister, orchestrators: Sequence[str]) -> None:
    """Have the app's indexing fail, naming SINGLETON_ORCHESTRATORS, unless every name in it is one of the app's
    orchestrators: the worker indexes a decorator app by calling its get_functions."""
    get_functions = app.get_functions

    def checked() -> list[func.Function]:
        functions = get_functions()
        check_known_orchestrators(orchestrators, orchestrators_of(functions))
        return functions

    app.get_functions = checked  # type: ignore[method-assign]


def singleton_start_blueprint(
    env: Mapping[str, str] | None = None,
    *,
    app: func.FunctionRegister | None = None,
    http_auth_level: func.AuthLevel = func.AuthLevel.FUNCTION,
) -> SingletonStartBlueprint:
    """The start, status, terminate, event and signal routes as a Blueprint; register it with
    `app.register_functions(singleton_start_blueprint(app=app))`. Settings are read and checked now, so a bad one
    fails the app at indexing, as a v1 folder fails at load; with `app`, the orchestrator names are checked against
    the app's own orchestrators when it is indexed."""
    routes = {name: route.from_environment(env) for name, (_, _, route) in ROUTES.items()}
    blueprint = SingletonStartBlueprint(tuple(routes.values()), http_auth_level)
    for name, route in routes.items():
        _function(blueprint, name, route.handle, route.durable_http)
    if app is not None:
        check_orchestrators_when_indexed(app, routes["HttpStartSingle"].settings.orchestrators)
    return blueprint
