"""The Durable backend over azure-functions-durable 2.x: its gRPC client, answers classified as the port says.

The 2.x SDK (on durabletask) talks gRPC to the extension's local endpoint: the binding it hands over
names that endpoint (`rpcBaseUrl`), the task hub it sends as a `taskhub` header on every call, and the
extension's TaskHubGrpcServer (Azure/azure-functions-durable-extension, LocalGrpcListener.cs) runs each
call through the same DurableClient as the HTTP API: StartInstance is StartNewAsync, so the read, enqueue
and conditional write, and the host.json `overridableExistingInstanceStates`, are those of 1.x. It answers
an existing instance with ALREADY_EXISTS and any other failure of a start with INTERNAL, which may come
after the start was queued.
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

from .instance_status import InstanceStatus
from .ports import (
    BackendUnavailable,
    CommandRefused,
    InstanceGone,
    InstanceNotFound,
    OutcomeUnknown,
    StartOutcomeUnknown,
    StartRefused,
)
from .status import ACTIVE_STATUSES, ENDED_STATUSES, MISSING, InstanceState, Observed

# The SDK logs every call it makes at INFO; the app logs one line per request instead.
logging.getLogger("azure.durable_functions.client").setLevel(logging.WARNING)

# The extension's names for the protocol's statuses, as its HTTP API and the 1.x SDK show them.
RUNTIME_STATUS_NAMES = {
    "RUNNING": "Running",
    "COMPLETED": "Completed",
    "CONTINUED_AS_NEW": "ContinuedAsNew",
    "FAILED": "Failed",
    "CANCELED": "Canceled",
    "TERMINATED": "Terminated",
    "PENDING": "Pending",
    "SUSPENDED": "Suspended",
}

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

# gRPC answers a call whose connection could not be opened with UNAVAILABLE and one of these in its
# details; an UNAVAILABLE without them (a connection reset or closed mid-call) may come after the request
# was written.
NOT_CONNECTED_MARKERS = ("failed to connect to all addresses", "connection refused", "dns resolution failed")
# Refusals of the request itself: nothing was queued.
REFUSED_CODES = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION})
# Refused before the call reached a handler: nothing was queued, and a retry cannot fix the request.
NOT_HANDLED_CODES = frozenset(
    {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNIMPLEMENTED}
)
MAX_ERROR_TEXT = 200


def certainly_not_sent(error: grpc.aio.AioRpcError) -> bool:
    """Whether a failed call never left this process: its connection could not be opened, or it was refused
    before any handler ran."""
    code = error.code()
    if code in NOT_HANDLED_CODES:
        return True
    details = (error.details() or "").lower()
    return code is grpc.StatusCode.UNAVAILABLE and any(marker in details for marker in NOT_CONNECTED_MARKERS)


def describe(error: grpc.aio.AioRpcError) -> str:
    """A gRPC failure in a few words, for log lines: its code and the start of its details."""
    details = (error.details() or "").strip()
    return f"gRPC {error.code().name} ({details[:MAX_ERROR_TEXT]})" if details else f"gRPC {error.code().name}"


def start_failure(error: grpc.aio.AioRpcError) -> BackendUnavailable | StartRefused | StartOutcomeUnknown:
    """What a failed start means: not sent, refused before queueing, or an outcome that may still land."""
    if error.code() is grpc.StatusCode.ALREADY_EXISTS:
        return StartRefused(f"The start was refused: {describe(error)}.", already_exists=True)
    if error.code() in REFUSED_CODES:
        return StartRefused(f"The start was refused as invalid: {describe(error)}.", already_exists=False)
    if certainly_not_sent(error):
        return BackendUnavailable(f"The start was not sent: {describe(error)}.")
    return StartOutcomeUnknown(f"The start was answered with {describe(error)}; it may still run.")


def command_failure(operation: str, error: grpc.aio.AioRpcError) -> Exception:
    """What a failed terminate or event means, in the port's terms."""
    code = error.code()
    if code is grpc.StatusCode.NOT_FOUND:
        return InstanceNotFound(f"{operation} found no instance: {describe(error)}.")
    if code is grpc.StatusCode.FAILED_PRECONDITION:
        return InstanceGone(f"{operation} found the instance ended: {describe(error)}.")
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return CommandRefused(f"{operation} was refused as invalid: {describe(error)}.")
    if certainly_not_sent(error):
        return BackendUnavailable(f"{operation} was not sent: {describe(error)}.")
    return OutcomeUnknown(f"{operation} was answered with {describe(error)}; it may still take effect.")


def observed_state(state: OrchestrationState | None, *, with_input: bool = True) -> Observed:
    """A state read as the start sees it. The input stays the JSON text it was stored as, the shape
    backend.input_matches compares and the 1.x SDK shows; the output and the orchestrator's name come along,
    as the 1.x status read always gives them (a terminate shows as its reason in the output)."""
    if state is None:
        return MISSING
    runtime_status = RUNTIME_STATUS_NAMES.get(state.runtime_status.name)
    if runtime_status in ACTIVE_STATUSES:
        instance_state = InstanceState.ACTIVE
    elif runtime_status in ENDED_STATUSES:
        instance_state = InstanceState.ENDED
    else:
        raise BackendUnavailable(f"The status read gave a status this app does not know: {state.runtime_status}.")
    return Observed(
        state=instance_state,
        runtime_status=runtime_status,
        created_time=state.created_at,
        last_updated_time=state.last_updated_at,
        input=state.serialized_input if with_input else None,
        output=_payload(state.get_output, state.serialized_output),
        name=state.name,
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
    """One request's view of the Durable extension through the 2.x SDK's client (one per invocation: the SDK
    makes it from the binding and closes its channel after the function returns)."""

    def __init__(self, client: DurableFunctionsClient) -> None:
        self._client = client
        self.task_hub: str = client.taskHubName

    def management_links(self, request: Any, instance_id: str) -> dict[str, str]:
        """The management URLs of an instance, as the SDK's create_check_status_response builds them."""
        links = dict(self._client.create_http_management_payload(request, instance_id))
        links["id"] = instance_id
        return links

    async def _state(self, instance_id: str, timeout: float, with_input: bool) -> OrchestrationState | None:
        """One state read; every failure is BackendUnavailable, since a read changes nothing."""
        try:
            return await asyncio.wait_for(
                self._client.get_orchestration_state(instance_id, fetch_payloads=with_input), timeout
            )
        except TimeoutError:
            raise BackendUnavailable(f"The status read got no answer within {timeout:.1f} seconds.") from None
        except grpc.aio.AioRpcError as error:
            raise BackendUnavailable(f"The status read failed: {describe(error)}.") from None
        except ValueError:
            # The SDK's status enum lacks some of the protocol's statuses (Canceled) and raises on them.
            raise BackendUnavailable("The status read gave a status the SDK does not know.") from None

    async def read(self, instance_id: str, timeout: float, *, with_input: bool = False) -> Observed:
        """The instance's status, classified; BackendUnavailable for anything but a state or no instance."""
        # Payloads always: the output shows whether a terminate of ours was processed.
        return observed_state(await self._state(instance_id, timeout, True), with_input=with_input)

    async def read_instance(self, instance_id: str, timeout: float, *, with_input: bool) -> InstanceStatus | None:
        """The instance's full status (name, output, custom status), or None when there is none."""
        # Output and custom status are payloads: the extension sends them only when asked for payloads.
        state = await self._state(instance_id, timeout, True)
        if state is None:
            return None
        return InstanceStatus(
            observed_state(state, with_input=with_input),
            state.name,
            _payload(state.get_custom_status, state.serialized_custom_status),
            _payload(state.get_output, state.serialized_output),
        )

    async def start(self, orchestrator: str, instance_id: str, orchestrator_input: Any, timeout: float) -> None:
        """Ask the extension to start; returns only on a clear acceptance (the instance ID echoed)."""
        call = self._client.schedule_new_orchestration(
            orchestrator, input=orchestrator_input, instance_id=instance_id, reuse_id_policy=REPLACE_ENDED
        )
        try:
            started = await asyncio.wait_for(call, timeout)
        except TimeoutError:
            raise StartOutcomeUnknown(
                f"The start got no answer within {timeout:.1f} seconds; it may still run."
            ) from None
        except grpc.aio.AioRpcError as error:
            raise start_failure(error) from None
        if started != instance_id:
            raise StartOutcomeUnknown(f"The start was answered for another instance ID ({started!r}).")

    async def terminate(self, instance_id: str, reason: str, timeout: float) -> None:
        """Ask the extension to terminate an instance; returns once it is queued."""
        await self._command("The terminate", self._client.terminate_orchestration(instance_id, output=reason), timeout)

    async def raise_event(self, instance_id: str, event_name: str, data: Any, timeout: float) -> None:
        """Send an event to an instance; returns once it is queued."""
        call = self._client.raise_orchestration_event(instance_id, event_name, data=data)
        await self._command("The event", call, timeout)

    @staticmethod
    async def _command(operation: str, call: Awaitable[None], timeout: float) -> None:
        try:
            await asyncio.wait_for(call, timeout)
        except TimeoutError:
            raise OutcomeUnknown(f"{operation} got no answer within {timeout:.1f} seconds.") from None
        except grpc.aio.AioRpcError as error:
            raise command_failure(operation, error) from None
