"""Benchmarks: `python -m benchmarks [NAME...]` (or `make bench`) prints figures per workload."""
