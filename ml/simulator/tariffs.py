"""Tariff measures as they changed in 2025-2026, and the duty rate the simulated seller pays.

The facts live in ``scenarios/tariff_schedule.csv``, one row a measure: rounded public figures
(USITC HTS, TARIC, UK Global Tariff, national schedules) for the six-digit codes in
``reference.PRODUCT_TYPES``. The code here only picks the rows a run needs (its catalogue's HS
codes and its markets' destinations) and numbers them.

Columns of the schedule: ``block`` groups rows that are written out together (blocks keep the
file's order, which fixes the measure ids); ``applies_to`` is ``hs6`` (the row's
``hs_code_prefix`` is a six-digit code, kept if the catalogue uses it) or ``each_chapter`` (a
measure on all goods, such as IEEPA, Section 122 or de minimis: written once per HS chapter the
catalogue uses, because a tariff prefix has at least two digits). The other columns are the
contract's ``tariff_measures`` columns; an empty cell is a missing value (``valid_to``: open-ended).
An optional last column ``announced_date`` says when a measure was made public (empty or no
column: on its ``valid_from``); it is not a contract column, and only ``published_measures`` (what
a seller knows on a day, shown to policies as ``Observation.announced_duty``) reads it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

SCHEDULE_PATH = Path(__file__).resolve().parent / "scenarios" / "tariff_schedule.csv"
# Contract columns of a measure, in the order the rows carry them (measure_id is added last).
MEASURE_COLUMNS = (
    "destination",
    "hs_code_prefix",
    "origin_country",
    "measure_type",
    "rate_type",
    "ad_valorem_rate",
    "specific_rate",
    "specific_unit",
    "rate_currency",
    "value_threshold",
    "threshold_currency",
    "valid_from",
    "valid_to",
    "legal_basis",
)
NUMBER_COLUMNS = ("ad_valorem_rate", "specific_rate", "value_threshold")
SCOPES = ("hs6", "each_chapter")
ANNOUNCED = "announced_date"  # optional last schedule column (not in the contract)


@dataclass(frozen=True)
class ScheduleBlock:
    """Consecutive schedule rows that are written out together."""

    name: str
    each_chapter: bool
    rows: tuple[dict[str, Any], ...]


def _d(s: str) -> date:
    return date.fromisoformat(s)


def _measure(line: int, raw: dict[str, str]) -> dict[str, Any]:
    """One schedule row as a measure: numbers as floats, empty cells as None."""
    row: dict[str, Any] = {}
    for col in MEASURE_COLUMNS:
        cell = raw[col].strip()
        if col in NUMBER_COLUMNS:
            row[col] = float(cell) if cell else None
        else:
            row[col] = cell or None
    for col in ("destination", "origin_country", "measure_type", "rate_type", "legal_basis"):
        if not row[col]:
            raise ValueError(f"{SCHEDULE_PATH.name} line {line}: {col} is empty")
    for col in ("valid_from", "valid_to"):
        if row[col] is not None:
            _d(row[col])  # raises on a malformed date
    if row["valid_from"] is None:
        raise ValueError(f"{SCHEDULE_PATH.name} line {line}: valid_from is empty")
    announced = (raw.get(ANNOUNCED) or "").strip()
    if announced:
        if _d(announced) > _d(row["valid_from"]):
            raise ValueError(
                f"{SCHEDULE_PATH.name} line {line}: {ANNOUNCED} {announced} is after "
                f"valid_from {row['valid_from']}"
            )
        row[ANNOUNCED] = announced
    return row


def load_schedule(path: Path = SCHEDULE_PATH) -> tuple[ScheduleBlock, ...]:
    """The tariff schedule file as blocks, in file order (checked: a typo fails loudly)."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        expected = ["block", "applies_to", *MEASURE_COLUMNS]
        if reader.fieldnames not in (expected, [*expected, ANNOUNCED]):
            raise ValueError(
                f"{path.name}: columns {reader.fieldnames}, expected {expected} "
                f"(optionally followed by {ANNOUNCED})"
            )
        blocks: list[tuple[str, str, list[dict[str, Any]]]] = []
        for line, raw in enumerate(reader, start=2):
            name, scope = raw["block"].strip(), raw["applies_to"].strip()
            row = _measure(line, raw)
            prefix = row["hs_code_prefix"] or ""
            if scope not in SCOPES:
                raise ValueError(f"{path.name} line {line}: applies_to {scope!r} not in {SCOPES}")
            if (scope == "hs6") != (len(prefix) == 6 and prefix.isdigit()):
                raise ValueError(
                    f"{path.name} line {line}: hs6 rows need a six-digit hs_code_prefix, "
                    "each_chapter rows an empty one"
                )
            if not blocks or blocks[-1][0] != name:
                if any(b[0] == name for b in blocks):
                    raise ValueError(f"{path.name} line {line}: block {name!r} is split")
                blocks.append((name, scope, []))
            if blocks[-1][1] != scope:
                raise ValueError(f"{path.name} line {line}: block {name!r} mixes scopes")
            blocks[-1][2].append(row)
    return tuple(ScheduleBlock(n, s == "each_chapter", tuple(rows)) for n, s, rows in blocks)


def _expand(
    block: ScheduleBlock, hs_codes: list[str], chapters: list[str], destinations: list[str]
) -> list[dict[str, Any]]:
    """The block's rows for this catalogue and these destinations, as fresh dicts."""
    if block.each_chapter:
        return [
            {**r, "hs_code_prefix": ch}
            for ch in chapters
            for r in block.rows
            if r["destination"] in destinations
        ]
    used = {h[:6] for h in hs_codes}  # hs6 rows apply to every code of their subheading
    return [
        dict(r)
        for dest in destinations
        for r in block.rows
        if r["destination"] == dest and r["hs_code_prefix"] in used
    ]


def build_tariff_measures(
    hs_codes: list[str],
    destinations: list[str],
    schedule: tuple[ScheduleBlock, ...] | None = None,
) -> list[dict[str, Any]]:
    """Every measure row, in contract column names, for these HS codes (any length from six
    digits: a schedule's hs6 rows match their first six) and destinations.

    ``destinations`` are tariff destinations (country codes or ``EU``). Rows follow the
    schedule's blocks (within an ``hs6`` block: by destination in the given order, then file
    order) and are numbered deterministically.
    """
    hs_codes = sorted(set(hs_codes))
    chapters = sorted({h[:2] for h in hs_codes})
    rows: list[dict[str, Any]] = []
    for block in schedule if schedule is not None else load_schedule():
        rows += _expand(block, hs_codes, chapters, destinations)
    for i, r in enumerate(rows, start=1):
        r["measure_id"] = f"TM-{r['destination']}-{i:05d}"
    return rows


def announced_on(row: dict) -> date:
    """The day a measure was made public: its announced_date, else the day it starts."""
    return _d(row.get(ANNOUNCED) or row["valid_from"])


def _measure_key(row: dict) -> tuple:
    return (
        row["destination"],
        row["hs_code_prefix"],
        row["origin_country"],
        row["measure_type"],
        row["legal_basis"],
    )


def published_measures(rows: list[dict], day: date) -> list[dict]:
    """The measures a seller knows on ``day``: those announced by then, with their start and rate.

    The end of a measure still in force is public only once a successor (same destination,
    code, origin, type and legal basis, starting the next day) is announced; until then the
    measure is taken to last (``valid_to`` None), so a court ruling or an expiry nobody announced
    is not foreseen. Past days come out as they were: everything that started is announced.
    """
    known = [r for r in rows if announced_on(r) <= day]
    starts = {(_measure_key(r), _d(r["valid_from"])) for r in known}
    out = []
    for r in known:
        end = r["valid_to"]
        if end is not None and _d(end) >= day:
            successor = (_measure_key(r), _d(end) + timedelta(days=1))
            if successor not in starts:
                r = {**r, "valid_to": None}
        out.append(r)
    return out


def _covers(row: dict, day: date) -> bool:
    if _d(row["valid_from"]) > day:
        return False
    return row["valid_to"] is None or _d(row["valid_to"]) >= day


def ad_valorem_duty(
    rows: list[dict], destination: str, hs_code: str, origin: str, day: date
) -> float:
    """Ad valorem duty on a bulk (B2B) import on ``day``: the rate landed cost uses.

    Within one (measure type, legal basis) the most specific row wins (origin-specific over ALL,
    then the longest prefix); different legal bases stack; a preferential rate replaces MFN.
    De minimis and per-item low-value measures do not apply to bulk stock transfers.
    """
    if destination == origin:
        return 0.0
    best: dict[tuple[str, str], tuple[tuple[int, int], dict]] = {}
    for r in rows:
        if r["destination"] != destination or not hs_code.startswith(r["hs_code_prefix"]):
            continue
        if r["origin_country"] not in (origin, "ALL") or not _covers(r, day):
            continue
        if r["rate_type"] != "ad_valorem" or r["measure_type"] == "de_minimis":
            continue
        rank = (int(r["origin_country"] != "ALL"), len(r["hs_code_prefix"]))
        key = (r["measure_type"], r["legal_basis"])
        if key not in best or rank > best[key][0]:
            best[key] = (rank, r)
    by_type: dict[str, float] = {}
    for (mtype, _), (_, r) in best.items():
        by_type[mtype] = by_type.get(mtype, 0.0) + float(r["ad_valorem_rate"] or 0.0)
    base = by_type.get("preferential", by_type.get("mfn", 0.0))
    if "preferential" in by_type:
        base = min(base, by_type.get("mfn", base))
    return (
        base
        + by_type.get("additional", 0.0)
        + by_type.get("surcharge", 0.0)
        + by_type.get("anti_dumping", 0.0)
    )


def duty_timeline(
    rows: list[dict], destination: str, hs_code: str, origin: str, start: date, n_days: int
) -> np.ndarray:
    """Daily ad valorem duty from ``start`` for ``n_days``, evaluated only where rows change."""
    relevant = [
        r
        for r in rows
        if r["destination"] == destination
        and hs_code.startswith(r["hs_code_prefix"])
        and r["origin_country"] in (origin, "ALL")
    ]
    cuts = {0}
    for r in relevant:
        for s, shift in ((r["valid_from"], 0), (r["valid_to"], 1)):
            if s is not None:
                k = (_d(s) - start).days + shift
                if 0 < k < n_days:
                    cuts.add(k)
    out = np.zeros(n_days)
    edges = sorted(cuts) + [n_days]
    for a, b in zip(edges[:-1], edges[1:], strict=False):
        out[a:b] = ad_valorem_duty(
            relevant, destination, hs_code, origin, start + timedelta(days=a)
        )
    return out


def tariff_destination(country: str, customs_union: str | None) -> str:
    return customs_union or country


@dataclass(frozen=True)
class ParcelTerms:
    """How a low-value parcel to a consumer is taxed on one day: below ``threshold`` (in
    ``threshold_currency``; 0: no relief) it pays ``per_item`` (in ``per_item_currency``)
    instead of the bulk ad valorem duty; at or above it, the bulk duty."""

    threshold: float
    threshold_currency: str | None
    per_item: float
    per_item_currency: str | None


def parcel_terms(rows: list[dict], destination: str, hs_code: str, origin: str, day: date):
    """The de minimis relief and the flat per-item duty that replaces it (the EU's EUR 3 from
    2026-07-01) for a parcel of ``hs_code`` from ``origin`` on ``day``: the origin-specific
    row wins over ALL (the US ended relief for China before it did for everyone)."""
    best: dict[str, tuple[int, dict]] = {}
    for r in rows:
        if r["destination"] != destination or not hs_code.startswith(r["hs_code_prefix"]):
            continue
        if r["origin_country"] not in (origin, "ALL") or not _covers(r, day):
            continue
        kind = r["measure_type"] if r["measure_type"] == "de_minimis" else r["rate_type"]
        if kind not in ("de_minimis", "per_item"):
            continue
        rank = int(r["origin_country"] != "ALL")
        if kind not in best or rank > best[kind][0]:
            best[kind] = (rank, r)
    relief = best.get("de_minimis", (0, None))[1]
    flat = best.get("per_item", (0, None))[1]
    if flat is not None:  # a flat duty per item applies below its own threshold
        return ParcelTerms(
            float(flat["value_threshold"] or 0.0),
            flat["threshold_currency"],
            float(flat["specific_rate"] or 0.0),
            flat["rate_currency"],
        )
    if relief is None:
        return ParcelTerms(0.0, None, 0.0, None)
    return ParcelTerms(
        float(relief["value_threshold"] or 0.0), relief["threshold_currency"], 0.0, None
    )
