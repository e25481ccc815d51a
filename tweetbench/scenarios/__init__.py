"""Scenarios: which timed passes run on a device and what they yield (benchmark, convergence, tune, data-parallel)."""
