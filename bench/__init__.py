"""Benchmark of HttpStartSingle against the check-then-start sample (run with scripts/bench)."""
