"""Performance benchmark of cropedge (``make bench``): ratios measured in one run on one machine.

Run ``python -m bench.perf --out bench/perf.json`` from the repository root; see
docs/performance.md for the targets and the latest figures.
"""
