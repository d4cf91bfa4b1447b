"""What the contention and fault tests read back: inputs the stand-in kept, lease states, timings."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import azure.functions as func
from azure.storage.blob.aio import ContainerClient

from singleton_start.adapters.blob_lease import lock_blob_name
from singleton_start.core.idempotency import KeyEntry, entry_name
from tests.support.durable_standin import DurableStandin

T = TypeVar("T")

ACTIVE_STATES = ("Pending", "Running", "ContinuedAsNew", "Suspended")
ENDED_STATES = ("Completed", "Failed", "Terminated", "Canceled")
# The links a 202 body carries by default (SINGLETON_MANAGEMENT_LINKS=app): the app's own routes only.
MANAGEMENT_KEYS = frozenset({"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri"})
# What create_check_status_response puts in a 202 body (extension mode; the binding may add rewindPostUri).
EXTENSION_MANAGEMENT_KEYS = MANAGEMENT_KEYS | {
    "purgeHistoryDeleteUri",
    "restartPostUri",
    "suspendPostUri",
    "resumePostUri",
}


def decoded(stored_input: Any) -> Any:
    """The SDK posts an input as JSON text inside a JSON string; the stand-in keeps the text."""
    return json.loads(stored_input) if isinstance(stored_input, str) else stored_input


def started_inputs(durable: DurableStandin, instance_id: str) -> list[Any]:
    """Inputs of the starts that took effect for an ID (the tracking write landed)."""
    return [decoded(value) for started_id, _, value in durable.effective_starts if started_id == instance_id]


def enqueued_inputs(durable: DurableStandin, instance_id: str) -> list[Any]:
    """Inputs of every start that passed the backend's duplicate check, quiet losers included."""
    return [decoded(value) for started_id, _, value, _ in durable.enqueued_starts if started_id == instance_id]


def assert_check_status_answer(response: func.HttpResponse, instance_id: str) -> dict[str, Any]:
    """A 202 of a start, with the app's links for this instance; returns its body."""
    assert response.status_code == 202
    assert response.headers.get("Content-Type") == "application/json"
    body: dict[str, Any] = json.loads(response.get_body())
    assert set(body) == MANAGEMENT_KEYS
    assert body["id"] == instance_id
    assert response.headers["Location"] == body["statusQueryGetUri"]
    assert response.headers["Retry-After"] == "10"
    return body


async def lease_state(container: ContainerClient, task_hub: str, instance_id: str) -> str:
    """The lease state of an ID's lock blob as storage reports it: available, leased, expired, ..."""
    properties = await container.get_blob_client(lock_blob_name(task_hub, instance_id)).get_blob_properties()
    return properties.lease.state


async def timed(call: Awaitable[T]) -> tuple[T, float]:
    """The result of an awaitable and the seconds it took."""
    began = time.monotonic()
    result = await call
    return result, time.monotonic() - began


def status_codes(responses: list[func.HttpResponse]) -> list[int]:
    return [response.status_code for response in responses]


async def poll_until(condition: Callable[[], bool | Awaitable[bool]], seconds: float = 10) -> None:
    """Wait until the condition (plain or awaited) holds, failing the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.01)


def key_state(metadata: Mapping[str, str], key: str) -> str | None:
    """The state of an Idempotency-Key's entry on the lock blob ("starting", "started"), or None."""
    raw = metadata.get(entry_name(key))
    entry = KeyEntry.decode(raw) if raw is not None else None
    return None if entry is None else entry.state
