"""Benchmarks: not tests. Each prints its figures, the baseline measured in the same run, and its command."""
