"""The benchmark's figures: raw measurements in, summaries, targets, their causes and tables out (no I/O)."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = (50, 90, 99)
OP_KINDS = ("status", "start", "lease", "record", "other")
# Backend ops are counted per API call at the stand-in, blob ops per request kind at the proxy.
BACKEND_KIND = {"status": "status", "start": "start"}
BLOB_KIND = {"lease": "lease", "record": "record"}
BLOB_OP_KINDS = ("lease", "record", "other")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def spread_ms(seconds: Sequence[float]) -> dict[str, float]:
    return {f"p{pct}": round(percentile(seconds, pct) * 1000, 3) for pct in PERCENTILES}


def ops_by_kind(counts: dict[str, Any]) -> Counter[str]:
    """Storage operations split into status, start, lease, record and other."""
    ops: Counter[str] = Counter()
    for call, n in counts.get("backend", {}).items():
        ops[BACKEND_KIND.get(call, "other")] += n
    for kind, n in counts.get("blob", {}).items():
        ops[BLOB_KIND.get(kind, "other")] += n
    return ops


def add_counts(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """Two rounds' counts added up: the per-call and per-kind tables key by key, the start counts as numbers."""
    added: dict[str, Any] = {}
    for key in total.keys() | more.keys():
        mine, theirs = total.get(key), more.get(key)
        if isinstance(mine, dict) or isinstance(theirs, dict):
            added[key] = dict(Counter(mine or {}) + Counter(theirs or {}))
        else:
            added[key] = (mine or 0) + (theirs or 0)
    return added


@dataclass
class Measured:
    """The raw figures of one scenario in one round."""

    latencies: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    counts: dict[str, Any] = field(default_factory=dict)
    ids: int | None = None  # set for a concurrent scenario

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def round_figures(self) -> dict[str, float]:
        """The figures a target compares round by round."""
        return {
            "p50_ms": round(percentile(self.latencies, 50) * 1000, 3),
            "max_ms": round(max(self.latencies) * 1000, 3),
            "wall_ms": round(sum(self.walls) * 1000, 3),
            "requests_per_second": round(self.requests / sum(self.walls), 1),
            "cpu_ms_per_request": round(self.cpu_seconds / self.requests * 1000, 3),
        }


def pooled(rounds: Sequence[Measured]) -> Measured:
    """Every round's requests together, for the percentiles and the counts per request."""
    total = Measured(ids=None if rounds[0].ids is None else 0)
    for each in rounds:
        total.latencies += each.latencies
        total.walls += each.walls
        total.cpu_seconds += each.cpu_seconds
        total.statuses += each.statuses
        total.counts = add_counts(total.counts, each.counts)
        if total.ids is not None and each.ids is not None:
            total.ids += each.ids
    return total


def summary(rounds: Sequence[Measured]) -> dict[str, Any]:
    """One scenario's figures: its requests of every round pooled, and each round's own."""
    whole = pooled(rounds)
    count = whole.requests
    ops = ops_by_kind(whole.counts)
    per_request = {kind: round(ops[kind] / count, 3) for kind in OP_KINDS}
    per_request["total"] = round(sum(ops.values()) / count, 3)
    figures: dict[str, Any] = {
        "requests": count,
        "latency_ms": spread_ms(whole.latencies),
        "requests_per_second": round(count / sum(whole.walls), 1),
        "cpu_ms_per_request": round(whole.cpu_seconds / count * 1000, 3),
        "storage_ops_per_request": per_request,
        "statuses": {str(status): n for status, n in sorted(whole.statuses.items())},
        "rounds": [each.round_figures() for each in rounds],
    }
    if whole.ids is not None:
        figures["round_wall_ms"] = spread_ms(whole.walls)
        figures["instances"] = {
            "ids": whole.ids,
            "effective_starts": whole.counts.get("effective_starts", 0),
            "accepted_starts": whole.counts.get("accepted_starts", 0),
        }
    return figures


HOLDS: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda measured, limit: measured <= limit,
    ">=": lambda measured, limit: measured >= limit,
}


def target(name: str, per_round: Sequence[float], relation: str, limit: float, unit: str) -> dict[str, Any]:
    """One target, judged on the median of its per-round values; the rounds' spread says whether that is steady."""
    holds = HOLDS[relation]
    measured = statistics.median(per_round)
    verdict = holds(measured, limit)
    return {
        "target": name,
        "measured": round(measured, 3),
        "rounds": [round(value, 3) for value in per_round],
        "spread": [round(min(per_round), 3), round(max(per_round), 3)],
        # Every round on the same side of the limit: the verdict does not hang on which round ran slow.
        "steady": all(holds(value, limit) == verdict for value in per_round),
        "relation": relation,
        "limit": limit,
        "unit": unit,
        "holds": verdict,
        "result": "PASS" if verdict else "MISS",
    }


def by_round(scenarios: dict[str, dict[str, Any]], name: str, figure: str) -> list[float]:
    return [float(each[figure]) for each in scenarios[name]["rounds"]]


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    return [top / bottom for top, bottom in zip(numerators, denominators, strict=True)]


def differences(left: Sequence[float], right: Sequence[float]) -> list[float]:
    return [one - other for one, other in zip(left, right, strict=True)]


# Target keys, so that a cause can be found for each.
FRESH, RESTART, DUPLICATE, DUPLICATE_TRIP, STORM, SPREAD, CPU, LOAD, EVENTS = (
    "fresh",
    "restart",
    "duplicate",
    "duplicate_round_trip",
    "storm",
    "spread",
    "cpu",
    "load",
    "events",
)
# Events sent at once to one Running instance; none may wait for another.
EVENT_BURST = 20


def targets(
    scenarios: dict[str, dict[str, Any]],
    loads: dict[str, Any],
    storage_ms: float,
    storm_size: int,
    spread_requests: int,
    spread_ids: int,
) -> list[dict[str, Any]]:
    """The targets: p50 ratios to the sample in the same rounds, one request at a time unless said."""

    def p50_ratio(case: str) -> list[float]:
        return ratios(by_round(scenarios, f"{case}_app", "p50_ms"), by_round(scenarios, f"{case}_naive", "p50_ms"))

    entries = [
        (
            RESTART,
            target(
                "restart of an ID started through the app: app p50 / sample p50", p50_ratio("restart"), "<=", 1.15, "x"
            ),
        ),
        (FRESH, target("fresh ID: app p50 / sample p50", p50_ratio("fresh"), "<=", 1.35, "x")),
        (
            DUPLICATE,
            target("duplicate against a Running ID: app p50 / sample p50", p50_ratio("duplicate"), "<=", 1.1, "x"),
        ),
        (
            DUPLICATE_TRIP,
            target(
                "duplicate: app p50 - sample p50, under half a storage round trip (one round trip in all)",
                differences(
                    by_round(scenarios, "duplicate_app", "p50_ms"), by_round(scenarios, "duplicate_naive", "p50_ms")
                ),
                "<=",
                storage_ms / 2,
                "ms",
            ),
        ),
        (
            STORM,
            target(
                f"{storm_size} concurrent for one new ID: round / one fresh start's p50",
                ratios(by_round(scenarios, "storm_app", "wall_ms"), by_round(scenarios, "fresh_app", "p50_ms")),
                "<=",
                1.5,
                "x",
            ),
        ),
        (
            SPREAD,
            target(
                f"{spread_requests} concurrent over {spread_ids} IDs: app req/s / sample req/s",
                ratios(
                    by_round(scenarios, "spread_app", "requests_per_second"),
                    by_round(scenarios, "spread_naive", "requests_per_second"),
                ),
                ">=",
                0.8,
                "x",
            ),
        ),
        (
            CPU,
            target(
                "app CPU per fresh start / sample's",
                ratios(
                    by_round(scenarios, "fresh_app", "cpu_ms_per_request"),
                    by_round(scenarios, "fresh_naive", "cpu_ms_per_request"),
                ),
                "<=",
                2.5,
                "x",
            ),
        ),
        (
            EVENTS,
            target(
                f"{EVENT_BURST} concurrent events to one Running instance: the slowest / a lone event's p50",
                ratios(by_round(scenarios, "events_app", "max_ms"), by_round(scenarios, "event_app", "p50_ms")),
                "<=",
                2.0,
                "x",
            ),
        ),
        (
            LOAD,
            target(
                "loading HttpStartSingle in a new process: app - sample",
                differences(loads["app"]["load_ms"], loads["sample"]["load_ms"]),
                "<=",
                100.0,
                "ms",
            ),
        ),
    ]
    return [entry | {"key": key} for key, entry in entries]
