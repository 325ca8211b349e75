"""Benchmark scripts (not tests): run each from the checkout's root as ``python -m benchmarks.<name>``;
see benchmarks/README.md. What they share is in ``benchmarks.common``."""
