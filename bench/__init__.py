"""Benchmarks: keepwarm against what teams do today, and what one tick costs at scale.

``python -m bench.simulate`` (scenario files in ``bench/scenarios/``), ``python -m
bench.tick_scaling`` and ``python -m bench.load`` (``make bench`` runs them all) drive the
service's real code on loopback only and each write their section of docs/benchmarks.md.
Nothing in chalicelib imports this package: the Lambda never needs it (nor matplotlib).
"""
