"""The Durable backend over azure-functions-durable 1.x: the extension's HTTP API, called by the app itself.

The 1.x SDK's client is used for what it knows of the binding (the task hub, the RPC base URL, the management
URLs); the calls themselves go out over one aiohttp session the app owns. The SDK keeps one session per process
and closes it on any client error or timeout, so one dropped call fails every call in flight on it
(azure/durable_functions/models/utils/http_utils.py); it hides each answer's status code behind a bare Exception;
and it posts an event's data as a JSON string of its JSON text, so that the orchestrator receives a string
(azure-functions-durable-python #295). What is sent and what each answer means are core/http_answers.py's.

Foreign errors are mapped here, once: a connection that could not be opened is Unavailable (nothing was sent);
one that ended without a complete answer, or no answer in time, is InDoubt (it may have been processed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp
from azure.durable_functions import DurableOrchestrationClient
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..core.errors import InDoubt, Sent, Unavailable
from ..core.http_answers import (
    command_answer,
    event_body,
    event_url,
    start_answer,
    start_request,
    status_answer,
    status_url,
    terminate_url,
    url_segment,
)
from ..core.status import Observed

# Loopback only: a connect that takes longer is a listener that is not there.
CONNECT_TIMEOUT_SECONDS = 5.0
# Every call is bounded by the request's own deadline; this only keeps the pool from queueing calls.
MAX_CONNECTIONS = 100
JSON_HEADERS = {"Content-Type": "application/json"}
TRACE_CONTEXT = TraceContextTextMapPropagator()


class Transport(Protocol):
    """One HTTP exchange with the extension: its status code and JSON body (None when empty). Raises Unavailable
    when the request was certainly not sent, InDoubt when it may have been and no complete answer came in time."""

    async def __call__(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> tuple[int, Any]: ...


class DurableHttp:
    """The Transport over one aiohttp session for this process's calls to the extension, opened on first use and
    never closed because one call failed."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_SECONDS),
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
            )
            self._loop = loop
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __call__(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> tuple[int, Any]:
        try:
            async with asyncio.timeout(timeout):
                async with self.session().request(method, url, data=body or None, headers=headers) as response:
                    return response.status, parse_body(await response.read())
        except TimeoutError:
            raise InDoubt(f"no answer within {timeout:.1f} seconds") from None
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            raise Unavailable(f"the connection could not be opened ({type(error).__name__})") from None
        except aiohttp.ClientError as error:
            raise InDoubt(f"the connection ended without a complete answer ({type(error).__name__})") from None


def parse_body(raw: bytes) -> Any:
    """The answer's JSON, None for an empty body, or its text when it is not JSON."""
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class DurableBackend:
    """One request's view of the Durable extension's HTTP API, through the binding its function was given."""

    def __init__(self, transport: Transport, starter: str | DurableOrchestrationClient) -> None:
        self._transport = transport
        # The SDK parses the starter binding (a v1 folder hands over its string, a decorator app its client).
        self._client = (
            starter if isinstance(starter, DurableOrchestrationClient) else DurableOrchestrationClient(starter)
        )
        bindings = self._client._orchestration_bindings
        self.task_hub: str = bindings.task_hub_name
        self._base: str = bindings.rpc_base_url or ""
        self.shows_history = True

    def management_links(self, request: Any, instance_id: str) -> dict[str, str]:
        """The extension's management URLs of an instance, as the SDK's create_check_status_response builds them."""
        links = self._client.get_client_response_links(request, url_segment(instance_id))
        links["id"] = instance_id
        return links

    async def read(
        self, instance_id: str, timeout: float, *, with_input: bool = False, with_history: bool = False
    ) -> Observed:
        url = status_url(self._base, instance_id, with_input=with_input, with_history=with_history)
        try:
            answer = await self._call("GET", url, b"", timeout)
        except InDoubt as error:
            raise Unavailable(f"The status read failed: {error}.") from None  # a read changes nothing
        return status_answer(*answer)

    async def start(self, orchestrator: str, instance_id: str, orchestrator_input: Any, timeout: float) -> None:
        url, body = start_request(self._base, orchestrator, instance_id, orchestrator_input)
        try:
            answer = await self._call("POST", url, body, timeout)
        except InDoubt as error:
            raise InDoubt(f"The start may still run: {error}.", Sent.START) from None
        start_answer(*answer)

    async def terminate(self, instance_id: str, reason: str, timeout: float) -> None:
        answer = await self._call("POST", terminate_url(self._base, instance_id, reason), b"", timeout)
        command_answer("The terminate", *answer)

    async def raise_event(self, instance_id: str, event_name: str, data: Any, timeout: float) -> None:
        answer = await self._call("POST", event_url(self._base, instance_id, event_name), event_body(data), timeout)
        command_answer("The event", *answer)

    async def _call(self, method: str, url: str, body: bytes, timeout: float) -> tuple[int, Any]:
        """One exchange, carrying the request's trace context (the span the start belongs to) as the SDK does."""
        headers = dict(JSON_HEADERS) if body else {}
        TRACE_CONTEXT.inject(headers)
        return await self._transport(method, url, body, headers, timeout)
