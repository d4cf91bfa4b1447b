"""The Durable backend as the start use case sees it: read, start, terminate, each bounded in time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import azure.functions as func
from azure.durable_functions import DurableOrchestrationClient

from .status import Observed, UnreadableStatus, classify

T = TypeVar("T")


class BackendUnavailable(Exception):
    """No usable answer; this call changed nothing (a read, or a start that was certainly not sent)."""


class StartOutcomeUnknown(Exception):
    """The start may still land: it timed out, the connection dropped after the request was written,
    or the answer was neither a clear acceptance nor a clear refusal."""


class StartRefused(Exception):
    """The extension refused the start before queueing anything."""

    def __init__(self, message: str, *, already_exists: bool) -> None:
        super().__init__(message)
        # True: 409 Conflict (current releases) or 500 with OrchestrationAlreadyExistsException (older ones);
        # False: 400, the arguments were refused.
        self.already_exists = already_exists


def url_segment(instance_id: str) -> str:
    """The ID as one URL path segment: the SDK pastes IDs into URLs unescaped, so a '%' or a
    space would otherwise reach the extension as a different ID."""
    return quote(instance_id, safe="")


def input_matches(stored: Any, sent: Any) -> bool:
    """Whether an instance's stored input is the one a start sent.

    The SDK serializes an input to JSON text and posts that text as a JSON string, so the
    extension stores, and the status shows, the text rather than the value.
    """
    if sent is None:
        return stored is None
    if not isinstance(stored, str):
        return False
    try:
        return json.loads(stored) == sent
    except ValueError:
        return False


class DurableBackend:
    """One request's view of the Durable extension through the real SDK client."""

    def __init__(self, client: DurableOrchestrationClient, task_hub: str) -> None:
        self._client = client
        self.task_hub = task_hub

    def management_links(self, request: func.HttpRequest | None, instance_id: str) -> dict[str, str]:
        """The management URLs of an instance, as create_check_status_response builds them."""
        links = self._client.get_client_response_links(request, url_segment(instance_id))
        links["id"] = instance_id
        return links

    async def _bounded(self, operation: str, call: Awaitable[T], timeout: float) -> T:
        try:
            return await asyncio.wait_for(call, timeout)
        except TimeoutError:
            raise BackendUnavailable(f"{operation} timed out after {timeout:.1f}s") from None
        except aiohttp.ClientError as error:
            raise BackendUnavailable(f"{operation} failed: {type(error).__name__}") from None
        except UnreadableStatus as error:
            raise BackendUnavailable(f"{operation} was unreadable: {error}") from None
        except Exception as error:  # noqa: BLE001 - the SDK raises bare Exception for HTTP errors
            raise BackendUnavailable(f"{operation} was refused: {str(error)[:200]}") from None

    async def read(self, instance_id: str, timeout: float, *, with_input: bool = False) -> Observed:
        """The instance's status, classified; BackendUnavailable when the read fails."""

        async def read_and_classify() -> Observed:
            try:
                status = await self._client.get_status(url_segment(instance_id), show_input=with_input)
            except ValueError as error:
                raise UnreadableStatus(str(error)) from None
            return classify(status)

        return await self._bounded("the status read", read_and_classify(), timeout)

    async def start(self, orchestrator: str, instance_id: str, orchestrator_input: Any, timeout: float) -> None:
        """Ask the extension to start; BackendUnavailable when the outcome is unknown."""
        await self._bounded(
            "the start",
            self._client.start_new(orchestrator, url_segment(instance_id), orchestrator_input),
            timeout,
        )

    async def terminate(self, instance_id: str, reason: str, timeout: float) -> None:
        """Ask the extension to terminate an active instance."""
        await self._bounded("the terminate", self._client.terminate(url_segment(instance_id), reason), timeout)
