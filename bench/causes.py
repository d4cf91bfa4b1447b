"""Why a target was missed, in one line derived from the run's own figures (no I/O)."""

from __future__ import annotations

from typing import Any

from bench.figures import BLOB_OP_KINDS, CPU, DUPLICATE, DUPLICATE_TRIP, EVENTS, FRESH, LOAD, RESTART, SPREAD, STORM

# The scenarios whose storage operations stand beside each target.
SCENARIOS_OF = {
    FRESH: "fresh",
    RESTART: "restart",
    DUPLICATE: "duplicate",
    DUPLICATE_TRIP: "duplicate",
    STORM: "storm",
    SPREAD: "spread",
    CPU: "fresh",
}


def ops(figures: dict[str, Any]) -> float:
    return float(figures["storage_ops_per_request"]["total"])


def blob_ops(figures: dict[str, Any]) -> float:
    return sum(float(figures["storage_ops_per_request"][kind]) for kind in BLOB_OP_KINDS)


def p50(figures: dict[str, Any]) -> float:
    return float(figures["latency_ms"]["p50"])


def cpu(figures: dict[str, Any]) -> float:
    return float(figures["cpu_ms_per_request"])


class Causes:
    """The figures a cause is read from: the scenarios, one call's costs alone, and the load probes."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.scenarios: dict[str, dict[str, Any]] = report["scenarios"]
        self.costs: dict[str, float] = report["call_costs"]
        self.loads: dict[str, Any] = report["loads"]
        self.settings: dict[str, Any] = report["settings"]

    def of(self, key: str) -> str:
        case = SCENARIOS_OF.get(key)
        if key in (FRESH, RESTART, DUPLICATE):
            return self.latency(str(case))
        if key == DUPLICATE_TRIP:
            return self.duplicate_trip()
        if key == STORM:
            return self.storm()
        if key == SPREAD:
            return self.spread()
        if key == CPU:
            return self.cpu()
        if key == LOAD:
            return self.load()
        if key == EVENTS:
            return self.events()
        raise ValueError(f"no cause for target {key!r}")

    def latency(self, case: str) -> str:
        """Split the extra latency into the app's extra CPU and extra waiting, the waiting into blob round trips."""
        app, naive = self.scenarios[f"{case}_app"], self.scenarios[f"{case}_naive"]
        extra, extra_cpu = p50(app) - p50(naive), cpu(app) - cpu(naive)
        waiting = extra - extra_cpu
        trip = self.costs["blob_read_ms"]
        return (
            f"{ops(app):.2f} storage operations per request against the sample's {ops(naive):.2f} "
            f"({blob_ops(app):.2f} of them blob requests, {trip:.1f} ms each alone through the proxy); "
            f"the app's p50 is {extra:+.1f} ms: {extra_cpu:+.1f} ms of CPU per request and {waiting:+.1f} ms of "
            f"waiting, about {waiting / trip:.1f} blob round trips more on the path"
        )

    def duplicate_trip(self) -> str:
        app, naive = self.scenarios["duplicate_app"], self.scenarios["duplicate_naive"]
        return (
            f"the app answers {p50(app) - p50(naive):.1f} ms after the sample, {cpu(app) - cpu(naive):.2f} ms of it "
            f"CPU: the rest is a storage call waited for before the answer ({ops(app):.2f} storage operations per "
            f"request, {app['storage_ops_per_request']['status']:.2f} status reads; one status read alone takes "
            f"{self.costs['status_read_ms']:.1f} ms)"
        )

    def storm(self) -> str:
        storm, fresh = self.scenarios["storm_app"], self.scenarios["fresh_app"]
        size = self.settings["storm_size"]
        busy = size * cpu(storm)
        return (
            f"the round takes {storm['round_wall_ms']['p50']:.1f} ms against {p50(fresh):.1f} ms for one fresh "
            f"start: {size} requests x {cpu(storm):.2f} ms CPU = {busy:.1f} ms on one event loop, "
            f"{ops(storm):.2f} storage operations per request ({storm['storage_ops_per_request']['status']:.2f} "
            "status reads)"
        )

    def spread(self) -> str:
        app, naive = self.scenarios["spread_app"], self.scenarios["spread_naive"]
        requests = self.settings["spread_ids"] * self.settings["spread_per_id"]
        wall = app["round_wall_ms"]["p50"]
        busy = requests * cpu(app)
        return (
            f"{requests} requests x {cpu(app):.2f} ms CPU = {busy:.0f} ms of a {wall:.0f} ms round "
            f"({busy / wall:.0%}) on one event loop, against the sample's {cpu(naive):.2f} ms per request; "
            f"{ops(app):.2f} storage operations per request against {ops(naive):.2f}"
        )

    def cpu(self) -> str:
        """The app's extra CPU split into the storage SDK's share, priced by one blob call alone, and its own."""
        app, naive = self.scenarios["fresh_app"], self.scenarios["fresh_naive"]
        per_call = self.costs["blob_read_direct_cpu_ms"]
        sdk = blob_ops(app) * per_call
        own = cpu(app) - cpu(naive) - sdk
        return (
            f"{cpu(app):.2f} ms CPU per fresh start against the sample's {cpu(naive):.2f} ms: {blob_ops(app):.2f} "
            f"blob requests per start at {per_call:.2f} ms CPU each alone (the storage SDK's pipeline) make "
            f"{sdk:.2f} ms; the other {own:.2f} ms beyond the sample's is the app's own code"
        )

    def events(self) -> str:
        burst, lone = self.scenarios["events_app"], self.scenarios["event_app"]
        answers = ", ".join(f"{n} x {status}" for status, n in burst["statuses"].items())
        busy = len(burst["rounds"]) and cpu(burst) * self.settings["event_burst"]
        return (
            f"the slowest of the burst took {burst['latency_ms']['p99']:.1f} ms against {p50(lone):.1f} ms for a lone "
            f"event ({answers}): {self.settings['event_burst']} requests x {cpu(burst):.2f} ms CPU = {busy:.1f} ms on "
            f"one event loop, {ops(burst):.2f} storage operations per request against {ops(lone):.2f}"
        )

    def load(self) -> str:
        app, sample = self.loads["app"], self.loads["sample"]
        heaviest = ", ".join(
            f"{name} ({count} modules, {milliseconds:.0f} ms)"
            for name, count, milliseconds in app["extra_packages"][:5]
        )
        identity = "imported" if app["imports_identity"] else "not imported"
        return (
            f"the app's load takes {app['p50_ms']:.0f} ms against the sample's {sample['p50_ms']:.0f} ms: it imports "
            f"{app['modules']} modules against {sample['modules']}; the slowest to import beyond the sample's: "
            f"{heaviest}; azure.identity {identity}"
        )


def missed(report: dict[str, Any]) -> list[str]:
    """One line per missed target, with its cause."""
    causes = Causes(report)
    return [
        f"MISS {entry['target']}: {entry['measured']:g} {entry['unit']}, limit {entry['relation']} "
        f"{entry['limit']:g}{'' if entry['steady'] else unsteady(entry)}: {causes.of(entry['key'])}"
        for entry in report["targets"]
        if not entry["holds"]
    ]


def unsteady(entry: dict[str, Any]) -> str:
    low, high = entry["spread"]
    return f" (not steady: the rounds went from {low:g} to {high:g}, across the limit)"
