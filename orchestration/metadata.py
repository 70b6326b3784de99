"""Asset metadata shown in the Dagster UI: one way to render a table preview."""

from __future__ import annotations

import dagster as dg
import pandas as pd

PREVIEW_ROWS = 5


def markdown_preview(frame: pd.DataFrame | None, rows: int = PREVIEW_ROWS) -> dg.MetadataValue:
    """The first ``rows`` rows as a markdown table, every value as text ("_no rows_" if empty)."""
    if frame is None or frame.empty:
        return dg.MetadataValue.md("_no rows_")
    return dg.MetadataValue.md(frame.head(rows).astype(str).to_markdown(index=False))
