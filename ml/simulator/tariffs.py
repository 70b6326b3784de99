"""Tariff measures as they changed in 2025-2026, and the duty rate the simulated seller pays.

Rates are rounded public figures (USITC HTS, TARIC, UK Global Tariff, national schedules) for the
six-digit codes in ``reference.PRODUCT_TYPES``. Measures that apply to all goods (IEEPA, Section
122, de minimis) are written once per HS chapter the catalogue uses, because a tariff prefix has
at least two digits.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

OPEN = None  # open-ended valid_to

# MFN ad valorem rates by destination and HS6 (0.165 is 16.5 %).
MFN: dict[str, dict[str, float]] = {
    "US": {
        "851830": 0.0,
        "610910": 0.165,
        "950300": 0.0,
        "420292": 0.176,
        "640299": 0.125,
        "940540": 0.039,
        "392690": 0.053,
        "851660": 0.04,
        "630260": 0.091,
        "847160": 0.0,
        "854442": 0.026,
    },
    "EU": {
        "851830": 0.02,
        "610910": 0.12,
        "950300": 0.0,
        "420292": 0.027,
        "640299": 0.168,
        "940540": 0.047,
        "392690": 0.065,
        "851660": 0.027,
        "630260": 0.12,
        "847160": 0.0,
        "854442": 0.037,
    },
    "GB": {
        "851830": 0.0,
        "610910": 0.12,
        "950300": 0.0,
        "420292": 0.02,
        "640299": 0.16,
        "940540": 0.02,
        "392690": 0.06,
        "851660": 0.02,
        "630260": 0.12,
        "847160": 0.0,
        "854442": 0.02,
    },
    "JP": {
        "851830": 0.0,
        "610910": 0.074,
        "950300": 0.0,
        "420292": 0.08,
        "640299": 0.067,
        "940540": 0.0,
        "392690": 0.039,
        "851660": 0.0,
        "630260": 0.075,
        "847160": 0.0,
        "854442": 0.0,
    },
    "CA": {
        "851830": 0.0,
        "610910": 0.18,
        "950300": 0.0,
        "420292": 0.155,
        "640299": 0.18,
        "940540": 0.07,
        "392690": 0.065,
        "851660": 0.065,
        "630260": 0.17,
        "847160": 0.0,
        "854442": 0.06,
    },
    "MX": {
        "851830": 0.05,
        "610910": 0.35,
        "950300": 0.15,
        "420292": 0.20,
        "640299": 0.30,
        "940540": 0.15,
        "392690": 0.10,
        "851660": 0.10,
        "630260": 0.20,
        "847160": 0.0,
        "854442": 0.05,
    },
    "AU": {
        "851830": 0.0,
        "610910": 0.05,
        "950300": 0.0,
        "420292": 0.05,
        "640299": 0.05,
        "940540": 0.05,
        "392690": 0.05,
        "851660": 0.05,
        "630260": 0.05,
        "847160": 0.0,
        "854442": 0.05,
    },
}
MFN_BASIS = {
    "US": "HTSUS general rate (column 1)",
    "EU": "EU Common Customs Tariff (Regulation (EEC) No 2658/87, Annex I)",
    "GB": "UK Global Tariff",
    "JP": "Customs Tariff Schedule of Japan (WTO rate)",
    "CA": "Customs Tariff of Canada (MFN)",
    "MX": "LIGIE (Mexico general import tariff)",
    "AU": "Customs Tariff Act 1995 (general rate)",
}
# Section 301 on Chinese origin: List 3 (25 %) and List 4A (7.5 %); toys sit on suspended List 4B.
SECTION_301: dict[str, tuple[float, str]] = {
    "420292": (0.25, "Section 301 List 3"),
    "392690": (0.25, "Section 301 List 3"),
    "940540": (0.25, "Section 301 List 3"),
    "851660": (0.25, "Section 301 List 3"),
    "847160": (0.25, "Section 301 List 3"),
    "854442": (0.25, "Section 301 List 3"),
    "851830": (0.075, "Section 301 List 4A"),
    "610910": (0.075, "Section 301 List 4A"),
    "640299": (0.075, "Section 301 List 4A"),
    "630260": (0.075, "Section 301 List 4A"),
}
# Mexico raised duties on goods from countries without a trade agreement from 2026.
MX_NON_FTA_2026: dict[str, float] = {
    "610910": 0.15,
    "950300": 0.20,
    "420292": 0.15,
    "640299": 0.05,
    "630260": 0.15,
    "940540": 0.10,
}
MX_NON_FTA_ORIGINS = ("CN", "IN", "BD")

FENTANYL = "IEEPA fentanyl/synthetic opioids (EO 14195)"
RECIPROCAL = "IEEPA reciprocal tariff (EO 14257)"
RUSSIA_OIL = "IEEPA Russian oil purchases (EO 14329)"
SECTION_122 = "Trade Act of 1974 Section 122 balance-of-payments surcharge"
US_DE_MINIMIS = "19 U.S.C. 1321 de minimis (suspended by EO 14256 for CN/HK, EO 14324 for all)"
IEEPA_END = "2026-02-19"  # the Supreme Court struck IEEPA duties down on 2026-02-20


def _d(s: str) -> date:
    return date.fromisoformat(s)


def _row(
    dest: str,
    prefix: str,
    origin: str,
    mtype: str,
    basis: str,
    valid_from: str,
    valid_to: str | None,
    *,
    rate: float | None = None,
    rate_type: str = "ad_valorem",
    specific: float | None = None,
    unit: str | None = None,
    rate_ccy: str | None = None,
    threshold: float | None = None,
    threshold_ccy: str | None = None,
) -> dict:
    return {
        "destination": dest,
        "hs_code_prefix": prefix,
        "origin_country": origin,
        "measure_type": mtype,
        "rate_type": rate_type,
        "ad_valorem_rate": rate,
        "specific_rate": specific,
        "specific_unit": unit,
        "rate_currency": rate_ccy,
        "value_threshold": threshold,
        "threshold_currency": threshold_ccy,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "legal_basis": basis,
    }


def build_tariff_measures(hs_codes: list[str], destinations: list[str]) -> list[dict]:
    """Every measure row, in contract column names, for these HS6 codes and destinations.

    ``destinations`` are tariff destinations (country codes or ``EU``). Rows are ordered and
    numbered deterministically.
    """
    hs_codes = sorted(set(hs_codes))
    chapters = sorted({h[:2] for h in hs_codes})
    rows: list[dict] = []
    for dest in destinations:
        for hs in hs_codes:
            if hs in MFN[dest]:
                rows.append(
                    _row(
                        dest,
                        hs,
                        "ALL",
                        "mfn",
                        MFN_BASIS[dest],
                        "2024-01-01",
                        OPEN,
                        rate=MFN[dest][hs],
                    )
                )
    if "US" in destinations:
        for hs in hs_codes:
            if hs in SECTION_301:
                rate, basis = SECTION_301[hs]
                rows.append(
                    _row("US", hs, "CN", "additional", basis, "2019-09-01", OPEN, rate=rate)
                )
        for ch in chapters:
            for origin in ("CN", "HK"):
                rows += [
                    _row(
                        "US",
                        ch,
                        origin,
                        "additional",
                        FENTANYL,
                        "2025-02-04",
                        "2025-03-03",
                        rate=0.10,
                    ),
                    _row(
                        "US",
                        ch,
                        origin,
                        "additional",
                        FENTANYL,
                        "2025-03-04",
                        "2025-11-09",
                        rate=0.20,
                    ),
                    _row(
                        "US", ch, origin, "additional", FENTANYL, "2025-11-10", IEEPA_END, rate=0.10
                    ),
                    _row(
                        "US",
                        ch,
                        origin,
                        "additional",
                        RECIPROCAL,
                        "2025-04-05",
                        "2025-04-08",
                        rate=0.10,
                    ),
                    _row(
                        "US",
                        ch,
                        origin,
                        "additional",
                        RECIPROCAL,
                        "2025-04-09",
                        "2025-04-09",
                        rate=0.84,
                    ),
                    _row(
                        "US",
                        ch,
                        origin,
                        "additional",
                        RECIPROCAL,
                        "2025-04-10",
                        "2025-05-13",
                        rate=1.25,
                    ),
                    _row(
                        "US",
                        ch,
                        origin,
                        "additional",
                        RECIPROCAL,
                        "2025-05-14",
                        IEEPA_END,
                        rate=0.10,
                    ),
                ]
            rows.append(
                _row("US", ch, "ALL", "additional", RECIPROCAL, "2025-04-05", IEEPA_END, rate=0.10)
            )
            # Country rates from 2025-08-07 replace the 10 % baseline for these origins.
            for origin, rate in (("VN", 0.20), ("BD", 0.20), ("IN", 0.25)):
                rows.append(
                    _row(
                        "US",
                        ch,
                        origin,
                        "additional",
                        RECIPROCAL,
                        "2025-08-07",
                        IEEPA_END,
                        rate=rate,
                    )
                )
            rows.append(
                _row("US", ch, "IN", "additional", RUSSIA_OIL, "2025-08-27", IEEPA_END, rate=0.25)
            )
            # USMCA goods from Mexico were exempted from the reciprocal tariff.
            rows.append(
                _row("US", ch, "MX", "additional", RECIPROCAL, "2025-04-05", IEEPA_END, rate=0.0)
            )
            rows.append(
                _row(
                    "US", ch, "ALL", "surcharge", SECTION_122, "2026-02-24", "2026-07-23", rate=0.10
                )
            )
            rows += [
                _row(
                    "US",
                    ch,
                    "ALL",
                    "de_minimis",
                    US_DE_MINIMIS,
                    "2016-03-10",
                    "2025-08-28",
                    rate=0.0,
                    threshold=800.0,
                    threshold_ccy="USD",
                ),
                _row(
                    "US",
                    ch,
                    "ALL",
                    "de_minimis",
                    US_DE_MINIMIS,
                    "2025-08-29",
                    OPEN,
                    rate=0.0,
                    threshold=0.0,
                    threshold_ccy="USD",
                ),
            ]
            for origin in ("CN", "HK"):
                rows += [
                    _row(
                        "US",
                        ch,
                        origin,
                        "de_minimis",
                        US_DE_MINIMIS,
                        "2016-03-10",
                        "2025-05-01",
                        rate=0.0,
                        threshold=800.0,
                        threshold_ccy="USD",
                    ),
                    _row(
                        "US",
                        ch,
                        origin,
                        "de_minimis",
                        US_DE_MINIMIS,
                        "2025-05-02",
                        OPEN,
                        rate=0.0,
                        threshold=0.0,
                        threshold_ccy="USD",
                    ),
                ]
    if "EU" in destinations:
        for ch in chapters:
            rows.append(
                _row(
                    "EU",
                    ch,
                    "ALL",
                    "de_minimis",
                    "Regulation (EC) No 1186/2009 Art. 23 (EUR 150 duty relief)",
                    "2010-01-01",
                    "2026-06-30",
                    rate=0.0,
                    threshold=150.0,
                    threshold_ccy="EUR",
                )
            )
            rows.append(
                _row(
                    "EU",
                    ch,
                    "ALL",
                    "surcharge",
                    "EU interim flat duty on low-value e-commerce consignments",
                    "2026-07-01",
                    "2028-06-30",
                    rate_type="per_item",
                    specific=3.0,
                    unit="item",
                    rate_ccy="EUR",
                    threshold=150.0,
                    threshold_ccy="EUR",
                )
            )
    if "GB" in destinations:
        for ch in chapters:
            rows.append(
                _row(
                    "GB",
                    ch,
                    "ALL",
                    "de_minimis",
                    "UK low value consignment relief (GBP 135)",
                    "2021-01-01",
                    OPEN,
                    rate=0.0,
                    threshold=135.0,
                    threshold_ccy="GBP",
                )
            )
    if "AU" in destinations:
        for ch in chapters:
            rows.append(
                _row(
                    "AU",
                    ch,
                    "ALL",
                    "de_minimis",
                    "Customs Act 1901 low value threshold (AUD 1000)",
                    "2005-07-01",
                    OPEN,
                    rate=0.0,
                    threshold=1000.0,
                    threshold_ccy="AUD",
                )
            )
        for hs in hs_codes:
            if MFN["AU"].get(hs, 0.0) > 0:
                rows.append(
                    _row(
                        "AU",
                        hs,
                        "CN",
                        "preferential",
                        "China-Australia FTA (ChAFTA)",
                        "2019-01-01",
                        OPEN,
                        rate=0.0,
                    )
                )
    if "MX" in destinations:
        for hs in hs_codes:
            if hs in MX_NON_FTA_2026:
                for origin in MX_NON_FTA_ORIGINS:
                    rows.append(
                        _row(
                            "MX",
                            hs,
                            origin,
                            "additional",
                            "LIGIE 2026 increase for origins without a trade agreement",
                            "2026-01-01",
                            OPEN,
                            rate=MX_NON_FTA_2026[hs],
                        )
                    )
    for i, r in enumerate(rows, start=1):
        r["measure_id"] = f"TM-{r['destination']}-{i:05d}"
    return rows


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
