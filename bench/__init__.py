"""Benchmarks: keepwarm against what teams do today, and what one tick costs at scale.

``python -m bench.simulate`` and ``python -m bench.tick_scaling`` (``make bench`` runs
both) drive the service's real code on loopback only and write docs/benchmarks.md.
Nothing in chalicelib imports this package: the Lambda never needs it (nor matplotlib).
"""
