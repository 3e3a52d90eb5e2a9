"""Benchmarks of the lakehouse; run with ``make bench`` (``python -m benchmarks``)."""
