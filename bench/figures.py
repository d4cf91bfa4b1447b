"""The benchmark's figures: raw measurements in, summaries, targets and tables out (no I/O)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = (50, 90, 99)
OP_KINDS = ("status", "start", "lease", "record", "other")
# Backend ops are counted per API call at the stand-in, blob ops per request kind at the proxy.
BACKEND_KIND = {"status": "status", "start": "start"}
BLOB_KIND = {"lease": "lease", "record": "record"}


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def spread_ms(seconds: Sequence[float]) -> dict[str, float]:
    return {f"p{pct}": round(percentile(seconds, pct) * 1000, 3) for pct in PERCENTILES}


def ops_by_kind(counts: dict[str, Any]) -> Counter[str]:
    """Storage operations split into status, start, lease, record and other."""
    ops: Counter[str] = Counter()
    for call, n in counts["backend"].items():
        ops[BACKEND_KIND.get(call, "other")] += n
    for kind, n in counts["blob"].items():
        ops[BLOB_KIND.get(kind, "other")] += n
    return ops


@dataclass
class Measured:
    """The raw figures of one scenario."""

    latencies: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    counts: dict[str, Any] = field(default_factory=dict)
    ids: int | None = None  # set for a concurrent scenario

    def summary(self) -> dict[str, Any]:
        count = len(self.latencies)
        ops = ops_by_kind(self.counts)
        per_request = {kind: round(ops[kind] / count, 3) for kind in OP_KINDS}
        per_request["total"] = round(sum(ops.values()) / count, 3)
        figures: dict[str, Any] = {
            "requests": count,
            "latency_ms": spread_ms(self.latencies),
            "requests_per_second": round(count / sum(self.walls), 1),
            "cpu_ms_per_request": round(self.cpu_seconds / count * 1000, 3),
            "storage_ops_per_request": per_request,
            "statuses": {str(status): n for status, n in sorted(self.statuses.items())},
        }
        if self.ids is not None:
            figures["rounds"] = len(self.walls)
            figures["round_wall_ms"] = spread_ms(self.walls)
            figures["instances"] = {
                "ids": self.ids,
                "effective_starts": self.counts["effective_starts"],
                "accepted_starts": self.counts["accepted_starts"],
            }
        return figures


def target(name: str, measured: float, relation: str, limit: float, unit: str) -> dict[str, Any]:
    """One target with its measured value and whether it holds."""
    holds = {"==": measured == limit, "<=": measured <= limit, ">=": measured >= limit}[relation]
    return {
        "target": name,
        "measured": round(measured, 3),
        "relation": relation,
        "limit": limit,
        "unit": unit,
        "holds": holds,
        "result": "PASS" if holds else "MISS",
    }


def ratio(scenarios: dict[str, dict[str, Any]], app: str, naive: str, figure: str) -> float:
    return float(scenarios[app]["latency_ms"][figure] / scenarios[naive]["latency_ms"][figure])


def targets(
    scenarios: dict[str, dict[str, Any]], storm_size: int, spread_requests: int, spread_ids: int
) -> list[dict[str, Any]]:
    """The targets, each a ratio to the naive sample in the same run (p50, one request at a time unless said)."""
    return [
        target("fresh ID: app p50 / naive p50", ratio(scenarios, "fresh_app", "fresh_naive", "p50"), "<=", 1.6, "x"),
        target(
            "restart of a Completed ID: app p50 / naive p50",
            ratio(scenarios, "restart_app", "restart_naive", "p50"),
            "<=",
            1.8,
            "x",
        ),
        target(
            "duplicate against a Running ID: app p50 / naive p50",
            ratio(scenarios, "duplicate_app", "duplicate_naive", "p50"),
            "<=",
            1.1,
            "x",
        ),
        target(
            "duplicate against a Running ID: storage operations per request",
            scenarios["duplicate_app"]["storage_ops_per_request"]["total"],
            "==",
            1,
            "ops",
        ),
        target(
            f"{storm_size} concurrent for one new ID: round p50 / one fresh start's p50",
            scenarios["storm_app"]["round_wall_ms"]["p50"] / scenarios["fresh_app"]["latency_ms"]["p50"],
            "<=",
            2.0,
            "x",
        ),
        target(
            f"{spread_requests} concurrent over {spread_ids} IDs: app req/s / naive req/s",
            scenarios["spread_app"]["requests_per_second"] / scenarios["spread_naive"]["requests_per_second"],
            ">=",
            0.8,
            "x",
        ),
        target(
            "app CPU per fresh start / naive's",
            scenarios["fresh_app"]["cpu_ms_per_request"] / scenarios["fresh_naive"]["cpu_ms_per_request"],
            "<=",
            2.0,
            "x",
        ),
    ]


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def scenario_rows(scenarios: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = [["scenario", "requests", "p50 ms", "p90 ms", "p99 ms", "req/s", "cpu ms"]]
    rows[0] += [*OP_KINDS, "total", "answers"]
    for name, figures in scenarios.items():
        latency, ops = figures["latency_ms"], figures["storage_ops_per_request"]
        rows.append(
            [
                name,
                str(figures["requests"]),
                *(f"{latency[f'p{pct}']:.1f}" for pct in PERCENTILES),
                f"{figures['requests_per_second']:.0f}",
                f"{figures['cpu_ms_per_request']:.2f}",
                *(f"{ops[kind]:.2f}" for kind in (*OP_KINDS, "total")),
                " ".join(f"{status}x{n}" for status, n in figures["statuses"].items()),
            ]
        )
    return rows


def concurrent_rows(scenarios: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = [["concurrent scenario", "rounds", "round p50 ms", "round p90 ms", "round p99 ms", "IDs", "started"]]
    rows[0].append("accepted by backend")
    for name, figures in scenarios.items():
        if "instances" in figures:
            walls, instances = figures["round_wall_ms"], figures["instances"]
            rows.append(
                [
                    name,
                    str(figures["rounds"]),
                    *(f"{walls[f'p{pct}']:.1f}" for pct in PERCENTILES),
                    str(instances["ids"]),
                    str(instances["effective_starts"]),
                    str(instances["accepted_starts"]),
                ]
            )
    return rows


def call_costs_line(costs: dict[str, float]) -> str:
    return (
        f"One call alone: status read {costs['status_read_ms']:.2f} ms (stand-in); blob read "
        f"{costs['blob_read_ms']:.2f} ms through the proxy, {costs['blob_read_direct_ms']:.2f} ms straight to Azurite "
        f"of which {costs['blob_read_direct_cpu_ms']:.2f} ms CPU in this process (the storage SDK)."
    )


def render(report: dict[str, Any]) -> str:
    settings = report["settings"]
    rows = [["target", "measured", "limit", "result"]]
    for entry in report["targets"]:
        measured = f"{entry['measured']:g} {entry['unit']}"
        rows.append([entry["target"], measured, f"{entry['relation']} {entry['limit']:g}", entry["result"]])
    return "\n".join(
        [
            f"{settings['storage_ms']:g} ms per storage operation (backend at the stand-in, blob at the proxy); "
            f"{settings['requests']} requests per one-at-a-time scenario, {settings['rounds']} rounds per "
            "concurrent one.",
            call_costs_line(report["call_costs"]),
            "",
            table(scenario_rows(report["scenarios"])),
            "(cpu ms: the app's or sample's process per request, stand-in and proxy apart; "
            "status/start/lease/record/other/total: storage operations per request)",
            "",
            table(concurrent_rows(report["scenarios"])),
            "",
            table(rows),
            "",
            report["profile"]["summary"],
        ]
    )
