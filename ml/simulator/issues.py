"""Dirty data on purpose: rows that each break exactly one contract rule, counted exactly.

``injected_issues`` counts the rows of the raw files that break each rule, i.e. exactly what the
quarantine must hold. For ``overlapping_validity`` one added tariff row overlaps one existing row,
so each injection makes two rows break the rule (the contract's rule is symmetric).

Order rows go into the monthly Parquet files (a row with an unreadable price cannot live in a
typed Parquet column, so those go into ``orders_manual_upload.csv``, a hand-kept export); the
overlapping tariff row goes into the tariff file. Each injected row is an extra row: the clean
rows (and so the true sales) are untouched.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .scenario import ISSUE_RULES
from .world import order_id_parts

MANUAL_UPLOAD = "orders_manual_upload.csv"
# Non-ISO spellings sellers' exports really contain.
INVALID_CURRENCY = {
    "EUR": "EURO",
    "GBP": "UKP",
    "JPY": "YEN",
    "USD": "US$",
    "CAD": "CA$",
    "MXN": "PESO",
    "AUD": "AU$",
}
FUTURE_YEAR = 2030  # clearly after any run date of the demo


def issue_counts(rates: dict[str, float], n_order_rows: int, n_tariff_rows: int) -> dict[str, int]:
    """Rows to inject per rule: the rate times the rows it applies to, at least one if > 0."""
    out = {}
    for rule in ISSUE_RULES:
        rate = float(rates.get(rule, 0.0))
        base = n_tariff_rows if rule == "overlapping_validity" else n_order_rows
        out[rule] = max(1, int(round(rate * base))) if rate > 0 and base > 0 else 0
    return out


def _order_id(no: int, prefix: str) -> str:
    hi, lo = order_id_parts(np.array([no]))
    return f"{prefix}-{int(hi[0]):07d}-{int(lo[0]):07d}"


def inject_issues(
    rates: dict[str, float],
    rng: np.random.Generator,
    raw: Path,
    order_files: list[Path],
    tariffs: pd.DataFrame,
    catalog_skus: set[str],
    next_order_no: int,
    n_hist: int,
    start: date,
) -> tuple[dict[str, int], pd.DataFrame, pd.DataFrame, list[Path]]:
    """Inject the planned rows; returns counts, one record per row, the tariff frame and any
    extra order files written."""
    n_orders = sum(pq.read_metadata(p).num_rows for p in order_files)
    counts = issue_counts(rates, n_orders, len(tariffs))
    records: list[dict] = []
    extra: list[Path] = []
    order_rules = [r for r in ISSUE_RULES if r != "overlapping_validity" and counts[r]]
    plan: dict[int, list[str]] = {}
    for rule in order_rules:
        for f in rng.integers(0, len(order_files), counts[rule]):
            plan.setdefault(int(f), []).append(rule)
    no = next_order_no
    manual: list[dict] = []
    for f_idx in sorted(plan):
        path = order_files[f_idx]
        df = pq.read_table(path).to_pandas()
        new_rows: list[dict] = []
        for rule in plan[f_idx]:
            pool = np.arange(len(df))
            if rule == "currency_mismatch":
                non_usd = np.nonzero(df["currency"].to_numpy() != "USD")[0]
                pool = non_usd if len(non_usd) else pool
            row = df.iloc[int(rng.choice(pool))].to_dict()
            if rule != "duplicate_key":
                row["order_id"] = _order_id(no, row["order_id"][:3])
                no += 1
            detail = ""
            if rule == "duplicate_key":
                detail = "repeats an order line"
            elif rule == "orphan_reference":
                sku = f"KJ-LEG-{int(rng.integers(1, 99999)):05d}"
                while sku in catalog_skus:
                    sku = f"KJ-LEG-{int(rng.integers(1, 99999)):05d}"
                row["sku"], detail = sku, "SKU not in the catalogue"
            elif rule == "invalid_currency":
                row["currency"] = INVALID_CURRENCY.get(row["currency"], "EURO")
                detail = f"currency {row['currency']!r}"
            elif rule == "out_of_range":
                row["quantity"] = int(rng.choice([0, -1]))
                detail = f"quantity {row['quantity']}"
            elif rule == "future_date":
                ts = pd.Timestamp(row["order_date"])
                row["order_date"] = pd.Timestamp(
                    datetime(FUTURE_YEAR, ts.month, min(ts.day, 28), ts.hour, ts.minute, ts.second)
                )
                detail = f"order_date {row['order_date']}"
            elif rule == "currency_mismatch":
                row["currency"] = "USD" if row["currency"] != "USD" else "CAD"
                detail = f"{row['currency']} on a {row['marketplace']} order"
            elif rule == "bad_type":
                manual.append(row)
                continue
            new_rows.append(row)
            records.append(
                {
                    "rule": rule,
                    "entity": "orders",
                    "file": str(path.relative_to(raw)),
                    "key": row["order_id"],
                    "sku": row["sku"],
                    "detail": detail,
                }
            )
        if new_rows:
            out = pd.concat([df, pd.DataFrame(new_rows)], ignore_index=True)
            # Stable by time: a repeated line lands right after its original.
            out = out.sort_values("order_date", kind="stable").reset_index(drop=True)
            schema = pq.read_schema(path)
            pq.write_table(pa.Table.from_pandas(out, schema=schema, preserve_index=False), path)
    if manual:
        path = order_files[0].parent / MANUAL_UPLOAD
        rows = []
        for row in manual:
            rows.append(
                {
                    "order_id": row["order_id"],
                    "order_date": pd.Timestamp(row["order_date"]).strftime("%Y-%m-%d %H:%M:%S"),
                    "marketplace": row["marketplace"],
                    "sku": row["sku"],
                    "quantity": str(int(row["quantity"])),
                    "unit_price": "n/a",
                    "currency": row["currency"],
                }
            )
            records.append(
                {
                    "rule": "bad_type",
                    "entity": "orders",
                    "file": str(path.relative_to(raw)),
                    "key": row["order_id"],
                    "sku": row["sku"],
                    "detail": "unit_price 'n/a'",
                }
            )
        pd.DataFrame(rows).sort_values("order_date", kind="stable").to_csv(
            path, index=False, lineterminator="\n"
        )
        extra.append(path)
    tariffs = _overlap_tariffs(tariffs, counts["overlapping_validity"], rng, records)
    # Counts are rows that break each rule in the files (what a quarantine must catch): an
    # added overlapping tariff row makes two rows overlap.
    counts["overlapping_validity"] *= 2
    cols = ["rule", "entity", "file", "key", "sku", "detail"]
    return counts, pd.DataFrame(records, columns=cols), tariffs, extra


def _overlap_tariffs(
    tariffs: pd.DataFrame, n: int, rng: np.random.Generator, records: list[dict]
) -> pd.DataFrame:
    """Add ``n`` rows that each overlap one existing row with the same validity key."""
    if not n:
        return tariffs
    vf = pd.to_datetime(tariffs["valid_from"])
    vt = pd.to_datetime(tariffs["valid_to"])
    long_enough = vt.isna() | ((vt - vf).dt.days >= 30)
    key_cols = ["destination", "hs_code_prefix", "origin_country", "measure_type", "legal_basis"]
    cand = tariffs[long_enough].drop_duplicates(key_cols)
    picks = cand.iloc[rng.permutation(len(cand))[:n]]
    new = []
    for j, (_, r) in enumerate(picks.iterrows(), start=1):
        row = r.to_dict()
        row["measure_id"] = f"TM-{row['destination']}-9{j:04d}"
        row["valid_from"] = (
            (pd.Timestamp(row["valid_from"]) + pd.Timedelta(days=7)).date().isoformat()
        )
        if row["rate_type"] == "ad_valorem":
            row["ad_valorem_rate"] = round(float(row["ad_valorem_rate"] or 0) + 0.05, 4)
        new.append(row)
        # The rule is symmetric: the added row and the row it overlaps both break it.
        for key, other in (
            (row["measure_id"], r["measure_id"]),
            (r["measure_id"], row["measure_id"]),
        ):
            records.append(
                {
                    "rule": "overlapping_validity",
                    "entity": "tariff_measures",
                    "file": "tariff_measures/tariff_measures.csv",
                    "key": key,
                    "sku": None,
                    "detail": f"validity overlaps {other}",
                }
            )
    return pd.concat([tariffs, pd.DataFrame(new)], ignore_index=True)
