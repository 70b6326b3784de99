"""Import the US Harmonized Tariff Schedule (HTSUS) into ``tariff_measures``: each line's MFN rate.

Source: the US International Trade Commission's CSV export of the schedule (hts.usitc.gov,
"Export" as CSV; editions are published several times a year). Columns read: ``HTS Number``,
``Description`` and ``General Rate of Duty`` (column 1, the rate for countries with normal trade
relations: the MFN rate). The file may start with a UTF-8 byte-order mark, as USITC writes it.

What is written: ``raw/tariff_measures/hts_mfn_<valid_from>.csv``, one row per line that states a
General rate: destination ``US``, origin ``ALL``, measure type ``mfn``, ``valid_from`` as given
and ``valid_to`` as given (empty: open-ended), ``legal_basis`` ``HTSUS <edition> general rate``
(one basis for the whole file: the pipeline picks the longest HS prefix within a legal basis and
stacks different bases). ``measure_id`` is ``hts-<the line's digits>-<valid_from>``: the same on
every import of an edition, and two editions (the old one ended with ``valid_to``) can sit side by
side without repeating a key. No other file of ``raw/tariff_measures/`` is touched: a seller's
additional duties (Section 301, 232, ...) live beside it and stack on top.

Which lines are measures:

- Rates are stated on the 8-digit line and the 10-digit statistical lines under it have an empty
  rate: the 8-digit row covers them, as tariff measures match by longest HS prefix. An 8-digit line
  without statistical breakdown is exported as one 10-digit line carrying the rate
  (``0101.30.00.00``, the suffix mostly ``.00``); its ``hs_code_prefix`` is its first 8 digits,
  so that a catalog HS code of 8 or 10 digits matches it. A 10-digit line stating its own rate
  beside its 8-digit line or its siblings keeps its 10 digits. Headings and subheadings (4 and 6
  digits) that state a rate are written too (the 2024 Basic Edition has none).
- Rates: ``Free`` and ``6.8%`` are ad valorem; an amount in cents (``1¢``) or dollars (``$1.35``)
  per kg is ``specific`` (unit kg), per article (``each``, ``/doz.``, ...) ``per_item`` (unit item),
  and an amount plus a percentage (``2.2¢/kg + 5%``) ``compound``. Amounts are USD per kg or per
  item (``UNIT_KG``, ``UNIT_ITEMS``).

Every row read has one outcome (``OUTCOMES``; ``line_outcomes`` gives each row the first that
applies), so
``rows read = measures written + rows reported + text-only + inheriting + without a rate +
chapter 99``. Reported rows (an unusable number, or a rate landed cost cannot evaluate: a unit
such as litres or m², a formula, rates on parts of the article) are written with their number,
description, rate text and reason to ``out/imports/hts_mfn_<valid_from>_unparsed.csv``; the
import's figures go to ``out/imports/hts_mfn_<valid_from>.json``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pandas as pd

from ml import contract
from ml.contract import ALL_ORIGINS
from ml.importers.common import (
    ReconcilingReport,
    SourceError,
    count_reasons,
    find_columns,
    read_table,
    row_examples,
    write_rows,
)
from ml.ingest.read import discover_files
from ml.settings import DataPaths

NAME = "USITC Harmonized Tariff Schedule, general rate of duty"
STEM = "hts_mfn"
ENTITY = "tariff_measures"
DESTINATION = "US"
CURRENCY = "USD"
NUMBER, DESCRIPTION, GENERAL = "HTS Number", "Description", "General Rate of Duty"
WHAT = "a USITC HTS export (hts.usitc.gov, Export as CSV)"

# Kilograms in one unit of a mass rate (a rate per t is a rate per 1,000 kg).
UNIT_KG: dict[str, float] = {"kg": 1.0, "g": 0.001, "t": 1000.0}
# Rates on the gross weight of goods and container: the catalog's weight_kg is the shipping
# weight of one unit, which is that weight.
GROSS_WEIGHT_UNITS = ("kg on contents and container", "kg on entire contents of container")
# Articles in one unit of a count rate. Assumption: what the schedule counts is what a SKU
# sells one of: a pair (of shoes), a head (of cattle), a numbered article (No.) or an article is
# one item; a dozen is 12 items, a gross 144, a thousand 1,000.
UNIT_ITEMS: dict[str, int] = {
    "each": 1,
    "article": 1,
    "no.": 1,
    "no": 1,
    "head": 1,
    "pr.": 1,
    "pair": 1,
    "doz.": 12,
    "dozen": 12,
    "gross": 144,
    "thousand": 1000,
    "1000": 1000,
    "1,000": 1000,
}

MEASURE = "measure"
NOT_MEASURES: dict[str, str] = {
    "text_only": "no HTS number: wording that groups the lines below it",
    "chapter_99": "chapter 99: temporary and additional duties (Section 301, 232, ...), not MFN",
    "inherits_parent": "10-digit statistical line without a rate: the 8-digit line above "
    "states it and covers this line (longest HS prefix)",
    "no_rate": "heading, subheading or line without a General rate (the lines below state them)",
}
REPORTED: dict[str, str] = {
    "invalid_number": "the HTS number is not 4, 6, 8 or 10 digits",
    "duplicate_number": "a second line with the same HTS number (the first is kept)",
    "unsupported_unit": "a specific rate per a unit landed cost cannot evaluate (litre, m², "
    "barrel, proof litre, kg of a component or of drained weight, ...): only kg and items",
    "unparseable_rate": "not Free, N%, an amount per unit or an amount + N%: a rule in words, "
    "a formula, rates on parts of the article, more than one specific part",
}
OUTCOMES: dict[str, str] = {**NOT_MEASURES, **REPORTED}
UNPARSED_COLUMNS = ["row", "hts_number", "description", "general_rate", "reason", "detail"]


# ---------------------------------------------------------------------------------------------
# Rate text -> rate


@dataclass(frozen=True)
class Rate:
    """A General rate in the contract's terms: specific amounts in USD per kg or per item."""

    rate_type: str  # ad_valorem, specific (per kg), per_item or compound
    ad_valorem_rate: float | None = None
    specific_rate: float | None = None
    specific_unit: str | None = None  # kg or item


@dataclass(frozen=True)
class Unparsed:
    """A rate text that cannot be written as a measure: the reason (a ``REPORTED`` key) and
    the part of the text that decided it."""

    reason: str
    detail: str


@dataclass(frozen=True)
class Specific:
    """One amount-per-unit part of a rate, in USD per contract unit."""

    usd: float
    unit: str  # kg or item


_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_PERCENT = re.compile(rf"({_NUMBER})\s*%")
_AMOUNT = re.compile(rf"(?:(?P<cents>{_NUMBER})\s*¢|\$\s*(?P<dollars>{_NUMBER}))\s*(?P<rest>.*)")
# A unit text holding another amount or a comparison is a formula, not a unit.
_FORMULA = re.compile(r"[¢$%()]|\b(?:less|over|not|exceed\w*)\b")


def clean_rate_text(text: str) -> str:
    """The rate text without the export's HTML tags (``m<sup>2</sup>`` -> ``m2``, a stray
    ``<u></u>``) and with single spaces."""
    return " ".join(re.sub(r"<[^>]*>", "", text).split())


def _decimal(number: str) -> Decimal:
    return Decimal(number.replace(",", ""))


def parse_ad_valorem(part: str) -> float | None:
    """``6.8%`` -> 0.068; None unless the whole part is a percentage."""
    found = _PERCENT.fullmatch(part)
    return float(_decimal(found.group(1)) / 100) if found else None


def unit_in_contract(unit: str) -> tuple[str, Decimal] | None:
    """A rate's unit as the contract's (``kg`` or ``item``) and how many of them one unit is:
    ``t`` -> (kg, 1000), ``doz.`` -> (item, 12); None for a unit landed cost cannot evaluate."""
    key = " ".join(unit.lower().replace("/ ", "/").split())
    if key in UNIT_KG:
        return "kg", Decimal(str(UNIT_KG[key]))
    if key in GROSS_WEIGHT_UNITS:
        return "kg", Decimal(1)
    if key in UNIT_ITEMS:
        return "item", Decimal(UNIT_ITEMS[key])
    return None


def parse_specific(part: str) -> Specific | Unparsed | None:
    """``1¢/kg``, ``$1.24/t``, ``0.9¢ each``, ``4.4¢/doz.`` -> USD per kg or per item; an
    ``Unparsed`` for an amount per another unit or a formula; None if the part is no amount."""
    found = _AMOUNT.fullmatch(part)
    if not found:
        return None
    cents, dollars, rest = found.group("cents"), found.group("dollars"), found.group("rest")
    usd = _decimal(cents) / 100 if cents is not None else _decimal(dollars)
    if rest == "each":
        unit = rest
    elif rest.startswith("/"):
        unit = rest[1:].strip()
    else:
        return Unparsed("unparseable_rate", f"an amount without a unit: {part!r}")
    if _FORMULA.search(unit):
        return Unparsed("unparseable_rate", f"a formula: {part!r}")
    known = unit_in_contract(unit)
    if known is None:
        return Unparsed("unsupported_unit", f"per {unit}")
    contract_unit, per = known
    return Specific(float(usd / per), contract_unit)


def parse_part(part: str) -> float | Specific | Unparsed:
    """One ``+``-separated part of a rate: an ad valorem fraction, a specific amount, or why
    it is neither."""
    ad_valorem = parse_ad_valorem(part)
    if ad_valorem is not None:
        return ad_valorem
    specific = parse_specific(part)
    if specific is not None:
        return specific
    if _PERCENT.match(part):
        return Unparsed("unparseable_rate", f"a percentage of a part or another value: {part!r}")
    return Unparsed("unparseable_rate", f"a rule in words, not a rate: {part!r}")


def parse_rate(text: str) -> Rate | Unparsed:
    """A General Rate of Duty as written in the schedule -> the contract's rate columns.

    ``Free`` -> ad valorem 0; ``6.8%`` -> ad valorem 0.068; ``1¢/kg`` -> specific 0.01 USD/kg;
    ``0.9¢ each`` -> per_item 0.009 USD/item; ``2.2¢/kg + 5%`` -> compound. The contract holds
    one ad valorem and one specific part, so a rate with more (watches: a rate on the case, one
    on the strap, ...) is ``Unparsed``, and so is an amount per a unit landed cost cannot
    evaluate (litres, m², ...) and any other text.
    """
    cleaned = clean_rate_text(text)
    if not cleaned:
        return Unparsed("unparseable_rate", "no rate")
    if cleaned.lower() == "free":
        return Rate("ad_valorem", ad_valorem_rate=0.0)
    parts = [parse_part(p.strip()) for p in cleaned.split("+")]
    problems = [p for p in parts if isinstance(p, Unparsed)]
    # A part that is no rate at all says more about the text than an unusable unit.
    for reason in ("unparseable_rate", "unsupported_unit"):
        first = next((p for p in problems if p.reason == reason), None)
        if first is not None:
            return first
    ad_valorem = [p for p in parts if isinstance(p, float)]
    specific = [p for p in parts if isinstance(p, Specific)]
    if len(ad_valorem) > 1 or len(specific) > 1:
        return Unparsed(
            "unparseable_rate",
            f"{len(specific)} specific and {len(ad_valorem)} ad valorem parts: the contract "
            "holds one of each",
        )
    if not specific:
        return Rate("ad_valorem", ad_valorem_rate=ad_valorem[0])
    amount = specific[0]
    if ad_valorem:
        return Rate("compound", ad_valorem[0], amount.usd, amount.unit)
    rate_type = "specific" if amount.unit == "kg" else "per_item"
    return Rate(rate_type, specific_rate=amount.usd, specific_unit=amount.unit)


def edition_from_file_name(file: Path) -> str:
    """The edition a file name states: ``hts_2024_basic_edition.csv`` -> ``2024 Basic Edition``
    (the file name itself when it states none)."""
    words = [
        w
        for w in re.split(r"[_\-\s]+", Path(file).stem)
        if w and w.lower() not in {"hts", "htsus", "htsdata", "csv", "export"}
    ]
    return " ".join(w if w[0].isdigit() else w.capitalize() for w in words) or Path(file).name


# ---------------------------------------------------------------------------------------------
# Lines -> outcomes and measures


def hts_digits(number: pd.Series) -> pd.Series:
    """HTS numbers without their dots and spaces (``0101.21.00`` -> ``01012100``)."""
    return number.astype(str).str.replace(r"[.\s]", "", regex=True)


def line_outcomes(digits: pd.Series, rate_text: pd.Series, parsed: pd.Series) -> pd.Series:
    """Per line, the first ``OUTCOMES`` key that applies, or ``MEASURE`` for a line written.

    ``digits``: ``hts_digits`` of the HTS numbers; ``parsed``: ``parse_rate`` of each
    non-empty rate text (anything where the text is empty).
    """
    outcome = pd.Series(MEASURE, index=digits.index, dtype=object)
    open_ = pd.Series(True, index=digits.index)

    def mark(hit: pd.Series, reason: str) -> None:
        chosen = hit & open_
        outcome[chosen] = reason
        open_[chosen] = False

    has_rate = rate_text.str.strip().ne("")
    eight_digit = set(digits[digits.str.len().eq(8)])
    mark(digits.eq(""), "text_only")
    mark(digits.str.startswith("99"), "chapter_99")
    mark(~digits.str.fullmatch(r"\d{4}|\d{6}|\d{8}|\d{10}"), "invalid_number")
    mark(digits.duplicated() & open_, "duplicate_number")
    has_parent = digits.str.len().eq(10) & digits.str[:8].isin(eight_digit)
    mark(~has_rate & has_parent, "inherits_parent")
    mark(~has_rate, "no_rate")
    reason = parsed.map(lambda p: p.reason if isinstance(p, Unparsed) else None)
    for name in ("unsupported_unit", "unparseable_rate"):
        mark(reason.eq(name), name)
    return outcome


def measure_prefixes(digits: pd.Series) -> pd.Series:
    """The ``hs_code_prefix`` of each line: its digits, except a 10-digit line that is the only
    line of its 8 digits (no 8-digit row, no sibling): the export's form of an 8-digit line
    without statistical breakdown, written as its 8 digits so 8-digit catalog codes match it."""
    ten = digits.str.len().eq(10)
    eight = digits.str[:8]
    lines_per_eight = eight[ten].value_counts()
    alone = (
        ten & ~eight.isin(set(digits[digits.str.len().eq(8)])) & eight.map(lines_per_eight).eq(1)
    )
    return digits.where(~alone, eight)


def measure_rows(
    digits: pd.Series,
    prefixes: pd.Series,
    rates: pd.Series,
    *,
    valid_from: date,
    valid_to: date | None,
    legal_basis: str,
) -> pd.DataFrame:
    """``tariff_measures`` rows for the lines to write: their digits, ``measure_prefixes`` and
    ``Rate``."""
    specific = rates.map(lambda r: r.specific_unit is not None)
    return pd.DataFrame(
        {
            "measure_id": "hts-" + digits + "-" + valid_from.isoformat(),
            "destination": DESTINATION,
            "hs_code_prefix": prefixes,
            "origin_country": ALL_ORIGINS,
            "measure_type": "mfn",
            "rate_type": rates.map(lambda r: r.rate_type),
            "ad_valorem_rate": rates.map(lambda r: r.ad_valorem_rate).astype("float64"),
            "specific_rate": rates.map(lambda r: r.specific_rate).astype("float64"),
            "specific_unit": rates.map(lambda r: r.specific_unit),
            "rate_currency": specific.map({True: CURRENCY, False: None}),
            "value_threshold": float("nan"),
            "threshold_currency": None,
            "valid_from": pd.Timestamp(valid_from),
            "valid_to": pd.Timestamp(valid_to) if valid_to else pd.NaT,
            "legal_basis": legal_basis,
        }
    ).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# The report


@dataclass(kw_only=True)
class HtsReport(ReconcilingReport):
    """The import of one HTS export. ``excluded`` holds every row not written, by outcome."""

    REASONS: ClassVar[Mapping[str, str]] = OUTCOMES

    edition: str
    legal_basis: str
    valid_from: str
    valid_to: str = ""
    by_rate_type: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)  # reported reason -> rows
    inheriting_a_reported_rate: int = 0  # statistical lines whose 8-digit line is reported
    conventions: list[str] = field(default_factory=list)
    output_file: str = ""
    unparsed_file: str = ""
    report_file: str = ""
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_reported(self) -> int:
        return sum(n for r, n in self.excluded.items() if r in REPORTED)

    def count(self, outcome: str) -> int:
        return self.excluded.get(outcome, 0)

    def __str__(self) -> str:
        w = 22
        lines = [
            f"{NAME}: {self.source} ({self.seconds:.1f} s)",
            f"  {'rows read':<{w}}{self.rows_in:>8,}",
            f"  {'measures written':<{w}}{self.rows_written:>8,}  {self.legal_basis}, "
            f"valid from {self.valid_from}" + (f" to {self.valid_to}" if self.valid_to else ""),
        ]
        lines += [f"  - {t:<{w - 2}}{n:>8,}" for t, n in self.by_rate_type.items()]
        lines.append(f"  {'rows reported':<{w}}{self.rows_reported:>8,}  not written, see below")
        for reason in REPORTED:
            if self.count(reason):
                lines.append(f"  - {reason:<{w - 2}}{self.count(reason):>8,}  {REPORTED[reason]}")
                lines += [f"      {e}" for e in self.examples.get(reason, [])]
        lines.append(f"  {'not measures':<{w}}{sum(map(self.count, NOT_MEASURES)):>8,}")
        for reason, text in NOT_MEASURES.items():
            lines.append(f"  - {reason:<{w - 2}}{self.count(reason):>8,}  {text}")
            if reason == "inherits_parent" and self.inheriting_a_reported_rate:
                lines.append(
                    f"      {self.inheriting_a_reported_rate:,} of them under a reported "
                    "8-digit line: no measure covers them"
                )
        lines.append(
            f"  {self.rows_in:,} read = {self.rows_written:,} written + {self.rows_reported:,} "
            f"reported + {self.count('text_only'):,} text-only + "
            f"{self.count('inherits_parent'):,} inheriting + {self.count('no_rate'):,} without "
            f"a rate + {self.count('chapter_99'):,} chapter 99"
            + ("" if self.reconciles else "  (DOES NOT RECONCILE)")
        )
        lines += [f"  {c}" for c in self.conventions]
        if self.output_file:
            lines.append(f"  wrote {self.output_file}")
        lines.append(f"  reported rows: {self.unparsed_file} ({self.rows_reported:,})")
        if self.report_file:
            lines.append(f"  report: {self.report_file}")
        lines += [f"  warning: {w_}" for w_ in self.warnings]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Warnings about the rest of the data folder


def _read_any(file: Path) -> pd.DataFrame | None:
    """A contract file as text columns (lower-case names); None if it cannot be read (the
    ingest reports that)."""
    try:
        if file.suffix.lower() == ".parquet":
            frame = pd.read_parquet(file).astype(str)
        else:
            frame = read_table(file)[0]
    except Exception:  # best effort: this only feeds warnings
        return None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def in_force_together(other: pd.DataFrame, valid_from: date, valid_to: date | None) -> pd.Series:
    """Rows of ``other`` whose validity overlaps [valid_from, valid_to] (an unreadable date
    counts as overlapping: better a warning too many)."""
    start = pd.to_datetime(other.get("valid_from"), errors="coerce", format="ISO8601")
    end = pd.to_datetime(other.get("valid_to"), errors="coerce", format="ISO8601")
    starts_in_time = start.isna() | (valid_to is None) | (start <= pd.Timestamp(valid_to))
    ends_in_time = end.isna() | (end >= pd.Timestamp(valid_from))
    return pd.Series(starts_in_time & ends_in_time, index=other.index)


def other_measure_warnings(
    paths: DataPaths,
    target: Path,
    measures: pd.DataFrame,
    *,
    legal_basis: str,
    valid_from: date,
    valid_to: date | None,
) -> list[str]:
    """Other tariff_measures files that would clash with this import: US mfn measures of
    another legal basis in force at the same time stack on these (MFN counted twice), repeated
    measure ids are quarantined as duplicate_key."""
    ids = set(measures["measure_id"])
    found = []
    for file in discover_files(paths.raw, ENTITY):
        if file == target:
            continue
        other = _read_any(file)
        needed = {"measure_id", "destination", "measure_type", "valid_from", "valid_to"}
        if other is None or not needed <= set(other):
            continue
        name = file.relative_to(paths.raw).as_posix()
        mfn = other[
            other["destination"].eq(DESTINATION)
            & other["measure_type"].eq("mfn")
            & other.get("legal_basis", pd.Series("", index=other.index)).ne(legal_basis)
            & in_force_together(other, valid_from, valid_to)
        ]
        if len(mfn):
            bases = ", ".join(sorted(mfn["legal_basis"].astype(str).unique())[:3])
            found.append(
                f"{name} holds {len(mfn):,} US mfn measure(s) of another legal basis ({bases}) "
                "in force at the same time: different legal bases stack, so a SKU both match "
                "pays MFN twice; if this schedule replaces them, remove them or end them the "
                "day before (an earlier HTS import: import it again with --valid-to)"
            )
        repeated = int(other["measure_id"].isin(ids).sum())
        if repeated:
            found.append(
                f"{name} repeats {repeated:,} measure_id(s) of this import (an earlier HTS "
                "import?): the ingest keeps the first by file name and quarantines the others "
                "as duplicate_key"
            )
    return found


def catalog_warnings(paths: DataPaths, prefixes: set[str]) -> list[str]:
    """Catalog HS codes no measure of this import matches (a 6-digit code matches only a
    heading or subheading that states a rate)."""
    codes: set[str] = set()
    for file in discover_files(paths.raw, "catalog"):
        frame = _read_any(file)
        if frame is not None and "hs_code" in frame:
            codes |= set(hts_digits(frame["hs_code"]).loc[lambda s: s.str.fullmatch(r"\d+")])
    unmatched = sorted(c for c in codes if not any(c[:n] in prefixes for n in range(2, len(c) + 1)))
    if not unmatched:
        return []
    return [
        f"{len(unmatched):,} of the catalog's {len(codes):,} HS codes match no measure of this "
        f"import (e.g. {', '.join(unmatched[:5])}): US listings with them get no MFN duty. HTS "
        "rates are stated on 8- and 10-digit lines: give those SKUs their 8- or 10-digit HTSUS code"
    ]


# ---------------------------------------------------------------------------------------------
# The import


def target_file(paths: DataPaths, valid_from: date) -> Path:
    return paths.raw_entity(ENTITY) / f"{STEM}_{valid_from.isoformat()}.csv"


def unparsed_rows(lines: pd.DataFrame, outcome: pd.Series, parsed: pd.Series) -> pd.DataFrame:
    """The reported lines with their number, description, rate text, reason and detail."""
    hit = outcome.isin(list(REPORTED))
    detail = parsed[hit].map(lambda p: p.detail if isinstance(p, Unparsed) else "")
    return pd.DataFrame(
        {
            "row": (lines.index[hit] + 1).to_numpy(),
            "hts_number": lines.loc[hit, "number"],
            "description": lines.loc[hit, "description"],
            "general_rate": lines.loc[hit, "rate_text"],
            "reason": outcome[hit],
            "detail": detail.where(outcome[hit].isin(["unsupported_unit", "unparseable_rate"]), ""),
        },
        columns=UNPARSED_COLUMNS,
    )


def import_hts(
    file: Path,
    paths: DataPaths,
    *,
    valid_from: date,
    valid_to: date | None = None,
    edition: str | None = None,
    overwrite: bool = False,
) -> HtsReport:
    """Import the HTS export ``file`` into ``raw/tariff_measures/hts_mfn_<valid_from>.csv`` (see
    the module docstring). Refuses (``FileExistsError``) when that file exists, unless
    ``overwrite``; a file without the HTS columns is a ``SourceError`` naming them."""
    started = time.perf_counter()
    file = Path(file)
    if valid_to is not None and valid_to < valid_from:
        raise SourceError(f"--valid-to {valid_to} is before --valid-from {valid_from}")
    target = target_file(paths, valid_from)
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"{target} already exists (an import valid from {valid_from}); pass --overwrite to "
            "replace it, or give another --valid-from"
        )
    frame, _ = read_table(file)
    cols = find_columns(frame, (NUMBER, DESCRIPTION, GENERAL), file, WHAT)
    lines = pd.DataFrame(
        {
            "number": frame[cols[NUMBER]].str.strip(),
            "description": frame[cols[DESCRIPTION]].str.strip(),
            "rate_text": frame[cols[GENERAL]].str.strip(),
        }
    )
    edition = edition or edition_from_file_name(file)
    report = HtsReport(
        source=str(file),
        rows_in=len(lines),
        edition=edition,
        legal_basis=f"HTSUS {edition} general rate",
        valid_from=valid_from.isoformat(),
        valid_to=valid_to.isoformat() if valid_to else "",
    )
    digits = hts_digits(lines["number"])
    texts = pd.Series(lines["rate_text"].unique())
    by_text = dict(zip(texts, texts.map(parse_rate), strict=True))
    parsed = lines["rate_text"].map(by_text)
    outcome = line_outcomes(digits, lines["rate_text"], parsed)

    written = outcome.eq(MEASURE)
    # Prefixes are decided on every line: whether a 10-digit line is alone under its 8 digits
    # depends on lines that are not measures.
    prefixes = measure_prefixes(digits)
    measures = measure_rows(
        digits[written],
        prefixes[written],
        parsed[written],
        valid_from=valid_from,
        valid_to=valid_to,
        legal_basis=report.legal_basis,
    )
    if measures.empty:
        raise SourceError(f"{file}: no line states a General rate that can be imported")
    report.rows_written = len(measures)
    report.excluded = count_reasons(outcome.where(~written), OUTCOMES)
    report.by_rate_type = count_reasons(measures["rate_type"], contract.RATE_TYPES)
    reported = outcome.where(outcome.isin(list(REPORTED)))
    describe = lines["number"] + " " + lines["rate_text"].map(repr)
    report.examples = row_examples(reported, describe)
    parent_reported = set(digits[reported.notna() & digits.str.len().eq(8)])
    report.inheriting_a_reported_rate = int(
        (outcome.eq("inherits_parent") & digits.str[:8].isin(parent_reported)).sum()
    )
    report.conventions = [
        "rates: Free and N% ad valorem; cents or dollars per kg (t = 1,000 kg) specific; per "
        "article (each, No., head, pair = 1 item, dozen = 12, gross = 144, thousand = 1,000) "
        "per_item; amount + N% compound; specific amounts in USD",
        "hs_code_prefix: the line's digits; a 10-digit line alone under its 8 digits is the "
        "8-digit line (its first 8 digits); catalog codes match by longest prefix",
        f"Section 301, 232 and other additional duties by origin ({report.count('chapter_99'):,} "
        "chapter 99 lines here) are not MFN: they belong in a tariff_measures file of their "
        "own, layered on top of these rates",
    ]

    write_rows(measures, contract.entity(ENTITY), target)
    report.output_file = str(target)
    folder = paths.out / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    unparsed = folder / f"{target.stem}_unparsed.csv"
    unparsed_rows(lines, outcome, parsed).to_csv(unparsed, index=False, lineterminator="\n")
    report.unparsed_file = str(unparsed)
    report.warnings += other_measure_warnings(
        paths,
        target,
        measures,
        legal_basis=report.legal_basis,
        valid_from=valid_from,
        valid_to=valid_to,
    )
    report.warnings += catalog_warnings(paths, set(measures["hs_code_prefix"]))
    report.seconds = round(time.perf_counter() - started, 2)
    report.report_file = str(folder / f"{target.stem}.json")
    Path(report.report_file).write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return report
