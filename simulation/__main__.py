"""`python -m simulation --runs N --seed S [--backend http|grpc|both] [--json PATH]`: run seeds S to S+N-1 through
each backend adapter asked for (both by default), report figures and failures.

The last line is exactly `simulated N runs (seed S): V violations`, V being the runs that broke an invariant (on
either backend); the exit code is 1 when V is not 0. `--runs 1 --seed X` reproduces the run of seed X.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from pathlib import Path

from .invariants import INVARIANTS
from .simulator import BACKENDS, COVERAGE, RunResult, run, run_seed, shrink

FAILURES_LISTED = 20


def explore(
    first: int, count: int, late_landing_bound: float, backend: str = "http"
) -> tuple[Counter[str], list[tuple[int, list[str]]]]:
    """Run a block of seeds; the runs that reached each coverage case, and the failing seeds."""
    coverage: Counter[str] = Counter()
    failures = []
    for seed in range(first, first + count):
        result = run_seed(seed, late_landing_bound, backend)
        coverage.update(result.coverage)
        if result.failed:
            failures.append((seed, [f"{v.invariant}: {v.detail}" for v in result.violations]))
    return coverage, failures


def _explore(args: tuple[int, int, float, str]) -> tuple[Counter[str], list[tuple[int, list[str]]]]:
    return explore(*args)


def blocks(seed: int, runs: int, workers: int) -> list[tuple[int, int]]:
    size = max(1, min(500, runs // (workers * 4) or 1))
    return [(first, min(size, seed + runs - first)) for first in range(seed, seed + runs, size)]


def report_failure(result: RunResult, backend: str) -> None:
    small = shrink(result, lambda scenario: run(scenario, backend))
    print(
        f"\n--- seed {result.scenario.seed} fails; shrunk from {result.scenario.size()} to {small.scenario.size()} "
        "actors, hosts and faults ---"
    )
    for line in small.scenario.describe():
        print(f"  {line}")
    print("violations:")
    for violation in small.violations:
        print(f"  {violation.invariant}: {violation.detail}")
    print("timeline (virtual seconds, who, what):")
    for line in small.timeline:
        print(f"  {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/simulate", description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write {runs, violations, coverage} here")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument(
        "--late-landing-bound",
        type=float,
        default=8.0,
        help=(
            "the longest a request may reach the extension after it was sent (s); below the smallest landing "
            "window drawn (lease minus backend timeout: 10 s) less a second"
        ),
    )
    parser.add_argument(
        "--backend",
        choices=[*sorted(BACKENDS), "both"],
        default="both",
        help="the Backend adapter the hosts use: the 1.x SDK's HTTP answers, the 2.x SDK's gRPC ones, or each in turn",
    )
    parser.add_argument("--explain", type=int, default=1, help="failing seeds to shrink and show with a timeline")
    parser.add_argument(
        "--require-coverage",
        action="store_true",
        help="fail when a coverage counter is 0: an exploration that never reached a hard case proves nothing",
    )
    args = parser.parse_args(argv)
    backends = sorted(BACKENDS, reverse=True) if args.backend == "both" else [args.backend]
    summaries, failed, unreached_any = {}, 0, False
    for backend in backends:
        if len(backends) > 1:
            print(f"== backend {backend}")
        failures, coverage, unreached = simulate(args, backend)
        failed += len(failures)
        unreached_any = unreached_any or bool(unreached)
        summaries[backend] = {"violations": len(failures), "coverage": {name: coverage[name] for name in COVERAGE}}
    if args.json:
        summary = {"runs": args.runs, "violations": failed, "backends": summaries}
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"simulated {args.runs} runs (seed {args.seed}): {failed} violations")
    return 1 if failed or (args.require_coverage and unreached_any) else 0


def simulate(args: argparse.Namespace, backend: str) -> tuple[list[tuple[int, list[str]]], Counter[str], list[str]]:
    """The runs through one backend adapter, with their figures printed: the failing seeds, the coverage, and the
    coverage counters left at 0."""
    began = time.perf_counter()
    coverage: Counter[str] = Counter()
    failures: list[tuple[int, list[str]]] = []
    work = [
        (first, count, args.late_landing_bound, backend) for first, count in blocks(args.seed, args.runs, args.workers)
    ]
    if args.workers > 1 and len(work) > 1:
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            results = pool.map(_explore, work, chunksize=1)
    else:
        results = [_explore(block) for block in work]
    for block_coverage, block_failures in results:
        coverage.update(block_coverage)
        failures.extend(block_failures)
    elapsed = time.perf_counter() - began

    print(f"runs per second: {args.runs / elapsed:.0f} ({args.runs} runs in {elapsed:.1f} s on {args.workers} workers)")
    print("coverage (runs that reached each case):")
    for name in COVERAGE:
        print(f"  {name:<34} {coverage[name]}")
    for name in sorted(key for key in coverage if ":" in key):
        print(f"  {name:<34} {coverage[name]}")
    broken = Counter(message.split(":")[0] for _, messages in failures for message in messages[:1])
    print("violations (runs, by the first invariant each broke):")
    for invariant in INVARIANTS:
        print(f"  {invariant.__name__:<34} {broken[invariant.__name__]}")
    failures.sort()
    for seed, messages in failures[:FAILURES_LISTED]:
        print(f"  seed {seed}: {messages[0]}")
    for seed, _ in failures[: args.explain]:
        report_failure(run_seed(seed, args.late_landing_bound, backend), backend)
    unreached = [name for name in COVERAGE if not coverage[name]]
    if args.require_coverage and unreached:
        print(f"coverage not reached ({backend}): {', '.join(unreached)}")
    return failures, coverage, unreached


if __name__ == "__main__":
    sys.exit(main())
