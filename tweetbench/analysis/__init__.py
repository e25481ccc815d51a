"""Analysis: pure functions over records (statistics, trials, compare, scaling, efficiency, breakdown, parity)."""
