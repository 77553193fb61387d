"""Benchmarks and the quality reference: scripts that print figures, not tests.

Run them from the repository root, e.g. `python -m benchmarks.compress_benchmark`.
"""
