"""The benchmark runs end to end with tiny counts and reports every figure, so it cannot rot unnoticed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.run import parse_options, run

pytestmark = pytest.mark.asyncio(loop_scope="session")

SCENARIOS = {"a_fresh_app", "b_fresh_naive", "c_duplicate_app", "d_storm_app", "e_spread_app", "e_spread_naive"}
CONCURRENT = {name for name in SCENARIOS if name.startswith(("d_", "e_"))}
ROUND_TRIP_KINDS = {"status_reads", "creates", "lease_calls", "total"}
INSTANCE_COUNTS = {"ids", "effective_starts", "accepted_starts", "enqueued_starts"}


async def test_quick_bench_writes_every_figure_and_target_to_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    options = parse_options(
        ["--quick", "--requests", "3", "--rounds", "1", "--storm-size", "4", "--spread-ids", "3", "--out", str(out)]
    )

    report = await run(options)

    assert json.loads(out.read_text()) == report
    assert report["settings"]["latency_ms"] == 2.0
    assert set(report["call_costs"]) == {"status_read_ms", "lease_call_ms"}
    assert SCENARIOS <= set(report["scenarios"])
    for name in SCENARIOS:
        figures = report["scenarios"][name]
        assert figures["requests"] > 0, name
        assert set(figures["latency_ms"]) == {"p50", "p99"}, name
        assert figures["requests_per_second"] > 0, name
        assert figures["cpu_ms_per_request"] >= 0, name
        assert ROUND_TRIP_KINDS <= set(figures["round_trips_per_request"]), name
        if name in CONCURRENT:
            assert set(figures["round_wall_ms"]) == {"p50", "p99"}, name
            assert set(figures["instances"]) == INSTANCE_COUNTS, name
    assert report["scenarios"]["c_duplicate_app"]["statuses"] == {"409": 3}
    assert [entry["target"][:3] for entry in report["targets"]] == ["(c)", "(a)", "(a)", "(d)", "(e)"]
    for entry in report["targets"]:
        assert entry["result"] in ("PASS", "MISS")
        assert isinstance(entry["measured"], float | int)
        assert (entry["result"] == "MISS") == ("miss_by" in entry)
