"""Benchmarks: commands that print figures and write them as JSON (``kuajing bench ...``).

- ``pipeline``: wall time and peak memory of generation, ingest + checks and dbt build by size;
- ``forecast``: the backtest comparison of the demand forecast with baselines and peers, and
  its scoring speed.

Shared output (tables, JSON, progress) is in ``ml.bench.output``.
"""
