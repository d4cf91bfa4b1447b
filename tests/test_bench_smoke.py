"""The benchmark runs end to end with tiny counts and reports every figure, so it cannot rot unnoticed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.run import parse_options, run

pytestmark = pytest.mark.asyncio(loop_scope="session")

ONE_AT_A_TIME = {
    "fresh_app",
    "fresh_naive",
    "restart_app",
    "restart_naive",
    "duplicate_app",
    "duplicate_naive",
    "fresh_keyed_app",
    "restart_keyed_app",
    "duplicate_keyed_app",
}
CONCURRENT = {"storm_app", "storm_naive", "spread_app", "spread_naive", "storm_keyed_app", "spread_keyed_app"}
CALLS = ("status_read", "blob_read", "blob_read_direct")
CALL_COSTS = {f"{call}_{unit}" for call in CALLS for unit in ("ms", "cpu_ms")}
OP_KINDS = {"status", "start", "lease", "record", "other", "total"}
TARGETS = [
    "fresh ID: app p50 / naive p50",
    "restart of a Completed ID: app p50 / naive p50",
    "duplicate against a Running ID: app p50 / naive p50",
    "duplicate against a Running ID: storage operations per request",
    "4 concurrent for one new ID: round p50 / one fresh start's p50",
    "12 concurrent over 3 IDs: app req/s / naive req/s",
    "app CPU per fresh start / naive's",
]


def read(path: Path) -> str:
    return path.read_text()


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


async def test_quick_bench_writes_every_scenario_figure_target_and_profile(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    options = parse_options(
        ["--quick", "--requests", "3", "--rounds", "1", "--storm-size", "4", "--spread-ids", "3", "--out", str(out)]
    )

    report = await run(options)

    assert json.loads(out.read_text()) == report
    assert report["settings"]["storage_ms"] == 5.0
    assert set(report["call_costs"]) == CALL_COSTS
    assert all(is_number(value) for value in report["call_costs"].values())
    assert set(report["scenarios"]) == ONE_AT_A_TIME | CONCURRENT
    for name, figures in report["scenarios"].items():
        assert figures["requests"] > 0, name
        assert set(figures["latency_ms"]) == {"p50", "p90", "p99"}, name
        assert all(is_number(value) for value in figures["latency_ms"].values()), name
        assert figures["requests_per_second"] > 0, name
        assert is_number(figures["cpu_ms_per_request"]), name
        assert set(figures["storage_ops_per_request"]) == OP_KINDS, name
        assert all(is_number(value) for value in figures["storage_ops_per_request"].values()), name
        if name in CONCURRENT:
            assert set(figures["round_wall_ms"]) == {"p50", "p90", "p99"}, name
            assert set(figures["instances"]) == {"ids", "effective_starts", "accepted_starts"}, name
    assert [entry["target"] for entry in report["targets"]] == TARGETS
    for entry in report["targets"]:
        assert is_number(entry["measured"]) and is_number(entry["limit"]), entry["target"]
        assert entry["result"] == ("PASS" if entry["holds"] else "MISS"), entry["target"]
    assert report["scenarios"]["duplicate_app"]["storage_ops_per_request"]["total"] == 1
    profile = report["profile"]
    assert profile["starts"] == 3
    assert is_number(profile["cpu_ms_per_start"]) and is_number(profile["storage_sdk_cpu_ms_per_blob_op"])
    assert read(Path(profile["file"])).startswith(profile["summary"])
