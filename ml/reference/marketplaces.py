"""Built-in reference figures for well-known marketplace codes.

The one copy is the dbt seed ``dbt_project/seeds/marketplace_reference.csv``: dbt loads it into
the warehouse for the marts, and ingest reads it here (a currency check and the local time zone
of an order when the seller's files carry no marketplaces entity).
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from ml.settings import DBT_PROJECT_DIR

MARKETPLACE_REFERENCE = DBT_PROJECT_DIR / "seeds" / "marketplace_reference.csv"


@cache
def marketplace_rows(path: Path = MARKETPLACE_REFERENCE) -> tuple[dict[str, str], ...]:
    """Every row of the reference, values as text."""
    with path.open(newline="", encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


def marketplace_values(column: str) -> dict[str, str]:
    """Marketplace code -> the reference's value of ``column`` (e.g. currency, timezone)."""
    return {row["marketplace"]: row[column] for row in marketplace_rows()}
