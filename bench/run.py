"""What a singleton start costs next to the check-then-start sample, and what storms of duplicates cost.

Runs HttpStartSingle in-process, as the worker calls it, against a private Azurite and the Durable API
stand-in on loopback; the stand-in waits a fixed latency on every call so that the figures follow round
trips more than this machine's noise. Prints a table and writes the same figures as JSON.

    python -m bench.run [--latency-ms 2] [--requests 200] [--rounds 10] [--out PATH] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import platform
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.durable_functions import DurableOrchestrationClient
from azure.durable_functions.models.utils import http_utils

from tests.support.azurite import Azurite
from tests.support.durable_standin import DurableStandin
from tests.support.naive_start import naive_main
from tests.support.worker import LoadedFunction, invoke, load_function, start_request

ORCHESTRATOR = "SingletonOrchestrator"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"
SPREAD_PER_ID = 4  # (e): concurrent POSTs for each of the IDs started at once

Handler = Callable[[func.HttpRequest, str], Awaitable[func.HttpResponse]]


@dataclass(frozen=True)
class Options:
    latency_ms: float
    race_window_ms: float
    requests: int
    rounds: int
    storm_size: int
    spread_ids: int
    warmup: int
    timeout_seconds: float
    out: Path


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=2.0, help="latency the stand-in adds to each call")
    parser.add_argument(
        "--race-window-ms",
        type=float,
        default=0.0,
        help="stand-in time between a start's duplicate check and its write (0: the check and write are atomic)",
    )
    parser.add_argument("--requests", type=int, help="requests in each sequential scenario (default 200; quick 10)")
    parser.add_argument("--rounds", type=int, help="rounds of each concurrent scenario (default 10; quick 1)")
    parser.add_argument("--storm-size", type=int, default=50, help="concurrent POSTs for one new ID in (d)")
    parser.add_argument("--spread-ids", type=int, default=50, help=f"IDs in (e), each POSTed {SPREAD_PER_ID} times")
    parser.add_argument("--timeout", type=float, default=300.0, help="hard limit on the whole run, in seconds")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON figures")
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    args = parser.parse_args(argv)
    requests = args.requests if args.requests is not None else (10 if args.quick else 200)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 10)
    if min(requests, rounds, args.storm_size, args.spread_ids) < 1 or min(args.latency_ms, args.race_window_ms) < 0:
        parser.error("counts must be positive, latencies not negative")
    if args.timeout <= 0:
        parser.error("the timeout must be positive")
    return Options(
        latency_ms=args.latency_ms,
        race_window_ms=args.race_window_ms,
        requests=requests,
        rounds=rounds,
        storm_size=args.storm_size,
        spread_ids=args.spread_ids,
        warmup=5 if args.quick else 30,
        timeout_seconds=args.timeout,
        out=args.out,
    )


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def new_id(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class Measured:
    """The raw figures of one scenario."""

    latencies: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    durable_calls: Counter[str] = field(default_factory=Counter)
    lease_calls: Counter[str] = field(default_factory=Counter)
    starts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        count = len(self.latencies)
        other = sum(n for kind, n in self.durable_calls.items() if kind not in ("status", "start"))
        lease = sum(self.lease_calls.values())
        total = sum(self.durable_calls.values()) + lease
        figures: dict[str, Any] = {
            "requests": count,
            "latency_ms": {
                "p50": round(percentile(self.latencies, 50) * 1000, 3),
                "p99": round(percentile(self.latencies, 99) * 1000, 3),
            },
            "requests_per_second": round(count / sum(self.walls), 1),
            # This process runs the app or the sample, both SDK clients and the stand-in; Azurite runs apart.
            "cpu_ms_per_request": round(self.cpu_seconds / count * 1000, 3),
            "round_trips_per_request": {
                "status_reads": round(self.durable_calls["status"] / count, 3),
                "creates": round(self.durable_calls["start"] / count, 3),
                "lease_calls": round(lease / count, 3),
                "other": round(other / count, 3),
                "total": round(total / count, 3),
            },
            "lease_calls_by_kind": {kind: round(n / count, 3) for kind, n in sorted(self.lease_calls.items())},
            "statuses": {str(status): n for status, n in sorted(self.statuses.items())},
        }
        if self.starts:  # a concurrent scenario, in rounds
            figures["rounds"] = len(self.walls)
            figures["round_wall_ms"] = {
                "p50": round(percentile(self.walls, 50) * 1000, 3),
                "p99": round(percentile(self.walls, 99) * 1000, 3),
            }
            figures["instances"] = dict(self.starts)
        return figures


class Bench:
    """The app and the naive sample on one stand-in, measured scenario by scenario."""

    def __init__(self, options: Options, standin: DurableStandin, app: LoadedFunction) -> None:
        self.options = options
        self.standin = standin
        self.app = app
        self.starter = standin.starter_binding()

    @property
    def locks_calls(self) -> Counter[str]:
        return self.app.module.endpoint.locks.calls

    async def app_handler(self, req: func.HttpRequest, starter: str) -> func.HttpResponse:
        return await invoke(self.app, req=req, starter=starter)

    def clear(self) -> None:
        """No instances and no counts from the scenario before; latency set again after the reset."""
        self.standin.reset()
        self.standin.latency_seconds = self.options.latency_ms / 1000
        self.standin.race_window_seconds = self.options.race_window_ms / 1000
        self.locks_calls.clear()
        gc.collect()

    def collect(self, measured: Measured, *, ids: int | None = None) -> Measured:
        measured.durable_calls = Counter(self.standin.calls)
        measured.lease_calls = Counter(self.locks_calls)
        if ids is not None:
            measured.starts = {
                "ids": ids,
                "effective_starts": len(self.standin.effective_starts),
                "accepted_starts": self.standin.accepted_starts,
                "enqueued_starts": len(self.standin.enqueued_starts),
            }
        return measured

    async def post(self, handler: Handler, instance_id: str, measured: Measured) -> None:
        body = json.dumps({"requestedBy": "bench"}).encode()
        request = start_request(ORCHESTRATOR, instance_id, body, {"Content-Type": "application/json"})
        began = time.perf_counter()
        try:
            status = (await handler(request, self.starter)).status_code
        except Exception:  # noqa: BLE001 - the worker answers an unhandled exception with a 500
            status = 500
        measured.latencies.append(time.perf_counter() - began)
        measured.statuses[status] += 1

    async def sequential(self, handler: Handler, instance_ids: Iterable[str]) -> Measured:
        measured = Measured()
        began, cpu_began = time.perf_counter(), time.process_time()
        for instance_id in instance_ids:
            await self.post(handler, instance_id, measured)
        measured.walls.append(time.perf_counter() - began)
        measured.cpu_seconds += time.process_time() - cpu_began
        return measured

    async def burst(self, handler: Handler, instance_ids: Sequence[str], measured: Measured) -> None:
        """All the POSTs at once; the round lasts until the last one has answered."""
        began, cpu_began = time.perf_counter(), time.process_time()
        await asyncio.gather(*(self.post(handler, instance_id, measured) for instance_id in instance_ids))
        measured.walls.append(time.perf_counter() - began)
        measured.cpu_seconds += time.process_time() - cpu_began

    async def warm_up(self) -> None:
        """Open connection pools, create the lock container and import lazily loaded code."""
        self.clear()
        for handler in (self.app_handler, naive_main):
            await self.sequential(handler, [new_id("warm") for _ in range(self.options.warmup)])
            await self.burst(handler, [new_id("warm") for _ in range(2)] * 10, Measured())

    async def call_costs(self) -> dict[str, float]:
        """Mean time of one call to each backend alone, to read the scenarios by."""
        self.clear()
        client = DurableOrchestrationClient(self.starter)
        locks = self.app.module.endpoint.locks
        count = self.options.requests
        began = time.perf_counter()
        for _ in range(count):
            await client.get_status(new_id("absent"))
        status_seconds = (time.perf_counter() - began) / count
        instance_id = new_id("cost")

        async def take_and_release() -> None:
            lease = await locks.try_acquire(self.standin.task_hub, instance_id, 5.0)
            assert lease is not None, "nobody else holds this lease"
            await locks.release(lease)

        await take_and_release()  # creates the lock blob
        began = time.perf_counter()
        for _ in range(count):
            await take_and_release()
        lease_seconds = (time.perf_counter() - began) / (2 * count)
        return {"status_read_ms": round(status_seconds * 1000, 3), "lease_call_ms": round(lease_seconds * 1000, 3)}

    async def fresh(self, handler: Handler) -> dict[str, Any]:
        """(a)/(b): one fresh ID after another."""
        self.clear()
        measured = await self.sequential(handler, [new_id("fresh") for _ in range(self.options.requests)])
        return self.collect(measured).summary()

    async def duplicate(self) -> dict[str, Any]:
        """(c): POSTs for an ID whose instance is running."""
        self.clear()
        instance_id = new_id("running")
        self.standin.add_instance(instance_id, ORCHESTRATOR, "Running", json.dumps({"requestedBy": "first"}))
        measured = await self.sequential(self.app_handler, [instance_id] * self.options.requests)
        return self.collect(measured).summary()

    async def storm(self, handler: Handler) -> dict[str, Any]:
        """(d): concurrent POSTs (50) for one new ID, a fresh ID each round."""
        self.clear()
        measured = Measured()
        for _ in range(self.options.rounds):
            await self.burst(handler, [new_id("storm")] * self.options.storm_size, measured)
        return self.collect(measured, ids=self.options.rounds).summary()

    async def spread(self, handler: Handler) -> dict[str, Any]:
        """(e): concurrent starts over new IDs (200 over 50), the POSTs for one ID side by side as retries come."""
        self.clear()
        measured = Measured()
        for _ in range(self.options.rounds):
            instance_ids = [new_id("spread") for _ in range(self.options.spread_ids)]
            await self.burst(handler, [each for each in instance_ids for _ in range(SPREAD_PER_ID)], measured)
        return self.collect(measured, ids=self.options.spread_ids * self.options.rounds).summary()


def target(name: str, measured: float, relation: str, limit: float, unit: str) -> dict[str, Any]:
    """One target with its measured value; a miss says by how much."""
    met = {"==": measured == limit, "<=": measured <= limit, ">=": measured >= limit}[relation]
    entry: dict[str, Any] = {
        "target": name,
        "measured": round(measured, 3),
        "relation": relation,
        "limit": round(limit, 3),
        "unit": unit,
        "result": "PASS" if met else "MISS",
    }
    if not met:
        entry["miss_by"] = round(abs(measured - limit), 3)
        entry["miss_by_percent"] = round(abs(measured - limit) / limit * 100, 1) if limit else None
    return entry


def targets(scenarios: dict[str, dict[str, Any]], options: Options) -> list[dict[str, Any]]:
    app, naive = scenarios["a_fresh_app"], scenarios["b_fresh_naive"]
    duplicate, storm = scenarios["c_duplicate_app"], scenarios["d_storm_app"]
    trips_app, trips_naive = app["round_trips_per_request"], naive["round_trips_per_request"]
    return [
        target(
            "(c) a duplicate POST costs exactly one backend round trip",
            duplicate["round_trips_per_request"]["total"],
            "==",
            1,
            "round trips/request",
        ),
        target(
            "(a) fresh start round trips <= naive's + the lock's",
            trips_app["total"],
            "<=",
            trips_naive["total"] + trips_app["lease_calls"],
            "round trips/request",
        ),
        target(
            "(a) fresh start p50 <= 2.2 x naive p50",
            app["latency_ms"]["p50"] / naive["latency_ms"]["p50"],
            "<=",
            2.2,
            "x naive p50",
        ),
        target(
            f"(d) {options.storm_size} concurrent POSTs for one ID finish within 3 x one fresh start",
            storm["round_wall_ms"]["p50"] / app["latency_ms"]["p50"],
            "<=",
            3.0,
            "x fresh start p50",
        ),
        target(
            f"(e) {options.spread_ids * SPREAD_PER_ID} starts over {options.spread_ids} IDs reach >= 0.8 x naive req/s",
            scenarios["e_spread_app"]["requests_per_second"] / scenarios["e_spread_naive"]["requests_per_second"],
            ">=",
            0.8,
            "x naive req/s",
        ),
    ]


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def render(report: dict[str, Any]) -> str:
    settings = report["settings"]
    lines = [
        f"Stand-in latency {settings['latency_ms']} ms/call, race window {settings['race_window_ms']} ms; "
        f"{settings['requests']} requests per sequential scenario, {settings['rounds']} rounds per concurrent one.",
        f"One call alone: status read {report['call_costs']['status_read_ms']:.2f} ms (stand-in), "
        f"lease call {report['call_costs']['lease_call_ms']:.2f} ms (Azurite).",
        "",
    ]
    rows = [
        ["scenario", "requests", "p50 ms", "p99 ms", "req/s", "cpu ms", "status", "create", "lease", "total", "answers"]
    ]
    for name, figures in report["scenarios"].items():
        trips = figures["round_trips_per_request"]
        rows.append(
            [
                name,
                str(figures["requests"]),
                f"{figures['latency_ms']['p50']:.2f}",
                f"{figures['latency_ms']['p99']:.2f}",
                f"{figures['requests_per_second']:.0f}",
                f"{figures['cpu_ms_per_request']:.2f}",
                f"{trips['status_reads']:.2f}",
                f"{trips['creates']:.2f}",
                f"{trips['lease_calls']:.2f}",
                f"{trips['total']:.2f}",
                " ".join(f"{status}x{n}" for status, n in figures["statuses"].items()),
            ]
        )
    lines += [
        table(rows),
        "(cpu ms: this process's CPU per request, stand-in included, Azurite not; "
        "status/create/lease/total: backend round trips per request)",
        "",
    ]
    rows = [["concurrent scenario", "round wall p50 ms", "round wall p99 ms", "IDs", "started", "accepted", "enqueued"]]
    for name, figures in report["scenarios"].items():
        if "instances" in figures:
            instances = figures["instances"]
            rows.append(
                [
                    name,
                    f"{figures['round_wall_ms']['p50']:.2f}",
                    f"{figures['round_wall_ms']['p99']:.2f}",
                    str(instances["ids"]),
                    str(instances["effective_starts"]),
                    str(instances["accepted_starts"]),
                    str(instances["enqueued_starts"]),
                ]
            )
    lines += [table(rows), ""]
    rows = [["target", "measured", "limit", "result"]]
    for entry in report["targets"]:
        result = entry["result"]
        if result == "MISS":
            result += f" by {entry['miss_by']:g} ({entry['miss_by_percent']:g}%)"
        measured = f"{entry['measured']:g} {entry['unit']}"
        rows.append([entry["target"], measured, f"{entry['relation']} {entry['limit']:g}", result])
    lines.append(table(rows))
    return "\n".join(lines)


def load_app(connection_string: str) -> LoadedFunction:
    """HttpStartSingle loaded as the worker loads it, with AzureWebJobsStorage on the bench's Azurite."""
    previous = os.environ.get("AzureWebJobsStorage")
    os.environ["AzureWebJobsStorage"] = connection_string
    try:
        return load_function("HttpStartSingle")
    finally:
        if previous is None:
            del os.environ["AzureWebJobsStorage"]
        else:
            os.environ["AzureWebJobsStorage"] = previous


async def measure(
    options: Options, standin: DurableStandin, app: LoadedFunction
) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    bench = Bench(options, standin, app)
    await bench.warm_up()
    call_costs = await bench.call_costs()
    scenarios = {
        "a_fresh_app": await bench.fresh(bench.app_handler),
        "b_fresh_naive": await bench.fresh(naive_main),
        "c_duplicate_app": await bench.duplicate(),
        "d_storm_app": await bench.storm(bench.app_handler),
        "d_storm_naive": await bench.storm(naive_main),
        "e_spread_app": await bench.spread(bench.app_handler),
        "e_spread_naive": await bench.spread(naive_main),
    }
    bench.clear()
    return scenarios, call_costs


async def run(options: Options) -> dict[str, Any]:
    """One full run: start the servers, measure, write the JSON, print the table; returns the report."""
    began = time.perf_counter()
    azurite = Azurite()
    azurite.start()
    standin = DurableStandin()
    try:
        await standin.start()
        app = load_app(azurite.connection_string)
        try:
            async with asyncio.timeout(options.timeout_seconds):
                scenarios, call_costs = await measure(options, standin, app)
        finally:
            await app.module.endpoint.close()
    finally:
        await standin.stop()
        azurite.stop()
    report = {
        "settings": {
            **{key: value for key, value in asdict(options).items() if key not in ("out", "timeout_seconds")},
            "spread_per_id": SPREAD_PER_ID,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "run_seconds": round(time.perf_counter() - began, 1),
        },
        "call_costs": call_costs,
        "scenarios": scenarios,
        "targets": targets(scenarios, options),
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
