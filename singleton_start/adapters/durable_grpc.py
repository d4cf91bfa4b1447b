"""The Durable backend over azure-functions-durable 2.x: its gRPC client, answers classified by grpc_answers.

The 2.x SDK (on durabletask) talks gRPC to the extension's local endpoint: the binding it hands over names that
endpoint, the task hub it sends as a `taskhub` header on every call, and the extension's TaskHubGrpcServer
(Azure/azure-functions-durable-extension, LocalGrpcListener.cs) runs each call through the same DurableClient as
the HTTP API, so the create path and host.json's `overridableExistingInstanceStates` are those of 1.x. What each
answer means is core/grpc_answers.py's, shared with the simulator's model of this endpoint. Foreign errors
(grpc's AioRpcError, the adapter's own timeout) are mapped here, once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import grpc
from azure.durable_functions.client import DurableFunctionsClient
from durabletask.client import OrchestrationState
from durabletask.internal import orchestrator_service_pb2 as pb

from ..core.errors import InDoubt, Sent, Unavailable
from ..core.grpc_answers import command_failure, no_answer, observed_state, read_failure, start_failure
from ..core.status import MISSING, Observed

# The SDK logs every call it makes at INFO; the app logs one line per request instead.
logging.getLogger("azure.durable_functions.client").setLevel(logging.WARNING)

# What host.json's overridableExistingInstanceStates = NonRunningStates lets a start replace, sent with every
# start: the extension takes it from host.json, a sidecar (durabletask's own backend) from the request.
REPLACE_ENDED = pb.OrchestrationIdReusePolicy(
    replaceableStatus=[
        pb.ORCHESTRATION_STATUS_COMPLETED,
        pb.ORCHESTRATION_STATUS_FAILED,
        pb.ORCHESTRATION_STATUS_TERMINATED,
        pb.ORCHESTRATION_STATUS_CANCELED,
    ]
)


def code_and_details(error: grpc.aio.AioRpcError) -> tuple[str, str]:
    """A failed call as grpc_answers classifies it: its status code's name and its details."""
    return error.code().name, error.details() or ""


def state_observed(state: OrchestrationState | None, *, with_input: bool = True) -> Observed:
    """A state read as the app sees it: the input as the JSON text it was stored as (the shape the 1.x status read
    shows), the output and custom status as values (a terminate shows as its reason in the output)."""
    if state is None:
        return MISSING
    return observed_state(
        state.runtime_status.name,
        created=state.created_at,
        updated=state.last_updated_at,
        serialized_input=state.serialized_input if with_input else None,
        output=_payload(state.get_output, state.serialized_output),
        name=state.name,
        custom_status=_payload(state.get_custom_status, state.serialized_custom_status),
    )


def _payload(read: Any, serialized: str | None) -> Any:
    """A stored JSON payload as its value; text that is not JSON stays text."""
    if serialized is None:
        return None
    try:
        return read()
    except ValueError:
        return serialized


class GrpcBackend:
    """One request's view of the Durable extension through the 2.x SDK's client (one per invocation: the SDK makes
    it from the binding and closes its channel after the function returns)."""

    def __init__(self, client: DurableFunctionsClient) -> None:
        self._client = client
        self.task_hub: str = client.taskHubName
        # The extension's gRPC endpoint serves no history (LocalGrpcListener has no StreamInstanceHistory).
        self.shows_history = False

    def management_links(self, request: Any, instance_id: str) -> dict[str, str]:
        """The management URLs of an instance, as the SDK's create_check_status_response builds them."""
        links = dict(self._client.create_http_management_payload(request, instance_id))
        links["id"] = instance_id
        return links

    async def read(
        self, instance_id: str, timeout: float, *, with_input: bool = False, with_history: bool = False
    ) -> Observed:
        """The instance's status; Unavailable for anything but a state or no instance. Payloads always: the output
        shows whether a terminate of ours was processed."""
        try:
            state = await asyncio.wait_for(
                self._client.get_orchestration_state(instance_id, fetch_payloads=True), timeout
            )
        except TimeoutError:
            read_failure(*no_answer(timeout))
        except grpc.aio.AioRpcError as error:
            read_failure(*code_and_details(error))
        except ValueError:
            # The SDK's status enum lacks some of the protocol's statuses (Canceled) and raises on them.
            raise Unavailable("The status read gave a status the SDK does not know.") from None
        return state_observed(state, with_input=with_input)

    async def start(self, orchestrator: str, instance_id: str, orchestrator_input: Any, timeout: float) -> None:
        """Ask the extension to start; returns only on a clear acceptance (the instance ID echoed)."""
        call = self._client.schedule_new_orchestration(
            orchestrator, input=orchestrator_input, instance_id=instance_id, reuse_id_policy=REPLACE_ENDED
        )
        try:
            started = await asyncio.wait_for(call, timeout)
        except TimeoutError:
            start_failure(*no_answer(timeout))
        except grpc.aio.AioRpcError as error:
            start_failure(*code_and_details(error))
        if started != instance_id:
            raise InDoubt(f"The start was answered for another instance ID ({started!r}).", Sent.START)

    async def terminate(self, instance_id: str, reason: str, timeout: float) -> None:
        """Ask the extension to terminate an instance; returns once it is queued."""
        await self._command("The terminate", self._client.terminate_orchestration(instance_id, output=reason), timeout)

    async def raise_event(self, instance_id: str, event_name: str, data: Any, timeout: float) -> None:
        """Send an event to an instance, its data serialized once (the orchestrator gets the value); returns once
        it is queued."""
        call = self._client.raise_orchestration_event(instance_id, event_name, data=data)
        await self._command("The event", call, timeout)

    @staticmethod
    async def _command(operation: str, call: Awaitable[None], timeout: float) -> None:
        try:
            await asyncio.wait_for(call, timeout)
        except TimeoutError:
            command_failure(operation, *no_answer(timeout))
        except grpc.aio.AioRpcError as error:
            command_failure(operation, *code_and_details(error))
