"""Minimal valid raw rows per entity, consistent across entities, and writers for test files."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ml import contract

RUN_DATE = date(2025, 6, 30)

VALID_ROWS: dict[str, list[dict[str, str]]] = {
    "catalog": [
        {
            "sku": "SKU1",
            "title": "Phone case",
            "category": "accessories",
            "hs_code": "3926.90.99",
            "origin_country": "CN",
            "unit_cost": "1.20",
            "cost_currency": "CNY",
            "weight_kg": "0.05",
            "launch_date": "2024-01-01",
            "discontinued_date": "",
        },
        {
            "sku": "SKU2",
            "title": "Charger",
            "category": "electronics",
            "hs_code": "850440",
            "origin_country": "CN",
            "unit_cost": "3.5",
            "cost_currency": "USD",
            "weight_kg": "0.2",
            "launch_date": "",
            "discontinued_date": "",
        },
    ],
    "marketplaces": [
        {
            "marketplace": "US",
            "name": "Amazon.com",
            "country": "US",
            "region": "north_america",
            "currency": "USD",
            "vat_rate": "0",
            "referral_fee_rate": "0.15",
            "prices_include_vat": "false",
            "customs_basis": "FOB",
            "fulfilment_fee_per_unit": "3.2",
            "fulfilment_fee_per_kg": "0.5",
            "customs_union": "",
        },
        {
            "marketplace": "DE",
            "name": "Amazon.de",
            "country": "DE",
            "region": "europe",
            "currency": "EUR",
            "vat_rate": "0.19",
            "referral_fee_rate": "0.15",
            "prices_include_vat": "yes",
            "customs_basis": "CIF",
            "fulfilment_fee_per_unit": "2.9",
            "fulfilment_fee_per_kg": "0.4",
            "customs_union": "EU",
        },
    ],
    "warehouses": [
        {
            "warehouse_id": "CN-SZX-HUB",
            "name": "Shenzhen hub",
            "country": "CN",
            "warehouse_type": "hub",
            "marketplace": "",
        },
        {
            "warehouse_id": "US-ONT",
            "name": "Ontario CA",
            "country": "US",
            "warehouse_type": "market",
            "marketplace": "US",
        },
        {
            "warehouse_id": "DE-FRA",
            "name": "Frankfurt",
            "country": "DE",
            "warehouse_type": "market",
            "marketplace": "DE",
        },
    ],
    "lanes": [
        {
            "lane_id": "L1",
            "origin_warehouse_id": "CN-SZX-HUB",
            "destination_warehouse_id": "US-ONT",
            "mode": "ocean",
            "cost_per_kg": "0.8",
            "fixed_cost_per_shipment": "500",
            "cost_currency": "USD",
            "transit_days_min": "20",
            "transit_days_typical": "28",
            "transit_days_max": "40",
            "insurance_rate": "0.003",
        },
        {
            "lane_id": "L2",
            "origin_warehouse_id": "CN-SZX-HUB",
            "destination_warehouse_id": "DE-FRA",
            "mode": "air",
            "cost_per_kg": "4.5",
            "fixed_cost_per_shipment": "150",
            "cost_currency": "USD",
            "transit_days_min": "5",
            "transit_days_typical": "7",
            "transit_days_max": "12",
            "insurance_rate": "0.005",
        },
    ],
    "shipments": [
        {
            "shipment_id": "SH1",
            "lane_id": "L1",
            "sku": "SKU1",
            "quantity": "500",
            "departed_date": "2025-03-01",
            "expected_arrival_date": "2025-03-29",
            "arrived_date": "2025-04-02",
            "freight_cost": "25",
            "cost_currency": "USD",
        },
        {
            "shipment_id": "SH2",
            "lane_id": "L2",
            "sku": "SKU2",
            "quantity": "100",
            "departed_date": "2025-06-20",
            "expected_arrival_date": "2025-06-27",
            "arrived_date": "",
            "freight_cost": "90",
            "cost_currency": "USD",
        },
    ],
    "tariff_measures": [
        {
            "measure_id": "M1",
            "destination": "US",
            "hs_code_prefix": "8504",
            "origin_country": "CN",
            "measure_type": "additional",
            "rate_type": "ad_valorem",
            "ad_valorem_rate": "0.25",
            "specific_rate": "",
            "specific_unit": "",
            "rate_currency": "",
            "value_threshold": "",
            "threshold_currency": "",
            "valid_from": "2019-05-10",
            "valid_to": "",
            "legal_basis": "Section 301 List 3",
        },
        {
            "measure_id": "M2",
            "destination": "EU",
            "hs_code_prefix": "39.26",
            "origin_country": "ALL",
            "measure_type": "mfn",
            "rate_type": "compound",
            "ad_valorem_rate": "0.065",
            "specific_rate": "0.5",
            "specific_unit": "kg",
            "rate_currency": "EUR",
            "value_threshold": "",
            "threshold_currency": "",
            "valid_from": "2020-01-01",
            "valid_to": "2024-12-31",
            "legal_basis": "CN 2020",
        },
        {
            "measure_id": "M3",
            "destination": "EU",
            "hs_code_prefix": "3926",
            "origin_country": "ALL",
            "measure_type": "mfn",
            "rate_type": "ad_valorem",
            "ad_valorem_rate": "0.065",
            "specific_rate": "",
            "specific_unit": "",
            "rate_currency": "",
            "value_threshold": "150",
            "threshold_currency": "EUR",
            "valid_from": "2025-01-01",
            "valid_to": "",
            "legal_basis": "CN 2020",
        },
    ],
    "fx_rates": [
        {"rate_date": "2025-06-01", "currency": "EUR", "usd_per_unit": "1.13"},
        {"rate_date": "2025-06-01", "currency": "CNY", "usd_per_unit": "0.139"},
    ],
    "inventory": [
        {"snapshot_date": "2025-06-01", "warehouse_id": "US-ONT", "sku": "SKU1", "on_hand": "120"},
        {"snapshot_date": "2025-06-01", "warehouse_id": "DE-FRA", "sku": "SKU2", "on_hand": "0"},
    ],
    "prices": [
        {
            "sku": "SKU1",
            "marketplace": "US",
            "valid_from": "2025-01-01",
            "valid_to": "2025-03-31",
            "list_price": "9.99",
            "currency": "USD",
        },
        {
            "sku": "SKU1",
            "marketplace": "US",
            "valid_from": "2025-04-01",
            "valid_to": "",
            "list_price": "10.99",
            "currency": "USD",
        },
        {
            "sku": "SKU1",
            "marketplace": "DE",
            "valid_from": "2025-01-01",
            "valid_to": "",
            "list_price": "9.49",
            "currency": "EUR",
        },
    ],
    "promotions": [
        {
            "promotion_id": "P1",
            "sku": "SKU1",
            "marketplace": "US",
            "promo_type": "deal",
            "discount_pct": "0.2",
            "start_date": "2025-05-01",
            "end_date": "2025-05-03",
        },
    ],
    "ad_spend": [
        {
            "spend_date": "2025-06-01",
            "sku": "SKU1",
            "marketplace": "US",
            "spend": "12.5",
            "currency": "USD",
        },
    ],
    # One row per scope level: SKU x marketplace, category x marketplace, marketplace, category.
    "pricing_rules": [
        {
            "sku": "SKU1",
            "marketplace": "US",
            "category": "",
            "min_price": "8.99",
            "max_price": "14.99",
            "min_margin": "",
            "max_change": "",
            "strategy": "",
            "reference_marketplace": "",
            "band": "",
            "reference_markup": "",
        },
        {
            "sku": "",
            "marketplace": "DE",
            "category": "accessories",
            "min_price": "",
            "max_price": "",
            "min_margin": "",
            "max_change": "",
            "strategy": "follow_reference",
            "reference_marketplace": "US",
            "band": "",
            "reference_markup": "0.05",
        },
        {
            "sku": "",
            "marketplace": "US",
            "category": "",
            "min_price": "",
            "max_price": "",
            "min_margin": "0.15",
            "max_change": "0.05",
            "strategy": "optimize",
            "reference_marketplace": "",
            "band": "",
            "reference_markup": "",
        },
        {
            "sku": "",
            "marketplace": "",
            "category": "electronics",
            "min_price": "",
            "max_price": "",
            "min_margin": "0.2",
            "max_change": "",
            "strategy": "",
            "reference_marketplace": "US",
            "band": "0.25",
            "reference_markup": "",
        },
    ],
    # One row per scope level: SKU x warehouse, SKU (the supplier terms), warehouse.
    "allocation_rules": [
        {
            "sku": "SKU1",
            "warehouse_id": "US-ONT",
            "min_units": "10",
            "max_units": "120",
            "units_per_case": "",
            "min_shipment_units": "6",
            "supplier_lead_days": "",
            "min_order_quantity": "",
        },
        {
            "sku": "SKU1",
            "warehouse_id": "",
            "min_units": "",
            "max_units": "",
            "units_per_case": "12",
            "min_shipment_units": "",
            "supplier_lead_days": "25",
            "min_order_quantity": "240",
        },
        {
            "sku": "",
            "warehouse_id": "US-ONT",
            "min_units": "",
            "max_units": "500",
            "units_per_case": "",
            "min_shipment_units": "",
            "supplier_lead_days": "",
            "min_order_quantity": "",
        },
    ],
    "orders": [
        {
            "order_id": "A1",
            "order_date": "2025-06-01 10:15:00",
            "marketplace": "US",
            "sku": "SKU1",
            "quantity": "2",
            "unit_price": "10.99",
            "currency": "USD",
        },
        {
            "order_id": "A1",
            "order_date": "2025-06-01 10:15:00",
            "marketplace": "US",
            "sku": "SKU2",
            "quantity": "1",
            "unit_price": "19.99",
            "currency": "USD",
        },
        {
            "order_id": "B7",
            "order_date": "2025-06-02",
            "marketplace": "DE",
            "sku": "SKU1",
            "quantity": "1",
            "unit_price": "9.49",
            "currency": "EUR",
        },
        {
            "order_id": "C3",
            "order_date": "2025-06-15T08:00",
            "marketplace": "DE",
            "sku": "SKU2",
            "quantity": "3",
            "unit_price": "18",
            "currency": "EUR",
        },
    ],
}

# Reference order: the entities an entity refers to come first (as the assets run).
INGEST_ORDER = contract.ingest_order()


def valid_rows(entity: str) -> list[dict[str, str]]:
    return [dict(r) for r in VALID_ROWS[entity]]


def write_csv(
    raw_dir: Path,
    entity: str,
    rows: list[dict[str, str]],
    name: str = "part.csv",
    columns: list[str] | None = None,
) -> Path:
    """Write rows as a CSV under raw_dir/entity/name (columns: the rows' keys by default)."""
    if columns is None:
        columns = list(rows[0]) if rows else list(contract.entity(entity).column_names)
    path = raw_dir / entity / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_parquet(
    raw_dir: Path, entity: str, rows: list[dict[str, str]], name: str = "part.parquet"
) -> Path:
    """Write rows as Parquet with string columns (empty string -> null)."""
    folder = raw_dir / entity
    folder.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0])
    table = pa.table({c: pa.array([r[c] or None for r in rows], pa.string()) for c in columns})
    path = folder / name
    pq.write_table(table, path)
    return path


def write_valid(raw_dir: Path, entities: tuple[str, ...] = INGEST_ORDER) -> None:
    for name in entities:
        write_csv(raw_dir, name, valid_rows(name))
