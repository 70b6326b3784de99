"""Reference data every domain reads: the simulator, ingest, the importers, the forecast and
pricing.

- ``marketplaces``: built-in figures for well-known marketplace codes (the dbt seed
  ``marketplace_reference.csv``); re-exported here, so ``from ml import reference`` then
  ``reference.marketplace_values("timezone")`` reads them.
- ``calendar``: market public holidays and marketplace sales events (Prime Day, Black Friday,
  Singles' Day, ...): ``from ml.reference import calendar``.
"""

from __future__ import annotations

from .marketplaces import MARKETPLACE_REFERENCE, marketplace_rows, marketplace_values

__all__ = ["MARKETPLACE_REFERENCE", "marketplace_rows", "marketplace_values"]
