"""The ports (singleton_start.ports) over the model, on the virtual loop: what the app's real adapters do
with real answers, done with the model's.

Each host of a run has its own SimBackend, SimLocks and SimClock, as each worker process has its own
DurableBackend and LeaseLocks. The request a call belongs to is read from a context variable that the
simulator sets in each request's task; the app never sees it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from singleton_start.grpc_answers import (
    RUNTIME_STATUS_NAMES,
    command_failure,
    no_answer,
    read_failure,
    runtime_state,
    start_failure,
)
from singleton_start.grpc_answers import describe as grpc_describe
from singleton_start.instance_status import InstanceStatus
from singleton_start.ports import (
    BackendUnavailable,
    CommandRefused,
    InstanceGone,
    InstanceNotFound,
    Lease,
    LockRecord,
    OutcomeUnknown,
    StartOutcomeUnknown,
    StartRefused,
    StorageUnavailable,
)
from singleton_start.status import ACTIVE_STATUSES, MISSING, InstanceState, Observed

from .model import (
    EPOCH,
    Answer,
    World,
    grpc_state,
    is_already_exists,
)
from .model import grpc_answer as extension_grpc_answer

LOG = logging.getLogger(__name__)
REQUEST_TAG: contextvars.ContextVar[str] = contextvars.ContextVar("simulated_request", default="unknown")
RELEASE_TIMEOUT_SECONDS = 2.0  # as singleton_start.lock bounds a release
TIMED_OUT = Answer(-1)


def wall_time(seconds: float) -> datetime:
    """A virtual time as the UTC datetime both the backend and the app's records use."""
    return EPOCH + timedelta(seconds=seconds)


class SimClock:
    """The Clock port on the virtual loop. A host may stall in a sleep (Faults.host_pause), as a frozen VM does."""

    def __init__(self, world: World, host: str) -> None:
        self._world = world
        self._host = host

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def utcnow(self) -> datetime:
        return wall_time(self.now())

    async def sleep(self, seconds: float) -> None:
        rng = self._world.stream(f"pause/{self._host}")
        if rng.random() < self._world.faults.host_pause:
            stall = rng.uniform(1.0, 20.0)
            self._world.coverage["host_paused"] += 1
            self._world.log(REQUEST_TAG.get(), f"host {self._host} stalls for {stall:.3f} s")
            seconds += stall
        await asyncio.sleep(seconds)


async def call(send: Callable[[Callable[[Answer], None]], None], timeout: float) -> Answer:
    """Send one call to the model and wait, bounded, for its answer; TIMED_OUT when none came in time."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[Answer] = loop.create_future()

    def reply(value: Answer) -> None:
        if not answer.done():
            answer.set_result(value)

    timer = loop.call_at(loop.time() + max(timeout, 0.0), reply, TIMED_OUT)
    send(reply)
    try:
        return await answer
    finally:
        timer.cancel()


def observed(body: Mapping[str, Any]) -> Observed:
    """A status body as the real adapter classifies it; the status API gives times to the second."""
    status = str(body["runtimeStatus"])
    return Observed(
        InstanceState.ACTIVE if status in ACTIVE_STATUSES else InstanceState.ENDED,
        status,
        wire_datetime(str(body["createdTime"])),
        wire_datetime(str(body["lastUpdatedTime"])),
        body.get("input"),
        body.get("output"),
        body.get("name"),
    )


def wire_datetime(text: str) -> datetime:
    """A status body's time ("2026-01-01T00:00:05Z") as an aware datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


class SimBackend:
    """The Backend port over the model's extension API, mapping answers as singleton_start.backend does."""

    task_hub = "SimHub"

    def __init__(self, world: World) -> None:
        self._world = world

    async def _status(self, instance_id: str, timeout: float, with_input: bool) -> Mapping[str, Any] | None:
        tag = REQUEST_TAG.get()
        answer = await call(lambda reply: self._world.status(tag, instance_id, with_input, reply), timeout)
        return self._status_body(answer, timeout)

    def _status_body(self, answer: Answer, timeout: float) -> Mapping[str, Any] | None:
        """The tracking row a status read's answer shows, None for no instance; BackendUnavailable otherwise."""
        if answer.status == 404:
            return None
        if answer.status in (200, 202) and isinstance(answer.body, dict):
            return answer.body
        raise BackendUnavailable(f"The status read was answered with {describe(answer)}.")

    def _observed(self, body: Mapping[str, Any], with_input: bool) -> Observed:
        return observed(body)

    async def read(self, instance_id: str, timeout: float, *, with_input: bool = False) -> Observed:
        body = await self._status(instance_id, timeout, with_input)
        return MISSING if body is None else self._observed(body, with_input)

    async def read_instance(self, instance_id: str, timeout: float, *, with_input: bool) -> InstanceStatus | None:
        body = await self._status(instance_id, timeout, with_input)
        return None if body is None else InstanceStatus(self._observed(body, with_input), str(body["name"]), None, None)

    async def start(self, orchestrator: str, instance_id: str, orchestrator_input: Any, timeout: float) -> None:
        tag, world = REQUEST_TAG.get(), self._world
        world.record_send(tag, instance_id, lock_key(self.task_hub, instance_id))
        world.log(tag, f"sends start of {orchestrator} (input {orchestrator_input!r})")

        def send(reply: Callable[[Answer], None]) -> None:
            world.start(tag, instance_id, orchestrator, orchestrator_input, reply)

        answer = await call(send, timeout)
        world.log(tag, f"start answered {self._describe('start', answer, timeout)}")
        self._start_outcome(answer, timeout)

    def _describe(self, operation: str, answer: Answer, timeout: float) -> str:
        return describe(answer)

    def _start_outcome(self, answer: Answer, timeout: float) -> None:
        """Return on a clear acceptance; raise what the start's answer means otherwise."""
        if answer.status == 202:
            return
        if answer.status is None:
            raise BackendUnavailable("The start was not sent: connection refused.")
        if answer.status == 400:
            raise StartRefused("The start was refused as invalid.", already_exists=False)
        if already_exists(answer):
            raise StartRefused("The start was refused: the instance already exists.", already_exists=True)
        raise StartOutcomeUnknown(f"The start was answered with {describe(answer)}; it may still run.")

    async def terminate(self, instance_id: str, reason: str, timeout: float) -> None:
        await self._command("terminate", instance_id, timeout, reason)

    async def raise_event(self, instance_id: str, event_name: str, data: Any, timeout: float) -> None:
        await self._command("event", instance_id, timeout)

    async def _command(self, kind: str, instance_id: str, timeout: float, reason: str | None = None) -> None:
        tag, world = REQUEST_TAG.get(), self._world
        route = ROUTE_ORCHESTRATOR.get()
        world.log(tag, f"sends {kind} to {instance_id}")
        answer = await call(lambda reply: world.command(tag, kind, instance_id, route, reply, reason), timeout)
        world.log(tag, f"{kind} answered {self._describe(kind, answer, timeout)}")
        self._command_outcome(kind, answer, timeout)

    def _command_outcome(self, kind: str, answer: Answer, timeout: float) -> None:
        """Return once the command is queued; raise what its answer means otherwise."""
        if answer.status == 202:
            return
        if answer.status is None:
            raise BackendUnavailable(f"The {kind} was not sent: connection refused.")
        if answer.status == 404:
            raise InstanceNotFound(f"The {kind} found no instance.")
        if answer.status == 410:
            raise InstanceGone(f"The {kind} found the instance ended.")
        if answer.status == 400:
            raise CommandRefused(f"The {kind} was refused: {describe(answer)}.")
        raise OutcomeUnknown(f"The {kind} was answered with {describe(answer)}.")


def already_exists(answer: Answer) -> bool:
    """The extension's refusal of a start over an active instance: the catch-all 500 naming the exception."""
    return is_already_exists(answer)


# The protocol's status names, from the names the model's rows carry.
PROTOCOL_STATUS = {name: protocol for protocol, name in RUNTIME_STATUS_NAMES.items()}


def grpc_answer(operation: str, answer: Answer, timeout: float, world: World) -> tuple[str, str]:
    """What the 2.x SDK gets where the model's HTTP API gave `answer`: the extension's gRPC answer
    (simulation.model.grpc_answer, for the world's Versions), or the adapter's own deadline when no answer came."""
    if answer is TIMED_OUT:
        return no_answer(timeout)
    return extension_grpc_answer(operation, answer, world.versions)


class SimGrpcBackend(SimBackend):
    """The Backend port as backend_grpc.GrpcBackend is over the 2.x SDK: each model answer becomes what the
    extension's gRPC endpoint answers (grpc_answer), classified by the same grpc_answers functions.

    The state read shows times to the tick (a protobuf Timestamp, where the HTTP API gives seconds: the model's
    grpc_state) and the input as the JSON text it was stored as, as durabletask's OrchestrationState does.
    """

    def _status_body(self, answer: Answer, timeout: float) -> Mapping[str, Any] | None:
        code, details = grpc_answer("status", answer, timeout, self._world)
        if code != "OK":
            raise read_failure(code, details)
        return grpc_state(answer)

    def _observed(self, body: Mapping[str, Any], with_input: bool) -> Observed:
        state, runtime_status = runtime_state(PROTOCOL_STATUS.get(str(body["runtimeStatus"]), ""))
        return Observed(
            state,
            runtime_status,
            wall_time(float(body["createdTime"])),
            wall_time(float(body["lastUpdatedTime"])),
            body.get("input") if with_input else None,
            body.get("output"),
            body.get("name"),
        )

    def _describe(self, operation: str, answer: Answer, timeout: float) -> str:
        return f"{describe(answer)}, over {grpc_describe(*grpc_answer(operation, answer, timeout, self._world))}"

    def _start_outcome(self, answer: Answer, timeout: float) -> None:
        code, details = grpc_answer("start", answer, timeout, self._world)
        if code != "OK":
            raise start_failure(code, details)

    def _command_outcome(self, kind: str, answer: Answer, timeout: float) -> None:
        code, details = grpc_answer(kind, answer, timeout, self._world)
        if code != "OK":
            raise command_failure(f"The {kind}", code, details)


# The orchestrator a management route named, for the allowlist invariant; None for the start's terminate.
ROUTE_ORCHESTRATOR: contextvars.ContextVar[str | None] = contextvars.ContextVar("route_orchestrator", default=None)


def describe(answer: Answer) -> str:
    if answer is TIMED_OUT:
        return "no answer in time"
    if answer.status is None:
        return "connection refused"
    return f"HTTP {answer.status}" + ("" if answer.body is not None else " with an empty body")


def lock_key(task_hub: str, instance_id: str) -> str:
    """The lock blob of an ID (the real adapter hashes the ID; the model needs no hashing)."""
    return f"{task_hub.lower()}/{instance_id}"


class SimLocks:
    """The Locks port over the model's blobs, doing what singleton_start.lock.LeaseLocks does with real answers:
    create the blob first when it may be missing, propose its own lease ID, give back an acquire that was cut
    off, release in the background (bounded) and make the next acquire in this host wait for that."""

    def __init__(self, world: World, lease_seconds: int, host: str) -> None:
        self._world = world
        self._lease_seconds = lease_seconds
        self._host = host
        self._leases = 0
        self._releasing: dict[str, asyncio.Task[None]] = {}

    async def _op(self, op: str, key: str, timeout: float, **args: Any) -> Answer:
        tag = REQUEST_TAG.get()
        return await call(lambda reply: self._world.blob_op(tag, op, key, reply, **args), timeout)

    async def try_acquire(
        self, task_hub: str, instance_id: str, timeout: float, *, blob_may_be_missing: bool = False
    ) -> Lease | None:
        self._leases += 1
        key = lock_key(task_hub, instance_id)
        lease = Lease(key, f"{self._host}-lease{self._leases}")
        loop = asyncio.get_running_loop()
        ends = loop.time() + timeout
        try:
            releasing = self._releasing.get(key)
            if releasing is not None:
                await asyncio.wait_for(asyncio.shield(releasing), max(ends - loop.time(), 0.0))
            if blob_may_be_missing:
                await self._create(key, ends - loop.time())
            for _ in range(3):
                sent_at = loop.time()
                answer = await self._op(
                    "acquire", key, ends - sent_at, lease_id=lease.handle, seconds=self._lease_seconds
                )
                if answer.status == 201:
                    lease.ends_at = sent_at + self._lease_seconds
                    return lease
                if answer.status == 409:
                    return None
                if answer.status != 404:
                    raise StorageUnavailable(f"taking the lease failed: {describe(answer)}")
                await self._create(key, ends - loop.time())
            raise StorageUnavailable("the lock blob kept disappearing")
        except TimeoutError:
            self.release(lease)
            raise StorageUnavailable("taking the lease timed out") from None
        except BaseException:
            # The acquire may have been granted with its answer lost: give it back, as the real adapter does.
            self.release(lease)
            raise

    async def _create(self, key: str, timeout: float) -> bool:
        answer = await self._op("create", key, timeout)
        if answer.status == 201:
            return True
        if answer.status in (409, 412):
            return False
        raise StorageUnavailable(f"creating the lock blob failed: {describe(answer)}")

    async def renew(self, lease: Lease, timeout: float) -> None:
        sent_at = asyncio.get_running_loop().time()
        answer = await self._op("renew", lease.key, timeout, lease_id=lease.handle, seconds=self._lease_seconds)
        if answer.status != 200:
            self._world.coverage["renewal_failed"] += 1
            self._world.log(REQUEST_TAG.get(), f"renewal failed: {describe(answer)}")
            raise StorageUnavailable(f"renewing the lease failed: {describe(answer)}")
        lease.ends_at = sent_at + self._lease_seconds

    def release(self, lease: Lease, first: Coroutine[None, None, None] | None = None) -> Awaitable[None]:
        releasing = self._releasing[lease.key] = asyncio.ensure_future(self._release(lease, first))
        releasing.add_done_callback(lambda done: self._forget(lease.key, done))
        return asyncio.shield(releasing)

    def _forget(self, key: str, done: asyncio.Task[None]) -> None:
        if self._releasing.get(key) is done:
            del self._releasing[key]

    async def _release(self, lease: Lease, first: Coroutine[None, None, None] | None) -> None:
        if first is not None:
            try:
                await first
            except Exception as error:  # noqa: BLE001 - the lease is given back whatever became of it
                LOG.debug("Work under the lease before its release failed: %s", type(error).__name__)
        await self._op("release", lease.key, RELEASE_TIMEOUT_SECONDS, lease_id=lease.handle)

    async def read_record(self, task_hub: str, instance_id: str, timeout: float) -> LockRecord:
        answer = await self._op("get_properties", lock_key(task_hub, instance_id), timeout)
        if answer.status == 404:
            return LockRecord()
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise StorageUnavailable(f"reading the lock record failed: {describe(answer)}")
        return LockRecord(dict(answer.body["metadata"]), wall_time(float(answer.body["created"])))

    async def write_record(self, lease: Lease, record: Mapping[str, str], timeout: float) -> None:
        answer = await self._op("set_metadata", lease.key, timeout, lease_id=lease.handle, metadata=dict(record))
        if answer.status != 200:
            raise StorageUnavailable(f"writing the lock record failed: {describe(answer)}")
