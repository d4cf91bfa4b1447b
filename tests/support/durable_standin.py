"""Stand-in for the Durable Functions extension's out-of-process HTTP API, over the backend model.

The Python SDK's ``DurableOrchestrationClient`` talks to the Functions host over the
extension's local RPC endpoint (``rpcBaseUrl``, ``http://127.0.0.1:PORT/durabletask/``).
The host cannot run in tests or benchmarks, so this server answers the same routes
with the same status codes, headers and JSON bodies. It does the wire only (routes, decoding,
answers, injected faults); what the backend does is asked of ``simulation.model.World``, the
model the simulator runs too: the create path (status read, dedupe, ExecutionStarted queued with a
new execution ID, the ETag-conditioned tracking write whose loser is still answered 202), terminate,
event, suspend and resume messages with no execution ID that reach whichever execution is current
when they are processed, and purge. docs/model.md lists the model's rules with their sources.

Modelled on Azure/azure-functions-durable-extension ``LocalHttpListener`` /
``HttpApiHandler`` / ``DurableClient`` / ``BindingHelper`` (the wire) and, through the model,
Azure/durabletask ``AzureStorageOrchestrationService`` / ``AzureTableTrackingStore`` /
``OrchestrationSessionManager``.  Where releases differ, the model's ``Versions`` says which it gives
(``world.versions``; the newest by default). A start over an active instance is answered as every release
read answers it: HandleRequestAsync's catch-all 500 naming OrchestrationAlreadyExistsException.

The model runs on the server's event loop: it reads the wall clock (``_now``, which a test may freeze
or step) for the rows' times, and a ``loop.call_at`` timer on ``loop.time()`` processes each queued
message once its delay has passed. Defaults keep tests simple: control-queue messages
are processed at once (``queue_delay_seconds`` 0: a terminate has landed when its 202 is sent), and no
worker runs orchestrations (``run_seconds`` None: a started instance stays Pending; instances move only
when ``set_status`` moves them). A test sets ``queue_delay_seconds`` to let a queued message outlive
the execution it was sent for, and ``run_seconds`` to have each started instance picked up and then
complete by itself.

``storage_op_seconds`` charges each storage round trip an API call makes in the real backend:
a status read is one table query (``AzureTableTrackingStore.GetStateAsync``); a start is three
(``AzureStorageOrchestrationService.CreateTaskOrchestrationAsync``: the duplicate check's
``FetchInstanceStatusAsync``, the control-queue message ``ControlQueue.AddMessageAsync``, then the
tracking-table write ``SetNewExecutionAsync``; a refused duplicate stops after the first); a terminate
or an event is three (``HttpApiHandler.HandleTerminateInstanceRequestAsync`` and
``HandleRaiseEventRequestAsync`` read the status, then ``DurableClient.TerminateAsync``/``RaiseEventAsync``
read it again and send one queue message).  ``storage_ops`` counts them by API call.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import json
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus

from aiohttp import web

from simulation.model import (
    ERROR_MESSAGE,
    POSIX_EPOCH,
    STORAGE_EXCEPTION,
    Answer,
    Create,
    Faults,
    Message,
    World,
    already_exists_answer,
    management_urls,
    wire_time,
)

# The backend as the stand-in runs it by default: messages processed at once, no orchestration worker.
STANDIN_FAULTS = Faults(queue_delay=(0.0, 0.0), work_time=(0.0, 0.0), starts_run=False, failure=0.0)
# The request tag the model keeps for each call (the stand-in has no use for telling requests apart).
TAG = "http"


class LoopScheduler:
    """The model's Scheduler on an asyncio loop. The model's time is the wall clock `wall` gives (row times are
    its POSIX seconds; tests may freeze or step it); its due events run from a ``loop.call_at`` timer on the
    loop's own clock, each after the delay the model asked for."""

    MAX_EVENTS_PER_RUN = 1000

    def __init__(self, wall: Callable[[], datetime]) -> None:
        self._wall = wall
        self._queue: list[tuple[float, int, Callable[[], None]]] = []  # (loop time due, order, event)
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Run on `loop` from now on (None: no loop; events wait for ``run_due``)."""
        self._cancel_timer()
        self._loop = loop
        self._arm()

    def now(self) -> float:
        return self._wall().timestamp()

    def at(self, when: float, callback: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (self._loop_time() + max(when - self.now(), 0.0), self._seq, callback))
        self._arm()

    def run_due(self) -> None:
        """Run every event due now, in time order, with those they make due at once (a message dequeued, then
        its work item's checkpoint, with no delay), up to a bound so that nothing can spin."""
        for _ in range(self.MAX_EVENTS_PER_RUN):
            if not self._queue or self._queue[0][0] > self._loop_time():
                break
            heapq.heappop(self._queue)[2]()
        self._arm()

    def clear(self) -> None:
        """Forget every event."""
        self._queue.clear()
        self._cancel_timer()

    def _loop_time(self) -> float:
        # The default loop's time() is time.monotonic(): the same clock before the loop is known.
        return self._loop.time() if self._loop is not None else time.monotonic()

    def _fire(self) -> None:
        self._timer = None
        self.run_due()

    def _arm(self) -> None:
        if self._loop is None or not self._queue:
            return
        when = self._queue[0][0]
        if self._timer is not None and self._timer.when() <= when:
            return
        self._cancel_timer()
        self._timer = self._loop.call_at(when, self._fire)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class DurableStandin:
    """Wire-level fake of the extension's RPC HTTP API (Azure Storage backend semantics)."""

    RUNTIME_STATUSES = (
        "Running",
        "Completed",
        "ContinuedAsNew",
        "Failed",
        "Canceled",
        "Terminated",
        "Pending",
        "Suspended",
    )
    FAULT_KINDS = frozenset({"status", "start", "terminate", "raise_event", "purge", "list", "suspend", "resume"})
    # empty_500: LocalHttpListener.HandleRequestAsync sets status 500 and writes nothing when the handler throws.
    FAULT_MODES = frozenset({"error", "timeout", "drop", "drop_after", "error_after", "empty_500"})
    MAX_INSTANCE_ID_LENGTH = 256  # DurableClient.MaxInstanceIdLength
    HANG_SECONDS = 30.0
    WEBHOOK_PATH = "/runtime/webhooks/durabletask"
    RPC_PATH = "/durabletask/"
    _JSON_TYPE = "application/json; charset=utf-8"
    _ERROR_MESSAGE = ERROR_MESSAGE
    _BAD_ARGS_MESSAGE = "One or more of the arguments submitted is incorrect"

    def __init__(
        self,
        *,
        task_hub: str = "TestHubName",
        connection_name: str = "Storage",
        system_key: str | None = None,
        orchestrators: Iterable[str] | None = None,
    ) -> None:
        """Configure the fake; ``orchestrators`` (if given) enables the unknown-function 400."""
        self.task_hub = task_hub
        self.connection_name = connection_name
        # Made fresh per server, like a host's durabletask_extension system key: none lives in the repo.
        self.system_key = system_key or secrets.token_urlsafe(32)
        self._orchestrator_names = list(orchestrators or [])
        self.orchestrators: set[str] | None = (
            None if orchestrators is None else {name.lower() for name in self._orchestrator_names}
        )
        self.latency_seconds = 0.0
        self.race_window_seconds = 0.0
        self.storage_op_seconds = 0.0
        self.storage_ops: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()
        self.accepted_starts = 0
        self.effective_starts: list[tuple[str, str, Any]] = []
        # Every start that passed the dedupe check had its ExecutionStarted message queued
        # *before* the tracking write, including quiet losers: (id, name, input, executionId).
        self.enqueued_starts: list[tuple[str, str, Any, str]] = []
        self.raised_events: list[tuple[str, str, Any]] = []
        # Every request's kind and headers (names in lower case), in arrival order: LocalHttpListener runs on
        # ASP.NET Core, which reads a W3C traceparent into the request's Activity, the parent of what it starts.
        self.received_headers: list[tuple[str, dict[str, str]]] = []
        # Looked up at each call, so that a test may replace _now to freeze or step the rows' times.
        self._clock = LoopScheduler(lambda: self._now())
        self.world = World(self._clock, "standin", STANDIN_FAULTS, epoch=POSIX_EPOCH)
        self._faults: dict[str, collections.deque[list[Any]]] = collections.defaultdict(collections.deque)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._stopping = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind 127.0.0.1 on an OS-chosen port, like the extension's LocalHttpListener."""
        if self._runner is not None:
            return
        self._stopping = asyncio.Event()
        self._clock.bind(asyncio.get_running_loop())
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # Kestrel does not stop a handler whose client went away: a start whose caller hung up still lands.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0, handler_cancellation=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Release hanging requests first so shutdown is prompt, then close the server."""
        self._stopping.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._clock.bind(None)

    @property
    def port(self) -> int:
        """Port the server listens on (only valid after ``start``)."""
        if self._port is None:
            raise RuntimeError("DurableStandin.start() has not been awaited")
        return self._port

    @property
    def rpc_base_url(self) -> str:
        """Same shape as LocalHttpListener.InternalRpcUri (note the trailing slash)."""
        return f"http://127.0.0.1:{self.port}{self.RPC_PATH}"

    def starter_binding(self, *, public_base_url: str = "http://localhost:7071") -> str:
        """JSON the host hands to a ``durableClient`` binding (BindingHelper, HTTP RPC protocol)."""
        base_url = public_base_url.rstrip("/") + self.WEBHOOK_PATH
        required_query = f"code={self.system_key}"
        creation_prefix = f"{base_url}/orchestrators/{{functionName}}[/{{instanceId}}]"
        payload = {
            "taskHubName": self.task_hub,
            "connectionName": None,
            "creationUrls": {
                "createNewInstancePostUri": f"{creation_prefix}?{required_query}",
                "createAndWaitOnNewInstancePostUri": (
                    f"{creation_prefix}?timeout={{timeoutInSeconds}}"
                    f"&pollingInterval={{intervalInSeconds}}&{required_query}"
                ),
            },
            "managementUrls": self._management_urls(base_url, "INSTANCEID", self.task_hub, include_rewind=True),
            "baseUrl": base_url,
            "requiredQueryStringParameters": required_query,
            "rpcBaseUrl": self.rpc_base_url,
            "httpBaseUrl": None,
        }
        return json.dumps(payload)

    # ------------------------------------------------------------------ test controls

    @property
    def queue_delay_seconds(self) -> float:
        """How long a control-queue message (terminate, event, suspend, resume and, with ``run_seconds``,
        ExecutionStarted) waits before it is processed; 0 (the default) processes it before the 202 is sent.
        Such a message carries no execution ID: it reaches whichever execution is current when processed."""
        return self.world.faults.queue_delay[0]

    @queue_delay_seconds.setter
    def queue_delay_seconds(self, seconds: float) -> None:
        self.world.faults = replace(self.world.faults, queue_delay=(seconds, seconds))

    @property
    def run_seconds(self) -> float | None:
        """None (the default): no worker runs orchestrations, a started instance stays Pending. Else each started
        instance is picked up (Running) and completes by itself this many seconds later. Rows put with
        ``add_instance`` never end by themselves."""
        faults = self.world.faults
        return faults.run_time[0] if faults.starts_run else None

    @run_seconds.setter
    def run_seconds(self, seconds: float | None) -> None:
        faults = self.world.faults
        run_time = faults.run_time if seconds is None else (seconds, seconds)
        self.world.faults = replace(faults, starts_run=seconds is not None, run_time=run_time)

    def add_instance(
        self,
        instance_id: str,
        name: str,
        runtime_status: str,
        input: Any = None,
        *,
        output: Any = None,
        custom_status: Any = None,
        created_time: datetime | None = None,
    ) -> None:
        """Seed (or overwrite) an instance row directly, bypassing the start path: a new execution."""
        self._check_status_name(runtime_status)
        self.world.put_instance(
            instance_id,
            name,
            runtime_status,
            input,
            tag="test",
            output=output,
            custom_status=custom_status,
            created_at=None if created_time is None else created_time.timestamp(),
        )

    def set_status(
        self,
        instance_id: str,
        runtime_status: str,
        *,
        output: Any = None,
        custom_status: Any = None,
    ) -> None:
        """Play the orchestration worker: move a row to a new status (changes its ETag).

        ``output``/``custom_status`` are only overwritten when not None.
        """
        self._check_status_name(runtime_status)
        if instance_id not in self.world.rows:
            raise KeyError(f"no instance {instance_id!r}")
        self.world.move_instance(instance_id, runtime_status, output=output, custom_status=custom_status)

    def instance(self, instance_id: str) -> dict[str, Any] | None:
        """Copy of the current row once every message due has been processed (times are full-precision aware
        UTC datetimes)."""
        self._clock.run_due()
        row = self.world.rows.get(instance_id)
        if row is None:
            return None
        return {
            "name": row.name,
            "instanceId": instance_id,
            "input": row.input,
            "runtimeStatus": row.status,
            "createdTime": self._wall(row.created_at),
            "lastUpdatedTime": self._wall(row.updated_at),
            "output": row.output,
            "customStatus": row.custom_status,
            "executionId": row.execution_id,
        }

    def row(self, instance_id: str) -> dict[str, Any]:
        """Copy of the current row of an instance that must exist; fails the test when there is none."""
        record = self.instance(instance_id)
        assert record is not None, f"no instance {instance_id!r}"
        return record

    def inject_fault(self, kind: str, mode: str, *, times: int = 1) -> None:
        """Queue a fault for the next ``times`` requests of ``kind`` (consumed in order).

        Modes: error (a 500 with an exception, nothing applied), timeout (hang, then close), drop (close
        before handling), drop_after and error_after (start only: after the start was handled), and
        empty_500 (any route: LocalHttpListener's bodiless 500 when the handler throws).
        """
        if kind not in self.FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if mode not in self.FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}")
        if mode in ("drop_after", "error_after") and kind != "start":
            raise ValueError(f"{mode!r} is only meaningful for 'start'")
        if times < 1:
            raise ValueError("times must be >= 1")
        self._faults[kind].append([mode, times])

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self._faults.clear()

    def reset(self) -> None:
        """Forget instances, queued messages, counters, events and faults; every control back to its default."""
        self._clock.clear()
        self.world = World(self._clock, "standin", STANDIN_FAULTS, epoch=POSIX_EPOCH)
        self.calls.clear()
        self.storage_ops.clear()
        self.storage_op_seconds = 0.0
        self.accepted_starts = 0
        self.effective_starts.clear()
        self.enqueued_starts.clear()
        self.raised_events.clear()
        self.received_headers.clear()
        self.clear_faults()
        self.latency_seconds = 0.0
        self.race_window_seconds = 0.0
        # Let requests still hanging on a "timeout" fault end (by a drop) instead of
        # lingering into the next test on a shared server.
        self._stopping.set()
        self._stopping = asyncio.Event()

    # ------------------------------------------------------------------ the model

    @staticmethod
    def _now() -> datetime:
        """The wall clock the model's rows are stamped with."""
        return datetime.now(UTC)

    @staticmethod
    def _wall(seconds: float) -> datetime:
        """A model time (POSIX seconds) as a UTC datetime."""
        return datetime.fromtimestamp(seconds, UTC)

    def _check_status_name(self, runtime_status: str) -> None:
        if runtime_status not in self.RUNTIME_STATUSES:
            raise ValueError(f"unknown runtime status {runtime_status!r}")

    async def _storage_op(self, kind: str) -> None:
        """One storage round trip of an API call of ``kind``: counted, and waited for when charged."""
        self.storage_ops[kind] += 1
        if self.storage_op_seconds > 0:
            await asyncio.sleep(self.storage_op_seconds)

    def _command(
        self, kind: str, instance_id: str, *, reason: Any = None, data: Any = None, event_name: str | None = None
    ) -> None:
        """Queue a management message, with no execution ID, for the instance the handler read."""
        row = self.world.rows.get(instance_id)
        now = self._clock.now()
        self.world.send_command(
            Message(
                kind,
                instance_id,
                TAG,
                now,
                decided_at=now,
                addressed=None if row is None else row.execution_id,
                addressed_name=None if row is None else row.name,
                reason=reason,
                data=data,
                event_name=event_name,
            )
        )

    # ------------------------------------------------------------------ wire helpers

    @staticmethod
    def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        """Newtonsoft-style compact JSON with the content type the extension sends."""
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        response = web.Response(status=status, text=text, headers=headers)
        response.headers["Content-Type"] = DurableStandin._JSON_TYPE
        return response

    @classmethod
    def _error(cls, status: int, message: str, exception_message: str, exception_type: str) -> web.Response:
        """HttpRequestMessageExtensions.CreateErrorResponse(status, message, exception)."""
        body = {
            "Message": message,
            "ExceptionMessage": exception_message,
            "ExceptionType": exception_type,
            "StackTrace": None,
        }
        return cls._json_response(status, body)

    @staticmethod
    def _empty(status: int, headers: dict[str, str] | None = None) -> web.Response:
        """request.CreateResponse(status): no content at all."""
        return web.Response(status=status, headers=headers)

    @staticmethod
    def _parse_jtoken(raw: str | None) -> Any:
        """DurableClient.ParseToJToken: JSON when it parses, else the raw string."""
        if raw is None:
            return None
        stripped = raw.strip()
        if not stripped:
            return ""
        try:
            return json.loads(stripped)
        except ValueError:
            return raw

    def _management_urls(
        self, base_url: str, instance_id: str, task_hub: str, *, include_rewind: bool
    ) -> dict[str, str]:
        """HttpApiHandler.GetClientResponseLinks (rewind only in the binding payload)."""
        return management_urls(
            base_url, instance_id, task_hub, self.connection_name, self.system_key, include_rewind=include_rewind
        )

    def _status_payload(self, record: dict[str, Any], show_input: bool) -> dict[str, Any]:
        """HttpApiHandler.ConvertFrom -> StatusResponsePayload (input null if hidden)."""
        return {
            "name": record["name"],
            "instanceId": record["instanceId"],
            "runtimeStatus": record["runtimeStatus"],
            "input": record["input"] if show_input else None,
            "customStatus": record["customStatus"],
            "output": record["output"],
            "createdTime": wire_time(record["createdTime"].timestamp(), POSIX_EPOCH),
            "lastUpdatedTime": wire_time(record["lastUpdatedTime"].timestamp(), POSIX_EPOCH),
        }

    @staticmethod
    def _query(request: web.Request) -> dict[str, str]:
        """GetQueryNameValuePairs: form-decoded, case-insensitive names."""
        pairs = parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True)
        result: dict[str, str] = {}
        for name, value in pairs:
            result.setdefault(name.lower(), value.strip())
        return result

    @staticmethod
    def _bool_param(query: dict[str, str], name: str, default: bool) -> bool:
        """bool.TryParse semantics: only true/false (any case) count."""
        value = query.get(name.lower(), "").lower()
        if value in ("true", "false"):
            return value == "true"
        return default

    # ------------------------------------------------------------------ dispatch

    def _route(self, request: web.Request) -> tuple[str, Callable[[], Awaitable[web.StreamResponse]]]:
        """HttpApiHandler.HandleRequestAsync routing on the URL-decoded path."""
        raw_path = request.rel_url.raw_path
        if not raw_path.startswith(self.RPC_PATH):
            return "unknown", self._not_found
        path = self.route_path(raw_path[len(self.RPC_PATH) :])
        segments = path.split("/") if path else []
        method = request.method.upper()
        head = segments[0].lower() if segments else ""

        if head == "orchestrators" and len(segments) in (2, 3) and segments[1]:
            if method != "POST":
                return "start", self._not_found
            instance_id = segments[2] if len(segments) == 3 else ""
            return "start", lambda: self._handle_start(request, segments[1], instance_id)

        if head == "instances" and len(segments) == 1:
            if method == "GET":
                return "list", lambda: self._handle_list(request)
            if method == "DELETE":
                return "purge", self._not_modelled
            return "list", self._not_found

        if head == "instances" and len(segments) == 2 and segments[1]:
            instance_id = segments[1]
            if method == "GET":
                return "status", lambda: self._handle_status(request, instance_id)
            if method == "DELETE":
                return "purge", lambda: self._handle_purge(instance_id)
            return "status", self._not_found

        if head == "instances" and len(segments) == 3 and segments[1] and method == "POST":
            instance_id, operation = segments[1], segments[2].lower()
            if operation == "terminate":
                return "terminate", lambda: self._handle_terminate(request, instance_id)
            if operation == "suspend":
                return "suspend", lambda: self._handle_suspend(request, instance_id, suspend=True)
            if operation == "resume":
                return "resume", lambda: self._handle_suspend(request, instance_id, suspend=False)
            if operation in ("rewind", "restart"):
                return operation, self._not_modelled

        if (
            head == "instances"
            and len(segments) == 4
            and segments[1]
            and segments[2].lower() == "raiseevent"
            and segments[3]
        ):
            if method != "POST":
                return "raise_event", self._not_found
            instance_id, event_name = segments[1], segments[3]
            return "raise_event", lambda: self._handle_raise_event(request, instance_id, event_name)

        if head in ("entities", "makeprimary"):
            return head, self._not_modelled
        return "unknown", self._not_found

    @staticmethod
    def route_path(raw_path: str) -> str:
        """The path HttpApiHandler matches its route templates on, from the raw request path.

        Kestrel decodes the path except %2F; the Web API shim (HttpRequestMessageFeature) rebuilds
        the URI from PathString.ToUriComponent, which keeps valid %XX escapes as they are;
        HttpApiHandler.HandleRequestAsync then runs WebUtility.UrlDecode on the URI's AbsolutePath
        (every %XX, and '+' as a space), and passing that string to TemplateMatcher.TryMatch converts
        it with PathString.FromUriComponent, which decodes %XX except %2F once more.
        """
        kestrel = "%2F".join(unquote(part, errors="replace") for part in _split_encoded_slash(raw_path))
        url_decoded = unquote_plus(kestrel, errors="replace")
        return "%2F".join(unquote(part, errors="replace") for part in _split_encoded_slash(url_decoded)).strip("/")

    def _take_fault(self, kind: str) -> str | None:
        queue = self._faults.get(kind)
        if not queue:
            return None
        entry = queue[0]
        entry[1] -= 1
        if entry[1] <= 0:
            queue.popleft()
        return str(entry[0])

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        """Close the TCP connection without writing a status line."""
        if request.transport is not None:
            request.transport.close()
        # Nothing can be written any more; aiohttp discards this response.
        return web.Response(status=500)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        kind, handler = self._route(request)
        self.calls[kind] += 1
        self.received_headers.append((kind, {name.lower(): value for name, value in request.headers.items()}))
        if self.latency_seconds > 0:
            await asyncio.sleep(self.latency_seconds)
        fault = self._take_fault(kind)
        if fault == "error":
            return self._error(
                500,
                self._ERROR_MESSAGE,
                f"Injected {kind} failure (nothing was applied).",
                "DurableTask.AzureStorage.Storage.DurableTaskStorageException",
            )
        if fault == "timeout":
            try:
                await asyncio.wait_for(self._stopping.wait(), self.HANG_SECONDS)
            except TimeoutError:
                pass
            return self._drop(request)
        if fault == "drop":
            return self._drop(request)
        if fault == "empty_500":
            return self._empty(500)
        response = await handler()
        # Messages due now (all of them, with no queue delay) are processed before the answer goes out.
        self._clock.run_due()
        if fault == "drop_after":
            return self._drop(request)
        if fault == "error_after":
            return self._error(
                500,
                self._ERROR_MESSAGE,
                f"Injected {kind} failure after the operation was applied.",
                "DurableTask.AzureStorage.Storage.DurableTaskStorageException",
            )
        if kind == "start" and response.status == 202:
            self.accepted_starts += 1
        return response

    # ------------------------------------------------------------------ handlers

    async def _not_found(self) -> web.StreamResponse:
        return self._empty(404)

    async def _not_modelled(self) -> web.StreamResponse:
        return self._json_response(501, {"Message": "This route is not modelled by the stand-in."})

    async def _handle_status(self, request: web.Request, instance_id: str) -> web.StreamResponse:
        """HandleGetStatusRequestAsync: 404 (empty) / 202 running-ish / 200 finished."""
        query = self._query(request)
        show_input = self._bool_param(query, "showInput", True)
        show_history = self._bool_param(query, "showHistory", False)
        fail_500 = self._bool_param(query, "returnInternalServerErrorOnFailure", False)
        await self._storage_op("status")
        self._clock.run_due()
        answer = self.world.status_answer(
            instance_id, with_input=show_input, fail_500=fail_500, with_history=show_history
        )
        if answer.body is None:
            return self._empty(404)
        payload = dict(answer.body)
        headers: dict[str, str] = {}
        if answer.status == 202:
            headers["Location"] = str(request.url)
            headers["Retry-After"] = "5"
        return self._json_response(answer.status or 500, payload, headers)

    async def _handle_list(self, request: web.Request) -> web.StreamResponse:
        """HandleGetStatusRequestAsync(all): instanceIdPrefix / runtimeStatus filters only."""
        query = self._query(request)
        show_input = self._bool_param(query, "showInput", True)
        prefix = query.get("instanceidprefix", "")
        wanted = {s.strip() for s in query.get("runtimestatus", "").split(",") if s.strip()}
        records = [self.instance(instance_id) for instance_id in list(self.world.rows)]
        results = [
            self._status_payload(record, show_input)
            for record in records
            if record is not None
            and record["instanceId"].startswith(prefix)
            and (not wanted or record["runtimeStatus"] in wanted)
        ]
        return self._json_response(200, results)

    async def _handle_purge(self, instance_id: str) -> web.StreamResponse:
        """HandleDeleteHistoryByIdRequestAsync: 404 unknown, else delete in any state."""
        if not self.world.purge(instance_id):
            return self._empty(404)
        return self._json_response(200, {"instancesDeleted": 1})

    async def _handle_terminate(self, request: web.Request, instance_id: str) -> web.StreamResponse:
        """HandleTerminateInstanceRequestAsync: 404 / 410 finished, then DurableClient.TerminateAsync's own read
        (400 gone, 500 not running), then 202 once the terminate message is queued."""
        await self._storage_op("terminate")
        refused = self.world.command_refusal(instance_id)
        if refused is not None:
            return self._empty(refused)
        reason = self._parse_jtoken(self._query(request).get("reason"))
        await self._storage_op("terminate")
        problem = self.world.client_read_refusal("terminate", instance_id)
        if problem is not None:
            return self._answer(problem)
        await self._storage_op("terminate")
        self._command("terminate", instance_id, reason=reason)
        return self._empty(202)

    async def _handle_suspend(self, request: web.Request, instance_id: str, *, suspend: bool) -> web.StreamResponse:
        """Suspend/Resume handlers: 404 / 410 finished, then DurableClient's read (400 gone, 500 wrong state), then
        202 once the message is queued."""
        refused = self.world.command_refusal(instance_id)
        if refused is not None:
            return self._empty(refused)
        verb = "suspend" if suspend else "resume"
        problem = self.world.client_read_refusal(verb, instance_id)
        if problem is not None:
            return self._answer(problem)
        reason = self._parse_jtoken(self._query(request).get("reason"))
        self._command(verb, instance_id, reason=reason)
        return self._empty(202)

    async def _handle_raise_event(self, request: web.Request, instance_id: str, event_name: str) -> web.StreamResponse:
        """HandleRaiseEventRequestAsync: 404 / 410 finished / 400 non-JSON, then DurableClient's read (400 gone,
        500 not running), then 202 once the event is queued."""
        await self._storage_op("raise_event")
        refused = self.world.command_refusal(instance_id)
        if refused is not None:
            return self._empty(refused)
        if request.content_type.lower() != "application/json":
            return self._json_response(400, {"Message": "Only application/json request content is supported"})
        text = await request.text()
        try:
            data = self._parse_event_data(text)
        except ValueError as exc:
            return self._error(400, "Invalid JSON content", str(exc), "Newtonsoft.Json.JsonReaderException")
        await self._storage_op("raise_event")
        problem = self.world.client_read_refusal("event", instance_id, event_name)
        if problem is not None:
            return self._answer(problem)
        await self._storage_op("raise_event")
        self._command("event", instance_id, data=data, event_name=event_name)
        self.raised_events.append((instance_id, event_name, data))
        return self._empty(202)

    @staticmethod
    def _parse_event_data(text: str) -> Any:
        return json.loads(text) if text.strip() else None

    async def _handle_start(self, request: web.Request, function_name: str, instance_id: str) -> web.StreamResponse:
        """HandleStartOrchestratorRequestAsync -> DurableClient.StartNewAsync -> DTFx create."""
        body = await request.text()
        try:
            input_value = json.loads(body) if body.strip() else None
        except ValueError as exc:
            return self._error(400, "Invalid JSON content", str(exc), "Newtonsoft.Json.JsonReaderException")

        argument_error = self._validate_start(function_name, instance_id)
        if argument_error is not None:
            return self._error(400, self._BAD_ARGS_MESSAGE, argument_error, "System.ArgumentException")
        if not instance_id:
            instance_id = uuid.uuid4().hex  # Guid.NewGuid().ToString("N")

        # AzureStorageOrchestrationService.CreateTaskOrchestrationAsync, one model step per storage call.
        create = Create(TAG, instance_id, function_name, input_value)
        await self._storage_op("start")
        existing = self.world.create_read(create)
        if existing is not None:
            return self._answer(already_exists_answer(existing.status))
        await self._storage_op("start")
        message = self.world.create_enqueue(create)
        self.enqueued_starts.append((instance_id, function_name, input_value, str(message.execution_id)))
        if self.race_window_seconds > 0:
            await asyncio.sleep(self.race_window_seconds)
        await self._storage_op("start")
        # AzureTableTrackingStore.SetNewExecutionAsync: a lost ETag condition is swallowed (202, the input
        # dropped); a row deleted since the read surfaces as the replace's 404.
        written = self.world.create_write(create)
        if written is None:
            return self._error(
                500,
                self._ERROR_MESSAGE,
                "The specified resource does not exist.",
                STORAGE_EXCEPTION,
            )
        if written:
            self.effective_starts.append((instance_id, function_name, input_value))
        return self._check_status_response(request, instance_id)

    def _answer(self, answer: Answer) -> web.Response:
        """An answer of the model's extension, with its JSON body (or none)."""
        if answer.body is None:
            return self._empty(answer.status or 500)
        return self._json_response(answer.status or 500, answer.body)

    def _validate_start(self, function_name: str, instance_id: str) -> str | None:
        """ThrowIfFunctionDoesNotExist + StartNewAsync instance-ID checks (ArgumentException)."""
        if self.orchestrators is not None and function_name.lower() not in self.orchestrators:
            message = (
                f"The function '{function_name}' doesn't exist, is disabled, or is not an "
                "orchestrator function. Additional info: "
            )
            if self._orchestrator_names:
                known = "', '".join(self._orchestrator_names)
                message += f"The following are the known orchestrator functions: '{known}'."
            else:
                message += "No orchestrator functions are currently registered!"
            return message
        if not instance_id:
            return None
        # The extension passes its text as paramName, so .NET renders it this way.
        if instance_id.startswith("@"):
            return "instanceId (Parameter 'Orchestration instance ids must not start with @.')"
        if any(c in "/\\?#" or self._is_control(c) for c in instance_id):
            return (
                "instanceId (Parameter 'Orchestration instance ids must not contain "
                "/, \\, #, ?, or control characters.')"
            )
        if len(instance_id.encode("utf-16-le")) // 2 > self.MAX_INSTANCE_ID_LENGTH:
            return f"Instance ID lengths must not exceed {self.MAX_INSTANCE_ID_LENGTH} characters."
        return None

    @staticmethod
    def _is_control(char: str) -> bool:
        """char.IsControl: U+0000-U+001F and U+007F-U+009F."""
        code = ord(char)
        return code < 0x20 or 0x7F <= code <= 0x9F

    def _check_status_response(self, request: web.Request, instance_id: str) -> web.Response:
        """CreateCheckStatusResponse built from the RPC request: its authority + webhook path."""
        query = self._query(request)
        task_hub = query.get("taskhub") or self.task_hub
        origin = f"{request.url.scheme}://{request.url.raw_authority}"
        urls = self._management_urls(origin + self.WEBHOOK_PATH, instance_id, task_hub, include_rewind=False)
        headers = {"Location": urls["statusQueryGetUri"], "Retry-After": "10"}
        return self._json_response(202, urls, headers)


def _split_encoded_slash(path: str) -> list[str]:
    """The path cut at every %2F, which Kestrel and PathString leave encoded."""
    return re.split("%2[Ff]", path)
