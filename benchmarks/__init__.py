"""Benchmarks and the quality reference; run from the repository root, e.g. `python -m benchmarks.compress_benchmark`."""
