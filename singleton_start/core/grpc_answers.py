"""What a gRPC answer from the Durable extension means in the Backend port's terms (pure, no gRPC import).

`adapters.durable_grpc.GrpcBackend` feeds it the status code's name (`grpc.StatusCode.X.name`) and details of every
failed call, and the simulator's gRPC adapter the answers the extension's endpoint would give, so both go
through one classification; it imports nothing of the 2.x SDK, which installs only on Python 3.13+.

What the extension answers (Azure/azure-functions-durable-extension `LocalGrpcListener.cs`, its
`TaskHubGrpcServer`): `StartInstance` turns OrchestrationAlreadyExistsException into ALREADY_EXISTS and
every other exception into INTERNAL, which may come after the start was queued; `TerminateInstance`,
`RaiseEvent` and `GetInstance` catch nothing, so DurableClient's "no instance" (ArgumentException), "not
running" (InvalidOperationException) and any storage failure all reach the client as the server's UNKNOWN
"Exception was thrown by handler.". durabletask's own sidecar (`durabletask.testing`) answers NOT_FOUND
and FAILED_PRECONDITION instead. The gRPC client answers a call whose connection could not be opened with
UNAVAILABLE and "failed to connect to all addresses" in its details; an UNAVAILABLE without that (a
reset or closed connection) may come after the request was written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from .errors import AlreadyExists, InDoubt, InstanceEnded, NoInstance, Refused, Sent, Unavailable
from .status import (
    CANCELED,
    COMPLETED,
    CONTINUED_AS_NEW,
    FAILED,
    PENDING,
    RUNNING,
    SUSPENDED,
    TERMINATED,
    Observed,
    state_of,
)

# The code a call is classified with when the adapter's own timeout ended it: the request may have left.
NO_ANSWER = "DEADLINE_EXCEEDED"
NOT_CONNECTED_MARKERS = ("failed to connect to all addresses", "connection refused", "dns resolution failed")
# Refused before any handler ran: nothing was queued, and a retry cannot fix the request.
NOT_HANDLED_CODES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED", "UNIMPLEMENTED"})
# Refusals of the request itself: nothing was queued.
REFUSED_CODES = frozenset({"INVALID_ARGUMENT", "FAILED_PRECONDITION"})
MAX_ERROR_TEXT = 200

# The protocol's orchestration statuses (OrchestrationStatus names) as the extension's HTTP API and the
# 1.x SDK name them.
RUNTIME_STATUS_NAMES = {
    "RUNNING": RUNNING,
    "COMPLETED": COMPLETED,
    "CONTINUED_AS_NEW": CONTINUED_AS_NEW,
    "FAILED": FAILED,
    "CANCELED": CANCELED,
    "TERMINATED": TERMINATED,
    "PENDING": PENDING,
    "SUSPENDED": SUSPENDED,
}


def no_answer(timeout: float) -> tuple[str, str]:
    """The adapter's own timeout, classified as the deadline it is: the request may have left."""
    return NO_ANSWER, f"no answer within {timeout:.1f} seconds"


def certainly_not_sent(code: str, details: str) -> bool:
    """Whether a failed call never reached a handler: its connection could not be opened, or it was
    refused before any handler ran. Anything else may have been written and acted on."""
    if code in NOT_HANDLED_CODES:
        return True
    return code == "UNAVAILABLE" and any(marker in details.lower() for marker in NOT_CONNECTED_MARKERS)


def describe(code: str, details: str) -> str:
    """A gRPC failure in a few words, for log lines: its code and the start of its details."""
    text = details.strip()
    return f"gRPC {code} ({text[:MAX_ERROR_TEXT]})" if text else f"gRPC {code}"


def read_failure(code: str, details: str) -> NoReturn:
    """A failed status read changed nothing, whatever its code."""
    raise Unavailable(f"The status read failed: {describe(code, details)}.")


def start_failure(code: str, details: str) -> NoReturn:
    """What a failed start means: refused before queueing, certainly not sent, or an outcome that may still land
    (INTERNAL, StartInstance's answer to any other exception out of StartNewAsync; UNKNOWN, DEADLINE_EXCEEDED, a
    dropped connection)."""
    if code == "ALREADY_EXISTS":
        raise AlreadyExists(f"The start was refused: {describe(code, details)}.")
    if code in REFUSED_CODES:
        raise Refused(f"The start was refused as invalid: {describe(code, details)}.")
    if certainly_not_sent(code, details):
        raise Unavailable(f"The start was not sent: {describe(code, details)}.")
    raise InDoubt(f"The start was answered with {describe(code, details)}; it may still run.", Sent.START)


def command_failure(operation: str, code: str, details: str) -> NoReturn:
    """What a failed terminate or event means. The extension's UNKNOWN (its "no instance" and "not running"
    as much as a failure after the enqueue) is an unknown outcome: only the sidecar's codes are clear."""
    if code == "NOT_FOUND":
        raise NoInstance(f"{operation} found no instance: {describe(code, details)}.")
    if code == "FAILED_PRECONDITION":
        raise InstanceEnded(f"{operation} found the instance ended: {describe(code, details)}.")
    if code == "INVALID_ARGUMENT":
        raise Refused(f"{operation} was refused as invalid: {describe(code, details)}.")
    if certainly_not_sent(code, details):
        raise Unavailable(f"{operation} was not sent: {describe(code, details)}.")
    raise InDoubt(f"{operation} was answered with {describe(code, details)}; it may still take effect.")


def observed_state(
    status_name: str,
    *,
    created: datetime | None,
    updated: datetime | None,
    serialized_input: str | None,
    output: Any,
    name: str | None,
    custom_status: Any = None,
) -> Observed:
    """A state read (GetInstance's OrchestrationState, by the protocol's status name: `RUNNING`) as the app sees
    it; the input stays the JSON text it was stored as, as the 1.x status read shows it. Unavailable for a
    status this app does not know."""
    runtime_status = RUNTIME_STATUS_NAMES.get(status_name, "")
    try:
        state = state_of(runtime_status)
    except ValueError:
        raise Unavailable(f"The status read gave a status this app does not know: {status_name}.") from None
    return Observed(state, runtime_status, created, updated, serialized_input, output, name, custom_status)
