"""What a singleton start costs next to the check-then-start sample, with the real backend's storage costs.

Runs HttpStartSingle in-process, as the worker calls it, against a private Azurite and the Durable API
stand-in on loopback. Every storage operation costs the same latency on both sides: the stand-in
charges it per storage operation of each API call, and a delay proxy in front of Azurite's blob port
charges it per blob request. The stand-in and the proxy run in a child process, so the CPU figures are
the app's own. Every case runs once per side in each of several rounds; a target is judged on the
median of its per-round figures, beside their spread. Prints the tables, one line per missed target
with its cause, and writes the same figures as JSON. docs/benchmark-method.md says how each case is
measured.

    python -m bench.run [--storage-ms 5] [--requests 30] [--rounds 5] [--loads 10] [--out PATH] [--quick] [--check]
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
from bench.causes import missed
from bench.figures import EVENT_BURST, Measured, summary, targets
from bench.loading import measure_loads
from bench.profiling import write_profile
from bench.report import render
from singleton_start.adapters.blob_lease import storage_options
from tests.support.azurite import Azurite
from tests.support.naive_start import naive_main
from tests.support.worker import LoadedFunction, invoke, load_function, route_request, start_request

ORCHESTRATOR = "SingletonOrchestrator"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"
PROFILE_NAME = "profile-fresh-start.txt"
SPREAD_PER_ID = 4  # concurrent POSTs for each of the IDs started at once
DUPLICATE_POSTS = 3  # duplicates per ID, one after another, each ID in turn

Handler = Callable[[func.HttpRequest, str], Awaitable[func.HttpResponse]]
Post = tuple[str, str | None]  # instance ID, Idempotency-Key


@dataclass(frozen=True)
class Options:
    storage_ms: float
    requests: int
    rounds: int
    storm_size: int
    spread_ids: int
    loads: int
    profile_starts: int
    warmup: int
    timeout_seconds: float
    out: Path
    check: bool


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage-ms", type=float, default=5.0, help="latency of one storage operation")
    parser.add_argument("--requests", type=int, help="requests per round of each one-at-a-time case (default 30)")
    parser.add_argument("--rounds", type=int, help="rounds, each running every case once per side (default 5)")
    parser.add_argument("--storm-size", type=int, default=50, help="concurrent POSTs for one new ID")
    parser.add_argument("--spread-ids", type=int, default=50, help=f"IDs started at once, each POSTed {SPREAD_PER_ID}x")
    parser.add_argument("--loads", type=int, help="new processes that load each side's function (default 10)")
    parser.add_argument("--profile-starts", type=int, help="fresh starts profiled (default 20)")
    parser.add_argument("--timeout", type=float, default=900.0, help="hard limit on the whole run, in seconds")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON figures")
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    def count(given: int | None, full: int, quick: int) -> int:
        return given if given is not None else (quick if args.quick else full)

    requests, rounds = count(args.requests, 30, 3), count(args.rounds, 5, 2)
    loads, profile_starts = count(args.loads, 10, 1), count(args.profile_starts, 20, 3)
    if min(requests, rounds, args.storm_size, args.spread_ids, loads, profile_starts) < 1 or args.storage_ms < 0:
        parser.error("counts must be positive, the storage latency not negative")
    if args.timeout <= 0:
        parser.error("the timeout must be positive")
    return Options(
        storage_ms=args.storage_ms,
        requests=requests,
        rounds=rounds,
        storm_size=args.storm_size,
        spread_ids=args.spread_ids,
        loads=loads,
        profile_starts=profile_starts,
        warmup=3 if args.quick else 20,
        timeout_seconds=args.timeout,
        out=args.out,
        check=args.check,
    )


def new_id(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:12]}"


def keyed(instance_ids: Sequence[str], with_key: bool) -> list[Post]:
    """One key per distinct ID: the POSTs for one ID are retries of one request."""
    keys = {instance_id: f"key-{uuid.uuid4().hex}" for instance_id in instance_ids}
    return [(instance_id, keys[instance_id] if with_key else None) for instance_id in instance_ids]


def scenario_name(case: str, side: str, with_key: bool) -> str:
    return f"{case}_{'keyed_' if with_key else ''}{side}"


# The table's order: each case beside the sample's, then the app's keyed variants.
CASES = ("fresh", "restart", "duplicate", "storm", "spread")
SCENARIOS = [scenario_name(case, side, False) for case in CASES for side in ("app", "naive")] + [
    scenario_name(case, "app", True) for case in CASES
]
# The app's event route, to one Running instance: a lone event at a time, then a burst all at once.
EVENT_SCENARIOS = ["event_app", "events_app"]


class Bench:
    """The app and the naive sample on one set of backends, measured case by case, side by side, round by round."""

    def __init__(self, options: Options, backends: Backends, app: LoadedFunction, events: LoadedFunction) -> None:
        self.options = options
        self.backends = backends
        self.app = app
        self.events = events
        self.starter = backends.endpoints.starter
        self.results: dict[str, list[Measured]] = {name: [] for name in SCENARIOS + EVENT_SCENARIOS}

    async def app_handler(self, req: func.HttpRequest, starter: str) -> func.HttpResponse:
        response: func.HttpResponse = await invoke(self.app, req=req, starter=starter)
        return response

    async def counts(self) -> dict[str, Any]:
        """The backends' counts, once the app's lease releases still on their way have reached storage."""
        await self.app.module.endpoint.locks.drain()
        return self.backends.counts()

    def clear(self) -> None:
        """No instances and no counts from the round before."""
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
        """The POSTs one after another; the counts are this scenario's alone."""
        self.backends.recount()
        measured = Measured()
        began, cpu_began = time.perf_counter(), time.process_time()
        for post in posts:
            await self.post(handler, post, measured)
        measured.walls.append(time.perf_counter() - began)
        measured.cpu_seconds += time.process_time() - cpu_began
        measured.counts = await self.counts()
        return measured

    async def burst(self, handler: Handler, posts: Sequence[Post], ids: int) -> Measured:
        """All the POSTs at once; the round lasts until the last one has answered."""
        self.backends.recount()
        measured = Measured(ids=ids)
        began, cpu_began = time.perf_counter(), time.process_time()
        await asyncio.gather(*(self.post(handler, post, measured) for post in posts))
        measured.walls.append(time.perf_counter() - began)
        measured.cpu_seconds += time.process_time() - cpu_began
        measured.counts = await self.counts()
        return measured

    async def lifecycle(self, sides: Sequence[tuple[str, Handler]], with_key: bool, requests: int) -> None:
        """A singleton job's life, for new IDs on each side: a fresh start each, then (once the instances have
        Completed) a restart each through the same side, then (while they run) duplicates, several per ID: they
        cost little, and more of them steady a p50 whose target is a few tenths of a millisecond wide."""
        ids = {side: [new_id("job") for _ in range(requests)] for side, _ in sides}
        everyone = [instance_id for each in ids.values() for instance_id in each]

        async def case(name: str, posts_per_id: int = 1) -> None:
            for side, handler in sides:
                posts = [post for _ in range(posts_per_id) for post in keyed(ids[side], with_key)]
                measured = await self.one_at_a_time(handler, posts)
                self.results[scenario_name(name, side, with_key)].append(measured)

        await case("fresh")
        self.backends.set_status("Completed", everyone)
        await case("restart")
        self.backends.set_status("Running", everyone)
        await case("duplicate", DUPLICATE_POSTS)

    async def concurrent(self, sides: Sequence[tuple[str, Handler]], with_key: bool) -> None:
        """One burst per side of each concurrent case, over new IDs, the POSTs for one ID side by side."""
        for name, ids, per_id in (("storm", 1, self.options.storm_size), ("spread", self.options.spread_ids, 4)):
            for side, handler in sides:
                instance_ids = [new_id("burst") for _ in range(ids)]
                posts = keyed([each for each in instance_ids for _ in range(per_id)], with_key)
                self.results[scenario_name(name, side, with_key)].append(await self.burst(handler, posts, ids))

    async def send_event(self, instance_id: str, n: int, measured: Measured) -> None:
        url = f"http://localhost:7071/api/orchestrators/{ORCHESTRATOR}/{instance_id}/events/Work"
        params = {"functionName": ORCHESTRATOR, "instanceId": instance_id, "eventName": "Work"}
        request = route_request(
            "POST", url, params, json.dumps({"n": n}).encode(), {"Content-Type": "application/json"}
        )
        began = time.perf_counter()
        status = (await invoke(self.events, req=request, starter=self.starter)).status_code
        measured.latencies.append(time.perf_counter() - began)
        measured.statuses[status] += 1

    async def event_cases(self) -> None:
        """Events to one Running instance, started through the app: one at a time, then EVENT_BURST at once."""
        instance_id = new_id("events")
        await self.post(self.app_handler, (instance_id, None), Measured())
        self.backends.set_status("Running", [instance_id])
        for name, concurrent in (("event_app", False), ("events_app", True)):
            self.backends.recount()
            measured = Measured(ids=1 if concurrent else None)
            began, cpu_began = time.perf_counter(), time.process_time()
            if concurrent:
                await asyncio.gather(*(self.send_event(instance_id, n, measured) for n in range(EVENT_BURST)))
            else:
                for n in range(self.options.requests):
                    await self.send_event(instance_id, n, measured)
            measured.walls.append(time.perf_counter() - began)
            measured.cpu_seconds += time.process_time() - cpu_began
            measured.counts = self.backends.counts()
            self.results[name].append(measured)

    async def round(self, number: int) -> None:
        """Every case once per side; the side that goes first alternates, so a drift of the machine falls on both."""
        self.clear()
        sides: list[tuple[str, Handler]] = [("app", self.app_handler), ("naive", naive_main)]
        if number % 2:
            sides.reverse()
        await self.lifecycle(sides, False, self.options.requests)
        await self.concurrent(sides, False)
        await self.lifecycle([("app", self.app_handler)], True, self.options.requests)
        await self.concurrent([("app", self.app_handler)], True)
        await self.event_cases()

    async def warm_up(self) -> None:
        """Open connection pools, create the lock container and import lazily loaded code; nothing is kept."""
        self.clear()
        for handler in (self.app_handler, naive_main):
            for with_key in (False, True):
                await self.one_at_a_time(handler, keyed([new_id("warm") for _ in range(self.options.warmup)], with_key))
                await self.burst(handler, keyed([new_id("warm") for _ in range(4)] * 10, with_key), 4)

    async def scenarios(self) -> dict[str, dict[str, Any]]:
        for number in range(self.options.rounds):
            await self.round(number)
        return {name: summary(rounds) for name, rounds in self.results.items()}

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


def load_app(connection_string: str, name: str = "HttpStartSingle") -> LoadedFunction:
    """A function folder loaded as the worker loads it, with the given AzureWebJobsStorage."""
    previous = os.environ.get("AzureWebJobsStorage")
    os.environ["AzureWebJobsStorage"] = connection_string
    try:
        return load_function(name)
    finally:
        if previous is None:
            del os.environ["AzureWebJobsStorage"]
        else:
            os.environ["AzureWebJobsStorage"] = previous


async def measure(
    options: Options, azurite: Azurite, backends: Backends, app: LoadedFunction, events: LoadedFunction
) -> dict[str, Any]:
    """Call costs, the rounds of scenarios, the profile and the loads, in that order, after a warm-up."""
    bench = Bench(options, backends, app, events)
    proxied_blob = azurite.connection_string_via(backends.endpoints.blob_port)
    await bench.warm_up()
    return {
        "call_costs": await bench.call_costs(azurite.connection_string, proxied_blob),
        "scenarios": await bench.scenarios(),
        "profile": await bench.profile(options.out.with_name(PROFILE_NAME)),
        "loads": await measure_loads(proxied_blob, options.loads),
    }


async def run(options: Options) -> dict[str, Any]:
    """One full run: start the servers, measure, write the JSON, print the tables; returns the report."""
    began = time.perf_counter()
    azurite = Azurite()
    azurite.start()
    try:
        backends = Backends(azurite.port, options.storage_ms / 1000)
        try:
            app = load_app(azurite.connection_string_via(backends.endpoints.blob_port))
            events = load_app(azurite.connection_string_via(backends.endpoints.blob_port), "HttpRaiseEvent")
            try:
                async with asyncio.timeout(options.timeout_seconds):
                    measured = await measure(options, azurite, backends, app, events)
            finally:
                await app.module.endpoint.close()
                await events.module.endpoint.close()
        finally:
            backends.stop()
    finally:
        azurite.stop()
    spread_requests = options.spread_ids * SPREAD_PER_ID
    report = {
        "settings": {
            **{key: value for key, value in asdict(options).items() if key not in ("out", "timeout_seconds", "check")},
            "spread_per_id": SPREAD_PER_ID,
            "event_burst": EVENT_BURST,
            "processes": "app or sample in this process; stand-in and blob delay proxy in a child; Azurite apart",
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "run_seconds": round(time.perf_counter() - began, 1),
        },
        **measured,
        "targets": targets(
            measured["scenarios"],
            measured["loads"],
            options.storage_ms,
            options.storm_size,
            spread_requests,
            options.spread_ids,
        ),
    }
    report["missed"] = missed(report)
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


def exit_code(report: dict[str, Any], check: bool) -> int:
    """A missed target fails the command only when asked to (--check): on a shared machine figures drift."""
    return 1 if check and report["missed"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 1 when the run did not finish, or, with --check, when a target was missed."""
    options = parse_options(argv)
    try:
        report = asyncio.run(run_alone(options))
    except TimeoutError:
        print(f"The benchmark did not finish within {options.timeout_seconds:g} s (--timeout).", file=sys.stderr)
        return 1
    return exit_code(report, options.check)


if __name__ == "__main__":
    sys.exit(main())
