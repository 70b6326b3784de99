"""A small hand-made warehouse for the dbt project's tests, and a plain-Python landed cost.

The raw tables are created from ``ml.contract.raw_table`` so their schema is exactly the
contract's; the rows are few enough to check every mart value by hand.

The world: one hub (Shenzhen) and two marketplaces, US (FOB, no VAT) and DE (CIF, EU, VAT 19 %),
each with an ocean and an express lane. Two SKUs made in China: a kettle (HS 8516.71, 2 kg,
USD 10) and a T-shirt (HS 6109.10, 0.25 kg, CNY 28). Tariffs follow the real 2025-2026 changes:
US MFN + Section 301 + IEEPA (ended 2026-02-19) + Section 122 surcharge (from 2026-02-20), US de
minimis (USD 800; off for China from 2025-05-02, for everyone from 2025-08-29), EU MFN +
anti-dumping, EU de minimis (EUR 150, until 2026-06-30) then EUR 3 per item (from 2026-07-01).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ml.contract import ENTITY_NAMES, QUARANTINE, RAW_SCHEMA, raw_table

INGESTED_AT = dt.datetime(2026, 3, 11, 6, 0, 0)

# Units a shipment's fixed cost is spread over: the project's default var units_per_shipment.
UNITS_PER_SHIPMENT = {"ocean": 2000, "rail": 1000, "air": 200, "express": 1}
US_MPF_RATE = 0.003464
US_MPF_FY2026 = (33.58, 651.50)
US_HMF_RATE = 0.00125

D = dt.date


def create_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Every ``raw.<entity>`` table and ``quality.quarantine``, empty, as the contract defines
    them (ingest creates both before dbt runs, quarantine even when no row was quarantined)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {QUARANTINE.schema}")
    for table in [*(raw_table(name) for name in ENTITY_NAMES), QUARANTINE]:
        cols = ", ".join(f'"{c}" {t}' for c, t in table.columns.items())
        con.execute(f"CREATE TABLE IF NOT EXISTS {table.qualified} ({cols})")


def insert_quarantine(con: duckdb.DuckDBPyConnection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Append ``quality.quarantine`` rows (missing columns NULL; original_values a dict)."""
    names = list(QUARANTINE.columns)
    count = 0
    for row in rows:
        unknown = set(row) - set(names)
        if unknown:
            raise KeyError(f"quarantine has no columns {sorted(unknown)}")
        values = {n: row.get(n) for n in names}
        for name in ("original_values", "row_key"):
            if isinstance(values.get(name), dict):
                values[name] = json.dumps(values[name])
        values["quarantined_at"] = values["quarantined_at"] or INGESTED_AT
        con.execute(
            f"INSERT INTO {QUARANTINE.qualified} ({', '.join(names)}) "
            f"VALUES ({', '.join('?' for _ in names)})",
            [values[n] for n in names],
        )
        count += 1
    return count


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    rows: Iterable[Mapping[str, Any]],
    ingested_at: dt.datetime = INGESTED_AT,
    source_file: str | None = None,
    first_row: int = 1,
) -> int:
    """Append contract rows (missing optional columns are NULL) with lineage columns."""
    table = raw_table(entity)
    names = list(table.columns)
    count = 0
    for i, row in enumerate(rows, start=first_row):
        unknown = set(row) - set(names)
        if unknown:
            raise KeyError(f"{entity} has no columns {sorted(unknown)}")
        values = {
            **{n: None for n in names},
            **row,
            "_source_file": source_file or f"{entity}/fixture.csv",
            "_source_row": i,
            "_ingested_at": ingested_at,
        }
        con.execute(
            f"INSERT INTO {table.qualified} ({', '.join(names)}) "
            f"VALUES ({', '.join('?' for _ in names)})",
            [values[n] for n in names],
        )
        count += 1
    return count


def build_warehouse(path: Path, world: Mapping[str, list[dict]]) -> Path:
    """``world``: contract rows per entity; the key ``quarantine`` holds quarantine rows."""
    con = duckdb.connect(str(path))
    try:
        create_raw_tables(con)
        for entity, rows in world.items():
            if entity == "quarantine":
                insert_quarantine(con, rows)
            else:
                insert_rows(con, entity, rows)
    finally:
        con.close()
    return path


# ---------------------------------------------------------------------------------------------
# The small world
# ---------------------------------------------------------------------------------------------

# fmt: off
AS_OF = D(2026, 3, 10)  # the latest order date
HISTORY_START = D(2025, 4, 1)  # the first order date

FX = {"EUR": 1.08, "CNY": 0.14}  # USD per unit, quoted on weekdays only below
FX_LATE_EUR = 1.10  # EUR from 2026-03-02 on


def _fx_rows() -> list[dict]:
    rows = []
    day = D(2025, 3, 3)
    while day <= AS_OF:
        if day.weekday() < 5:  # weekends are gaps, carried forward
            eur = FX_LATE_EUR if day >= D(2026, 3, 2) else FX["EUR"]
            rows.append({"rate_date": day, "currency": "EUR", "usd_per_unit": eur})
            rows.append({"rate_date": day, "currency": "CNY", "usd_per_unit": FX["CNY"]})
        day += dt.timedelta(days=1)
    return rows


MARKETPLACES = [
    {"marketplace": "US", "name": "Amazon.com", "country": "US", "region": "north_america",
     "currency": "USD", "vat_rate": 0.0, "referral_fee_rate": 0.15, "prices_include_vat": False,
     "customs_basis": "FOB", "fulfilment_fee_per_unit": 3.0, "fulfilment_fee_per_kg": 0.5,
     "customs_union": None},
    {"marketplace": "DE", "name": "Amazon.de", "country": "DE", "region": "europe",
     "currency": "EUR", "vat_rate": 0.19, "referral_fee_rate": 0.15, "prices_include_vat": True,
     "customs_basis": "CIF", "fulfilment_fee_per_unit": 3.0, "fulfilment_fee_per_kg": 0.4,
     # left empty on purpose: DE imports under the EU tariff through the customs-union seed
     "customs_union": None},
]

WAREHOUSES = [
    {"warehouse_id": "CN-SZX-HUB", "name": "Shenzhen hub", "country": "CN",
     "warehouse_type": "hub", "marketplace": None},
    {"warehouse_id": "US-ONT", "name": "Ontario CA", "country": "US",
     "warehouse_type": "market", "marketplace": "US"},
    {"warehouse_id": "DE-FRA", "name": "Frankfurt", "country": "DE",
     "warehouse_type": "market", "marketplace": "DE"},
]

LANES = [
    {"lane_id": "SZX-ONT-OCEAN", "origin_warehouse_id": "CN-SZX-HUB",
     "destination_warehouse_id": "US-ONT", "mode": "ocean", "cost_per_kg": 1.0,
     "fixed_cost_per_shipment": 2000.0, "cost_currency": "USD", "transit_days_min": 25,
     "transit_days_typical": 30, "transit_days_max": 45, "insurance_rate": 0.005},
    {"lane_id": "SZX-ONT-EXP", "origin_warehouse_id": "CN-SZX-HUB",
     "destination_warehouse_id": "US-ONT", "mode": "express", "cost_per_kg": 8.0,
     "fixed_cost_per_shipment": 0.0, "cost_currency": "USD", "transit_days_min": 5,
     "transit_days_typical": 7, "transit_days_max": 12, "insurance_rate": 0.0},
    {"lane_id": "SZX-FRA-OCEAN", "origin_warehouse_id": "CN-SZX-HUB",
     "destination_warehouse_id": "DE-FRA", "mode": "ocean", "cost_per_kg": 1.2,
     "fixed_cost_per_shipment": 2400.0, "cost_currency": "USD", "transit_days_min": 30,
     "transit_days_typical": 35, "transit_days_max": 50, "insurance_rate": 0.004},
    {"lane_id": "SZX-FRA-EXP", "origin_warehouse_id": "CN-SZX-HUB",
     "destination_warehouse_id": "DE-FRA", "mode": "express", "cost_per_kg": 9.0,
     "fixed_cost_per_shipment": 0.0, "cost_currency": "USD", "transit_days_min": 6,
     "transit_days_typical": 8, "transit_days_max": 14, "insurance_rate": 0.0},
]

CATALOG = [
    {"sku": "KETTLE", "title": "Electric kettle", "category": "kitchen", "hs_code": "8516710000",
     "origin_country": "CN", "unit_cost": 10.0, "cost_currency": "USD", "weight_kg": 2.0,
     "launch_date": D(2025, 1, 1), "discontinued_date": None},
    {"sku": "TSHIRT", "title": "Cotton T-shirt", "category": "apparel", "hs_code": "6109100010",
     "origin_country": "CN", "unit_cost": 28.0, "cost_currency": "CNY", "weight_kg": 0.25,
     "launch_date": None, "discontinued_date": D(2026, 3, 5)},
]


def _measure(measure_id: str, destination: str, prefix: str, origin: str, measure_type: str,
             valid_from: dt.date, valid_to: dt.date | None, legal_basis: str, *,
             ad_valorem: float | None = None, specific: float | None = None,
             unit: str | None = None, rate_currency: str | None = None,
             threshold: float | None = None, threshold_currency: str | None = None,
             rate_type: str | None = None) -> dict:
    if rate_type is None:
        rate_type = "ad_valorem" if specific is None else (
            "compound" if ad_valorem is not None else "specific")
    return {"measure_id": measure_id, "destination": destination, "hs_code_prefix": prefix,
            "origin_country": origin, "measure_type": measure_type, "rate_type": rate_type,
            "ad_valorem_rate": ad_valorem, "specific_rate": specific, "specific_unit": unit,
            "rate_currency": rate_currency, "value_threshold": threshold,
            "threshold_currency": threshold_currency, "valid_from": valid_from,
            "valid_to": valid_to, "legal_basis": legal_basis}


OPEN = None
TARIFF_MEASURES = [
    # US MFN: the 6-digit line beats the 4-digit heading (longest prefix)
    _measure("US-MFN-8516", "US", "8516", "ALL", "mfn", D(2020, 1, 1), OPEN, "HTSUS general",
             ad_valorem=0.02),
    _measure("US-MFN-851671", "US", "851671", "ALL", "mfn", D(2020, 1, 1), OPEN, "HTSUS general",
             ad_valorem=0.027),
    _measure("US-MFN-6109", "US", "6109", "ALL", "mfn", D(2020, 1, 1), OPEN, "HTSUS general",
             ad_valorem=0.165),
    # Section 301: the China-specific heading beats the longer ALL-origin line (origin first)
    _measure("US-301-8516-CN", "US", "8516", "CN", "additional", D(2018, 9, 24), OPEN,
             "Section 301 List 3", ad_valorem=0.25),
    _measure("US-301-851671-ALL", "US", "851671", "ALL", "additional", D(2018, 9, 24), OPEN,
             "Section 301 List 3", ad_valorem=0.10),
    # IEEPA on China, struck down: last day 2026-02-19; stacks with Section 301 (other basis)
    _measure("US-IEEPA-CN-85", "US", "85", "CN", "additional", D(2025, 3, 4), D(2026, 2, 19),
             "IEEPA EO 14228", ad_valorem=0.20),
    _measure("US-IEEPA-CN-61", "US", "61", "CN", "additional", D(2025, 3, 4), D(2026, 2, 19),
             "IEEPA EO 14228", ad_valorem=0.20),
    # Section 122 surcharge replaces it for 150 days
    _measure("US-122-85", "US", "85", "ALL", "surcharge", D(2026, 2, 20), D(2026, 7, 19),
             "Section 122", ad_valorem=0.10),
    _measure("US-122-61", "US", "61", "ALL", "surcharge", D(2026, 2, 20), D(2026, 7, 19),
             "Section 122", ad_valorem=0.10),
    # US de minimis USD 800 (all goods), off for China from 2025-05-02, for all from 2025-08-29
    _measure("US-DM-85", "US", "85", "ALL", "de_minimis", D(2016, 3, 10), D(2025, 8, 28),
             "19 USC 1321", threshold=800.0, threshold_currency="USD", rate_type="ad_valorem",
             ad_valorem=0.0),
    _measure("US-DM-61", "US", "61", "ALL", "de_minimis", D(2016, 3, 10), D(2025, 8, 28),
             "19 USC 1321", threshold=800.0, threshold_currency="USD", rate_type="ad_valorem",
             ad_valorem=0.0),
    _measure("US-DM-OFF-CN-61", "US", "61", "CN", "de_minimis", D(2025, 5, 2), OPEN,
             "EO 14256", threshold=0.0, threshold_currency="USD", rate_type="ad_valorem",
             ad_valorem=0.0),
    _measure("US-DM-OFF-CN-85", "US", "85", "CN", "de_minimis", D(2025, 5, 2), OPEN,
             "EO 14256", threshold=0.0, threshold_currency="USD", rate_type="ad_valorem",
             ad_valorem=0.0),
    # EU: MFN, anti-dumping on Chinese kettles, de minimis EUR 150 then EUR 3 per item
    _measure("EU-MFN-8516", "EU", "8516", "ALL", "mfn", D(2020, 1, 1), OPEN, "CN 2020",
             ad_valorem=0.022),
    _measure("EU-MFN-6109", "EU", "6109", "ALL", "mfn", D(2020, 1, 1), OPEN, "CN 2020",
             ad_valorem=0.12),
    _measure("EU-AD-851671-CN", "EU", "851671", "CN", "anti_dumping", D(2024, 1, 1), OPEN,
             "Reg (EU) 2024/0001", ad_valorem=0.15),
    _measure("EU-DM-85", "EU", "85", "ALL", "de_minimis", D(2021, 7, 1), D(2026, 6, 30),
             "Reg 1186/2009 art 23", threshold=150.0, threshold_currency="EUR",
             rate_type="ad_valorem", ad_valorem=0.0),
    _measure("EU-DM-61", "EU", "61", "ALL", "de_minimis", D(2021, 7, 1), D(2026, 6, 30),
             "Reg 1186/2009 art 23", threshold=150.0, threshold_currency="EUR",
             rate_type="ad_valorem", ad_valorem=0.0),
    _measure("EU-LV3-61", "EU", "61", "ALL", "surcharge", D(2026, 7, 1), D(2028, 6, 30),
             "EU low-value parcels EUR 3", specific=3.0, unit="item", rate_currency="EUR",
             threshold=150.0, threshold_currency="EUR", rate_type="per_item"),
    # Another destination and another HS code: must never match
    _measure("JP-MFN-8516", "JP", "8516", "ALL", "mfn", D(2020, 1, 1), OPEN, "JP tariff",
             ad_valorem=0.5),
    _measure("US-MFN-9503", "US", "9503", "ALL", "mfn", D(2020, 1, 1), D(2026, 9, 30),
             "HTSUS general", ad_valorem=0.9),
]

PRICES = [
    {"sku": "KETTLE", "marketplace": "US", "valid_from": D(2025, 4, 1), "valid_to": D(2026, 2, 28),
     "list_price": 39.99, "currency": "USD"},
    {"sku": "KETTLE", "marketplace": "US", "valid_from": D(2026, 3, 1), "valid_to": None,
     "list_price": 44.99, "currency": "USD"},
    {"sku": "KETTLE", "marketplace": "DE", "valid_from": D(2025, 4, 1), "valid_to": None,
     "list_price": 47.60, "currency": "EUR"},
]


def _orders() -> list[dict]:
    rows = [
        # the first order of the history
        ("O-1", "2025-04-01 09:30", "US", "KETTLE", 1, 39.99, "USD"),
        ("O-2", "2025-06-15", "DE", "KETTLE", 1, 47.60, "EUR"),
        ("O-3", "2026-02-20", "US", "TSHIRT", 3, 15.00, "USD"),
        ("O-4", "2026-03-01 10:00", "US", "KETTLE", 2, 44.99, "USD"),
        ("O-5", "2026-03-01 18:00", "DE", "KETTLE", 1, 47.60, "EUR"),
        ("O-6", "2026-03-03 12:00", "US", "KETTLE", 1, 44.99, "USD"),
        ("O-6", "2026-03-03 12:00", "US", "TSHIRT", 1, 15.00, "USD"),
        ("O-7", "2026-03-05", "DE", "TSHIRT", 2, 11.90, "EUR"),
        ("O-8", "2026-03-10", "US", "KETTLE", 1, 44.99, "USD"),
    ]
    return [
        {"order_id": o, "order_date": dt.datetime.fromisoformat(d), "marketplace": m, "sku": s,
         "quantity": q, "unit_price": p, "currency": c}
        for o, d, m, s, q, p, c in rows
    ]


INVENTORY = [
    {"snapshot_date": D(2026, 2, 28), "warehouse_id": "US-ONT", "sku": "KETTLE", "on_hand": 7},
    {"snapshot_date": D(2026, 3, 1), "warehouse_id": "US-ONT", "sku": "KETTLE", "on_hand": 5},
    {"snapshot_date": D(2026, 3, 2), "warehouse_id": "US-ONT", "sku": "KETTLE", "on_hand": 0},
    {"snapshot_date": D(2026, 3, 4), "warehouse_id": "US-ONT", "sku": "KETTLE", "on_hand": 10},
    {"snapshot_date": D(2026, 3, 9), "warehouse_id": "US-ONT", "sku": "KETTLE", "on_hand": 9},
    {"snapshot_date": D(2026, 3, 9), "warehouse_id": "CN-SZX-HUB", "sku": "KETTLE",
     "on_hand": 500},
]

SHIPMENTS = [
    # arrived 2 days late, 32 days in transit
    {"shipment_id": "S-1", "lane_id": "SZX-ONT-OCEAN", "sku": "KETTLE", "quantity": 100,
     "departed_date": D(2025, 12, 1), "expected_arrival_date": D(2025, 12, 31),
     "arrived_date": D(2026, 1, 2), "freight_cost": 300.0, "cost_currency": "USD"},
    # on time, 28 days
    {"shipment_id": "S-2", "lane_id": "SZX-ONT-OCEAN", "sku": "KETTLE", "quantity": 50,
     "departed_date": D(2026, 1, 5), "expected_arrival_date": D(2026, 2, 4),
     "arrived_date": D(2026, 2, 2), "freight_cost": 150.0, "cost_currency": "USD"},
    # in transit on the as-of date
    {"shipment_id": "S-3", "lane_id": "SZX-ONT-OCEAN", "sku": "KETTLE", "quantity": 40,
     "departed_date": D(2026, 2, 25), "expected_arrival_date": D(2026, 3, 27),
     "arrived_date": None, "freight_cost": 120.0, "cost_currency": "USD"},
]

PROMOTIONS = [
    {"promotion_id": "P-1", "sku": "KETTLE", "marketplace": "US", "promo_type": "deal",
     "discount_pct": 0.10, "start_date": D(2026, 3, 2), "end_date": D(2026, 3, 3)},
    {"promotion_id": "P-2", "sku": "KETTLE", "marketplace": "US", "promo_type": "coupon",
     "discount_pct": 0.20, "start_date": D(2026, 3, 3), "end_date": D(2026, 3, 3)},
]

AD_SPEND = [
    {"spend_date": D(2026, 3, 1), "sku": "KETTLE", "marketplace": "DE", "spend": 5.0,
     "currency": "EUR"},
]


# fmt: on


def small_world() -> dict[str, list[dict]]:
    return {
        "orders": _orders(),
        "catalog": CATALOG,
        "marketplaces": MARKETPLACES,
        "warehouses": WAREHOUSES,
        "lanes": LANES,
        "shipments": SHIPMENTS,
        "tariff_measures": TARIFF_MEASURES,
        "fx_rates": _fx_rows(),
        "inventory": INVENTORY,
        "prices": PRICES,
        "promotions": PROMOTIONS,
        "ad_spend": AD_SPEND,
    }


def orders_only_world() -> dict[str, list[dict]]:
    """The required entity alone (plus an unknown marketplace code): every optional table empty."""
    orders = _orders() + [
        {
            "order_id": "O-9",
            "order_date": dt.datetime(2026, 3, 2),
            "marketplace": "ZZ",
            "sku": "KETTLE",
            "quantity": 1,
            "unit_price": 5.0,
            "currency": "USD",
        },
    ]
    return {"orders": orders}


def weekly_world() -> dict[str, list[dict]]:
    """The small world with its orders summed to weekly rows, as some sellers export them.

    One row per SKU, marketplace and week, dated the week's Monday; quantity summed, unit price
    revenue-weighted. The FX file starts on the first day of sales (2025-04-01, a Tuesday), so
    the first weekly row (Monday 2025-03-31) is dated a day before the first quote.
    """
    weeks: dict[tuple, dict] = {}
    for o in _orders():
        monday = o["order_date"].date() - dt.timedelta(days=o["order_date"].weekday())
        key = (monday, o["sku"], o["marketplace"], o["currency"])
        row = weeks.setdefault(key, {"quantity": 0, "revenue": 0.0})
        row["quantity"] += o["quantity"]
        row["revenue"] += o["quantity"] * o["unit_price"]
    orders = [
        {
            "order_id": f"W-{monday}-{sku}-{mkt}",
            "order_date": dt.datetime.combine(monday, dt.time()),
            "marketplace": mkt,
            "sku": sku,
            "quantity": w["quantity"],
            "unit_price": w["revenue"] / w["quantity"],
            "currency": cur,
        }
        for (monday, sku, mkt, cur), w in sorted(weeks.items())
    ]
    return {
        **small_world(),
        "orders": orders,
        "fx_rates": [r for r in _fx_rows() if r["rate_date"] >= HISTORY_START],
    }


# Prices and promotions planned after the as-of date (the history ends 2026-03-10): a kettle sale
# price overlapping the open-ended US price, a T-shirt price list starting and ending in the
# plan, a kettle listing planned on a marketplace without demand (UK), overlapping US
# promotions, a DE promotion running from the history into the plan and a T-shirt promotion
# without a price list on its marketplace (DE).
# fmt: off
PLANNED_PRICES = [
    {"sku": "KETTLE", "marketplace": "US", "valid_from": D(2026, 3, 20), "valid_to": D(2026, 3, 25),
     "list_price": 41.99, "currency": "USD"},
    {"sku": "TSHIRT", "marketplace": "US", "valid_from": D(2026, 3, 15), "valid_to": D(2026, 4, 30),
     "list_price": 16.50, "currency": "USD"},
    {"sku": "KETTLE", "marketplace": "UK", "valid_from": D(2026, 4, 1), "valid_to": None,
     "list_price": 39.99, "currency": "GBP"},
]
PLANNED_PROMOTIONS = [
    {"promotion_id": "P-3", "sku": "KETTLE", "marketplace": "US", "promo_type": "deal",
     "discount_pct": 0.10, "start_date": D(2026, 3, 15), "end_date": D(2026, 3, 17)},
    {"promotion_id": "P-4", "sku": "KETTLE", "marketplace": "US", "promo_type": "coupon",
     "discount_pct": 0.25, "start_date": D(2026, 3, 16), "end_date": D(2026, 3, 16)},
    {"promotion_id": "P-5", "sku": "KETTLE", "marketplace": "DE", "promo_type": "deal",
     "discount_pct": 0.15, "start_date": D(2026, 3, 8), "end_date": D(2026, 3, 12)},
    {"promotion_id": "P-6", "sku": "TSHIRT", "marketplace": "DE", "promo_type": "deal",
     "discount_pct": 0.30, "start_date": D(2026, 3, 20), "end_date": D(2026, 3, 21)},
]
# fmt: on


def planned_world() -> dict[str, list[dict]]:
    """The small world with prices and promotions planned after its history."""
    world = small_world()
    return {
        **world,
        "prices": world["prices"] + PLANNED_PRICES,
        "promotions": world["promotions"] + PLANNED_PROMOTIONS,
    }


WEEKLY_HISTORY_START = D(2025, 3, 31)  # the Monday of the first order's week
WEEKLY_AS_OF = D(2026, 3, 9)  # the Monday of the last order's week


# The kettle's catalog row, as written in the seller's file (header "SKU"), with a typo in its
# HS code: ingest quarantines the row and keeps the kettle's orders, prices and stock.
KETTLE_BAD_ROW = {
    "SKU": "KETTLE",
    "title": "Electric kettle",
    "category": "kitchen",
    "hs_code": "85167X",
    "origin_country": "CN",
    "unit_cost": "10.0",
    "cost_currency": "USD",
    "weight_kg": "2.0",
    "launch_date": "2025-01-01",
    "discontinued_date": "",
}
KETTLE_BAD_REASON = "hs_code '85167X' is not an HS code of 6-10 digits"
KETTLE_ISSUE = f"raw/catalog/catalog.csv row 1: invalid_hs_code: {KETTLE_BAD_REASON}"


def quarantined_catalog_world() -> dict[str, list[dict]]:
    """The small world with the kettle's catalog row quarantined (invalid HS code).

    Also in quarantine: a SKU that never sold (two failed rules, lower-case " sku " header
    with spaces), an order row of the T-shirt (which stays in the catalog) and an empty file.
    """

    def catalog_entry(row: int, rules: list[str], reason: str, values: dict) -> dict:
        return {
            "entity": "catalog",
            "source_file": "catalog/catalog.csv",
            "row_number": row,
            "failed_rule": rules[0],
            "failed_rules": rules,
            "reason": reason,
            "original_values": values,
            "run_id": "fixture",
        }

    lamp = {
        " sku ": " LAMP ",
        "title": "Desk lamp",
        "category": "home",
        "hs_code": "9405",
        "origin_country": "CN",
        "unit_cost": "abc",
        "cost_currency": "USD",
        "weight_kg": "1.0",
    }
    return {
        **small_world(),
        "catalog": [],  # inserted by build_quarantined_catalog_warehouse, from row 2
        "quarantine": [
            catalog_entry(1, ["invalid_hs_code"], KETTLE_BAD_REASON, KETTLE_BAD_ROW),
            catalog_entry(
                3,
                ["bad_type", "invalid_hs_code"],
                "unit_cost 'abc' is not a decimal; hs_code '9405' is not an HS code of 6-10 digits",
                lamp,
            ),
            {
                "entity": "orders",
                "source_file": "orders/fixture.csv",
                "row_number": 10,
                "failed_rule": "duplicate_key",
                "failed_rules": ["duplicate_key"],
                "reason": "key (order_id, sku) = ('O-3', 'TSHIRT') repeats the row kept at "
                "orders/fixture.csv row 3",
                "original_values": {"order_id": "O-3", "sku": "TSHIRT"},
                "partition_key": "2026-02-20",
                "run_id": "fixture",
            },
            {
                "entity": "inventory",
                "source_file": "inventory/empty.csv",
                "row_number": None,
                "failed_rule": "empty_file",
                "failed_rules": ["empty_file"],
                "reason": "inventory/empty.csv has a header but no rows",
                "run_id": "fixture",
            },
        ],
    }


def build_quarantined_catalog_warehouse(path: Path) -> Path:
    build_warehouse(path, quarantined_catalog_world())
    con = duckdb.connect(str(path))
    try:
        tshirt = [row for row in CATALOG if row["sku"] == "TSHIRT"]
        insert_rows(con, "catalog", tshirt, source_file="catalog/catalog.csv", first_row=2)
    finally:
        con.close()
    return path


# ---------------------------------------------------------------------------------------------
# Reference landed cost: the plain-Python computation the mart is checked against
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Duty:
    measure_id: str
    ad_valorem: float = 0.0
    specific_per_unit_usd: float = 0.0


@dataclass(frozen=True)
class LandedCost:
    unit_cost: float
    freight: float
    insurance: float
    customs_value: float
    duties: dict[str, float]
    fees: float
    import_vat: float
    fulfilment_fee: float

    @property
    def duty_total(self) -> float:
        return sum(self.duties.values())

    @property
    def total_excl_vat(self) -> float:
        return (
            self.unit_cost
            + self.freight
            + self.insurance
            + self.duty_total
            + self.fees
            + self.fulfilment_fee
        )


def reference_landed_cost(
    *,
    unit_cost_usd: float,
    weight_kg: float,
    lane: Mapping[str, Any],
    customs_basis: str,
    duties: Iterable[Duty],
    vat_rate: float,
    prices_include_vat: bool,
    fulfilment_per_unit_usd: float,
    fulfilment_per_kg_usd: float,
    fee_rates: Iterable[tuple[float, float | None, float | None]] = (),
) -> LandedCost:
    """Landed cost per unit in USD for one lane (all inputs already in USD).

    ``fee_rates`` are (rate, min per entry, max per entry) on the customs value of a shipment of
    ``UNITS_PER_SHIPMENT[mode]`` units, spread back over those units.
    """
    units = UNITS_PER_SHIPMENT[lane["mode"]]
    freight = lane["cost_per_kg"] * weight_kg + lane["fixed_cost_per_shipment"] / units
    insurance = lane["insurance_rate"] * (unit_cost_usd + freight)
    # FOB: the goods at the hub; CIF: goods + freight + insurance to the border
    customs_value = (
        unit_cost_usd if customs_basis == "FOB" else (unit_cost_usd + freight + insurance)
    )
    amounts = {d.measure_id: d.ad_valorem * customs_value + d.specific_per_unit_usd for d in duties}
    fees = 0.0
    for rate, low, high in fee_rates:
        per_entry = rate * customs_value * units
        per_entry = max(per_entry, low) if low is not None else per_entry
        per_entry = min(per_entry, high) if high is not None else per_entry
        fees += per_entry / units
    # import VAT is charged on the customs value plus duty and fees
    vat = vat_rate * (customs_value + sum(amounts.values()) + fees) if prices_include_vat else 0.0
    return LandedCost(
        unit_cost=unit_cost_usd,
        freight=freight,
        insurance=insurance,
        customs_value=customs_value,
        duties=amounts,
        fees=fees,
        import_vat=vat,
        fulfilment_fee=fulfilment_per_unit_usd + fulfilment_per_kg_usd * weight_kg,
    )
