"""Benchmarks for CR Tracker (run by hand, never collected by pytest; see bench/README.md)."""
