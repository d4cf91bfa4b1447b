"""Session fixtures: real Azurite and the Durable API stand-in, started once; the app loaded as the worker loads it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import azure.functions as func
import pytest
import pytest_asyncio
from azure.durable_functions.models.utils import http_utils

from singleton_start.adapters.durable_http import DurableBackend, DurableHttp
from tests.support.azurite import Azurite
from tests.support.durable_standin import DurableStandin
from tests.support.storage_proxy import StorageProxy
from tests.support.virtual import VirtualRun
from tests.support.worker import LoadedFunction, close_loaded, invoke, load_function, start_request

TASK_HUB = "TestHubName"


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    server = Azurite()
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def durable_server() -> AsyncIterator[DurableStandin]:
    server = DurableStandin(task_hub=TASK_HUB)
    await server.start()
    yield server
    await server.stop()
    # The SDK keeps one HTTP session per process; the worker never closes it, the suite does.
    await http_utils._close_session()


@pytest.fixture
def durable(durable_server: DurableStandin) -> Iterator[DurableStandin]:
    """The stand-in with no instances, counters or faults left by another test."""
    durable_server.reset()
    yield durable_server
    durable_server.reset()


@pytest_asyncio.fixture(loop_scope="session")
async def backend(durable: DurableStandin) -> AsyncIterator[DurableBackend]:
    """The app's view of the stand-in, over a session of its own."""
    http = DurableHttp()
    yield DurableBackend(http, durable.starter_binding())
    await http.close()


def new_instance_id(prefix: str = "job") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class StartApp:
    """HttpStartSingle loaded with a given set of app settings."""

    function: LoadedFunction
    durable: DurableStandin

    @property
    def endpoint(self) -> Any:
        return self.function.module.endpoint

    async def post(
        self,
        instance_id: str,
        body: bytes | str | Any = b"",
        *,
        function_name: str = "SingletonOrchestrator",
        headers: dict[str, str] | None = None,
    ) -> func.HttpResponse:
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        request = start_request(function_name, instance_id, body, headers)
        response: func.HttpResponse = await invoke(self.function, req=request, starter=self.durable.starter_binding())
        return response


LoadApp = Callable[..., Awaitable[StartApp]]


@pytest.fixture
def load_app(azurite: Azurite, durable: DurableStandin, monkeypatch: pytest.MonkeyPatch) -> LoadApp:
    """Load HttpStartSingle with AzureWebJobsStorage on Azurite and the given SINGLETON_* settings."""

    async def load(**settings: str) -> StartApp:
        monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        return StartApp(load_function("HttpStartSingle"), durable)

    return load


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def close_loaded_functions() -> AsyncIterator[None]:
    """Every function a test loads has its clients closed after it, as the process's end would."""
    yield
    await close_loaded()


@pytest_asyncio.fixture(loop_scope="session")
async def app(load_app: LoadApp) -> StartApp:
    """HttpStartSingle with its default settings."""
    return await load_app()


def body_of(response: func.HttpResponse) -> dict[str, Any]:
    assert response.headers.get("Content-Type") == "application/json"
    body: dict[str, Any] = json.loads(response.get_body())
    return body


@pytest_asyncio.fixture(loop_scope="session")
async def storage_proxy(azurite: Azurite) -> AsyncIterator[StorageProxy]:
    """A proxy in front of the session's Azurite; load the app with AzureWebJobsStorage=proxy.connection_string."""
    proxy = StorageProxy(azurite)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
def virtual() -> Iterator[VirtualRun]:
    """A fresh model of the backend and the lock storage on a virtual loop, for the use case's waits."""
    run = VirtualRun()
    yield run
    run.close()
