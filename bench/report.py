"""The benchmark's printed report: the figures as tables, then one line per missed target (no I/O)."""

from __future__ import annotations

from typing import Any

from bench.causes import SCENARIOS_OF
from bench.figures import OP_KINDS, PERCENTILES


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def span(values: list[float], digits: int = 1) -> str:
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


def scenario_rows(scenarios: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = [["scenario", "requests", "p50 ms", "p90 ms", "p99 ms", "p50 by round", "req/s", "cpu ms"]]
    rows[0] += [*OP_KINDS, "total", "answers"]
    for name, figures in scenarios.items():
        latency, ops = figures["latency_ms"], figures["storage_ops_per_request"]
        rows.append(
            [
                name,
                str(figures["requests"]),
                *(f"{latency[f'p{pct}']:.1f}" for pct in PERCENTILES),
                span([each["p50_ms"] for each in figures["rounds"]]),
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
                    str(len(figures["rounds"])),
                    *(f"{walls[f'p{pct}']:.1f}" for pct in PERCENTILES),
                    str(instances["ids"]),
                    str(instances["effective_starts"]),
                    str(instances["accepted_starts"]),
                ]
            )
    return rows


def load_rows(loads: dict[str, Any]) -> list[list[str]]:
    rows = [["load in a new process", "loads", "p50 ms", "min-max ms", "cpu ms", "modules", "azure.identity"]]
    for side, label in (("app", "HttpStartSingle"), ("sample", "the sample's function")):
        figures = loads[side]
        rows.append(
            [
                label,
                str(len(figures["load_ms"])),
                f"{figures['p50_ms']:.1f}",
                span(figures["load_ms"]),
                f"{figures['cpu_ms']:.1f}",
                str(figures["modules"]),
                "imported" if figures["imports_identity"] else "not imported",
            ]
        )
    return rows


def storage_ops_beside(scenarios: dict[str, dict[str, Any]], key: str) -> str:
    """The storage operations per request, app and sample, of the case a target is about."""
    case = SCENARIOS_OF.get(key)
    if case is None:
        return "-"
    app, naive = (scenarios[f"{case}_{side}"]["storage_ops_per_request"]["total"] for side in ("app", "naive"))
    return f"{app:.2f} / {naive:.2f}"


def target_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = [["target", "measured", "rounds", "limit", "steady", "storage ops app / sample", "result"]]
    for entry in report["targets"]:
        rows.append(
            [
                entry["target"],
                f"{entry['measured']:g} {entry['unit']}",
                f"{entry['spread'][0]:g}-{entry['spread'][1]:g}",
                f"{entry['relation']} {entry['limit']:g}",
                "yes" if entry["steady"] else "no",
                storage_ops_beside(report["scenarios"], entry["key"]),
                entry["result"],
            ]
        )
    return rows


def render(report: dict[str, Any]) -> str:
    settings, costs = report["settings"], report["call_costs"]
    missed = report["missed"] or ["Every target met."]
    return "\n".join(
        [
            f"{settings['storage_ms']:g} ms per storage operation (backend at the stand-in, blob at the proxy); "
            f"{settings['rounds']} rounds, each with {settings['requests']} requests per side of each "
            f"one-at-a-time case and one burst per side of each concurrent one; {settings['loads']} loads per side.",
            f"One call alone: status read {costs['status_read_ms']:.2f} ms (stand-in); blob read "
            f"{costs['blob_read_ms']:.2f} ms through the proxy, {costs['blob_read_direct_ms']:.2f} ms straight to "
            f"Azurite of which {costs['blob_read_direct_cpu_ms']:.2f} ms CPU in this process (the storage SDK).",
            "",
            table(scenario_rows(report["scenarios"])),
            "(p50 by round: the lowest and highest round's p50; cpu ms: the app's or sample's process per request, "
            "stand-in and proxy apart; status/start/lease/record/other/total: storage operations per request, "
            "counted at the wire)",
            "",
            table(concurrent_rows(report["scenarios"])),
            "",
            table(load_rows(report["loads"])),
            "",
            table(target_rows(report)),
            "(measured: the median of the rounds' figures; rounds: their lowest and highest; steady: every round "
            "on the same side of the limit)",
            "",
            *missed,
            "",
            report["profile"]["summary"],
        ]
    )
