"""Benchmarks for npsloop; see bench/README.md."""
