"""What a singleton start costs next to the check-then-start sample, with the real backend's storage costs.

Runs HttpStartSingle in-process, as the worker calls it, against a private Azurite and the Durable API
stand-in on loopback. Every storage operation costs the same latency on both sides: the stand-in
charges it per storage operation of each API call, and a delay proxy in front of Azurite's blob port
charges it per blob request. The stand-in and the proxy run in a child process, so the CPU figures are
the app's own. Prints a table and writes the same figures as JSON.

    python -m bench.run [--storage-ms 5] [--requests 100] [--rounds 5] [--out PATH] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import platform
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.durable_functions import DurableOrchestrationClient
from azure.durable_functions.models.utils import http_utils
from azure.storage.blob.aio import BlobServiceClient

from bench.backends import Backends
from bench.figures import Measured, render, targets
from bench.profiling import write_profile
from singleton_start.endpoint import storage_options
from tests.support.azurite import Azurite
from tests.support.naive_start import naive_main
from tests.support.worker import LoadedFunction, invoke, load_function, start_request

ORCHESTRATOR = "SingletonOrchestrator"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"
PROFILE_NAME = "profile-fresh-start.txt"
SPREAD_PER_ID = 4  # concurrent POSTs for each of the IDs started at once

Handler = Callable[[func.HttpRequest, str], Awaitable[func.HttpResponse]]
Post = tuple[str, str | None]  # instance ID, Idempotency-Key


@dataclass(frozen=True)
class Options:
    storage_ms: float
    requests: int
    rounds: int
    storm_size: int
    spread_ids: int
    profile_starts: int
    warmup: int
    timeout_seconds: float
    out: Path


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage-ms", type=float, default=5.0, help="latency of one storage operation")
    parser.add_argument("--requests", type=int, help="requests in each one-at-a-time scenario (default 100; quick 5)")
    parser.add_argument("--rounds", type=int, help="rounds of each concurrent scenario (default 5; quick 1)")
    parser.add_argument("--storm-size", type=int, default=50, help="concurrent POSTs for one new ID")
    parser.add_argument("--spread-ids", type=int, default=50, help=f"IDs started at once, each POSTed {SPREAD_PER_ID}x")
    parser.add_argument("--profile-starts", type=int, help="fresh starts profiled (default 20; quick 3)")
    parser.add_argument("--timeout", type=float, default=600.0, help="hard limit on the whole run, in seconds")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON figures")
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    args = parser.parse_args(argv)
    requests = args.requests if args.requests is not None else (5 if args.quick else 100)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 5)
    profile_starts = args.profile_starts if args.profile_starts is not None else (3 if args.quick else 20)
    if min(requests, rounds, args.storm_size, args.spread_ids, profile_starts) < 1 or args.storage_ms < 0:
        parser.error("counts must be positive, the storage latency not negative")
    if args.timeout <= 0:
        parser.error("the timeout must be positive")
    return Options(
        storage_ms=args.storage_ms,
        requests=requests,
        rounds=rounds,
        storm_size=args.storm_size,
        spread_ids=args.spread_ids,
        profile_starts=profile_starts,
        warmup=3 if args.quick else 20,
        timeout_seconds=args.timeout,
        out=args.out,
    )


def new_id(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:12]}"


def keyed(instance_ids: Sequence[str], with_key: bool) -> list[Post]:
    """One key per distinct ID: the POSTs for one ID are retries of one request."""
    keys = {instance_id: f"key-{uuid.uuid4().hex}" for instance_id in instance_ids}
    return [(instance_id, keys[instance_id] if with_key else None) for instance_id in instance_ids]


class Bench:
    """The app and the naive sample on one set of backends, measured scenario by scenario."""

    def __init__(self, options: Options, backends: Backends, app: LoadedFunction) -> None:
        self.options = options
        self.backends = backends
        self.app = app
        self.starter = backends.endpoints.starter

    async def app_handler(self, req: func.HttpRequest, starter: str) -> func.HttpResponse:
        response: func.HttpResponse = await invoke(self.app, req=req, starter=starter)
        return response

    async def counts(self) -> dict[str, Any]:
        """The backends' counts, once the app's lease releases still on their way have reached storage."""
        await self.app.module.endpoint.locks.drain()
        return self.backends.counts()

    def clear(self) -> None:
        """No instances and no counts from the scenario before."""
        self.backends.reset()
        gc.collect()

    async def post(self, handler: Handler, post: Post, measured: Measured) -> None:
        instance_id, key = post
        headers = {"Content-Type": "application/json"} | ({"Idempotency-Key": key} if key else {})
        request = start_request(ORCHESTRATOR, instance_id, json.dumps({"requestedBy": "bench"}).encode(), headers)
        began = time.perf_counter()
        try:
            status = (await handler(request, self.starter)).status_code
        except Exception:  # noqa: BLE001 - the worker answers an unhandled exception with a 500
            status = 500
        measured.latencies.append(time.perf_counter() - began)
        measured.statuses[status] += 1

    async def one_at_a_time(self, handler: Handler, posts: Sequence[Post]) -> Measured:
        measured = Measured()
        began, cpu_began = time.perf_counter(), time.process_time()
        for post in posts:
            await self.post(handler, post, measured)
        measured.walls.append(time.perf_counter() - began)
        measured.cpu_seconds += time.process_time() - cpu_began
        measured.counts = await self.counts()
        return measured

    async def burst(self, handler: Handler, posts: Sequence[Post], measured: Measured) -> None:
        """All the POSTs at once; the round lasts until the last one has answered."""
        began, cpu_began = time.perf_counter(), time.process_time()
        await asyncio.gather(*(self.post(handler, post, measured) for post in posts))
        measured.walls.append(time.perf_counter() - began)
        measured.cpu_seconds += time.process_time() - cpu_began

    async def warm_up(self) -> None:
        """Open connection pools, create the lock container and import lazily loaded code."""
        self.clear()
        for handler in (self.app_handler, naive_main):
            for with_key in (False, True):
                await self.one_at_a_time(handler, keyed([new_id("warm") for _ in range(self.options.warmup)], with_key))
                await self.burst(handler, keyed([new_id("warm") for _ in range(4)] * 10, with_key), Measured())

    async def fresh(self, handler: Handler, with_key: bool = False) -> dict[str, Any]:
        """One new ID after another."""
        self.clear()
        posts = keyed([new_id("fresh") for _ in range(self.options.requests)], with_key)
        return (await self.one_at_a_time(handler, posts)).summary()

    async def restart(self, handler: Handler, with_key: bool = False) -> dict[str, Any]:
        """One Completed ID after another: the ended instance is replaced."""
        self.clear()
        instance_ids = [new_id("ended") for _ in range(self.options.requests)]
        self.backends.seed((instance_id, "Completed") for instance_id in instance_ids)
        return (await self.one_at_a_time(handler, keyed(instance_ids, with_key))).summary()

    async def duplicate(self, handler: Handler, with_key: bool = False) -> dict[str, Any]:
        """POSTs, one after another, for an ID whose instance is running."""
        self.clear()
        instance_id = new_id("running")
        self.backends.seed([(instance_id, "Running")])
        posts = [(instance_id, f"key-{uuid.uuid4().hex}" if with_key else None) for _ in range(self.options.requests)]
        return (await self.one_at_a_time(handler, posts)).summary()

    async def concurrent(self, handler: Handler, ids: int, per_id: int, with_key: bool) -> dict[str, Any]:
        """Rounds of concurrent POSTs over new IDs, the POSTs for one ID side by side as retries come."""
        self.clear()
        measured = Measured(ids=ids * self.options.rounds)
        for _ in range(self.options.rounds):
            instance_ids = [new_id("burst") for _ in range(ids)]
            await self.burst(handler, keyed([each for each in instance_ids for _ in range(per_id)], with_key), measured)
        measured.counts = await self.counts()
        return measured.summary()

    async def storm(self, handler: Handler, with_key: bool = False) -> dict[str, Any]:
        return await self.concurrent(handler, 1, self.options.storm_size, with_key)

    async def spread(self, handler: Handler, with_key: bool = False) -> dict[str, Any]:
        return await self.concurrent(handler, self.options.spread_ids, SPREAD_PER_ID, with_key)

    async def scenarios(self) -> dict[str, dict[str, Any]]:
        app, naive = self.app_handler, naive_main
        return {
            "fresh_app": await self.fresh(app),
            "fresh_naive": await self.fresh(naive),
            "restart_app": await self.restart(app),
            "restart_naive": await self.restart(naive),
            "duplicate_app": await self.duplicate(app),
            "duplicate_naive": await self.duplicate(naive),
            "storm_app": await self.storm(app),
            "storm_naive": await self.storm(naive),
            "spread_app": await self.spread(app),
            "spread_naive": await self.spread(naive),
            "fresh_keyed_app": await self.fresh(app, with_key=True),
            "restart_keyed_app": await self.restart(app, with_key=True),
            "duplicate_keyed_app": await self.duplicate(app, with_key=True),
            "storm_keyed_app": await self.storm(app, with_key=True),
            "spread_keyed_app": await self.spread(app, with_key=True),
        }

    async def call_costs(self, direct_blob: str, proxied_blob: str) -> dict[str, float]:
        """Time and CPU of one storage call alone, to read the scenarios by: a status read, a blob read with and
        without the proxy's latency (the latter is Azurite's and the storage SDK's own time)."""
        self.clear()
        client = DurableOrchestrationClient(self.starter)
        costs = await mean_cost(lambda: client.get_status(new_id("absent")), self.options.requests)
        figures = {"status_read_ms": costs[0], "status_read_cpu_ms": costs[1]}
        for name, connection_string in (("blob_read", proxied_blob), ("blob_read_direct", direct_blob)):
            # With the app's own client options, so the CPU figure is what one of the app's blob calls costs.
            options = storage_options(os.environ)
            async with BlobServiceClient.from_connection_string(connection_string, **options) as service:
                container = service.get_container_client("bench-costs")
                await container.create_container()
                costs = await mean_cost(container.get_container_properties, self.options.requests)
                await container.delete_container()
            figures |= {f"{name}_ms": costs[0], f"{name}_cpu_ms": costs[1]}
        return figures

    async def profile(self, path: Path) -> dict[str, Any]:
        """CPU profile of fresh starts through the app, one at a time."""
        self.clear()
        starts = self.options.profile_starts
        profiler = cProfile.Profile()
        measured = Measured()
        cpu_began = time.process_time()
        profiler.enable()
        for post in keyed([new_id("profile") for _ in range(starts)], False):
            await self.post(self.app_handler, post, measured)
        profiler.disable()
        cpu_seconds = time.process_time() - cpu_began
        blob_ops = sum((await self.counts())["blob"].values())
        return write_profile(profiler, starts, cpu_seconds, blob_ops, path)


async def mean_cost(call: Callable[[], Awaitable[object]], count: int) -> tuple[float, float]:
    """Mean wall and CPU milliseconds of ``count`` calls, one after another, after one to warm up."""
    await call()
    began, cpu_began = time.perf_counter(), time.process_time()
    for _ in range(count):
        await call()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    return round(wall / count * 1000, 3), round(cpu / count * 1000, 3)


def load_app(connection_string: str) -> LoadedFunction:
    """HttpStartSingle loaded as the worker loads it, with the given AzureWebJobsStorage."""
    previous = os.environ.get("AzureWebJobsStorage")
    os.environ["AzureWebJobsStorage"] = connection_string
    try:
        return load_function("HttpStartSingle")
    finally:
        if previous is None:
            del os.environ["AzureWebJobsStorage"]
        else:
            os.environ["AzureWebJobsStorage"] = previous


async def measure(options: Options, azurite: Azurite, backends: Backends, app: LoadedFunction) -> dict[str, Any]:
    """Call costs, scenarios and profile, in that order, after a warm-up."""
    bench = Bench(options, backends, app)
    proxied_blob = azurite.connection_string_via(backends.endpoints.blob_port)
    await bench.warm_up()
    return {
        "call_costs": await bench.call_costs(azurite.connection_string, proxied_blob),
        "scenarios": await bench.scenarios(),
        "profile": await bench.profile(options.out.with_name(PROFILE_NAME)),
    }


async def run(options: Options) -> dict[str, Any]:
    """One full run: start the servers, measure, write the JSON, print the table; returns the report."""
    began = time.perf_counter()
    azurite = Azurite()
    azurite.start()
    try:
        backends = Backends(azurite.port, options.storage_ms / 1000)
        try:
            app = load_app(azurite.connection_string_via(backends.endpoints.blob_port))
            try:
                async with asyncio.timeout(options.timeout_seconds):
                    measured = await measure(options, azurite, backends, app)
            finally:
                await app.module.endpoint.close()
        finally:
            backends.stop()
    finally:
        azurite.stop()
    spread_requests = options.spread_ids * SPREAD_PER_ID
    report = {
        "settings": {
            **{key: value for key, value in asdict(options).items() if key not in ("out", "timeout_seconds")},
            "spread_per_id": SPREAD_PER_ID,
            "processes": "app or sample in this process; stand-in and blob delay proxy in a child; Azurite apart",
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "run_seconds": round(time.perf_counter() - began, 1),
        },
        **measured,
        "targets": targets(measured["scenarios"], options.storm_size, spread_requests, options.spread_ids),
    }
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(report, indent=2) + "\n")
    print(render(report))
    print(f"\nFigures written to {options.out} ({report['settings']['run_seconds']} s).")
    return report


async def run_alone(options: Options) -> dict[str, Any]:
    try:
        return await run(options)
    finally:
        # The SDK keeps one aiohttp session per process and never closes it; this loop ends here.
        await http_utils._close_session()


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    try:
        asyncio.run(run_alone(options))
    except TimeoutError:
        print(f"The benchmark did not finish within {options.timeout_seconds:g} s (--timeout).", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
