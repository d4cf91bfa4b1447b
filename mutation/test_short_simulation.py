"""The simulation as a test for mutation testing: seeds 1 to RUNS through each backend, as `python -m simulation
--runs RUNS --seed 1 --backend B --require-coverage` checks them, stopping at the first seed that breaks an
invariant (a mutant is killed sooner). Outside tests/, so the normal suite does not collect it; scripts/mutate
runs it under each mutant (docs/simulation.md, "Mutation testing")."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from simulation.simulator import BACKENDS, COVERAGE, run_seed

# 500 runs from seed 1 reach every coverage counter but the rarest at least 3 times on either backend, in about
# 2 s each; the rarest are required of the 20,000 runs of scripts/test.
RUNS = int(os.environ.get("MUTATION_RUNS", "500"))
FIRST_SEED = 1
RARE = frozenset(
    {
        "lease_expired_under_holder",
        "terminate_merged_never_run",
        "terminate_merged_into_a_run_row",
        "checkpoint_overwrote_newer_row",
        "event_dropped_never_run",
        "concurrent_signals_one_start",
        "keyed_signal_delivered_on_retry",
    }
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_short_simulation_keeps_every_invariant_and_reaches_every_case(backend: str) -> None:
    coverage: Counter[str] = Counter()
    for seed in range(FIRST_SEED, FIRST_SEED + RUNS):
        result = run_seed(seed, backend=backend)
        if result.failed:
            violation = result.violations[0]
            pytest.fail(f"seed {seed} ({backend}): {violation.invariant}: {violation.detail}")
        coverage.update(result.coverage)
    unreached = [name for name in COVERAGE if not coverage[name] and name not in RARE]
    assert not unreached, f"{RUNS} runs ({backend}) reached no {', '.join(unreached)}"
