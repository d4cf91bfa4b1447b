"""The model at the wire, under the app's own adapters: what the simulator plugs in where the real app talks to
the world.

- `ModelTransport` is the 1.x adapter's Transport (adapters/durable_http.py): it reads each request as the
  extension's HTTP API routes it (method and path, query, body) and answers with the model's status code and JSON
  body, or with Unavailable (the connection was refused) or InDoubt (no answer in time), as the aiohttp transport
  does. DurableBackend, with its request building and core/http_answers.py's reading of answers, runs unchanged.
- `ModelGrpcBackend` is the 2.x adapter's reading of answers: the extension's gRPC answer to each model outcome
  (`grpc_answer`), classified by core/grpc_answers.py exactly as GrpcBackend classifies a real AioRpcError; the
  gRPC client itself cannot run here.
- `ModelContainer` is the blob container LeaseLocks (adapters/blob_lease.py) works on: each blob call goes to the
  model's storage and comes back as azure-core's exceptions, so the lease arithmetic, the create-first path, the
  background releases and the error mapping are the real adapter's.

The request a call belongs to is read from a context variable the simulator sets in each request's task; the app
never sees it.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from singleton_start.adapters.blob_lease import SHARED_LEASE_ID, lock_blob_name
from singleton_start.core.errors import InDoubt, Sent, Unavailable
from singleton_start.core.grpc_answers import (
    RUNTIME_STATUS_NAMES,
    command_failure,
    describe,
    no_answer,
    observed_state,
    read_failure,
    start_failure,
)
from singleton_start.core.status import MISSING, Observed

from .model import EPOCH, SHARED_LEASE_NAME, Answer, World, grpc_state
from .model import grpc_answer as extension_grpc_answer

# When each host stood frozen (no answer can come from a frozen host): (host, from, to), by world.
STALLED: weakref.WeakKeyDictionary[World, list[tuple[str, float, float]]] = weakref.WeakKeyDictionary()
REQUEST_TAG: contextvars.ContextVar[str] = contextvars.ContextVar("simulated_request", default="unknown")
# The orchestrator a management route named, for the allowlist invariant; None for the start's own terminate.
ROUTE_ORCHESTRATOR: contextvars.ContextVar[str | None] = contextvars.ContextVar("route_orchestrator", default=None)
TIMED_OUT = Answer(-1)
TASK_HUB = "SimHub"
RPC_BASE = "http://127.0.0.1:17071/durabletask/"


def wall_time(seconds: float) -> datetime:
    """A virtual time as the UTC datetime both the backend and the app's records use."""
    return EPOCH + timedelta(seconds=seconds)


def starter_binding(task_hub: str = TASK_HUB) -> str:
    """The durableClient binding a v1 function is handed, naming the model's RPC endpoint."""
    base = "http://localhost:7071/runtime/webhooks/durabletask/instances/INSTANCEID"
    return json.dumps(
        {
            "taskHubName": task_hub,
            "creationUrls": {},
            "managementUrls": {"id": "INSTANCEID", "statusQueryGetUri": base},
            "rpcBaseUrl": RPC_BASE,
        }
    )


class SimClock:
    """The Clock port on the virtual loop. A host may stall in a sleep (Faults.host_pause), as a frozen VM does."""

    def __init__(self, world: World, host: str, skew: float = 0.0) -> None:
        self._world = world
        self._host = host
        self._skew = skew

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def utcnow(self) -> datetime:
        """The host's wall clock: storage's, `skew` seconds ahead (behind when negative)."""
        return wall_time(self.now() + self._skew)

    async def sleep(self, seconds: float) -> None:
        rng = self._world.stream(f"pause/{self._host}")
        if rng.random() < self._world.faults.host_pause:
            stall = rng.uniform(1.0, 20.0)
            self._world.coverage["host_paused"] += 1
            self._world.log(REQUEST_TAG.get(), f"host {self._host} stalls for {stall:.3f} s")
            now = self.now()
            STALLED.setdefault(self._world, []).append((self._host, now, now + seconds + stall))
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


@dataclass(frozen=True)
class Route:
    """One request to the extension's HTTP API, as HttpApiHandler routes it."""

    operation: str  # "status", "start", "terminate", "event"
    instance_id: str
    name: str = ""  # the orchestrator of a start, the event's name
    query: Mapping[str, str] | None = None


def route(method: str, url: str) -> Route:
    """What a URL of the RPC endpoint asks for (the paths the 1.x adapter builds); ValueError for anything else."""
    parts = urlsplit(url)
    path = parts.path[len(urlsplit(RPC_BASE).path) :]
    segments = [unquote(unquote(segment)) for segment in path.split("/")]
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    match method, segments:
        case "GET", ["instances", instance_id]:
            return Route("status", instance_id, query=query)
        case "POST", ["orchestrators", name, instance_id]:
            return Route("start", instance_id, name)
        case "POST", ["instances", instance_id, "terminate"]:
            return Route("terminate", instance_id, query=query)
        case "POST", ["instances", instance_id, "raiseEvent", name]:
            return Route("event", instance_id, name)
    raise ValueError(f"not a route of the model: {method} {url}")


class ModelTransport:
    """The 1.x adapter's Transport over the model's HTTP API."""

    def __init__(self, world: World) -> None:
        self._world = world

    async def __call__(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> tuple[int, Any]:
        tag, world, target = REQUEST_TAG.get(), self._world, route(method, url)
        instance_id = target.instance_id
        if target.operation == "status":
            query = target.query or {}
            show_input = query.get("showInput", "true").lower() != "false"
            history = query.get("showHistory", "false").lower() == "true"
            answer = await call(
                lambda reply: world.status(tag, instance_id, show_input, reply, with_history=history), timeout
            )
        elif target.operation == "start":
            value = json.loads(json.loads(body)) if body else None
            world.record_send(tag, instance_id, lock_key(instance_id))
            landed = world.record_command(tag, "start", instance_id, lock_key(instance_id))
            world.log(tag, f"sends start of {target.name} (input {value!r})")
            answer = await call(
                lambda reply: world.start(tag, instance_id, target.name, value, reply, landed=landed), timeout
            )
        else:
            kind, reason = target.operation, (target.query or {}).get("reason")
            orchestrator = ROUTE_ORCHESTRATOR.get()
            event = {"event_name": target.name, "data": json.loads(body) if body else None} if kind == "event" else {}
            world.log(tag, f"sends {kind} to {instance_id}")
            landed = world.record_command(tag, kind, instance_id, lock_key(instance_id))
            answer = await call(
                lambda reply: world.command(
                    tag, kind, instance_id, orchestrator, reply, reason, **event, landed=landed
                ),
                timeout,
            )
        if target.operation != "status":
            world.log(tag, f"{target.operation} answered {describe_answer(answer)}")
        if answer is TIMED_OUT:
            raise InDoubt(f"no answer within {timeout:.1f} seconds")
        if answer.status is None:
            raise Unavailable("the connection could not be opened (refused)")
        return answer.status, answer.body


def describe_answer(answer: Answer) -> str:
    if answer is TIMED_OUT:
        return "no answer in time"
    if answer.status is None:
        return "connection refused"
    return f"HTTP {answer.status}" + ("" if answer.body is not None else " with an empty body")


def lock_key(instance_id: str, task_hub: str = TASK_HUB) -> str:
    """The lock blob of an ID, named as the real adapter names it."""
    return lock_blob_name(task_hub, instance_id)


# ---- the 2.x line: the extension's gRPC answers, classified as GrpcBackend classifies them

# The protocol's status names, from the names the model's rows carry.
PROTOCOL_STATUS = {name: protocol for protocol, name in RUNTIME_STATUS_NAMES.items()}


def grpc_answer(operation: str, answer: Answer, timeout: float, world: World) -> tuple[str, str]:
    """What the 2.x SDK gets where the model's HTTP API gave `answer`: the extension's gRPC answer (the model's
    grpc_answer, for the world's Versions), or the adapter's own deadline when no answer came in time."""
    if answer is TIMED_OUT:
        return no_answer(timeout)
    return extension_grpc_answer(operation, answer, world.versions)


class ModelGrpcBackend:
    """The Backend port as GrpcBackend is over the 2.x SDK: each model answer becomes the extension's gRPC answer,
    classified by the same core/grpc_answers.py functions; the state read carries times to the tick (a protobuf
    Timestamp) and the input as the JSON text it was stored as, as durabletask's OrchestrationState does."""

    task_hub = TASK_HUB
    shows_history = False

    def __init__(self, world: World) -> None:
        self._world = world

    def management_links(self, request: Any, instance_id: str) -> dict[str, str]:
        return {"id": instance_id}

    async def read(
        self, instance_id: str, timeout: float, *, with_input: bool = False, with_history: bool = False
    ) -> Observed:
        tag = REQUEST_TAG.get()
        answer = await call(lambda reply: self._world.status(tag, instance_id, True, reply), timeout)
        code, details = grpc_answer("status", answer, timeout, self._world)
        if code != "OK":
            read_failure(code, details)
        body = grpc_state(answer)
        if body is None:
            return MISSING
        return observed_state(
            PROTOCOL_STATUS.get(str(body["runtimeStatus"]), ""),
            created=wall_time(float(body["createdTime"])),
            updated=wall_time(float(body["lastUpdatedTime"])),
            serialized_input=body.get("input") if with_input else None,
            output=body.get("output"),
            name=body.get("name"),
            custom_status=body.get("customStatus"),
        )

    async def start(self, orchestrator: str, instance_id: str, orchestrator_input: Any, timeout: float) -> None:
        tag, world = REQUEST_TAG.get(), self._world
        world.record_send(tag, instance_id, lock_key(instance_id))
        landed = world.record_command(tag, "start", instance_id, lock_key(instance_id))
        world.log(tag, f"sends start of {orchestrator} (input {orchestrator_input!r})")
        answer = await call(
            lambda reply: world.start(tag, instance_id, orchestrator, orchestrator_input, reply, landed=landed),
            timeout,
        )
        code, details = grpc_answer("start", answer, timeout, world)
        world.log(tag, f"start answered {describe_answer(answer)}, over {describe(code, details)}")
        if code != "OK":
            try:
                start_failure(code, details)
            except InDoubt as error:
                raise InDoubt(str(error), Sent.START) from None

    async def terminate(self, instance_id: str, reason: str, timeout: float) -> None:
        await self._command("terminate", instance_id, timeout, reason)

    async def raise_event(self, instance_id: str, event_name: str, data: Any, timeout: float) -> None:
        await self._command("event", instance_id, timeout, event_name=event_name, data=data)

    async def _command(
        self, kind: str, instance_id: str, timeout: float, reason: str | None = None, **event: Any
    ) -> None:
        tag, world, orchestrator = REQUEST_TAG.get(), self._world, ROUTE_ORCHESTRATOR.get()
        world.log(tag, f"sends {kind} to {instance_id}")
        landed = world.record_command(tag, kind, instance_id, lock_key(instance_id))
        answer = await call(
            lambda reply: world.command(tag, kind, instance_id, orchestrator, reply, reason, **event, landed=landed),
            timeout,
        )
        code, details = grpc_answer(kind, answer, timeout, world)
        world.log(tag, f"{kind} answered {describe_answer(answer)}, over {describe(code, details)}")
        if code != "OK":
            command_failure(f"The {kind}", code, details)


# ---- the lock storage: the blob SDK's calls over the model, raising azure-core's exceptions


def storage_error(answer: Answer, what: str) -> Exception:
    """The exception the storage SDK raises for a failed blob call."""
    body = answer.body if isinstance(answer.body, dict) else {}
    code = str(body.get("code") or "")
    if answer.status == 404:
        return ResourceNotFoundError(message=f"{what}: {code or 'not found'}")
    if answer.status == 409 and code == "BlobAlreadyExists":
        return ResourceExistsError(message=f"{what}: {code}")
    error = HttpResponseError(message=f"{what}: HTTP {answer.status} {code}")
    error.status_code = answer.status
    error.error_code = code  # type: ignore[attr-defined]
    return error


class _BlobCall:
    def __init__(self, world: World, key: str) -> None:
        self._world, self._key = world, key

    async def _op(self, op: str, **args: Any) -> Answer:
        """One blob call; the caller (LeaseLocks) bounds it with its own timeout, as the SDK's calls are."""
        tag = REQUEST_TAG.get()
        answer = await call(lambda reply: self._world.blob_op(tag, op, self._key, reply, **args), float("inf"))
        if answer.status is not None and answer.status >= 300:
            raise storage_error(answer, op)
        return answer


@dataclass
class BlobProperties:
    metadata: dict[str, str]
    creation_time: datetime


class ModelBlob(_BlobCall):
    """The blob client calls LeaseLocks makes."""

    def __init__(self, world: World, name: str) -> None:
        super().__init__(world, name)
        self.blob_name = name

    async def upload_blob(self, data: bytes, *, overwrite: bool) -> None:
        await self._op("create", overwrite=overwrite)

    async def get_blob_properties(self) -> BlobProperties:
        answer = await self._op("get_properties")
        body = answer.body if isinstance(answer.body, dict) else {}
        return BlobProperties(dict(body.get("metadata") or {}), wall_time(float(body.get("created") or 0.0)))

    async def set_blob_metadata(self, metadata: dict[str, str], *, lease: ModelLease) -> None:
        await self._op("set_metadata", lease_id=lease.id, metadata=dict(metadata))


# The lease IDs proposed in a run, named in the order they first appear, so that a seed's timeline reads the same
# every time (LeaseLocks proposes random IDs; the shared lease's well-known ID keeps one name).
LEASE_NAMES: weakref.WeakKeyDictionary[World, dict[str, str]] = weakref.WeakKeyDictionary()


class ModelLease(_BlobCall):
    """The lease client calls LeaseLocks makes, with the lease ID it proposed."""

    def __init__(self, world: World, blob: ModelBlob, lease_id: str, lease_seconds: int) -> None:
        super().__init__(world, blob.blob_name)
        names = LEASE_NAMES.setdefault(world, {})
        name = SHARED_LEASE_NAME if lease_id == SHARED_LEASE_ID else f"lease{len(names) + 1}"
        self.id = names.setdefault(lease_id, name)
        self._seconds = lease_seconds

    async def acquire(self, lease_duration: int) -> None:
        await self._op("acquire", lease_id=self.id, seconds=lease_duration)

    async def renew(self) -> None:
        renewed = False
        try:
            await self._op("renew", lease_id=self.id, seconds=self._seconds)
            renewed = True
        finally:
            if not renewed:  # refused, or cut off by LeaseLocks' timeout
                self._world.coverage["renewal_failed"] += 1
                self._world.log(REQUEST_TAG.get(), "renewal failed")

    async def change(self, proposed_lease_id: str) -> None:
        names = LEASE_NAMES.setdefault(self._world, {})
        name = SHARED_LEASE_NAME if proposed_lease_id == SHARED_LEASE_ID else "?"
        proposed = names.setdefault(proposed_lease_id, name)
        await self._op("change", lease_id=self.id, proposed=proposed)
        self.id = proposed

    async def release(self) -> None:
        await self._op("release", lease_id=self.id)


class ModelContainer:
    """The container client calls LeaseLocks makes."""

    def __init__(self, world: World, lease_seconds: int) -> None:
        self._world, self._lease_seconds = world, lease_seconds

    def get_blob_client(self, name: str) -> ModelBlob:
        return ModelBlob(self._world, name)

    async def create_container(self) -> None:
        return None

    def lease_client(self, blob: Any, lease_id: str) -> Any:
        return ModelLease(self._world, blob, lease_id, self._lease_seconds)
