"""Mutation testing of the start's modules against the short simulation and the pure unit tests (scripts/mutate)."""
