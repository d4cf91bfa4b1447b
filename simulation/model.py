"""A model of the Durable backend and of the lock storage, in memory, on one virtual clock.

It is state plus events on a `Scheduler` (anything with `now()` and `at(when, callback)`), with no asyncio in
it, so that the simulator and an HTTP stand-in can share one statement of what the backend does. Calls come
in as wire requests (a status code and a JSON body come back, or nothing) and are answered through callbacks;
an HTTP server that does its own wire drives the same steps directly (`create_read`, `create_enqueue`,
`create_write`, `command_refusal`, `client_read_refusal`, `send_command`, `purge`).

The backend is the Durable extension's HTTP API (Azure/azure-functions-durable-extension `HttpApiHandler`,
`DurableClient`, `LocalGrpcListener`) over DurableTask.AzureStorage and DurableTask.Core (Azure/durabletask):
the create path and its tracking row; the control queue, whose ExecutionStarted filter defers a start whose
row is not its own and discards it after ten dequeues; work items, one at a time per instance, each ending in
a checkpoint that writes the row without a condition; what a terminate, an event, a suspend or a resume does
to an instance that never ran, a running, a suspended and an ended one; continue-as-new; purge. docs/model.md
gives each rule with the file, method, commit and lines it comes from, the releases it holds for, and the
function here that implements it. Where releases differ, `Versions` says which the model gives.

The lock storage is Azure Blob Storage's Lease Blob and Put Blob operations: leases of a fixed length on the
storage clock, 409 LeaseAlreadyPresent, renewal of an expired lease as long as no one else took it, metadata
writes that need the active lease, and If-None-Match creates answered 409 when the blob exists; a lifecycle
management rule deletes blobs that no active lease protects.

Every call carries a request tag that the app never sees, so that the invariants can name which request
caused each execution, terminate and event.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

# OverridableStates.NonRunningStates: the statuses a start is refused over (ToDedupeStatuses); the same four are
# what DurableClient.IsOrchestrationRunning calls running, and what the status API answers 202 for.
DEDUPE_STATUSES = frozenset({"Running", "Pending", "ContinuedAsNew", "Suspended"})
RUNNING_STATUSES = DEDUPE_STATUSES
# HttpApiHandler.IsCompletedStatus: terminate, events, suspend and resume answer 410 for these.
# The name the wire gives the shared lease's well-known ID in a run's timeline.
SHARED_LEASE_NAME = "shared"
ENDED_STATUSES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
# DurableClient.IsOrchestrationSuspendable.
SUSPENDABLE = frozenset({"Running", "Pending", "ContinuedAsNew"})
ALREADY_EXISTS = "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"
INVALID_OPERATION = "System.InvalidOperationException"
ARGUMENT_EXCEPTION = "System.ArgumentException"
STORAGE_EXCEPTION = "DurableTask.AzureStorage.Storage.DurableTaskStorageException"
# HttpApiHandler.HandleRequestAsync's two catch-alls.
ERROR_MESSAGE = "Something went wrong while processing your request"
BAD_ARGUMENTS_MESSAGE = "One or more of the arguments submitted is incorrect"
# A step of the extension's own work (one storage round trip): reads, enqueues and writes interleave at this scale.
STEP_SECONDS = (0.001, 0.02)
SLOW_STEP_SECONDS = (0.02, 2.0)
OUTSIDE_TAG = "outside"
# The simulator's wall clock: virtual second 0 is this instant; the status API shows times to the second.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
POSIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# OrchestrationSessionManager: an ExecutionStarted seen this many times without a row of its own is discarded;
# TaskHubQueue.AbandonMessageAsync: the n-th abandon hides a message min(2^n, 600) s.
MAX_START_DEQUEUES = 10
MAX_ABANDON_SECONDS = 600.0
# AzureStorageOrchestrationServiceSettings.ControlQueueVisibilityTimeout: a dequeued message not deleted or
# abandoned shows again this long after its dequeue.
VISIBILITY_TIMEOUT_SECONDS = 300.0
# Where the model's start answer points (HttpApiHandler.CreateCheckStatusResponse over the local host).
WEBHOOK_BASE = "http://127.0.0.1:7071/runtime/webhooks/durabletask"
TASK_HUB = "SimHub"
CONNECTION = "Storage"
SYSTEM_KEY = "simulated-system-key"

GrpcCodes = Literal["unknown", "precise"]


class Scheduler(Protocol):
    """A clock that can run a callback at a later time."""

    def now(self) -> float: ...

    def at(self, when: float, callback: Callable[[], None]) -> None: ...


class EventQueue:
    """A plain discrete-event scheduler, for driving the model without an event loop."""

    def __init__(self) -> None:
        self._now = 0.0
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0

    def now(self) -> float:
        return self._now

    def at(self, when: float, callback: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (max(when, self._now), self._seq, callback))

    def run(self, until: float = float("inf")) -> None:
        """Run every event due by `until`, in time order (ties in the order they were scheduled)."""
        while self._queue and self._queue[0][0] <= until:
            when, _, callback = heapq.heappop(self._queue)
            self._now = when
            callback()
        self._now = max(self._now, until) if until != float("inf") else self._now


@dataclass(frozen=True)
class Versions:
    """Which releases the model behaves as, where releases differ (docs/model.md, the version map). The defaults
    are the newest behaviour the sources show."""

    # DurableTask.AzureStorage >= 2.7.0 (extension >= 3.8.0, bundle v4 >= 4.32.0): a terminate processed for an
    # instance that never ran merges Terminated into its row; before, it is dropped like any other message.
    terminate_marks_never_run: bool = True
    # What the gRPC endpoint answers a terminate, event, suspend or resume over no instance or one in the wrong
    # state: "unknown" (extension 2.13.7 and 3.0.0: UNKNOWN, the handler threw) or "precise" (later releases:
    # NOT_FOUND, FAILED_PRECONDITION; known from pull-request threads, the code was not read).
    grpc_command_codes: GrpcCodes = "precise"
    # An orchestration continued as new keeps the events it received and did not consume: the 2.x SDK's
    # `continue_as_new(save_events=True)`; the 1.x SDK has no such flag, and they are lost.
    continue_as_new_keeps_events: bool = True

    def describe(self) -> str:
        marks = ">= 2.7.0 (a terminate marks a never-run row)" if self.terminate_marks_never_run else "< 2.7.0"
        kept = "kept" if self.continue_as_new_keeps_events else "lost"
        return (
            f"DurableTask.AzureStorage {marks}; gRPC command codes {self.grpc_command_codes}; "
            f"events unconsumed at continue-as-new {kept}"
        )


def draw_versions(rng: random.Random) -> Versions:
    """A release of each part, drawn from a seed's stream, so that an exploration covers both sides of each change."""
    return Versions(
        terminate_marks_never_run=rng.random() < 0.5,
        grpc_command_codes=rng.choice(("unknown", "precise")),
        continue_as_new_keeps_events=rng.random() < 0.5,
    )


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status and JSON body (None for an empty body). `status` None: the connection was refused,
    nothing was sent. `state`, never on the wire: the row a status read saw, for the gRPC endpoint's
    GetInstance, which gives its times to the tick."""

    status: int | None
    body: Any = None
    state: Row | None = None


NOT_SENT = Answer(None)


@dataclass(frozen=True)
class Faults:
    """What may go wrong, as probabilities per call (or per run for `blob_deletion`), the bounds of delays, and
    what the orchestrations do."""

    not_sent: float = 0.0  # the connection is refused: nothing reaches the extension
    server_error: float = 0.0  # 503 instead of the answer; the request may or may not have been processed
    empty_500: float = 0.0  # the listener failed partway: 500 with an empty body
    answer_lost: float = 0.0  # processed, but no answer ever comes back (the caller times out)
    answer_late: float = 0.0  # processed, the answer comes back after up to `late_landing_bound`
    land_late: float = 0.0  # processed only after up to `late_landing_bound`, maybe after its caller gave up
    late_landing_bound: float = 8.0
    slow_commands: float = 0.0  # a management call's steps (status read, DurableClient's read, enqueue) each slow
    storage_refused: float = 0.0  # storage answers 503; nothing was done
    storage_late: float = 0.0  # done, the answer comes back up to `late_landing_bound` later
    storage_answer_lost: float = 0.0  # done (a lease granted, a renewal made), the answer lost
    host_pause: float = 0.0  # chance that a host's sleep stalls up to 20 s more (a frozen VM, a long GC pause)
    storage_outage: float = 0.0  # chance of a window of 5 to 40 s in which storage refuses every call
    blob_deletion: float = 0.0  # a lifecycle rule deletes the lock blob once it has no active lease
    slow_writes: float = 0.0  # a tracking-table write (a start's, a checkpoint's) comes up to 2 s late
    queue_delay: tuple[float, float] = (0.005, 0.5)  # from a control-queue message's showing to its dequeue
    # The control queue's polling interval, backed off while the queue is idle, up to this (s): a message that
    # shows on a queue idle for t seconds waits up to min(this, t / 2) more. 0: a queue kept busy.
    max_polling_interval: float = 0.0
    work_time: tuple[float, float] = (0.02, 0.5)  # from a work item's start to its checkpoint
    starts_run: bool = True  # False: no worker takes an ExecutionStarted; it stays queued (row Pending)
    run_time: tuple[float, float] = (0.5, 20.0)  # how long an execution runs before it ends or continues as new
    failure: float = 0.2  # share of executions that end Failed rather than Completed
    continue_as_new: float = 0.0  # share of executions that continue as new rather than end
    event_waits: float = 0.5  # share of executions that consume the events they receive (the rest keep them)

    def without(self, name: str) -> Faults:
        """These faults with one of them off: for shrinking a failing run."""
        off: dict[str, Any] = {name: 0.0}
        return replace(self, **off)


FAULT_NAMES = (
    "not_sent",
    "server_error",
    "empty_500",
    "answer_lost",
    "answer_late",
    "land_late",
    "slow_commands",
    "storage_refused",
    "storage_late",
    "storage_answer_lost",
    "blob_deletion",
    "slow_writes",
    "storage_outage",
    "host_pause",
    "continue_as_new",
)


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of an execution's work item: when, the row status it wrote, and whose row it overwrote (the
    execution ID another start had put there since the work item's filter read), if any."""

    at: float
    status: str
    overwrote: str | None = None


@dataclass
class Execution:
    """One execution of an instance ID: made when its tracking row was written (Pending), or when its predecessor
    continued as new."""

    execution_id: str
    instance_id: str
    name: str
    input: Any  # as the tracking row keeps it: the JSON the start carried
    tag: str
    created_at: float
    status: str = "Pending"
    ran_at: float | None = None  # when its ExecutionStarted was processed (its first checkpoint)
    ended_at: float | None = None
    ended_by: Message | None = None  # the terminate that ended it
    events: list[Message] = field(default_factory=list)  # events delivered to it
    generation: int = 0
    continued_from: str | None = None  # the execution it continued as new from (its predecessor)
    continued_as: str | None = None  # the execution it continued as new into
    # How it ended, or why it never ran: "Completed by itself", "Terminated by <tag>", "continued as new into
    # <id>", "never ran: its ExecutionStarted was discarded (...)".
    end: str | None = None
    checkpoints: list[Checkpoint] = field(default_factory=list)
    merged_terminated_at: float | None = None  # a terminate merged Terminated into its row before it ran
    purged_at: float | None = None  # when its row and history were purged
    # A terminate batched with an earlier execution's messages marked its row Terminated while it ran on.
    marked_terminated_while_running_at: float | None = None
    waits_for_events: bool = True  # consumes the events it receives; else keeps them unconsumed
    unconsumed: list[Message] = field(default_factory=list)
    buffered: list[Message] = field(default_factory=list)  # events received while suspended
    progress_buffered: bool = False  # its own end came while it was suspended

    def runs(self, orchestrator: str) -> bool:
        """Whether it runs this orchestrator (names match case-insensitively, as the extension's)."""
        return self.name.casefold() == orchestrator.casefold()

    def lineage(self, executions: dict[str, Execution]) -> list[str]:
        """Its execution ID and each predecessor's, newest first."""
        ids, current = [self.execution_id], self.continued_from
        while current is not None:
            ids.append(current)
            current = executions[current].continued_from if current in executions else None
        return ids


@dataclass
class Row:
    """The instance's tracking-table row: the current execution's status, output and custom status, with an ETag."""

    execution_id: str
    name: str
    input: Any
    status: str
    created_at: float  # the ExecutionStarted event's time (CreatedTime)
    updated_at: float
    etag: int
    # What the execution ended with: a terminate's reason (the status API's output), else None.
    output: Any = None
    custom_status: Any = None
    generation: int = 0


@dataclass
class Message:
    """A control-queue message. Terminate, event, suspend and resume messages have no execution ID. `decided_at`
    and `addressed`: the sender's last status read before it sent the command (when the command was decided, and
    which execution it saw). `outcome` says where it went: "ran", "ended", "delivered", "buffered while
    suspended", "merged into the row of <id>", "dropped: <DurableTask's reason>", "discarded: <reason>",
    "lost at continue-as-new"."""

    kind: str  # "start", "terminate", "event", "suspend", "resume"
    instance_id: str
    tag: str
    sent_at: float
    execution_id: str | None = None
    decided_at: float = 0.0
    addressed: str | None = None
    addressed_name: str | None = None
    route: str | None = None  # the orchestrator a management route named
    reason: Any = None  # a terminate's reason, which becomes the terminated instance's output
    delivered_at: float | None = None  # when it was processed (ran, reached an execution, or dropped)
    hit: str | None = None  # the execution it reached, None when discarded
    data: Any = None  # an event's data
    event_name: str | None = None
    generation: int | None = None  # an ExecutionStarted's
    timestamp: float | None = None  # an ExecutionStarted's event time: when its start began
    visible_at: float = 0.0
    dequeues: list[float] = field(default_factory=list)
    outcome: str | None = None
    merged_into: str | None = None  # a terminate merged into this execution's never-run row
    carried_to: str | None = None  # an event carried over into this execution at continue-as-new
    sequence: int = 0  # the sending process's message counter (TaskHubQueue.messageSequenceNumber)


@dataclass(frozen=True)
class Sentinel:
    """The History table's sentinel row of an instance: which execution's history is stored, and its ETag."""

    execution_id: str
    etag: int


@dataclass
class Batch:
    """Messages of one instance processed as one work item (OrchestrationSessionManager's PendingMessageBatch)."""

    instance_id: str
    execution_id: str | None
    messages: list[Message]


@dataclass
class Blob:
    """A lock blob: its metadata, creation time and lease (on the storage clock)."""

    created_at: float
    metadata: dict[str, str] = field(default_factory=dict)
    lease_id: str | None = None
    lease_tag: str = ""
    lease_expires: float = 0.0
    lease_released: bool = False
    # Which lease this is (a new one each time the blob is leased anew; a renewal, a change of its ID or another
    # holder joining a shared lease keeps it), and who holds it.
    lease_generation: int = 0
    holders: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class LeaseRecord:
    """A lease storage granted, for the invariants: who, from when, and its storage-side end when checked."""

    key: str
    lease_id: str
    tag: str
    granted_at: float


@dataclass
class Create:
    """One start going through CreateTaskOrchestrationAsync: what its status read saw and what it queued."""

    tag: str
    instance_id: str
    name: str
    input: Any
    etag: int | None = None
    execution_id: str | None = None
    began_at: float | None = None  # the ExecutionStarted event's time, the row's CreatedTime
    generation: int = 0


@dataclass(frozen=True)
class StartSend:
    """A start the app sent, and the lease storage showed for its request at that moment."""

    tag: str
    instance_id: str
    at: float
    lease_left: float | None  # seconds the request's lease still had on the storage clock; None: none held


@dataclass(frozen=True)
class Landing:
    """A command of the app (start, terminate, event) reaching the extension, and whether the lease its request held
    when it sent it was still that same lease, unreleased and unexpired, when it got there."""

    tag: str
    kind: str
    instance_id: str
    at: float
    under_its_lease: bool


# -- the extension's answers, as values -----------------------------------------------------------------------


def error_body(message: str, exception_message: str, exception_type: str, method: str) -> dict[str, Any]:
    """HttpRequestMessageExtensions.CreateErrorResponse(status, message, exception): the exception's message, full
    type name and stack trace (here its top frame)."""
    return {
        "Message": message,
        "ExceptionMessage": exception_message,
        "ExceptionType": exception_type,
        "StackTrace": f"   at {method}",
    }


def already_exists_answer(runtime_status: str) -> Answer:
    """A start over an instance in a dedupe status: OrchestrationAlreadyExistsException reaches
    HandleRequestAsync's catch-all."""
    message = f"An Orchestration instance with the status {runtime_status} already exists."
    method = "DurableTask.AzureStorage.AzureStorageOrchestrationService.CreateTaskOrchestrationAsync"
    return Answer(500, error_body(ERROR_MESSAGE, message, ALREADY_EXISTS, method))


def is_already_exists(answer: Answer) -> bool:
    return answer.status == 500 and exception_type(answer) == ALREADY_EXISTS


def exception_type(answer: Answer) -> str:
    return str(answer.body.get("ExceptionType") or "") if isinstance(answer.body, dict) else ""


def url_encode(value: str) -> str:
    """System.Net.WebUtility.UrlEncode: space -> '+', unreserved = ASCII alnum and -_.!*(), the rest as UTF-8
    bytes in upper-case %XX."""
    out: list[str] = []
    for char in value:
        if char.isascii() and (char.isalnum() or char in "-_.!*()"):
            out.append(char)
        elif char == " ":
            out.append("+")
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(out)


def management_urls(
    base_url: str, instance_id: str, task_hub: str, connection: str, system_key: str, *, include_rewind: bool = False
) -> dict[str, str]:
    """HttpApiHandler.GetClientResponseLinks: the start's 202 body (rewind only in the binding payload)."""
    prefix = f"{base_url}/instances/{url_encode(instance_id)}"
    suffix = f"taskHub={url_encode(task_hub)}&connection={url_encode(connection)}&code={system_key}"
    urls = {
        "id": instance_id,
        "statusQueryGetUri": f"{prefix}?{suffix}",
        "sendEventPostUri": f"{prefix}/raiseEvent/{{eventName}}?{suffix}",
        "terminatePostUri": f"{prefix}/terminate?reason={{text}}&{suffix}",
        "rewindPostUri": f"{prefix}/rewind?reason={{text}}&{suffix}",
        "purgeHistoryDeleteUri": f"{prefix}?{suffix}",
        "restartPostUri": f"{prefix}/restart?{suffix}",
        "suspendPostUri": f"{prefix}/suspend?reason={{text}}&{suffix}",
        "resumePostUri": f"{prefix}/resume?reason={{text}}&{suffix}",
    }
    if not include_rewind:
        del urls["rewindPostUri"]
    return urls


def wire_time(seconds: float, epoch: datetime = EPOCH) -> str:
    """A model time as the status API writes it: DateTime.ToString("s") + "Z", to the second."""
    return (epoch + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


# What the gRPC client reports for a call whose connection could not be opened (grpc core's wording).
GRPC_NOT_CONNECTED = (
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:4001: "
    "Failed to connect to remote host: Connection refused"
)
# A connection closed under a call that was already written (the host recycling, the channel dropped).
GRPC_DROPPED = "Socket closed"
# What the server reports for an exception a handler did not turn into a status (Grpc.Core HandlerUtils).
GRPC_HANDLER_THREW = "Exception was thrown by handler."


def grpc_answer(operation: str, answer: Answer, versions: Versions) -> tuple[str, str]:
    """What the extension's gRPC endpoint (LocalGrpcListener's TaskHubGrpcServer) answers where the HTTP API gave
    `answer`: a status code's name and details. `operation`: "start", "status", "purge", "terminate", "event",
    "suspend" or "resume".

    StartInstance turns OrchestrationAlreadyExistsException into ALREADY_EXISTS and every other exception
    (bad arguments, a storage failure) into INTERNAL; GetInstance answers no instance with `exists = false`;
    TerminateInstance, RaiseEvent, SuspendInstance and ResumeInstance call DurableClient with no catch, so its
    ArgumentException (no instance: the HTTP API's 404 before it, or 400 from DurableClient's own read) and its
    InvalidOperationException (the wrong state: the 410 before it, or DurableClient's 500) reach the client as
    UNKNOWN in 2.13.7 and 3.0.0, as NOT_FOUND and FAILED_PRECONDITION in later releases (Versions). The model's
    503 (the host went away after the call was written) is a dropped connection; a refused one is UNAVAILABLE
    before anything was sent.
    """
    if answer.status is None:
        return "UNAVAILABLE", GRPC_NOT_CONNECTED
    if answer.status == 503:
        return "UNAVAILABLE", GRPC_DROPPED
    if operation == "start":
        if answer.status == 202:
            return "OK", ""
        if is_already_exists(answer):
            return "ALREADY_EXISTS", "An Orchestration instance with the ID already exists."
        return "INTERNAL", "Failed to start instance."
    if operation in ("status", "purge"):
        return ("OK", "") if answer.status in (200, 202, 404) else ("UNKNOWN", GRPC_HANDLER_THREW)
    if answer.status == 202:
        return "OK", ""
    if versions.grpc_command_codes == "precise":
        thrown = exception_type(answer)
        if answer.status == 404 or thrown == ARGUMENT_EXCEPTION:
            return "NOT_FOUND", "No instance with the ID was found."
        if answer.status == 410 or thrown == INVALID_OPERATION:
            return "FAILED_PRECONDITION", "The instance is not in a state that allows it."
    return "UNKNOWN", GRPC_HANDLER_THREW


def grpc_state(answer: Answer) -> dict[str, Any] | None:
    """What GetInstance gives for a status read's answer: the row with its times to the tick (None: no instance)."""
    row = answer.state
    if row is None:
        return None
    return {
        "name": row.name,
        "runtimeStatus": row.status,
        "input": row.input,
        "output": row.output,
        "createdTime": row.created_at,
        "lastUpdatedTime": row.updated_at,
    }


class World:
    """The backend and the lock storage, with what happened to each, for the invariants and the timeline."""

    def __init__(
        self,
        scheduler: Scheduler,
        seed: int | str,
        faults: Faults,
        versions: Versions | None = None,
        *,
        epoch: datetime = EPOCH,
    ) -> None:
        self.clock = scheduler
        self.seed = seed
        self.faults = faults
        self.versions = versions or Versions()
        self.epoch = epoch
        self.rows: dict[str, Row] = {}
        self.histories: dict[str, Sentinel] = {}
        self.executions: dict[str, Execution] = {}
        self.messages: list[Message] = []
        self.blobs: dict[str, Blob] = {}
        self.leases: list[LeaseRecord] = []
        self.sends: list[StartSend] = []
        self.landings: list[Landing] = []
        self.coverage: Counter[str] = Counter()
        self.timeline: list[tuple[float, str, str]] = []
        self.foreign_raced: set[str] = set()
        # When a lifecycle rule deleted a lock blob, with the Idempotency-Key records on it, and which blob.
        self.records_lost: list[tuple[float, str]] = []
        self.active_requests: set[str] = set()
        # The last status read each request had processed, as (when, execution ID, orchestrator name).
        self.last_read: dict[str, tuple[float, str | None, str | None]] = {}
        self._streams: dict[str, random.Random] = {}
        self._queues: dict[str, list[Message]] = {}  # per instance: queued, not being processed
        self._pending: dict[str, list[Batch]] = {}  # per instance: dequeued, waiting for the instance's work item
        self._busy: set[str] = set()  # instances with a work item between its start and its checkpoint
        self._last_dequeue: dict[str, float] = {}
        self._sequences: dict[str, int] = {}
        self._next_execution = 0
        self._etag = 0
        outage = random.Random(f"{seed}/outage")
        begins = outage.uniform(0.0, 30.0)
        self._outage = (begins, begins + outage.uniform(5.0, 40.0)) if outage.random() < faults.storage_outage else None

    # -- plumbing ------------------------------------------------------------------------------------------

    def stream(self, name: str) -> random.Random:
        """The random stream of one actor: removing another actor leaves its draws as they were."""
        rng = self._streams.get(name)
        if rng is None:
            rng = self._streams[name] = random.Random(f"{self.seed}/{name}")
        return rng

    def log(self, who: str, what: str) -> None:
        self.timeline.append((self.clock.now(), who, what))

    def _new_etag(self) -> int:
        """A fresh ETag for every write, as Azure Tables gives: a row deleted and made again never reuses one."""
        self._etag += 1
        return self._etag

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        self.clock.at(self.clock.now() + delay, callback)

    def _step(self, tag: str, slow: float) -> float:
        """One storage round trip of a handler: short, or with chance `slow` up to 2 s."""
        rng = self.stream(tag)
        return rng.uniform(*(SLOW_STEP_SECONDS if rng.random() < slow else STEP_SECONDS))

    def _exchange(
        self,
        tag: str,
        what: str,
        process: Callable[[Callable[[Answer], None]], None],
        reply: Callable[[Answer], None],
        *,
        storage: bool = False,
    ) -> None:
        """One request over the wire: refused, or processed after a delay (maybe long after its caller gave up),
        its answer sent back, lost, late or replaced by an error."""
        faults, rng = self.faults, self.stream(tag)
        refused = faults.storage_refused if storage else faults.not_sent
        outage = storage and self._outage is not None and self._outage[0] <= self.clock.now() < self._outage[1]
        if outage or rng.random() < refused:
            self._later(rng.uniform(*STEP_SECONDS), lambda: reply(Answer(503) if storage else NOT_SENT))
            return
        if not storage and rng.random() < faults.server_error and rng.random() < 0.5:
            self._later(rng.uniform(*STEP_SECONDS), lambda: reply(Answer(503, {"Message": "Service Unavailable"})))
            return
        late = not storage and rng.random() < faults.land_late
        land = rng.uniform(0.0, faults.late_landing_bound) if late else rng.uniform(*STEP_SECONDS)

        def answered(answer: Answer) -> None:
            lost = faults.storage_answer_lost if storage else faults.answer_lost
            slow = faults.storage_late if storage else faults.answer_late
            if rng.random() < lost:
                self.coverage["answer_lost"] += 1
                self.log("wire", f"answer to {tag}'s {what} lost ({answer.status})")
                return
            if not storage and answer.status == 202 and rng.random() < faults.server_error:
                answer = Answer(503, {"Message": "Service Unavailable"})
            delay = rng.uniform(0.0, faults.late_landing_bound) if rng.random() < slow else rng.uniform(*STEP_SECONDS)
            self._later(delay, lambda: reply(answer))

        def landed() -> None:
            if late:
                self.coverage["landed_late"] += 1
                if tag not in self.active_requests:
                    self.coverage["landed_after_request_ended"] += 1
            process(answered)

        self._later(land, landed)

    # -- the extension's HTTP API -----------------------------------------------------------------------------

    def status(
        self,
        tag: str,
        instance_id: str,
        with_input: bool,
        reply: Callable[[Answer], None],
        *,
        with_history: bool = False,
    ) -> None:
        """HandleGetStatusRequestAsync over the wire."""

        def process(answer: Callable[[Answer], None]) -> None:
            if self.stream(tag).random() < self.faults.empty_500:
                answer(Answer(500))
                return
            row = self.rows.get(instance_id)
            self.last_read[tag] = (self.clock.now(), row.execution_id if row else None, row.name if row else None)
            answer(self.status_answer(instance_id, with_input=with_input, with_history=with_history))

        self._exchange(tag, "status read", process, reply)

    def status_answer(
        self, instance_id: str, *, with_input: bool = True, fail_500: bool = False, with_history: bool = False
    ) -> Answer:
        """HandleGetStatusRequestAsync: 404 with no body for no instance; 202 for Running, Pending, ContinuedAsNew
        and Suspended; 200 for an ended one (a Failed one 500 when asked with returnInternalServerErrorOnFailure);
        the body is StatusResponsePayload, times to the second. With showHistory (and not Pending), its
        historyEvents are the row's execution's history as DurableClient.GetDurableOrchestrationStatusAsync shapes it
        (EventType by name, Input kept with showInput): here only the events that say how it started and ended."""
        row = self.rows.get(instance_id)
        if row is None:
            return Answer(404)
        body = {
            "name": row.name,
            "instanceId": instance_id,
            "runtimeStatus": row.status,
            "input": row.input if with_input else None,
            "customStatus": row.custom_status,
            "output": row.output,
            "createdTime": wire_time(row.created_at, self.epoch),
            "lastUpdatedTime": wire_time(row.updated_at, self.epoch),
        }
        if with_history and row.status != "Pending":
            body["historyEvents"] = self.history_events(instance_id, row, with_input=with_input)
        if row.status in RUNNING_STATUSES:
            code = 202
        elif row.status == "Failed" and fail_500:
            code = 500
        else:
            code = 200
        return Answer(code, body, replace(row))

    def history_events(self, instance_id: str, row: Row, *, with_input: bool) -> list[dict[str, Any]]:
        """GetOrchestrationHistoryAsync of the row's execution: the history table holds it only when its sentinel is
        that execution's (a stale checkpoint or a new start may have left another's); ExecutionTerminated carries
        the reason of the terminate the execution itself processed, never one only merged into its row."""
        sentinel = self.histories.get(instance_id)
        execution = self.executions.get(row.execution_id)
        if sentinel is None or execution is None or sentinel.execution_id != row.execution_id:
            return []
        events: list[dict[str, Any]] = [{"EventType": "ExecutionStarted", "FunctionName": execution.name}]
        terminated_by = execution.ended_by
        if terminated_by is not None and execution.status == "Terminated":
            events.append({"EventType": "ExecutionTerminated", "Input": terminated_by.reason if with_input else None})
        if execution.ended_at is not None and execution.status in ENDED_STATUSES:
            events.append({"EventType": "ExecutionCompleted", "OrchestrationStatus": execution.status})
        return events

    def start(
        self,
        tag: str,
        instance_id: str,
        name: str,
        orchestrator_input: Any,
        reply: Callable[[Answer], None],
        *,
        landed: Callable[[], None] = lambda: None,
    ) -> None:
        """HandleStartOrchestratorRequestAsync over the wire; `landed` is called as it reaches the extension."""
        text = None if orchestrator_input is None else json.dumps(orchestrator_input)
        rng = self.stream(tag)

        def process(answer: Callable[[Answer], None]) -> None:
            landed()
            # The listener may fail around any of the handler's storage calls: 0 before the read, 3 after the write.
            throws_after = rng.randrange(4) if rng.random() < self.faults.empty_500 else 4
            self._create(tag, instance_id, name, text, answer, throws_after)

        self._exchange(tag, "start", process, reply)

    def _create(
        self, tag: str, instance_id: str, name: str, text: Any, answer: Callable[[Answer], None], throws_after: int = 4
    ) -> None:
        """CreateTaskOrchestrationAsync, one storage call a step: read and dedupe, enqueue ExecutionStarted, then
        the ETag-conditioned write; 202 with the management URLs, 500 naming the exception when refused."""
        if throws_after == 0:
            answer(Answer(500))
            return
        create = Create(tag, instance_id, name, text)
        existing = self.create_read(create)
        if existing is not None:
            answer(already_exists_answer(existing.status))
            return
        if throws_after == 1:
            answer(Answer(500))
            return

        def enqueue() -> None:
            self.create_enqueue(create)
            if throws_after == 2:
                # Failed after the enqueue, before the tracking write: the queued ExecutionStarted finds no row.
                answer(Answer(500))
                return
            self._later(self._step(tag, self.faults.slow_writes), write)

        def write() -> None:
            written = self.create_write(create)
            if written is None:
                method = "DurableTask.AzureStorage.Tracking.AzureTableTrackingStore.SetNewExecutionAsync"
                failed = "The specified resource does not exist."
                answer(Answer(500, error_body(ERROR_MESSAGE, failed, STORAGE_EXCEPTION, method)))
            elif throws_after == 3:
                answer(Answer(500))
            else:
                urls = management_urls(WEBHOOK_BASE, instance_id, TASK_HUB, CONNECTION, SYSTEM_KEY)
                answer(Answer(202, urls))

        self._later(self._step(tag, 0.0), enqueue)

    # The create path's steps, each one storage call, for whoever drives them (the simulator's wire, an HTTP
    # server) to interleave with other work as the extension's awaits do.

    def create_read(self, create: Create) -> Row | None:
        """FetchInstanceStatusAsync and the dedupe: the row that refuses the start, or None (its ETag and
        generation kept for the write). The ExecutionStarted event was made just before: its time is now."""
        row = self.rows.get(create.instance_id)
        create.began_at = self.clock.now()
        create.etag = row.etag if row else None
        create.generation = row.generation + 1 if row else 0
        if row is not None and row.status in DEDUPE_STATUSES:
            self.coverage["already_exists"] += 1
            self.coverage["duplicate_start_500"] += 1
            self.log("extension", f"{create.tag}'s start refused: {create.instance_id} is {row.status}")
            return row
        return None

    def create_enqueue(self, create: Create) -> Message:
        """ExecutionStarted with a new execution ID (the client makes it), queued before the tracking row is
        written."""
        execution_id = create.execution_id = self._new_execution_id()
        message = Message(
            "start",
            create.instance_id,
            create.tag,
            self.clock.now(),
            execution_id=execution_id,
            generation=create.generation,
            timestamp=create.began_at if create.began_at is not None else self.clock.now(),
        )
        self.log("extension", f"{create.tag}'s start queued as {execution_id} (input {create.input})")
        self._enqueue(message)
        return message

    def create_write(self, create: Create) -> bool | None:
        """SetNewExecutionAsync: insert when the read saw no row, else replace conditioned on the read's ETag.
        True: written; False: the condition failed (409/412), swallowed, and the start is still answered 202;
        None: the row the read saw was deleted since, and the replace's 404 is thrown."""
        execution_id = create.execution_id
        assert execution_id is not None
        current = self.rows.get(create.instance_id)
        if current is None and create.etag is not None:
            self.log("extension", f"{create.tag}'s tracking write for {execution_id} found the row deleted")
            return None
        if (current.etag if current else None) != create.etag:
            self.coverage["etag_race_lost"] += 1
            if current is not None and self.executions.get(current.execution_id, _NOBODY).tag == OUTSIDE_TAG:
                self.foreign_raced.add(create.tag)
            self.log("extension", f"{create.tag}'s tracking write for {execution_id} lost the ETag race; answered 202")
            return False
        now = self.clock.now()
        execution = Execution(
            execution_id, create.instance_id, create.name, create.input, create.tag, now, generation=create.generation
        )
        self.executions[execution_id] = execution
        began = create.began_at if create.began_at is not None else now
        self.rows[create.instance_id] = Row(
            execution_id,
            create.name,
            create.input,
            "Pending",
            began,
            now,
            self._new_etag(),
            generation=create.generation,
        )
        self.log("extension", f"row of {create.instance_id} -> {execution_id} Pending ({create.tag})")
        return True

    def _new_execution_id(self) -> str:
        self._next_execution += 1
        return f"e{self._next_execution}"

    def command(
        self,
        tag: str,
        kind: str,
        instance_id: str,
        route: str | None,
        reply: Callable[[Answer], None],
        reason: str | None = None,
        *,
        event_name: str | None = None,
        data: Any = None,
        landed: Callable[[], None] = lambda: None,
    ) -> None:
        """HandleTerminateInstanceRequestAsync, HandleRaiseEventRequestAsync, HandleSuspendInstanceRequestAsync or
        HandleResumeInstanceRequestAsync (`kind` "terminate", "event", "suspend", "resume") over the wire; `landed`
        is called as it reaches the extension."""
        decided_at, addressed, addressed_name = self.last_read.get(tag, (self.clock.now(), None, None))

        def process(answer: Callable[[Answer], None]) -> None:
            landed()
            if self.stream(tag).random() < self.faults.empty_500:
                answer(Answer(500))
                return
            template = Message(
                kind,
                instance_id,
                tag,
                0.0,
                None,
                decided_at,
                addressed,
                addressed_name,
                route,
                reason,
                data=data,
                event_name=event_name,
            )
            self._command_steps(template, answer)

        self._exchange(tag, kind, process, reply)

    def _command_steps(self, template: Message, answer: Callable[[Answer], None]) -> None:
        """The handler's status read (404 none, 410 ended), then DurableClient's own read (400 gone, 500 the wrong
        state), then the enqueue, each a storage round trip apart: the state may change between them."""
        refused = self.command_refusal(template.instance_id)
        if refused is not None:
            answer(Answer(refused))
            return
        slow = self.faults.slow_commands

        def second_read() -> None:
            problem = self.client_read_refusal(template.kind, template.instance_id, template.event_name)
            if problem is not None:
                answer(problem)
                return

            def enqueue() -> None:
                self.send_command(replace(template, sent_at=self.clock.now()))
                answer(Answer(202))

            self._later(self._step(template.tag, slow), enqueue)

        self._later(self._step(template.tag, slow), second_read)

    def command_refusal(self, instance_id: str) -> int | None:
        """The status read a management route makes before it calls DurableClient: 404 none, 410 ended, else
        None."""
        row = self.rows.get(instance_id)
        if row is None:
            return 404
        if row.status in ENDED_STATUSES:
            return 410
        return None

    def client_read_refusal(self, kind: str, instance_id: str, event_name: str | None = None) -> Answer | None:
        """DurableClient's own read before it sends (TerminateAsync, RaiseEventInternalAsync with the status
        check Azure Storage turns on, SuspendAsync, ResumeAsync): no instance is an ArgumentException (400), the
        wrong state an InvalidOperationException (500); None when the message may go."""
        row = self.rows.get(instance_id)
        if row is None:
            self.coverage["command_gone_400"] += 1
            method = "Microsoft.Azure.WebJobs.Extensions.DurableTask.DurableClient.GetOrchestrationInstanceStateAsync"
            message = f"No instance with ID '{instance_id}' was found. (Parameter 'instanceId')"
            return Answer(400, error_body(BAD_ARGUMENTS_MESSAGE, message, ARGUMENT_EXCEPTION, method))
        allowed = {"suspend": SUSPENDABLE, "resume": frozenset({"Suspended"})}.get(kind, RUNNING_STATUSES)
        if row.status in allowed:
            return None
        status = row.status
        if kind == "event":
            method = "RaiseEventInternalAsync"
            message = (
                f"Cannot raise event {event_name} for orchestration instance {instance_id} because instance is in "
                f"{status} state"
            )
        else:
            method = {"terminate": "TerminateAsync", "suspend": "SuspendAsync", "resume": "ResumeAsync"}[kind]
            message = (
                f"Cannot {kind} the orchestration instance {instance_id} because instance is in the {status} state."
            )
        if kind in ("terminate", "event") and status in ENDED_STATUSES:
            self.coverage[f"{kind}_racing_end_500"] += 1
        frame = f"Microsoft.Azure.WebJobs.Extensions.DurableTask.DurableClient.{method}"
        return Answer(500, error_body(ERROR_MESSAGE, message, INVALID_OPERATION, frame))

    def send_command(self, message: Message) -> None:
        """TerminateAsync, RaiseEventAsync, SuspendAsync, ResumeAsync: one control-queue message with no execution
        ID, for whatever execution is current when it is processed."""
        self.log(
            "extension", f"{message.tag}'s {message.kind} queued for {message.instance_id} (saw {message.addressed})"
        )
        self._enqueue(message)

    def purge_request(self, tag: str, instance_id: str, answer: Callable[[Answer], None]) -> None:
        """HandleDeleteHistoryByIdRequestAsync: a status read (404 with no body for none), then the purge, a round
        trip later: 200 with the count."""
        if instance_id not in self.rows:
            answer(Answer(404))
            return

        def purge() -> None:
            answer(Answer(200, {"instancesDeleted": 1 if self.purge(instance_id, by=tag) else 0}))

        self._later(self._step(tag, 0.0), purge)

    def purge(self, instance_id: str, *, by: str | None = None) -> bool:
        """PurgeInstanceHistoryAsync: the history and the row go, whatever the status; False when there was no row.
        Queued messages stay, and later find no instance."""
        row = self.rows.pop(instance_id, None)
        if row is None:
            return False
        purged = self.executions.get(row.execution_id)
        if purged is not None:
            purged.purged_at = self.clock.now()
        if by == OUTSIDE_TAG and purged is not None and purged.ran_at is None:
            # Another client deleted the row of a start before it ran: its ExecutionStarted is still queued and may
            # run later, writing a row of its own. Outside the app's guarantee, as a terminate from outside is.
            self.coverage["outside_purge_never_run"] += 1
            if purged.tag != OUTSIDE_TAG:
                self.foreign_raced.add(purged.tag)
        sentinel = self.histories.pop(instance_id, None)
        self.coverage["purged"] += 1
        self.log("extension", f"{instance_id} purged")
        execution = self.executions.get(sentinel.execution_id) if sentinel else None
        if execution is not None and execution.ended_at is None:
            # Its history is gone: whatever comes for it later finds no instance, and it never moves again.
            execution.ended_at, execution.end = self.clock.now(), f"purged while {execution.status}"
            self.coverage["purged_while_running"] += 1
        return True

    # -- rows put from outside the create path (the stand-in's controls, an instance there before the run) -------

    def put_instance(
        self,
        instance_id: str,
        name: str,
        status: str,
        orchestrator_input: Any,
        *,
        tag: str = OUTSIDE_TAG,
        output: Any = None,
        custom_status: Any = None,
        created_at: float | None = None,
    ) -> Row:
        """A row written outside the create path (an earlier run, another worker): a new execution in `status`,
        with its history when it is not Pending, nothing queued and no end of its own scheduled."""
        now = self.clock.now()
        created = now if created_at is None else created_at
        execution = Execution(self._new_execution_id(), instance_id, name, orchestrator_input, tag, created)
        self.executions[execution.execution_id] = execution
        self.rows[instance_id] = Row(
            execution.execution_id, name, orchestrator_input, "Pending", created, now, self._new_etag()
        )
        row = self.rows[instance_id]
        row.output, row.custom_status = output, custom_status
        self.move_instance(instance_id, status)
        return row

    def move_instance(self, instance_id: str, status: str, *, output: Any = None, custom_status: Any = None) -> None:
        """The orchestration worker moves the current execution to `status` (output and custom status kept unless
        given), its history with it. A row shown ContinuedAsNew is a generation that runs on. KeyError when there is
        no instance."""
        row = self.rows[instance_id]
        execution = self.executions[row.execution_id]
        now = self.clock.now()
        execution.status = "Running" if status == "ContinuedAsNew" else status
        if status != "Pending":
            if execution.ran_at is None:
                execution.ran_at = now
            self.histories[instance_id] = Sentinel(execution.execution_id, self._new_etag())
        if status in ENDED_STATUSES and execution.ended_at is None:
            execution.ended_at, execution.end = now, f"{status}, moved"
        row.status, row.updated_at, row.etag = status, now, self._new_etag()
        if output is not None:
            row.output = output
        if custom_status is not None:
            row.custom_status = custom_status

    def seed_instance(self, instance_id: str, name: str, status: str) -> None:
        """An instance that was there before the run, started outside the app: a Pending one has nothing queued
        and never runs; a Running one ends by itself."""
        execution = Execution("e0", instance_id, name, json.dumps("before"), OUTSIDE_TAG, self.clock.now())
        self.executions["e0"] = execution
        now = self.clock.now()
        self.rows[instance_id] = Row("e0", name, execution.input, "Pending", now, now, self._new_etag())
        if status != "Pending":
            self.move_instance(instance_id, status)
            execution.end = None if status == "Running" else f"{status} before the run"
        if status == "Running":
            self._schedule_progress(execution)

    # -- actors outside the app: other clients of the task hub, through the same handlers -----------------------

    def start_outside(self, instance_id: str, name: str) -> None:
        """A start by another client of the task hub, through the create path."""

        def answered(answer: Answer) -> None:
            if answer.status == 202:
                self.coverage["outside_start"] += 1
            self.log("outside", f"start of {name} answered {answer.status}")

        self._create(OUTSIDE_TAG, instance_id, name, json.dumps("outside"), answered)

    def terminate_outside(self, instance_id: str, reason: str = "outside") -> None:
        self._outside_command("terminate", instance_id, reason=reason)

    def raise_event_outside(self, instance_id: str, event_name: str = "Outside") -> None:
        self._outside_command("event", instance_id, event_name=event_name)

    def suspend_outside(self, instance_id: str) -> None:
        self._outside_command("suspend", instance_id, reason="outside")

    def resume_outside(self, instance_id: str) -> None:
        self._outside_command("resume", instance_id, reason="outside")

    def purge_outside(self, instance_id: str) -> None:
        def answered(answer: Answer) -> None:
            if answer.status == 200:
                self.coverage["outside_purge"] += 1
            self.log("outside", f"purge answered {answer.status}")

        self.purge_request(OUTSIDE_TAG, instance_id, answered)

    def _outside_command(
        self, kind: str, instance_id: str, *, reason: str | None = None, event_name: str | None = None
    ) -> None:
        row = self.rows.get(instance_id)
        now = self.clock.now()
        template = Message(
            kind,
            instance_id,
            OUTSIDE_TAG,
            0.0,
            decided_at=now,
            addressed=row.execution_id if row else None,
            addressed_name=row.name if row else None,
            reason=reason,
            event_name=event_name,
        )

        def answered(answer: Answer) -> None:
            if answer.status == 202:
                self.coverage[f"outside_{kind}"] += 1
            self.log("outside", f"{kind} answered {answer.status}")

        self._command_steps(template, answered)

    # -- the control queue ---------------------------------------------------------------------------------------

    def _enqueue(self, message: Message, *, internal: bool = False) -> None:
        """A message put on the instance's control queue, visible at once; a dequeue follows after a polling
        delay. ExecutionStarted stays put when no worker takes starts."""
        if not internal:
            self.messages.append(message)
        # Each process numbers what it sends from its own counter, started whenever that process started.
        sender = "worker" if internal else message.tag.split("/")[0]
        if sender not in self._sequences:
            self._sequences[sender] = self.stream(f"sequence/{sender}").randrange(1_000_000)
        self._sequences[sender] += 1
        message.sequence = self._sequences[sender]
        message.visible_at = self.clock.now()
        self._queues.setdefault(message.instance_id, []).append(message)
        self._poll(message)

    def _poll(self, message: Message) -> None:
        """The dequeue that takes a message once it shows: TaskHubQueue's poller backs its interval off while it
        finds nothing (from 50 ms to MaxQueuePollingInterval) and resets it when it finds a message."""
        if message.kind == "start" and not self.faults.starts_run:
            return
        rng, instance_id = self.stream(message.tag), message.instance_id
        shows = max(message.visible_at, self.clock.now())
        poll = rng.uniform(*self.faults.queue_delay)
        if self.faults.max_polling_interval > 0 and message.kind != "progress":
            # What the worker sends itself wakes its own poller (TaskHubQueue.AddMessageAsync).
            idle = shows - self._last_dequeue.get(instance_id, float("-inf"))
            poll += rng.uniform(0.0, min(self.faults.max_polling_interval, idle / 2))
        self.clock.at(shows + poll, lambda: self._dequeue(instance_id))

    def _requeue(self, message: Message, visible_at: float) -> None:
        message.visible_at = visible_at
        self._queues.setdefault(message.instance_id, []).append(message)
        self._poll(message)

    def _dequeue(self, instance_id: str) -> None:
        """ControlQueue.GetMessagesAsync: every visible message of the instance, in queue order; the
        ExecutionStarted filter runs on them before they join the instance's pending batches."""
        now = self.clock.now()
        queue = self._queues.get(instance_id, [])
        taken = [m for m in queue if m.visible_at <= now and (m.kind != "start" or self.faults.starts_run)]
        if not taken:
            return
        # ControlQueue's MessageOrderingComparer: insertion time, which storage keeps to the second, then the
        # sender's sequence number; messages of two processes inserted in one second come in either order.
        taken.sort(key=lambda m: (math.floor(m.sent_at), m.sequence))
        self._last_dequeue[instance_id] = now
        for message in taken:
            queue.remove(message)
            message.dequeues.append(now)
        self._add_to_batches(instance_id, self._filter_starts(instance_id, taken))
        self._next_work_item(instance_id)

    def _filter_starts(self, instance_id: str, messages: list[Message]) -> list[Message]:
        """DedupeExecutionStartedMessagesAsync: an ExecutionStarted passes when the row exists and names its
        execution (the status is not looked at); is discarded when its generation is the row's and it was
        scheduled after the row was written, or at its tenth dequeue; else is deferred, hidden min(2^n, 600) s."""
        if not any(m.kind == "start" for m in messages):
            return messages
        row = self.rows.get(instance_id)  # one read for the whole batch
        now = self.clock.now()
        kept = []
        for message in messages:
            if message.kind != "start":
                kept.append(message)
                continue
            dequeues = len(message.dequeues)
            if row is not None and row.execution_id == message.execution_id:
                kept.append(message)
            elif row is not None and message.generation == row.generation and self._scheduled_after(message, row):
                self._discard_start(message, "scheduled after the row was written for another execution")
                self.coverage["start_discarded_by_generation"] += 1
            elif dequeues >= MAX_START_DEQUEUES:
                self._discard_start(message, f"still not the row's after {dequeues} dequeues")
                self.coverage["start_discarded_after_dequeues"] += 1
            else:
                hidden = min(2.0**dequeues, MAX_ABANDON_SECONDS)
                message.outcome = "deferred"
                self.coverage["start_deferred"] += 1
                saw = "no row" if row is None else f"the row of {row.execution_id}"
                self.log("queue", f"ExecutionStarted {message.execution_id} deferred {hidden:g} s ({saw})")
                self._requeue(message, now + hidden)
        return kept

    def _scheduled_after(self, message: Message, row: Row) -> bool:
        """IsScheduledAfterInstanceUpdate: the row is Pending and older than the event, or the message was
        dequeued before (its latest re-insertion, now, is after the row's CreatedTime)."""
        timestamp = message.timestamp if message.timestamp is not None else message.sent_at
        if row.status == "Pending" and row.created_at < timestamp:
            return True
        return len(message.dequeues) > 1 and self.clock.now() > row.created_at

    def _discard_start(self, message: Message, why: str) -> None:
        message.delivered_at, message.outcome = self.clock.now(), f"discarded: {why}"
        self.coverage["stale_start_dropped"] += 1
        self.log("queue", f"ExecutionStarted {message.execution_id} ({message.tag}) discarded: {why}")
        execution = self.executions.get(message.execution_id or "")
        if execution is not None and execution.ran_at is None:
            execution.end = f"never ran: its ExecutionStarted was discarded ({why})"

    def _add_to_batches(self, instance_id: str, messages: list[Message]) -> None:
        """AddMessageToPendingOrchestration: an ExecutionStarted always opens a batch of its own execution; any
        other message joins the latest waiting batch of its execution (a message with no execution ID joins any)
        or opens one."""
        batches = self._pending.setdefault(instance_id, [])
        for message in messages:
            if message.kind == "start":
                batches.append(Batch(instance_id, message.execution_id, [message]))
                continue
            target = None
            for batch in reversed(batches):
                if message.execution_id is None or batch.execution_id == message.execution_id:
                    target = batch
                    break
                if batch.execution_id is None:
                    batch.execution_id, target = message.execution_id, batch
                    break
            if target is None:
                target = Batch(instance_id, message.execution_id, [])
                batches.append(target)
            target.messages.append(message)

    # -- work items ----------------------------------------------------------------------------------------------

    def _next_work_item(self, instance_id: str) -> None:
        """One work item at a time per instance: the next waiting batch, once the last one checkpointed."""
        batches = self._pending.get(instance_id)
        if instance_id in self._busy or not batches:
            return
        self._work_item(batches.pop(0))

    def _work_item(self, batch: Batch) -> None:
        """LockNextTaskOrchestrationWorkItemAsync: load the history (of the batch's execution, or the latest for a
        batch of messages with no execution ID), then IsExecutableInstanceAsync; a work item that may run
        checkpoints a moment later."""
        instance_id = batch.instance_id
        sentinel = self.histories.get(instance_id)
        start = batch.messages[0] if batch.messages[0].kind == "start" else None
        loaded = None
        if sentinel is not None and batch.execution_id in (None, sentinel.execution_id):
            loaded = self.executions.get(sentinel.execution_id)
        if loaded is None and start is None:
            self._not_run_yet(batch)
            return
        if loaded is not None and loaded.status not in ("Running", "Suspended", "Pending"):
            self._discard_batch(batch, f"Instance is {loaded.status}")
            return
        self._busy.add(instance_id)
        etag = sentinel.etag if sentinel else None
        rng = self.stream(f"worker/{instance_id}")
        delay = rng.uniform(*(SLOW_STEP_SECONDS if rng.random() < self.faults.slow_writes else self.faults.work_time))
        self._later(delay, lambda: self._checkpoint(batch, loaded, etag))

    def _not_run_yet(self, batch: Batch) -> None:
        """IsExecutableInstanceAsync for an instance with no history and no ExecutionStarted in the batch: from
        DurableTask.AzureStorage 2.7.0 a terminate in it first merges Terminated (output its reason) into the row,
        with no condition; then the batch is dropped, events, suspends and resumes with it."""
        terminate = next((m for m in reversed(batch.messages) if m.kind == "terminate"), None)
        if terminate is None or not self.versions.terminate_marks_never_run:
            self._discard_batch(batch, "No such instance")
            return
        row = self.rows.get(batch.instance_id)
        if row is None:
            # UpdateStatusForTerminationAsync merges with If-Match * on a row that is not there: Azure Tables
            # answers 404, which nothing catches before LockNextTaskOrchestrationWorkItemAsync releases the work
            # item; its messages, neither deleted nor abandoned, show again after the visibility timeout.
            self.coverage["terminate_404_loop"] += 1
            self.log("queue", f"{terminate.tag}'s terminate found no row to mark Terminated (404): seen again later")
            for message in batch.messages:
                message.outcome = "released: the row to mark Terminated was not there (404)"
                self._requeue(message, message.dequeues[-1] + VISIBILITY_TIMEOUT_SECONDS)
            self._next_work_item(batch.instance_id)
            return
        row.status, row.output, row.updated_at, row.etag = (
            "Terminated",
            terminate.reason,
            terminate.sent_at,
            self._new_etag(),
        )
        execution = self.executions.get(row.execution_id)
        never_ran = execution is None or execution.ran_at is None
        if execution is not None and never_ran and execution.merged_terminated_at is None:
            execution.merged_terminated_at = self.clock.now()
        if execution is not None and not never_ran and execution.marked_terminated_while_running_at is None:
            execution.marked_terminated_while_running_at = self.clock.now()
        terminate.merged_into = row.execution_id
        # The batch's history may be missing only for its own execution ID (a message of an execution whose history
        # was replaced): the row it marks is then another execution's, which ran.
        self.coverage["terminate_merged_never_run" if never_ran else "terminate_merged_into_a_run_row"] += 1
        self.log("queue", f"{terminate.tag}'s terminate marked the row of {row.execution_id} Terminated (no history)")
        self._discard_batch(batch, "Instance is Terminated", merged=terminate)

    def _discard_batch(self, batch: Batch, reason: str, merged: Message | None = None) -> None:
        """The not-executable branch of LockNextTaskOrchestrationWorkItemAsync: the batch's messages of its own
        execution are deleted (all of them when none is); the others go back to wait for the next work item."""
        own = [m for m in batch.messages if m.execution_id == batch.execution_id]
        others = [m for m in batch.messages if m.execution_id != batch.execution_id] if own else []
        now = self.clock.now()
        for message in own or batch.messages:
            message.delivered_at = now
            if message is merged:
                message.outcome = f"merged into the row of {message.merged_into}"
            else:
                message.outcome = f"dropped: {reason}"
            if message.kind in ("start", "progress"):
                continue
            self.coverage[f"{message.kind}_discarded"] += 1
            if message.addressed is not None:
                self.coverage["queued_command_outlived_instance"] += 1
            if reason == "No such instance" or message is merged:
                self.coverage[f"{message.kind}_dropped_never_run"] += 1
            elif reason.startswith("Instance is"):
                self.coverage["command_to_ended_discarded"] += 1
            self.log("queue", f"{message.tag}'s {message.kind} {message.outcome}")
        if others:
            self._pending.setdefault(batch.instance_id, []).insert(0, Batch(batch.instance_id, None, others))
        self._next_work_item(batch.instance_id)

    def _checkpoint(self, batch: Batch, loaded: Execution | None, etag: int | None) -> None:
        """The work item's episode and its checkpoint (CompleteTaskOrchestrationWorkItemAsync -> UpdateStateAsync):
        history first, conditioned on the sentinel ETag the load saw (a purge since fails it, and the batch is
        abandoned); then the row, with InsertOrMerge and no condition, whatever execution the row names now."""
        instance_id = batch.instance_id
        self._busy.discard(instance_id)
        sentinel = self.histories.get(instance_id)
        if (sentinel.etag if sentinel else None) != etag:
            self.coverage["checkpoint_history_conflict"] += 1
            self.log("worker", f"checkpoint of {instance_id} failed: its history changed since it was loaded")
            for message in batch.messages:
                self._requeue(message, self.clock.now() + min(2.0 ** len(message.dequeues), MAX_ABANDON_SECONDS))
            self._next_work_item(instance_id)
            return
        episode = _Episode(self, batch, loaded)
        episode.run()
        if episode.changed:
            self._write_checkpoint(episode)
        self._next_work_item(instance_id)

    def _write_checkpoint(self, episode: _Episode) -> None:
        now = self.clock.now()
        current = episode.current
        instance_id = current.instance_id
        row = self.rows.get(instance_id)
        mine = {current.execution_id, *(e.execution_id for e in episode.started)}
        if episode.loaded is not None:
            mine.add(episode.loaded.execution_id)
        overwrote = row.execution_id if row is not None and row.execution_id not in mine else None
        if row is None:
            row = self.rows[instance_id] = Row(current.execution_id, current.name, None, "Running", now, now, 0)
        row.execution_id, row.updated_at, row.etag = current.execution_id, now, self._new_etag()
        if episode.started:
            row.name, row.input, row.generation = current.name, current.input, current.generation
            row.created_at = episode.started_at
            row.status = "Running"
        if episode.status is not None:
            row.status = episode.status
        if episode.output_written:
            row.output = episode.output
        replaced = self.histories.get(instance_id)
        self.histories[instance_id] = Sentinel(current.execution_id, self._new_etag())
        gone = self.executions.get(replaced.execution_id) if replaced is not None else None
        if gone is not None and gone.execution_id not in mine and gone.ended_at is None:
            # Another execution's history, overwritten: what still comes for it finds no instance.
            gone.ended_at, gone.end = now, f"its history was replaced by {current.execution_id}'s while {gone.status}"
            self.coverage["history_replaced_while_running"] += 1
        checkpoint = Checkpoint(now, row.status, overwrote)
        for execution in {id(e): e for e in [*episode.touched, current]}.values():
            execution.checkpoints.append(checkpoint)
            if execution.ran_at is None and execution.status != "Pending":
                execution.ran_at = now
        if overwrote is not None:
            self.coverage["checkpoint_overwrote_newer_row"] += 1
            self.log("worker", f"checkpoint of {current.execution_id} overwrote the row of {overwrote} (InsertOrMerge)")
        for execution in episode.started:
            if execution.status == "Running":
                self._schedule_progress(execution)
        if episode.progress_resumed is not None:
            self._schedule_progress(episode.progress_resumed, soon=True)

    def _schedule_progress(self, execution: Execution, *, soon: bool = False) -> None:
        """The execution's own work (its activities, its timers) comes back as a message addressed to it, after
        its run time; processing it ends the execution or continues it as new."""
        rng = self.stream(execution.tag)
        delay = rng.uniform(*STEP_SECONDS) if soon else rng.uniform(*self.faults.run_time)
        message = Message("progress", execution.instance_id, execution.tag, 0.0, execution_id=execution.execution_id)

        def land() -> None:
            message.sent_at = self.clock.now()
            self._enqueue(message, internal=True)

        self._later(delay, land)

    def end_of(self, execution: Execution) -> str:
        """How an execution's own work ends when it comes: continue as new, fail, or complete."""
        rng = self.stream(execution.tag)
        if rng.random() < self.faults.continue_as_new:
            return "ContinuedAsNew"
        return "Failed" if rng.random() < self.faults.failure else "Completed"

    def continue_as_new(self, execution: Execution) -> Execution:
        """TaskOrchestrationDispatcher's continue-as-new: a new execution ID for the same instance, run in the same
        work item; the events received and not consumed go with it when kept, else are lost."""
        now = self.clock.now()
        successor = Execution(
            self._new_execution_id(),
            execution.instance_id,
            execution.name,
            execution.input,
            execution.tag,
            now,
            status="Running",
            generation=execution.generation,
            continued_from=execution.execution_id,
        )
        successor.waits_for_events = self.stream(execution.tag).random() < self.faults.event_waits
        self.executions[successor.execution_id] = successor
        execution.status, execution.ended_at = "ContinuedAsNew", now
        execution.continued_as, execution.end = (
            successor.execution_id,
            f"continued as new into {successor.execution_id}",
        )
        self.coverage["continued_as_new"] += 1
        self.log(
            "instance", f"{execution.execution_id} ({execution.tag}) continued as new into {successor.execution_id}"
        )
        for message in execution.unconsumed:
            if self.versions.continue_as_new_keeps_events:
                message.carried_to = successor.execution_id
                self.coverage["event_carried_over"] += 1
                self.deliver(successor, message)
                message.outcome = f"carried over into {successor.execution_id}"
            else:
                message.outcome = "lost at continue-as-new"
                self.coverage["event_lost_at_continue_as_new"] += 1
        execution.unconsumed = []
        return successor

    def deliver(self, execution: Execution, message: Message) -> None:
        """An event reaches a running execution, which consumes it or keeps it unconsumed."""
        execution.events.append(message)
        message.outcome = "delivered"
        if not execution.waits_for_events:
            execution.unconsumed.append(message)

    def end(self, execution: Execution, status: str, by: Message | None) -> None:
        execution.status, execution.ended_at, execution.ended_by = status, self.clock.now(), by
        execution.end = f"{status} by {by.tag}'s terminate" if by else f"{status} by itself"
        self.log("instance", f"{execution.execution_id} ({execution.tag}) ended {execution.end}")

    # -- the lock storage -------------------------------------------------------------------------------------

    def blob_op(self, tag: str, op: str, key: str, reply: Callable[[Answer], None], **args: Any) -> None:
        """One blob call: create, acquire, renew, release, get_properties or set_metadata."""

        def process(answer: Callable[[Answer], None]) -> None:
            answer(getattr(self, f"_blob_{op}")(tag, key, **args))

        self._exchange(tag, op, process, reply, storage=True)

    def _leased(self, blob: Blob) -> bool:
        return blob.lease_id is not None and not blob.lease_released and blob.lease_expires > self.clock.now()

    def _blob_create(self, tag: str, key: str, overwrite: bool = False) -> Answer:
        """Put Blob: with If-None-Match: * (no overwrite) an existing blob is 409, or 412 while leased; an
        overwrite of a leased blob without its lease is 412 (LeaseIdMissing), of any other a new blob, its
        metadata gone."""
        blob = self.blobs.get(key)
        if blob is not None and (not overwrite or self._leased(blob)):
            code = "BlobAlreadyExists" if not overwrite else "LeaseIdMissing"
            return Answer(412 if self._leased(blob) else 409, {"code": code})
        self.blobs[key] = Blob(self.clock.now())
        self.log("storage", f"lock blob created ({tag})")
        if self.stream("storage").random() < self.faults.blob_deletion:
            self._later(self.stream("storage").uniform(1.0, 60.0), lambda: self._lifecycle_delete(key))
        return Answer(201)

    def _lifecycle_delete(self, key: str) -> None:
        blob = self.blobs.get(key)
        if blob is None:
            return
        if self._leased(blob):
            self._later(5.0, lambda: self._lifecycle_delete(key))
            return
        del self.blobs[key]
        self.records_lost.append((self.clock.now(), key))
        self.coverage["lock_blob_deleted"] += 1
        self.log("storage", "a lifecycle rule deleted the lock blob and its record")

    def _blob_acquire(self, tag: str, key: str, lease_id: str, seconds: float) -> Answer:
        blob = self.blobs.get(key)
        if blob is None:
            return Answer(404, {"code": "BlobNotFound"})
        if self._leased(blob) and blob.lease_id != lease_id:
            return Answer(409, {"code": "LeaseAlreadyPresent"})
        if blob.lease_id is not None and not blob.lease_released and blob.lease_id != lease_id:
            # The previous lease ran out without being released.
            self.coverage["lease_expired"] += 1
            self.log("storage", f"{blob.lease_tag}'s lease had expired; {tag} takes it")
        if self._leased(blob) and blob.lease_id == lease_id:
            blob.holders.add(tag)  # another holder joins the shared lease
        else:
            blob.lease_generation, blob.holders = blob.lease_generation + 1, {tag}
        blob.lease_id, blob.lease_tag, blob.lease_released = lease_id, tag, False
        blob.lease_expires = self.clock.now() + seconds
        self.leases.append(LeaseRecord(key, lease_id, tag, self.clock.now()))
        self._watch_expiry(key, blob)
        self.log("storage", f"lease {lease_id} granted to {tag} until {blob.lease_expires:.3f}")
        return Answer(201)

    def _watch_expiry(self, key: str, blob: Blob) -> None:
        """Note a lease that runs out while the request holding it is still at work."""
        lease_id, expires = blob.lease_id, blob.lease_expires

        def check() -> None:
            current = self.blobs.get(key)
            if (
                current is blob
                and blob.lease_id == lease_id
                and blob.lease_expires == expires
                and not blob.lease_released
            ):
                if blob.lease_tag in self.active_requests:
                    self.coverage["lease_expired_under_holder"] += 1
                    self.log("storage", f"{blob.lease_tag}'s lease {lease_id} expired while it was still at work")

        self.clock.at(expires, check)

    def _blob_renew(self, tag: str, key: str, lease_id: str, seconds: float) -> Answer:
        blob = self.blobs.get(key)
        if blob is None:
            return Answer(404, {"code": "BlobNotFound"})
        if blob.lease_id != lease_id or blob.lease_released:
            return Answer(409, {"code": "LeaseIdMismatchWithLeaseOperation"})
        blob.lease_expires = self.clock.now() + seconds
        self._watch_expiry(key, blob)
        self.log("storage", f"lease {lease_id} renewed by {tag} until {blob.lease_expires:.3f}")
        return Answer(200)

    def _blob_change(self, tag: str, key: str, lease_id: str, proposed: str) -> Answer:
        """Lease Blob's change: the active lease takes the proposed ID, its end unchanged (409 when not ours)."""
        blob = self.blobs.get(key)
        if blob is None:
            return Answer(404, {"code": "BlobNotFound"})
        if not self._leased(blob) or blob.lease_id not in (lease_id, proposed):
            return Answer(409, {"code": "LeaseIdMismatchWithLeaseOperation"})
        blob.lease_id = proposed
        self.log("storage", f"lease {lease_id} of {tag} changed to {proposed}")
        return Answer(200)

    def _blob_release(self, tag: str, key: str, lease_id: str) -> Answer:
        blob = self.blobs.get(key)
        if blob is None:
            return Answer(404, {"code": "BlobNotFound"})
        if blob.lease_id != lease_id or blob.lease_released:
            return Answer(409, {"code": "LeaseIdMismatchWithLeaseOperation"})
        blob.lease_released = True
        self.log("storage", f"lease {lease_id} released by {tag}")
        return Answer(200)

    def _blob_get_properties(self, tag: str, key: str) -> Answer:
        blob = self.blobs.get(key)
        if blob is None:
            return Answer(404, {"code": "BlobNotFound"})
        return Answer(200, {"metadata": dict(blob.metadata), "created": blob.created_at})

    def _blob_set_metadata(self, tag: str, key: str, lease_id: str, metadata: dict[str, str]) -> Answer:
        blob = self.blobs.get(key)
        if blob is None:
            return Answer(404, {"code": "BlobNotFound"})
        if blob.lease_id != lease_id or not self._leased(blob):
            return Answer(412, {"code": "LeaseLost"})
        blob.metadata = dict(metadata)
        states = sorted({value.split(";")[0] for name, value in metadata.items() if name.startswith("k")})
        self.log("storage", f"record written by {tag}: {len(states) and ', '.join(states)} ({len(metadata)} keys)")
        return Answer(200)

    def lease_left(self, tag: str, key: str) -> float | None:
        """How long the lease `tag` holds on `key` lasts on the storage clock; None when it holds none."""
        blob = self.blobs.get(key)
        if blob is None or blob.lease_tag != tag or not self._leased(blob):
            return None
        return blob.lease_expires - self.clock.now()

    def held_lease(self, tag: str, key: str, *, shared: bool = False) -> int | None:
        """The lease `tag` holds on `key` (alone or shared) as it stands now; None when it holds none. With
        `shared`, the shared lease as it stands counts as held: every event request of the app holds it at once,
        and one may join it in its own process, where storage does not see it."""
        blob = self.blobs.get(key)
        if blob is None or not self._leased(blob):
            return None
        if tag in blob.holders or (shared and blob.lease_id == SHARED_LEASE_NAME):
            return blob.lease_generation
        return None

    def record_command(self, tag: str, kind: str, instance_id: str, key: str) -> Callable[[], None]:
        """Note a command the app sends with the lease it holds (an event: the shared lease); call what is returned
        when it reaches the extension, to note whether it got there under that same lease."""
        held = self.held_lease(tag, key, shared=kind == "event")

        def landed() -> None:
            blob = self.blobs.get(key)
            same = held is not None and blob is not None and self._leased(blob) and blob.lease_generation == held
            self.landings.append(Landing(tag, kind, instance_id, self.clock.now(), same))

        return landed

    def record_send(self, tag: str, instance_id: str, key: str) -> None:
        """Note a start the app sends, with the lease its request holds at that moment."""
        self.sends.append(StartSend(tag, instance_id, self.clock.now(), self.lease_left(tag, key)))
        granted = max((lease.granted_at for lease in self.leases if lease.tag == tag), default=None)
        read_at = self.last_read.get(tag, (None,))[0]
        if granted is not None and read_at is not None and read_at < granted:
            self.coverage["first_read_stood_in"] += 1  # the start went out with no status read under its lease
        if sum(1 for send in self.sends if send.tag == tag) == 2:
            self.coverage["resend"] += 1


_NOBODY = Execution("", "", "", None, "", 0.0)


class _Episode:
    """One work item run by DurableTask.Core: the batch's messages applied in order to the execution the history
    holds (or to a new one, for a fresh ExecutionStarted), with what its checkpoint writes."""

    def __init__(self, world: World, batch: Batch, loaded: Execution | None) -> None:
        self.world, self.batch, self.loaded = world, batch, loaded
        self.started: list[Execution] = []
        self.touched: list[Execution] = []
        self.started_at = 0.0
        self.status: str | None = None
        self.output: Any = None
        self.output_written = False
        self.changed = False
        self.progress_resumed: Execution | None = None
        self.current: Execution = loaded if loaded is not None else _NOBODY

    def run(self) -> None:
        world, now = self.world, self.world.clock.now()
        messages = list(self.batch.messages)
        first = messages[0]
        if first.kind == "start":
            messages.pop(0)
            if self.loaded is not None:
                first.delivered_at, first.outcome = now, "dropped: Duplicate start event"
            else:
                self._start(first)
        for message in messages:
            message.delivered_at = now
            if message.kind == "start":
                message.outcome = "dropped: Duplicate start event"
            elif message.execution_id is not None and message.execution_id != self.current.execution_id:
                message.outcome = "dropped: ExecutionId of event does not match current executionId"
            elif self.current.status in ENDED_STATUSES:
                message.outcome = "dropped: the execution ended earlier in this work item"
                if message.kind != "progress":
                    world.coverage[f"{message.kind}_discarded"] += 1
            else:
                self._apply(message)

    def _start(self, message: Message) -> None:
        world = self.world
        execution = world.executions[message.execution_id or ""]
        execution.status = "Running"
        execution.waits_for_events = world.stream(execution.tag).random() < world.faults.event_waits
        message.hit, message.outcome = execution.execution_id, "ran"
        message.delivered_at = world.clock.now()
        self.current = execution
        self.started.append(execution)
        self.started_at = message.timestamp if message.timestamp is not None else message.sent_at
        self.status, self.changed = "Running", True
        if len(message.dequeues) > 1:
            world.coverage["deferred_start_ran_later"] += 1
        if execution.merged_terminated_at is not None:
            world.coverage["terminated_row_ran"] += 1
        world.log("queue", f"ExecutionStarted {execution.execution_id} runs ({execution.tag}, input {execution.input})")

    def _apply(self, message: Message) -> None:
        world, execution = self.world, self.current
        self.changed = True
        self.touched.append(execution)
        if message.kind != "progress":
            message.hit = execution.execution_id
            if message.addressed is not None and message.addressed not in execution.lineage(world.executions):
                world.coverage["queued_command_outlived_instance"] += 1
        suspended = execution.status == "Suspended"
        if message.kind == "terminate":
            # A terminate overrides a suspension.
            world.end(execution, "Terminated", message)
            self.status, self.output, self.output_written = "Terminated", message.reason, True
            message.outcome = "ended"
        elif message.kind == "event":
            if suspended:
                execution.buffered.append(message)
                message.outcome = "buffered while suspended"
                world.coverage["event_buffered_while_suspended"] += 1
            else:
                world.deliver(execution, message)
            world.log("queue", f"{message.tag}'s event {message.outcome} ({execution.execution_id})")
        elif message.kind == "suspend":
            if suspended:
                message.outcome = "ignored: already suspended"
                return
            execution.status, message.outcome = "Suspended", "suspended"
            self.status, self.output, self.output_written = "Suspended", message.reason, True
            world.coverage["suspended"] += 1
            world.log("queue", f"{message.tag}'s suspend suspended {execution.execution_id}")
        elif message.kind == "resume":
            # A resume of a running execution changes nothing in it, yet its checkpoint writes Running and the
            # reason as the row's output.
            self.status, self.output, self.output_written = "Running", message.reason, True
            if not suspended:
                message.outcome = "no effect: not suspended"
                return
            execution.status, message.outcome = "Running", "resumed"
            world.coverage["resumed"] += 1
            world.log("queue", f"{message.tag}'s resume resumed {execution.execution_id}")
            for event in execution.buffered:
                world.deliver(execution, event)
            execution.buffered = []
            if execution.progress_buffered:
                execution.progress_buffered = False
                self.progress_resumed = execution
        else:
            self._progress(message)

    def _progress(self, message: Message) -> None:
        world, execution = self.world, self.current
        message.hit = execution.execution_id
        if execution.status == "Suspended":
            execution.progress_buffered, message.outcome = True, "buffered while suspended"
            return
        end = world.end_of(execution)
        if end == "ContinuedAsNew":
            successor = world.continue_as_new(execution)
            message.outcome = f"continued as new into {successor.execution_id}"
            self.current = successor
            self.started.append(successor)
            self.started_at = world.clock.now()
            self.status = "Running"
            return
        world.end(execution, end, None)
        message.outcome = end
        self.status, self.output, self.output_written = end, None, True
