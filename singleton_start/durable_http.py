"""The app's own HTTP session to the Durable extension's RPC endpoint, handed to the SDK client.

azure-functions-durable 1.5+ keeps one aiohttp session per process in
azure/durable_functions/models/utils/http_utils.py and closes it on any client error or timeout,
so one dropped call fails every call in flight on it. This session is made once per process and
event loop and is never closed because of one call's error; each call also keeps the HTTP status,
which the SDK's start_new and get_status do not pass on.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import aiohttp
from azure.durable_functions import DurableOrchestrationClient

# Loopback only: a connect that takes longer is a listener that is not there.
CONNECT_TIMEOUT_SECONDS = 5.0
# Every call is bounded by the request's own deadline; this only keeps the pool from queueing calls.
MAX_CONNECTIONS = 100


class NotSent(Exception):
    """The connection could not be opened: the request was certainly not sent."""


class NoAnswer(Exception):
    """The request may have been sent, but no complete answer came back."""


class DurableHttp:
    """One aiohttp session for this process's calls to the extension, opened on first use."""

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

    def exchange(self, client: DurableOrchestrationClient) -> Exchange:
        """A client for one call, whose answer's status and body stay readable after it."""
        return Exchange(self, client)


class Exchange:
    """One SDK call over the app's session: the request functions the SDK client is given."""

    def __init__(self, http: DurableHttp, client: DurableOrchestrationClient) -> None:
        self._http = http
        self.status: int | None = None
        self.body: Any = None
        # A shallow copy shares the parsed bindings; only its request functions are this call's own.
        self.client = copy.copy(client)
        # The SDK calls these instance attributes for every HTTP request it makes.
        self.client._post_async_request = self.post
        self.client._get_async_request = self.get
        self.client._delete_async_request = self.delete

    async def post(
        self,
        url: str,
        data: Any = None,
        trace_parent: str | None = None,
        trace_state: str | None = None,
        function_invocation_id: str | None = None,
    ) -> list[Any]:
        headers = {
            name: value
            for name, value in (
                ("traceparent", trace_parent),
                ("tracestate", trace_state),
                ("X-Azure-Functions-InvocationId", function_invocation_id),
            )
            if value
        }
        return await self._send("POST", url, headers, data)

    async def get(self, url: str, function_invocation_id: str | None = None) -> list[Any]:
        answer = await self._send("GET", url, self._invocation(function_invocation_id), None)
        # The SDK's own get turns an empty body into "", which get_status reads as "not found".
        return [answer[0], "" if answer[1] is None else answer[1]]

    async def delete(self, url: str, function_invocation_id: str | None = None) -> list[Any]:
        return await self._send("DELETE", url, self._invocation(function_invocation_id), None)

    @staticmethod
    def _invocation(function_invocation_id: str | None) -> dict[str, str]:
        return {"X-Azure-Functions-InvocationId": function_invocation_id} if function_invocation_id else {}

    async def _send(self, method: str, url: str, headers: dict[str, str], data: Any) -> list[Any]:
        session = self._http.session()
        try:
            async with session.request(method, url, json=data, headers=headers) as response:
                raw = await response.read()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            raise NotSent(f"the connection could not be opened ({type(error).__name__})") from None
        except aiohttp.ClientError as error:
            raise NoAnswer(f"the connection ended without a complete answer ({type(error).__name__})") from None
        self.status = response.status
        self.body = parse_body(raw)
        return [self.status, self.body]


def parse_body(raw: bytes) -> Any:
    """The answer's JSON, None for an empty body, or its text when it is not JSON."""
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
