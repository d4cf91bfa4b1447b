"""A model of the Durable backend and of the lock storage, in memory, on one virtual clock.

It is state plus events on a `Scheduler` (anything with `now()` and `at(when, callback)`), with no asyncio in
it, so that the simulator and an HTTP stand-in can share one statement of what the backend does. Calls come
in as wire requests (a status code and a JSON body come back, or nothing) and are answered through callbacks;
an HTTP server that does its own wire drives the same steps directly (`create_read`, `create_enqueue`,
`create_write`, `command_refusal`, `send_command`, `purge`).

Written from these sources (behaviour, not code):

- Azure/azure-functions-durable-extension `HttpApiHandler` (HandleStartOrchestratorRequestAsync,
  HandleGetStatusRequestAsync, HandleTerminateInstanceRequestAsync, HandleRaiseEventRequestAsync,
  HandleSuspendInstanceRequestAsync, HandleResumeInstanceRequestAsync, HandleDeleteHistoryByIdRequestAsync) and
  `DurableClient` (StartNewAsync with `OverridableStates.NonRunningStates`): the status codes of each route,
  the status read before a terminate or an event (404 none, 410 ended, else 202 once queued), and 409 for a
  start refused as already existing (older releases: the catch-all 500 with
  OrchestrationAlreadyExistsException in the body). `LocalHttpListener` answers an empty-bodied 500 when a
  handler throws.
- Azure/durabletask `AzureStorageOrchestrationService.CreateTaskOrchestrationAsync`: the status read, the
  dedupe on Running, Pending, ContinuedAsNew and Suspended, the ExecutionStarted message enqueued with a new
  execution ID, then `AzureTableTrackingStore.SetNewExecutionAsync` writing the tracking row conditioned on
  the read's ETag; a write that loses that condition is dropped and the start is still answered 202.
- Azure/durabletask `OrchestrationSessionManager.AddMessageToPendingOrchestration`: a message with no
  execution ID ("a management operation, like RaiseEvent or Terminate") goes to the current session; and
  `AzureStorageOrchestrationService.LockNextTaskOrchestrationWorkItemAsync`: an ExecutionStarted whose
  execution ID is not the tracking row's is discarded, one whose row is not yet written is abandoned and
  seen again later. Control-queue messages are delivered after a delay and not in FIFO order
  (`ControlQueue.GetMessagesAsync` reads batches from several dequeuers with visibility timeouts).
- Azure Blob Storage's Lease Blob and Put Blob operations: leases of a fixed length on the storage clock,
  409 LeaseAlreadyPresent, renewal of an expired lease as long as no one else took it, metadata writes that
  need the active lease, and If-None-Match creates answered 409 when the blob exists; a lifecycle
  management rule deletes blobs that no active lease protects.

Every call carries a request tag that the app never sees, so that the invariants can name which request
caused each execution, terminate and event.
"""

from __future__ import annotations

import heapq
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

# OverridableStates.NonRunningStates: the statuses a start is refused over (ToDedupeStatuses).
DEDUPE_STATUSES = frozenset({"Running", "Pending", "ContinuedAsNew", "Suspended"})
# HttpApiHandler.IsCompletedStatus: terminate, events, suspend and resume answer 410 for these.
ENDED_STATUSES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
# What each management message needs the current execution to be in to act on it (suspend and resume only).
SUSPENDABLE = frozenset({"Running", "Pending", "ContinuedAsNew"})
ALREADY_EXISTS = "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"
# A step of the extension's own work (one storage round trip): reads, enqueues and writes interleave at this scale.
STEP_SECONDS = (0.001, 0.02)
SLOW_STEP_SECONDS = (0.02, 2.0)
OUTSIDE_TAG = "outside"


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
class Answer:
    """An HTTP answer: status and JSON body (None for an empty body). `status` None: the connection was refused,
    nothing was sent."""

    status: int | None
    body: Any = None


NOT_SENT = Answer(None)


@dataclass(frozen=True)
class Faults:
    """What may go wrong, as probabilities per call (or per run for `blob_deletion`), and the bounds of delays."""

    not_sent: float = 0.0  # the connection is refused: nothing reaches the extension
    server_error: float = 0.0  # 503 instead of the answer; the request may or may not have been processed
    empty_500: float = 0.0  # the handler threw partway: 500 with an empty body
    answer_lost: float = 0.0  # processed, but no answer ever comes back (the caller times out)
    answer_late: float = 0.0  # processed, the answer comes back after up to `late_landing_bound`
    land_late: float = 0.0  # processed only after up to `late_landing_bound`, maybe after its caller gave up
    late_landing_bound: float = 8.0
    already_exists_500: float = 0.0  # share of already-exists refusals answered as the older releases do
    storage_refused: float = 0.0  # storage answers 503; nothing was done
    storage_late: float = 0.0  # done, the answer comes back up to `late_landing_bound` later
    storage_answer_lost: float = 0.0  # done (a lease granted, a renewal made), the answer lost
    host_pause: float = 0.0  # chance that a host's sleep stalls up to 20 s more (a frozen VM, a long GC pause)
    storage_outage: float = 0.0  # chance of a window of 5 to 40 s in which storage refuses every call
    blob_deletion: float = 0.0  # a lifecycle rule deletes the lock blob once it has no active lease
    slow_writes: float = 0.0  # a start's tracking write comes up to 2 s after its read (a slow table)
    queue_delay: tuple[float, float] = (0.005, 0.5)  # a control-queue message's delivery delay
    starts_run: bool = True  # False: no worker runs orchestrations; an ExecutionStarted stays queued (row Pending)
    run_time: tuple[float, float] = (0.5, 20.0)  # how long an instance runs before it ends by itself
    failure: float = 0.2  # share of instances that end Failed rather than Completed

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
    "already_exists_500",
    "storage_refused",
    "storage_late",
    "storage_answer_lost",
    "blob_deletion",
    "slow_writes",
    "storage_outage",
    "host_pause",
)


@dataclass
class Execution:
    """One execution of an instance ID: made when its tracking row was written (Pending)."""

    execution_id: str
    instance_id: str
    name: str
    input: Any  # as the tracking row keeps it: the JSON the start carried
    tag: str
    created_at: float
    status: str = "Pending"
    ran_at: float | None = None
    ended_at: float | None = None
    ended_by: Message | None = None
    events: list[Message] = field(default_factory=list)


@dataclass
class Row:
    """The instance's tracking-table row: the current execution's status, output and custom status, with an ETag."""

    execution_id: str
    name: str
    input: Any
    status: str
    created_at: float
    updated_at: float
    etag: int
    # What the execution ended with: a terminate's reason (the status API's output), else None.
    output: Any = None
    custom_status: Any = None


@dataclass
class Message:
    """A control-queue message. Terminate and event messages have no execution ID. `decided_at` and
    `addressed`: the sender's last status read before it sent the command (when the command was decided, and
    which execution it saw)."""

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
    delivered_at: float | None = None
    hit: str | None = None  # the execution it reached, None when discarded
    data: Any = None  # an event's data
    event_name: str | None = None


@dataclass
class Blob:
    """A lock blob: its metadata, creation time and lease (on the storage clock)."""

    created_at: float
    metadata: dict[str, str] = field(default_factory=dict)
    lease_id: str | None = None
    lease_tag: str = ""
    lease_expires: float = 0.0
    lease_released: bool = False


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


@dataclass(frozen=True)
class StartSend:
    """A start the app sent, and the lease storage showed for its request at that moment."""

    tag: str
    instance_id: str
    at: float
    lease_left: float | None  # seconds the request's lease still had on the storage clock; None: none held


class World:
    """The backend and the lock storage, with what happened to each, for the invariants and the timeline."""

    def __init__(self, scheduler: Scheduler, seed: int | str, faults: Faults) -> None:
        self.clock = scheduler
        self.seed = seed
        self.faults = faults
        self.rows: dict[str, Row] = {}
        self.executions: dict[str, Execution] = {}
        self.messages: list[Message] = []
        self.blobs: dict[str, Blob] = {}
        self.leases: list[LeaseRecord] = []
        self.sends: list[StartSend] = []
        self.coverage: Counter[str] = Counter()
        self.timeline: list[tuple[float, str, str]] = []
        self.foreign_raced: set[str] = set()
        # When a lifecycle rule deleted a lock blob, with the Idempotency-Key records on it.
        self.records_lost_at: list[float] = []
        self.active_requests: set[str] = set()
        # The last status read each request had processed, as (when, execution ID, orchestrator name).
        self.last_read: dict[str, tuple[float, str | None, str | None]] = {}
        self._streams: dict[str, random.Random] = {}
        self._pending_writes: set[str] = set()
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

    def status(self, tag: str, instance_id: str, with_input: bool, reply: Callable[[Answer], None]) -> None:
        """HandleGetStatusRequestAsync: 404 for no instance, else the tracking row."""

        def process(answer: Callable[[Answer], None]) -> None:
            if self.stream(tag).random() < self.faults.empty_500:
                answer(Answer(500))
                return
            row = self.rows.get(instance_id)
            self.last_read[tag] = (self.clock.now(), row.execution_id if row else None, row.name if row else None)
            if row is None:
                answer(Answer(404))
                return
            body = {
                "name": row.name,
                "instanceId": instance_id,
                "runtimeStatus": row.status,
                "createdTime": row.created_at,
                "lastUpdatedTime": row.updated_at,
                "input": row.input if with_input else None,
                "output": row.output,
            }
            answer(Answer(200, body))

        self._exchange(tag, "status read", process, reply)

    def start(
        self, tag: str, instance_id: str, name: str, orchestrator_input: Any, reply: Callable[[Answer], None]
    ) -> None:
        """CreateTaskOrchestrationAsync: read, dedupe, enqueue ExecutionStarted, then the ETag-conditioned write."""
        text = None if orchestrator_input is None else json.dumps(orchestrator_input)
        rng = self.stream(tag)

        def process(answer: Callable[[Answer], None]) -> None:
            # The handler may throw around any of its storage calls: 0 before the read, 3 after the write.
            throws_after = rng.randrange(4) if rng.random() < self.faults.empty_500 else 4
            if throws_after == 0:
                answer(Answer(500))
                return
            create = Create(tag, instance_id, name, text)
            if self.create_read(create) is not None:
                if rng.random() < self.faults.already_exists_500:
                    answer(Answer(500, {"ExceptionType": ALREADY_EXISTS, "ExceptionMessage": "already exists"}))
                else:
                    answer(Answer(409, {"Message": f"An instance with ID '{instance_id}' already exists."}))
                return
            if throws_after == 1:
                answer(Answer(500))
                return
            self.create_enqueue(create)
            if throws_after == 2:
                # Thrown after the enqueue, before the tracking write: the queued ExecutionStarted will find no row.
                self.create_abandon(create)
                answer(Answer(500))
                return

            def write() -> None:
                written = self.create_write(create)
                answer(Answer(500) if throws_after == 3 or written is None else Answer(202, {"id": instance_id}))

            slow = rng.random() < self.faults.slow_writes
            self._later(rng.uniform(*(SLOW_STEP_SECONDS if slow else STEP_SECONDS)), write)

        self._exchange(tag, "start", process, reply)

    # The create path's steps, each one storage call, for whoever drives them (the simulator's wire, an HTTP
    # server) to interleave with other work as the extension's awaits do.

    def create_read(self, create: Create) -> Row | None:
        """The status read and the dedupe: the row that refuses the start, or None (its ETag kept for the write)."""
        row = self.rows.get(create.instance_id)
        create.etag = row.etag if row else None
        if row is not None and row.status in DEDUPE_STATUSES:
            self.coverage["already_exists"] += 1
            self.log("extension", f"{create.tag}'s start refused: {create.instance_id} is {row.status}")
            return row
        return None

    def create_enqueue(self, create: Create) -> Message:
        """ExecutionStarted with a new execution ID, queued before the tracking row is written."""
        execution_id = create.execution_id = self._new_execution_id()
        message = Message("start", create.instance_id, create.tag, self.clock.now(), execution_id=execution_id)
        self._pending_writes.add(execution_id)
        self.log("extension", f"{create.tag}'s start queued as {execution_id} (input {create.input})")
        if self.faults.starts_run:
            self._enqueue(message, lambda: self._deliver_start(message, create.name, create.input))
        else:
            self.messages.append(message)
        return message

    def create_abandon(self, create: Create) -> None:
        """The handler threw between the enqueue and the write: the queued ExecutionStarted will find no row."""
        assert create.execution_id is not None
        self._pending_writes.discard(create.execution_id)

    def create_write(self, create: Create) -> bool | None:
        """SetNewExecutionAsync: insert, or replace conditioned on the read's ETag. True: written; False: the
        condition failed, swallowed (the start is still answered 202); None: the row the read saw was deleted
        since, and the replace's 404 is thrown."""
        execution_id = create.execution_id
        assert execution_id is not None
        self._pending_writes.discard(execution_id)
        current = self.rows.get(create.instance_id)
        if current is None and create.etag is not None:
            self.log("extension", f"{create.tag}'s tracking write for {execution_id} found the row deleted")
            return None
        if (current.etag if current else None) != create.etag:
            self.coverage["etag_race_lost"] += 1
            if current is not None and self.executions[current.execution_id].tag == OUTSIDE_TAG:
                self.foreign_raced.add(create.tag)
            self.log("extension", f"{create.tag}'s tracking write for {execution_id} lost the ETag race; answered 202")
            return False
        execution = Execution(execution_id, create.instance_id, create.name, create.input, create.tag, self.clock.now())
        self._write_row(create.instance_id, execution)
        return True

    def _new_execution_id(self) -> str:
        self._next_execution += 1
        return f"e{self._next_execution}"

    def _write_row(self, instance_id: str, execution: Execution) -> None:
        self.executions[execution.execution_id] = execution
        self.rows[instance_id] = Row(
            execution.execution_id,
            execution.name,
            execution.input,
            "Pending",
            execution.created_at,
            execution.created_at,
            self._new_etag(),
        )
        self.log("extension", f"row of {instance_id} -> {execution.execution_id} Pending ({execution.tag})")

    def command(
        self,
        tag: str,
        kind: str,
        instance_id: str,
        route: str | None,
        reply: Callable[[Answer], None],
        reason: str | None = None,
    ) -> None:
        """HandleTerminateInstanceRequestAsync / HandleRaiseEventRequestAsync: read the status (404 for none, 410
        for an ended instance), else queue a message with no execution ID and answer 202."""
        decided_at, addressed, addressed_name = self.last_read.get(tag, (self.clock.now(), None, None))

        def process(answer: Callable[[Answer], None]) -> None:
            if self.stream(tag).random() < self.faults.empty_500:
                answer(Answer(500))
                return
            refused = self.command_refusal(instance_id)
            if refused is not None:
                answer(Answer(refused))
                return
            message = Message(
                kind, instance_id, tag, self.clock.now(), None, decided_at, addressed, addressed_name, route, reason
            )
            self.send_command(message)
            answer(Answer(202))

        self._exchange(tag, kind, process, reply)

    def command_refusal(self, instance_id: str) -> int | None:
        """The status read a management route makes before it queues anything: 404 none, 410 ended, else None."""
        row = self.rows.get(instance_id)
        if row is None:
            return 404
        if row.status in ENDED_STATUSES:
            return 410
        return None

    def send_command(self, message: Message) -> None:
        """TerminateAsync, RaiseEventAsync, SuspendAsync, ResumeAsync: one control-queue message with no execution
        ID, for whatever execution is current when it is delivered."""
        self.log(
            "extension", f"{message.tag}'s {message.kind} queued for {message.instance_id} (saw {message.addressed})"
        )
        self._enqueue(message, lambda: self._deliver_command(message))

    def purge(self, instance_id: str) -> bool:
        """HandleDeleteHistoryByIdRequestAsync / PurgeInstanceHistoryAsync: the row goes, whatever its status;
        False when there was none. Queued messages stay, and find no current execution."""
        if self.rows.pop(instance_id, None) is None:
            return False
        self.log("extension", f"{instance_id} purged")
        return True

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
        with nothing queued and no end of its own scheduled."""
        execution = Execution(
            self._new_execution_id(),
            instance_id,
            name,
            orchestrator_input,
            tag,
            self.clock.now() if created_at is None else created_at,
        )
        self._write_row(instance_id, execution)
        row = self.rows[instance_id]
        row.output, row.custom_status = output, custom_status
        self.move_instance(instance_id, status)
        row.updated_at = self.clock.now()
        return row

    def move_instance(self, instance_id: str, status: str, *, output: Any = None, custom_status: Any = None) -> None:
        """The orchestration worker moves the current execution to `status` (output and custom status kept unless
        given). KeyError when there is no instance."""
        row = self.rows[instance_id]
        execution = self.executions[row.execution_id]
        execution.status = status
        if status == "Running" and execution.ran_at is None:
            execution.ran_at = self.clock.now()
        if status in ENDED_STATUSES:
            execution.ended_at = self.clock.now()
        self._set_row_status(instance_id, status)
        if output is not None:
            row.output = output
        if custom_status is not None:
            row.custom_status = custom_status

    # -- the control queue and the instances ----------------------------------------------------------------

    def _enqueue(self, message: Message, deliver: Callable[[], None]) -> None:
        self.messages.append(message)
        self._later(self.stream(message.tag).uniform(*self.faults.queue_delay), deliver)

    def _deliver_start(self, message: Message, name: str, text: Any) -> None:
        execution_id = message.execution_id
        assert execution_id is not None
        row = self.rows.get(message.instance_id)
        if row is not None and row.execution_id == execution_id and row.status == "Pending":
            message.delivered_at, message.hit = self.clock.now(), execution_id
            execution = self.executions[execution_id]
            execution.status, execution.ran_at = "Running", self.clock.now()
            self._set_row_status(message.instance_id, "Running")
            self.log("queue", f"ExecutionStarted {execution_id} runs ({execution.tag}, input {text})")
            rng = self.stream(execution.tag)
            end = "Failed" if rng.random() < self.faults.failure else "Completed"
            self._later(rng.uniform(*self.faults.run_time), lambda: self._end_by_itself(execution, end))
        elif execution_id in self._pending_writes:
            self._later(
                self.stream(message.tag).uniform(*self.faults.queue_delay),
                lambda: self._deliver_start(message, name, text),
            )
        else:
            message.delivered_at = self.clock.now()
            self.coverage["stale_start_dropped"] += 1
            self.log("queue", f"ExecutionStarted {execution_id} ({message.tag}) discarded: the row is not its own")

    def _deliver_command(self, message: Message) -> None:
        message.delivered_at = self.clock.now()
        row = self.rows.get(message.instance_id)
        if row is None or row.status not in DEDUPE_STATUSES:
            self.coverage[f"{message.kind}_discarded"] += 1
            self.log("queue", f"{message.tag}'s {message.kind} discarded: no current execution")
            if message.addressed is not None:
                self.coverage["queued_command_outlived_instance"] += 1
            return
        execution = self.executions[row.execution_id]
        message.hit = execution.execution_id
        if message.addressed != execution.execution_id:
            self.coverage["queued_command_outlived_instance"] += 1
        if message.kind == "event":
            execution.events.append(message)
            self.log("queue", f"{message.tag}'s event reached {execution.execution_id} ({execution.tag})")
            return
        if message.kind in ("suspend", "resume"):
            # TaskOrchestrationDispatcher: ExecutionSuspended acts on a running execution, ExecutionResumed on a
            # suspended one; either is a no-op otherwise.
            wanted, status = (SUSPENDABLE, "Suspended") if message.kind == "suspend" else ({"Suspended"}, "Running")
            if execution.status in wanted:
                self.log("queue", f"{message.tag}'s {message.kind} reached {execution.execution_id}")
                self.move_instance(message.instance_id, status)
            return
        self._end(execution, "Terminated", message)

    def _end_by_itself(self, execution: Execution, status: str) -> None:
        if execution.status == "Running":
            self._end(execution, status, None)

    def _end(self, execution: Execution, status: str, by: Message | None) -> None:
        execution.status, execution.ended_at, execution.ended_by = status, self.clock.now(), by
        cause = f"by {by.tag}'s terminate" if by else "by itself"
        self.log("instance", f"{execution.execution_id} ({execution.tag}) ended {status} {cause}")
        row = self.rows.get(execution.instance_id)
        if row is not None and row.execution_id == execution.execution_id:
            self._set_row_status(execution.instance_id, status)
            row.output = by.reason if by is not None else None

    def _set_row_status(self, instance_id: str, status: str) -> None:
        row = self.rows[instance_id]
        row.status, row.updated_at, row.etag = status, self.clock.now(), self._new_etag()

    def seed_instance(self, instance_id: str, name: str, status: str) -> None:
        """An instance that was there before the run, started outside the app."""
        execution = Execution("e0", instance_id, name, json.dumps("before"), OUTSIDE_TAG, self.clock.now())
        self._write_row(instance_id, execution)
        if status != "Pending":
            execution.status, execution.ran_at = "Running", self.clock.now()
            self._set_row_status(instance_id, "Running")
        if status == "Running":
            rng = self.stream(OUTSIDE_TAG)
            self._later(rng.uniform(*self.faults.run_time), lambda: self._end_by_itself(execution, "Completed"))
        elif status != "Pending":
            self._end(execution, status, None)

    def start_outside(self, instance_id: str, name: str) -> None:
        """A start that does not go through the app (another client of the task hub), done at once."""
        row = self.rows.get(instance_id)
        if row is not None and row.status in DEDUPE_STATUSES:
            return
        self.coverage["outside_start"] += 1
        execution_id = self._new_execution_id()
        execution = Execution(execution_id, instance_id, name, json.dumps("outside"), OUTSIDE_TAG, self.clock.now())
        self._write_row(instance_id, execution)
        message = Message("start", instance_id, OUTSIDE_TAG, self.clock.now(), execution_id=execution_id)
        self._enqueue(message, lambda: self._deliver_start(message, name, execution.input))

    # -- the lock storage -------------------------------------------------------------------------------------

    def blob_op(self, tag: str, op: str, key: str, reply: Callable[[Answer], None], **args: Any) -> None:
        """One blob call: create, acquire, renew, release, get_properties or set_metadata."""

        def process(answer: Callable[[Answer], None]) -> None:
            answer(getattr(self, f"_blob_{op}")(tag, key, **args))

        self._exchange(tag, op, process, reply, storage=True)

    def _leased(self, blob: Blob) -> bool:
        return blob.lease_id is not None and not blob.lease_released and blob.lease_expires > self.clock.now()

    def _blob_create(self, tag: str, key: str) -> Answer:
        blob = self.blobs.get(key)
        if blob is not None:
            return Answer(412 if self._leased(blob) else 409, {"code": "BlobAlreadyExists"})
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
        self.records_lost_at.append(self.clock.now())
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

    def record_send(self, tag: str, instance_id: str, key: str) -> None:
        """Note a start the app sends, with the lease its request holds at that moment."""
        self.sends.append(StartSend(tag, instance_id, self.clock.now(), self.lease_left(tag, key)))
        granted = max((lease.granted_at for lease in self.leases if lease.tag == tag), default=None)
        read_at = self.last_read.get(tag, (None,))[0]
        if granted is not None and read_at is not None and read_at < granted:
            self.coverage["first_read_stood_in"] += 1  # the start went out with no status read under its lease
        if sum(1 for send in self.sends if send.tag == tag) == 2:
            self.coverage["resend"] += 1
