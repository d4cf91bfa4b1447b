"""The benchmark's judgement: targets on the median of rounds, the spread beside them, one cause per miss."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.causes import missed
from bench.figures import Measured, add_counts, summary, target, targets
from bench.loading import import_times, side_figures
from bench.run import EVENT_SCENARIOS, SCENARIOS, exit_code

STORAGE_MS = 5.0


def measured(p50_ms: float, cpu_ms: float, blob: dict[str, int], backend: dict[str, int], ids: int | None) -> Measured:
    """One round of two requests at the given latency and CPU, with these storage counts per request."""
    return Measured(
        latencies=[p50_ms / 1000] * 2,
        walls=[p50_ms * (2 if ids is None else 1) / 1000],  # a burst lasts as long as its requests
        cpu_seconds=cpu_ms * 2 / 1000,
        statuses=Counter({202: 2}),
        counts={
            "backend": {kind: n * 2 for kind, n in backend.items()},
            "blob": {kind: n * 2 for kind, n in blob.items()},
            "effective_starts": 1,
            "accepted_starts": 1,
        },
        ids=ids,
    )


def report(app_p50_ms: float, app_cpu_ms: float, app_load_ms: float, storm_ms: float) -> dict[str, Any]:
    """A run in which the app takes the given latency, CPU and load time in every case (its storm the given time),
    the sample 20 ms, 2 ms and 200 ms; the app makes 3 blob requests per request beside the sample's 4 backend
    operations."""
    scenarios: dict[str, dict[str, Any]] = {}
    for name in SCENARIOS + EVENT_SCENARIOS:
        concurrent = name.startswith(("storm", "spread", "events"))
        ids = 1 if concurrent else None
        if name.endswith("naive"):
            rounds = [measured(20.0, 2.0, {}, {"status": 1, "start": 3}, ids) for _ in range(3)]
        else:
            p50_ms = storm_ms if name == "storm_app" else app_p50_ms
            rounds = [measured(p50_ms, app_cpu_ms, {"lease": 3}, {"status": 1, "start": 3}, ids) for _ in range(3)]
        scenarios[name] = summary(rounds)
    loads = {
        "app": side_figures(
            [{"load_ms": app_load_ms, "cpu_ms": 1.0, "modules": ["a", "azure.storage.blob"]}],
            [{"load_ms": 200.0, "cpu_ms": 1.0, "modules": ["a"]}],
            {"azure.storage.blob": 80.0},
        ),
        "sample": side_figures(
            [{"load_ms": 200.0, "cpu_ms": 1.0, "modules": ["a"]}],
            [{"load_ms": app_load_ms, "cpu_ms": 1.0, "modules": ["a", "azure.storage.blob"]}],
            {},
        ),
    }
    run: dict[str, Any] = {
        "settings": {"storage_ms": STORAGE_MS, "storm_size": 2, "spread_ids": 1, "spread_per_id": 2},
        "call_costs": {"blob_read_ms": 10.0, "blob_read_direct_cpu_ms": 1.0, "status_read_ms": 6.0},
        "scenarios": scenarios,
        "loads": loads,
    }
    run["targets"] = targets(scenarios, loads, STORAGE_MS, 2, 2, 1)
    run["missed"] = missed(run)
    return run


def test_a_target_is_judged_on_the_median_of_its_rounds_not_on_its_worst() -> None:
    assert target("t", [1.0, 1.1, 9.0], "<=", 1.15, "x")["result"] == "PASS"
    assert target("t", [1.0, 1.2, 1.3], "<=", 1.15, "x")["result"] == "MISS"


def test_a_target_is_steady_only_when_every_round_falls_on_the_side_of_its_verdict() -> None:
    unsteady = target("t", [1.0, 1.1, 1.2], "<=", 1.15, "x")
    steady = target("t", [0.9, 1.0, 1.1], ">=", 0.8, "x")

    assert (unsteady["steady"], unsteady["spread"]) == (False, [1.0, 1.2])
    assert (steady["steady"], steady["holds"]) == (True, True)


def test_the_counts_of_rounds_add_up_kind_by_kind() -> None:
    one = {"backend": {"status": 1}, "blob": {"lease": 2}, "effective_starts": 1}
    two = {"backend": {"status": 2, "start": 3}, "blob": {}, "effective_starts": 2}

    assert add_counts(one, two) == {"backend": {"status": 3, "start": 3}, "blob": {"lease": 2}, "effective_starts": 3}


def test_a_summary_pools_the_rounds_requests_and_keeps_each_rounds_p50() -> None:
    rounds = [measured(10.0, 1.0, {"lease": 1}, {"status": 1}, None), measured(30.0, 1.0, {}, {"status": 1}, None)]

    figures = summary(rounds)

    assert figures["requests"] == 4
    assert [each["p50_ms"] for each in figures["rounds"]] == [10.0, 30.0]
    assert figures["storage_ops_per_request"]["total"] == 1.5


def test_every_target_holds_when_the_app_costs_what_the_sample_does() -> None:
    run = report(app_p50_ms=20.0, app_cpu_ms=2.0, app_load_ms=200.0, storm_ms=20.0)

    assert [entry["result"] for entry in run["targets"]] == ["PASS"] * 9
    assert run["missed"] == []


def test_every_missed_target_gets_one_line_with_a_cause_derived_from_the_figures() -> None:
    run = report(app_p50_ms=40.0, app_cpu_ms=10.0, app_load_ms=500.0, storm_ms=100.0)
    misses = [entry for entry in run["targets"] if entry["result"] == "MISS"]
    by_key = {entry["key"]: line for entry, line in zip(misses, run["missed"], strict=True)}

    # Every target against the sample misses; the events' own ratio (a burst as fast as a lone event) holds.
    assert len(run["missed"]) == 8
    # 20 ms more, 8 of them CPU: 12 ms of waiting at 10 ms a blob round trip.
    assert "+8.0 ms of CPU per request and +12.0 ms of waiting, about 1.2 blob round trips" in by_key["fresh"]
    assert "7.00 storage operations per request against the sample's 4.00" in by_key["fresh"]
    # 3 blob requests at 1 ms of CPU each explain 3 of the 8 ms beyond the sample's 2 ms.
    assert "3.00 blob requests per start at 1.00 ms CPU each" in by_key["cpu"]
    assert "the other 5.00 ms beyond the sample's is the app's own code" in by_key["cpu"]
    assert "azure.storage (1 modules, 80 ms)" in by_key["load"]


def test_import_times_reads_each_modules_own_time_from_python_importtime_lines() -> None:
    output = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       501 |      63612 |   requests\n"
        "import time:      1200 |       1200 | azure.storage.blob\n"
        "unrelated line\n"
    )

    assert import_times(output) == {"requests": 0.501, "azure.storage.blob": 1.2}


def test_the_benchmark_fails_the_command_only_with_check_and_a_missed_target() -> None:
    assert exit_code({"missed": ["MISS x"]}, check=False) == 0
    assert exit_code({"missed": ["MISS x"]}, check=True) == 1
    assert exit_code({"missed": []}, check=True) == 0


def test_a_miss_whose_rounds_straddle_the_limit_says_it_is_not_steady() -> None:
    run = report(app_p50_ms=40.0, app_cpu_ms=10.0, app_load_ms=500.0, storm_ms=100.0)
    entry = next(each for each in run["targets"] if each["key"] == "cpu")
    run["targets"] = [entry | {"steady": False, "spread": [2.0, 6.0]}]

    (line,) = missed(run)

    assert line.startswith("MISS app CPU per fresh start / sample's: 5 x, limit <= 2.5 (not steady: the rounds went")
    assert "from 2 to 6, across the limit" in line
