"""The benchmark runs end to end with tiny counts and reports every figure, so it cannot rot unnoticed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.figures import EVENT_BURST
from bench.run import DUPLICATE_POSTS, EVENT_SCENARIOS, SCENARIOS, parse_options, run

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONCURRENT = {
    "storm_app",
    "storm_naive",
    "spread_app",
    "spread_naive",
    "storm_keyed_app",
    "spread_keyed_app",
    "events_app",
}
CALLS = ("status_read", "blob_read", "blob_read_direct")
CALL_COSTS = {f"{call}_{unit}" for call in CALLS for unit in ("ms", "cpu_ms")}
OP_KINDS = {"status", "start", "lease", "record", "other", "total"}
ROUND_FIGURES = {"p50_ms", "max_ms", "wall_ms", "requests_per_second", "cpu_ms_per_request"}
TARGETS = [
    "restart of an ID started through the app: app p50 / sample p50",
    "fresh ID: app p50 / sample p50",
    "duplicate against a Running ID: app p50 / sample p50",
    "duplicate: app p50 - sample p50, under half a storage round trip (one round trip in all)",
    "4 concurrent for one new ID: round / one fresh start's p50",
    "12 concurrent over 3 IDs: app req/s / sample req/s",
    "app CPU per fresh start / sample's",
    f"{EVENT_BURST} concurrent events to one Running instance: the slowest / a lone event's p50",
    "loading HttpStartSingle in a new process: app - sample",
]
ROUNDS = 2


def read(path: Path) -> str:
    return path.read_text()


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


async def test_quick_bench_writes_every_case_round_target_cause_and_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    options = parse_options(
        [
            *("--quick", "--requests", "2", "--rounds", str(ROUNDS), "--storm-size", "4", "--spread-ids", "3"),
            *("--loads", "1", "--profile-starts", "2", "--out", str(out)),
        ]
    )

    report = await run(options)

    assert json.loads(read(out)) == report
    assert report["settings"]["storage_ms"] == 5.0
    assert set(report["call_costs"]) == CALL_COSTS
    assert all(is_number(value) for value in report["call_costs"].values())
    assert list(report["scenarios"]) == SCENARIOS + EVENT_SCENARIOS
    for name, figures in report["scenarios"].items():
        assert figures["requests"] > 0, name
        assert set(figures["latency_ms"]) == {"p50", "p90", "p99"}, name
        assert figures["requests_per_second"] > 0, name
        assert is_number(figures["cpu_ms_per_request"]), name
        assert set(figures["storage_ops_per_request"]) == OP_KINDS, name
        assert figures["storage_ops_per_request"]["total"] > 0, name
        assert len(figures["rounds"]) == ROUNDS and all(set(each) == ROUND_FIGURES for each in figures["rounds"])
        if name in CONCURRENT:
            assert set(figures["round_wall_ms"]) == {"p50", "p90", "p99"}, name
            assert set(figures["instances"]) == {"ids", "effective_starts", "accepted_starts"}, name
    # Each ID's life: started, restarted once its instance Completed, refused while it runs.
    for side in ("app", "naive", "keyed_app"):
        assert report["scenarios"][f"restart_{side}"]["statuses"] == {"202": 2 * ROUNDS}, side
        assert report["scenarios"][f"duplicate_{side}"]["statuses"] == {"409": 2 * ROUNDS * DUPLICATE_POSTS}, side
    # Every event to the Running instance is queued, the burst's as much as the lone ones'.
    assert report["scenarios"]["event_app"]["statuses"] == {"202": 2 * ROUNDS}
    assert report["scenarios"]["events_app"]["statuses"] == {"202": EVENT_BURST * ROUNDS}
    for side in ("app", "sample"):
        assert len(report["loads"][side]["load_ms"]) == 1 and report["loads"][side]["modules"] > 0, side
    assert report["loads"]["app"]["imports_identity"] is False
    assert [entry["target"] for entry in report["targets"]] == TARGETS
    for entry in report["targets"]:
        assert is_number(entry["measured"]) and is_number(entry["limit"]), entry["target"]
        assert entry["spread"][0] <= entry["measured"] <= entry["spread"][1], entry["target"]
        assert entry["result"] == ("PASS" if entry["holds"] else "MISS"), entry["target"]
    misses = [entry["target"] for entry in report["targets"] if not entry["holds"]]
    assert len(report["missed"]) == len(misses)
    assert all(line.startswith(f"MISS {target}: ") for line, target in zip(report["missed"], misses, strict=True))
    printed = capsys.readouterr().out
    assert all(line in printed for line in report["missed"])
    assert all(target in printed for target in TARGETS)
    profile = report["profile"]
    assert profile["starts"] == 2
    assert read(Path(profile["file"])).startswith(profile["summary"])
