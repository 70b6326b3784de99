"""What if a tariff, an FX rate or a freight cost changed: tonight's price recommendations
before and after, without touching the warehouse or the exports.

The baseline is built exactly as the nightly run builds it (``ml.pricing.nightly``: the served
forecast, the elasticities, landed cost, stock and the seller's rules, through
``optimize_prices``), from a read-only connection. The hypothetical changes then move the
landed-cost columns of the listing-days they reach, the optimizer runs again with the same rules,
and the two are compared per listing and per marketplace x category. Only the report folder is
written (``out/whatif/<name>/`` by default): never a table, never ``out/prices/``.

A change reaches a listing-day from its ``start`` date on (default: every priced day). Per unit
and in USD, as ``mart_landed_cost`` builds it (``int_landed_cost_bases_computed``):

- tariff: an additional ad valorem duty of ``rate`` x the customs value on the SKUs whose HS code
  starts with ``hs_prefix``, from ``origin`` (or ALL origins), into ``destination`` (a marketplace
  code, its country or its customs union). Express parcels under de minimis stay duty-free, as
  the mart waives every additional duty for them.
- FX: the USD value of one unit of ``currency`` is set to ``rate`` or moved by ``change``
  (-0.05: the currency loses 5 % against USD). Whatever is priced in it moves: a marketplace's
  currency converts the landed cost to local currency and prices the fulfilment fee (charged in
  local currency, so it is fixed in local and moves in USD); a SKU's cost currency moves its unit
  cost; a lane's cost currency moves its freight.
- freight: a lane (``lane``), or the ``mode`` lane to a ``destination``, gets a new rate per kg
  (``cost_per_kg``, in the lane's currency; the per-shipment cost stays) or all its rates move by
  ``change`` (+0.30: freight 30 % dearer).

What follows from a moved cost: insurance is its rate x (goods + freight); the customs value is
the goods (FOB) or goods + freight + insurance (CIF), and the duties already in force move with
it at their ad valorem rates (specific duties do not); import VAT, charged where prices include
VAT on customs value + duty (+ fees), moves with both, and counts in the landed cost only where
the mart counts it (``import_vat_recoverable`` false): a recoverable VAT stays out, as tonight.
Customs fees (the US MPF/HMF, clamped per entry) are held: they are under 0.5 % of the value.
The lane a listing is priced on is tonight's (ocean, else the cheapest): ocean is preferred at
any cost, so only a listing without an ocean lane could switch lanes, which is not modelled.
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ml import contract
from ml.settings import DataPaths

from .elasticity import ElasticityEstimates
from .nightly import (
    DEFAULT_HORIZON_DAYS,
    PREFERRED_MODE,
    RECOMMENDATIONS_TABLE,
    pricing_input,
    recommend,
)
from .optimizer import DEFAULT_RULES, net_of_vat_share, optimize_prices

MODES = ("ocean", "air", "express", "rail")
# nightly.recommend's own default, so the baseline is tonight's whatever it is set to
DAYS_TO_REPLENISH: float = inspect.signature(recommend).parameters["days_to_replenish"].default
# above this an "additional ad valorem rate" is almost surely a percentage typed as a number
MAX_TARIFF_RATE = 5.0
REQUIRED_TABLES = (
    ("forecast", "demand_forecast", "forecast"),
    ("pricing", "price_elasticities", "elasticities"),
    ("pricing", "price_recommendations", "price recommendations"),
    ("marts", "mart_landed_cost", "landed costs"),
)
# The landed-cost columns of the optimizer's input that a change rewrites.
COST_COLUMNS = ("landed_cost_local", "landed_cost_usd", "duty_total_usd", "freight_usd")
FX_COLUMN = "usd_per_local"
LISTING_KEY = ["sku", "marketplace"]
REPORT_FILES = {
    "csv": "whatif_listings.csv",
    "markdown": "whatif.md",
    "plot": "whatif.png",
    "scenario": "scenario.yaml",
}


class WhatIfError(ValueError):
    """A what-if that cannot run as asked; the message says why and what to do."""


# --- the changes ------------------------------------------------------------------------------


class _Change:
    """A hypothetical change: its fields as the YAML and the report state them."""

    def as_dict(self) -> dict[str, Any]:
        return _without_none(**asdict(self))  # type: ignore[call-overload]


@dataclass(frozen=True)
class TariffChange(_Change):
    destination: str  # marketplace code, its country (ISO alpha-2) or customs union
    hs_prefix: str  # digits
    rate: float  # additional ad valorem, on the customs value
    origin: str = contract.ALL_ORIGINS
    start: dt.date | None = None

    def describe(self) -> str:
        origin = "every origin" if self.origin == contract.ALL_ORIGINS else self.origin
        return (
            f"tariff +{_pct(self.rate)} ad valorem on HS {self.hs_prefix}* from {origin} into "
            f"{self.destination}{_from(self.start)}"
        )


@dataclass(frozen=True)
class FxChange(_Change):
    currency: str
    rate: float | None = None  # new USD per unit
    change: float | None = None  # relative change of USD per unit
    start: dt.date | None = None

    def describe(self) -> str:
        move = (
            f"{self.rate:g} USD" if self.rate is not None else f"{_signed_pct(self.change)} vs USD"
        )
        return f"fx {self.currency} {move}{_from(self.start)}"


@dataclass(frozen=True)
class FreightChange(_Change):
    lane: str | None = None
    destination: str | None = None
    mode: str | None = None
    cost_per_kg: float | None = None  # new rate per kg, lane's currency
    change: float | None = None  # relative change of the lane's rates
    start: dt.date | None = None

    def describe(self) -> str:
        where = self.lane or f"{self.mode} to {self.destination}"
        move = (
            f"{self.cost_per_kg:g} per kg"
            if self.cost_per_kg is not None
            else _signed_pct(self.change)
        )
        return f"freight {where} {move}{_from(self.start)}"


@dataclass(frozen=True)
class Scenario:
    name: str | None = None
    tariffs: tuple[TariffChange, ...] = ()
    fx: tuple[FxChange, ...] = ()
    freight: tuple[FreightChange, ...] = ()

    @property
    def changes(self) -> tuple[TariffChange | FxChange | FreightChange, ...]:
        return (*self.tariffs, *self.fx, *self.freight)

    def as_dict(self) -> dict[str, Any]:
        """The scenario as the YAML file takes it (``start`` is written as ``from``)."""

        def rows(changes: Iterable[TariffChange | FxChange | FreightChange]) -> list[dict]:
            out = []
            for change in changes:
                row = change.as_dict()
                if "start" in row:
                    row["from"] = row.pop("start").isoformat()
                out.append(row)
            return out

        return _without_none(
            name=self.name,
            tariffs=rows(self.tariffs) or None,
            fx=rows(self.fx) or None,
            freight=rows(self.freight) or None,
        )


def _without_none(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _pct(x: float | None) -> str:
    return f"{100 * (x or 0.0):g} %"


def _signed_pct(x: float | None) -> str:
    return f"{100 * (x or 0.0):+g} %"


def _from(start: dt.date | None) -> str:
    return f" from {start.isoformat()}" if start else ""


# --- reading a scenario (YAML file or flags: the same fields) -----------------------------------

TARIFF_FIELDS = ("destination", "hs_prefix", "origin", "rate", "from")
FX_FIELDS = ("currency", "rate", "change", "from")
FREIGHT_FIELDS = ("lane", "destination", "mode", "cost_per_kg", "change", "from")
SECTIONS = {"tariffs": TARIFF_FIELDS, "fx": FX_FIELDS, "freight": FREIGHT_FIELDS}
SECTION_ALIASES = {"tariff": "tariffs"}


def parse_scenario(data: Mapping[str, Any], name: str | None = None) -> Scenario:
    """A scenario from the YAML file's mapping (or the flags' same mapping); ``name``
    overrides the file's. Raises ``WhatIfError`` naming the bad field."""
    if not isinstance(data, Mapping):
        raise WhatIfError("a what-if file holds a mapping: name, tariffs, fx, freight")
    unknown = sorted(set(data) - {"name", *SECTIONS, *SECTION_ALIASES})
    if unknown:
        raise WhatIfError(
            f"unknown key(s) {', '.join(map(repr, unknown))}; a what-if takes name, "
            + ", ".join(SECTIONS)
        )
    sections: dict[str, list[Mapping[str, Any]]] = {key: [] for key in SECTIONS}
    for key, value in data.items():
        if key == "name" or value is None:
            continue
        section = SECTION_ALIASES.get(key, key)
        items = [value] if isinstance(value, Mapping) else value
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise WhatIfError(f"{key}: give one change (a mapping) or a list of them")
        for item in items:
            extra = sorted(set(item) - set(SECTIONS[section]))
            if extra:
                raise WhatIfError(
                    f"{key}: unknown field(s) {', '.join(map(repr, extra))}; "
                    f"known: {', '.join(SECTIONS[section])}"
                )
        sections[section].extend(items)
    scenario = Scenario(
        name=_name(name if name is not None else data.get("name")),
        tariffs=tuple(_tariff(i, n) for n, i in enumerate(sections["tariffs"], 1)),
        fx=tuple(_fx(i, n) for n, i in enumerate(sections["fx"], 1)),
        freight=tuple(_freight(i, n) for n, i in enumerate(sections["freight"], 1)),
    )
    if not scenario.changes:
        raise WhatIfError(
            "no change given: pass --tariff-*, --fx-* or --freight-* options, or --file "
            "whatif.yaml (see `kuajing whatif --help`)"
        )
    currencies = [c.currency for c in scenario.fx]
    repeated = sorted({c for c in currencies if currencies.count(c) > 1})
    if repeated:
        raise WhatIfError(f"fx: {', '.join(repeated)} changed twice; give one change per currency")
    return scenario


FLAG_PREFIXES = {"tariffs": "tariff", "fx": "fx", "freight": "freight"}
FLAG_NAMES = {"hs_prefix": "hs"}  # --tariff-hs


def changes_from_flags(flags: Mapping[str, str | None]) -> dict[str, list[dict[str, str]]]:
    """The ``--tariff-*``, ``--fx-*`` and ``--freight-*`` options (click's names, e.g.
    ``tariff_hs``) as the YAML file's sections: one change per kind given."""
    changes = {}
    for section, fields in SECTIONS.items():
        prefix = FLAG_PREFIXES[section]
        given = {
            f: value
            for f in fields
            if (value := flags.get(f"{prefix}_{FLAG_NAMES.get(f, f)}")) is not None
        }
        if given:
            changes[section] = [given]
    return changes


def with_changes(data: Mapping[str, Any], extra: Mapping[str, list[dict[str, str]]]) -> dict:
    """The file's mapping with ``extra`` changes appended to its sections."""
    merged = {SECTION_ALIASES.get(k, k): v for k, v in data.items()}
    for section, items in extra.items():
        listed = merged.get(section) or []
        merged[section] = [*([listed] if isinstance(listed, Mapping) else listed), *items]
    return merged


def _name(value: Any) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", text):
        raise WhatIfError(
            f"name {text!r}: use letters, digits, '.', '_' and '-' (it names the report folder)"
        )
    return text


def _text(item: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = item.get(key)
    if value is None or str(value).strip() == "":
        if required:
            raise WhatIfError(f"{where}: {key} is required")
        return None
    return str(value).strip()


def _number(
    item: Mapping[str, Any],
    key: str,
    where: str,
    *,
    low: float,
    high: float,
    hint: str,
    low_allowed: bool = False,
) -> float | None:
    """A number, or a percentage as text ("25%" = 0.25), above ``low`` (or equal to it with
    ``low_allowed``) and at most ``high``."""
    value = item.get(key)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, str) and value.strip().endswith("%"):
            number = float(value.strip()[:-1]) / 100
        else:
            number = float(value)
    except ValueError:
        raise WhatIfError(f"{where}: {key} {value!r} is not a number ({hint})") from None
    above_low = number >= low if low_allowed else number > low
    if not math.isfinite(number) or not above_low or not number <= high:
        raise WhatIfError(f"{where}: bad {key} {value!r} ({hint})")
    return number


def _start(item: Mapping[str, Any], where: str) -> dt.date | None:
    value = item.get("from")
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise WhatIfError(f"{where}: from {value!r} is not a date (YYYY-MM-DD)") from None


def _one_of(values: Mapping[str, float | None], where: str) -> None:
    given = [k for k, v in values.items() if v is not None]
    if len(given) != 1:
        raise WhatIfError(f"{where}: give exactly one of {' or '.join(values)}")


def _tariff(item: Mapping[str, Any], n: int) -> TariffChange:
    from ml.ingest.codes import code_set

    where = f"tariff {n}"
    destination = str(_text(item, "destination", where, required=True)).upper()
    prefix_value = item.get("hs_prefix")
    if prefix_value is not None and not isinstance(prefix_value, str):
        # YAML reads 0101 as the octal number 65: only text keeps an HS prefix's digits
        raise WhatIfError(
            f"{where}: quote hs_prefix ('{prefix_value}'): it is a code, not a number"
        )
    prefix = re.sub(r"[.\s]", "", str(_text(item, "hs_prefix", where, required=True)))
    if not re.fullmatch(r"[0-9]{2,10}", prefix):
        raise WhatIfError(f"{where}: hs_prefix {prefix_value!r} is not 2-10 digits")
    origin = (_text(item, "origin", where) or contract.ALL_ORIGINS).upper()
    if origin not in code_set("tariff_origin"):
        raise WhatIfError(
            f"{where}: origin {origin!r} is not an ISO 3166-1 alpha-2 code or "
            f"{contract.ALL_ORIGINS}"
        )
    rate = _number(
        item,
        "rate",
        where,
        low=0.0,
        high=MAX_TARIFF_RATE,
        hint=f"an additional ad valorem rate above 0 and at most {MAX_TARIFF_RATE:g}: 0.25 or "
        "'25%' for 25 %",
    )
    if rate is None:
        raise WhatIfError(f"{where}: rate is required (0.25 or '25%' for 25 %)")
    return TariffChange(destination, prefix, rate, origin, _start(item, where))


def _fx(item: Mapping[str, Any], n: int) -> FxChange:
    from ml.ingest.codes import currency_codes

    where = f"fx {n}"
    currency = str(_text(item, "currency", where, required=True)).upper()
    if currency not in currency_codes():
        raise WhatIfError(f"{where}: currency {currency!r} is not an ISO 4217 code")
    if currency == "USD":
        raise WhatIfError(f"{where}: rates are USD per unit, so USD itself cannot move")
    rate = _number(
        item, "rate", where, low=0.0, high=math.inf, hint="the new USD per unit, above 0"
    )
    change = _number(
        item,
        "change",
        where,
        low=-1.0,
        high=10.0,
        hint="a relative change of USD per unit above -1, e.g. -0.05 or '-5%'",
    )
    _one_of({"rate": rate, "change": change}, where)
    return FxChange(currency, rate, change, _start(item, where))


def _freight(item: Mapping[str, Any], n: int) -> FreightChange:
    where = f"freight {n}"
    lane = _text(item, "lane", where)
    destination = _text(item, "destination", where)
    mode = _text(item, "mode", where)
    if (lane is None) == (destination is None):
        raise WhatIfError(f"{where}: give a lane, or a destination and a mode")
    if mode is not None:
        mode = mode.lower()
        if mode not in MODES:
            raise WhatIfError(f"{where}: unknown mode {mode!r}; known: {', '.join(MODES)}")
    elif destination is not None:
        raise WhatIfError(f"{where}: a destination needs a mode ({', '.join(MODES)})")
    cost_per_kg = _number(
        item,
        "cost_per_kg",
        where,
        low=0.0,
        high=math.inf,
        hint="the lane's new rate per kg in its currency, 0 or more",
        low_allowed=True,
    )
    change = _number(
        item,
        "change",
        where,
        low=-1.0,
        high=10.0,
        hint="a relative change of the lane's rates above -1, e.g. 0.3 or '30%'",
    )
    _one_of({"cost_per_kg": cost_per_kg, "change": change}, where)
    return FreightChange(
        lane,
        destination.upper() if destination else None,
        mode,
        cost_per_kg,
        change,
        _start(item, where),
    )


# --- what the warehouse knows: for clear errors on unknown codes -------------------------------


@dataclass(frozen=True)
class KnownValues:
    marketplaces: pd.DataFrame  # marketplace, country, customs_union, currency
    lanes: pd.DataFrame  # lane_id, marketplace, mode, cost_currency
    currencies: frozenset[str]  # of marketplaces, SKU costs and lanes

    def destination_marketplaces(self, destination: str) -> set[str]:
        m = self.marketplaces
        hit = (m["marketplace"] == destination) | (m["country"] == destination)
        hit |= m["customs_union"].fillna("") == destination
        return set(m.loc[hit, "marketplace"])


def check_scenario(scenario: Scenario, known: KnownValues) -> None:
    """Codes the data does not know: an error naming the ones it does."""
    destinations = sorted(
        {*known.marketplaces["marketplace"], *known.marketplaces["country"].dropna()}
        | set(known.marketplaces["customs_union"].dropna())
    )

    def check_destination(destination: str, where: str) -> set[str]:
        found = known.destination_marketplaces(destination)
        if not found:
            raise WhatIfError(
                f"{where}: unknown marketplace or destination {destination!r}; known: "
                + ", ".join(destinations)
            )
        return found

    for n, tariff in enumerate(scenario.tariffs, 1):
        check_destination(tariff.destination, f"tariff {n}")
    for n, fx in enumerate(scenario.fx, 1):
        if fx.currency not in known.currencies:
            raise WhatIfError(
                f"fx {n}: no marketplace, SKU cost or lane is in {fx.currency}; known: "
                + ", ".join(sorted(known.currencies - {"USD"}))
            )
    lanes = known.lanes
    for n, freight in enumerate(scenario.freight, 1):
        where = f"freight {n}"
        if freight.lane is not None:
            row = lanes[lanes["lane_id"] == freight.lane]
            if row.empty:
                raise WhatIfError(
                    f"{where}: unknown lane {freight.lane!r}; known: "
                    + ", ".join(sorted(lanes["lane_id"]))
                )
            if freight.mode is not None and freight.mode not in set(row["mode"]):
                raise WhatIfError(
                    f"{where}: lane {freight.lane} is {row['mode'].iloc[0]}, not {freight.mode}"
                )
            continue
        assert freight.destination is not None
        markets = check_destination(freight.destination, where)
        served = lanes[lanes["marketplace"].isin(markets)]
        if freight.mode not in set(served["mode"]):
            modes = ", ".join(sorted(set(served["mode"]))) or "none"
            raise WhatIfError(
                f"{where}: no {freight.mode} lane to {freight.destination}; its modes: {modes}"
            )


def read_known_values(con: duckdb.DuckDBPyConnection) -> KnownValues:
    marketplaces = con.execute(
        "SELECT marketplace, country, customs_union, currency FROM marts.dim_marketplace"
    ).fetch_df()
    lanes = con.execute(
        "SELECT lane_id, marketplace, mode, cost_currency FROM intermediate.int_lanes_mapped"
    ).fetch_df()
    sku_currencies = con.execute(
        "SELECT DISTINCT cost_currency FROM marts.dim_sku WHERE cost_currency IS NOT NULL"
    ).fetch_df()["cost_currency"]
    currencies = frozenset(
        {*marketplaces["currency"].dropna(), *lanes["cost_currency"].dropna(), *sku_currencies}
    )
    return KnownValues(marketplaces, lanes, currencies)


# --- the landed cost's parts per listing-day ----------------------------------------------------


def cost_components(con: duckdb.DuckDBPyConnection, days: pd.DataFrame) -> pd.DataFrame:
    """Per listing-day, the parts of the landed cost in force that day, on the lane
    ``nightly.landed_costs`` picks (same rule; the what-if checks they agree): what a change
    needs to recompute it. USD per unit unless named otherwise."""
    con.register("whatif_days", days[["sku", "marketplace", "date"]])
    try:
        return con.execute(
            f"""
            with lane as (
                select * from marts.mart_landed_cost
                where landed_cost_local is not null
                qualify row_number() over (
                    partition by sku, marketplace, effective_date
                    order by (mode = '{PREFERRED_MODE}') desc, landed_cost_usd
                ) = 1
            ),
            ad_valorem as (
                -- the rate at which the duties in force follow the customs value
                select sku, marketplace, mode, effective_date,
                       sum(ad_valorem_rate) as ad_valorem_rate
                from marts.mart_landed_cost_duty_lines
                where rate_type in ('ad_valorem', 'compound') and measure_type <> 'de_minimis'
                group by all
            ),
            lanes as (
                select lane_id, cost_per_kg, fixed_cost_per_shipment,
                       cost_currency as lane_currency
                from intermediate.int_lanes_mapped
                qualify row_number() over (partition by lane_id order by marketplace) = 1
            )
            select d.sku, d.marketplace, d.date, now.mode, now.lane_id,
                   m.country as destination_country, m.customs_union, m.currency,
                   m.vat_rate, m.prices_include_vat, s.hs_code, s.origin_country,
                   s.unit_cost, s.cost_currency, s.weight_kg, l.lane_currency, l.cost_per_kg,
                   l.fixed_cost_per_shipment, now.units_per_consignment, now.customs_basis,
                   coalesce(now.is_de_minimis, false) as is_de_minimis,
                   now.unit_cost_usd, now.freight_usd, now.insurance_usd,
                   now.customs_value_usd, now.duty_total_usd,
                   coalesce(a.ad_valorem_rate, 0.0) as ad_valorem_rate, now.customs_fees_usd,
                   now.fulfilment_fee_usd, now.import_vat_usd, now.landed_cost_excl_vat_usd,
                   now.landed_cost_usd, now.landed_cost_local, now.usd_per_local
            from whatif_days d
            asof left join lane now
                on now.sku = d.sku and now.marketplace = d.marketplace
                    and now.effective_date <= d.date
            left join ad_valorem a
                on a.sku = now.sku and a.marketplace = now.marketplace
                    and a.mode is not distinct from now.mode
                    and a.effective_date = now.effective_date
            left join lanes l on l.lane_id = now.lane_id
            left join marts.dim_sku s on s.sku = d.sku
            left join marts.dim_marketplace m on m.marketplace = d.marketplace
            """
        ).fetch_df()
    finally:
        con.unregister("whatif_days")


def _num(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)


def _text_array(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), "", dtype=object)
    return frame[name].astype(object).where(frame[name].notna(), "").astype(str).to_numpy()


def _flag(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame[name].astype("boolean").fillna(False).to_numpy(dtype=bool)


def derived_rates(components: pd.DataFrame) -> pd.DataFrame:
    """The rates the mart's USD figures were converted at, read back from them: USD per unit
    of the SKU's cost currency and of the lane's, and whether import VAT counts in the landed
    cost (it does where the mart's landed cost holds it)."""
    c = components
    with np.errstate(divide="ignore", invalid="ignore"):
        cost_rate = _num(c, "unit_cost_usd") / _num(c, "unit_cost")
        lane_native = _num(c, "cost_per_kg") * _num(c, "weight_kg") + _num(
            c, "fixed_cost_per_shipment"
        ) / _num(c, "units_per_consignment")
        lane_rate = _num(c, "freight_usd") / lane_native
    cost_rate = np.where(_text_array(c, "cost_currency") == "USD", 1.0, cost_rate)
    lane_rate = np.where(_text_array(c, "lane_currency") == "USD", 1.0, lane_rate)
    import_vat = np.nan_to_num(_num(c, "import_vat_usd"))
    vat_in_landed = (import_vat > 0) & (
        np.nan_to_num(_num(c, "landed_cost_usd") - _num(c, "landed_cost_excl_vat_usd"))
        > 0.5 * import_vat
    )
    return pd.DataFrame(
        {
            "cost_usd_per_unit": cost_rate,
            "lane_usd_per_unit": lane_rate,
            "import_vat_in_landed_cost": vat_in_landed,
        },
        index=c.index,
    )


# --- applying the changes (pure) ----------------------------------------------------------------


def _on_or_after(dates: pd.Series, start: dt.date | None) -> np.ndarray:
    if start is None:
        return np.ones(len(dates), dtype=bool)
    return (pd.to_datetime(dates) >= pd.Timestamp(start)).to_numpy(dtype=bool)


def destination_mask(components: pd.DataFrame, destination: str) -> np.ndarray:
    """Rows of a marketplace code, its country or its customs union."""
    return (
        (_text_array(components, "marketplace") == destination)
        | (_text_array(components, "destination_country") == destination)
        | (_text_array(components, "customs_union") == destination)
    )


def tariff_mask(components: pd.DataFrame, tariff: TariffChange) -> np.ndarray:
    """Rows the tariff is in force on: destination, HS prefix, origin and date."""
    hs = pd.Series(_text_array(components, "hs_code"))
    origin = _text_array(components, "origin_country")
    return (
        destination_mask(components, tariff.destination)
        & hs.str.startswith(tariff.hs_prefix).to_numpy(dtype=bool)
        & ((origin == tariff.origin) | (tariff.origin == contract.ALL_ORIGINS))
        & _on_or_after(components["date"], tariff.start)
    )


def freight_mask(components: pd.DataFrame, freight: FreightChange) -> np.ndarray:
    if freight.lane is not None:
        lane = _text_array(components, "lane_id") == freight.lane
    else:
        assert freight.destination is not None
        lane = destination_mask(components, freight.destination) & (
            _text_array(components, "mode") == freight.mode
        )
    return lane & _on_or_after(components["date"], freight.start)


def fx_factors(
    components: pd.DataFrame, changes: Sequence[FxChange], currency_column: str, rate: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The factor each row's rate of ``currency_column``'s currency is multiplied by (new USD
    per unit / current), and each change's rows."""
    factor = np.ones(len(components))
    currency = _text_array(components, currency_column)
    hits = []
    for change in changes:
        hit = (currency == change.currency) & _on_or_after(components["date"], change.start)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = change.rate / rate if change.rate is not None else 1.0 + (change.change or 0.0)
        factor = np.where(hit, np.broadcast_to(new, factor.shape), factor)
        hits.append(hit & np.isfinite(factor))
    return np.where(np.isfinite(factor), factor, 1.0), hits


def apply_scenario(components: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """The landed-cost columns of each listing-day after the scenario's changes, in the
    optimizer's names (``COST_COLUMNS`` and ``usd_per_local``), with ``affected`` (the landed
    cost or the FX moved), ``changes`` (which ones reached the row) and ``de_minimis_exempt``
    (a tariff matched an express parcel under de minimis).

    ``components``: ``cost_components``' columns (``derived_rates``' are added when missing).
    Rows no change reaches keep their figures exactly."""
    c = components
    if "cost_usd_per_unit" not in c:
        c = pd.concat([c, derived_rates(c)], axis=1)
    n = len(c)
    zero = np.zeros(n)

    def finite(x: np.ndarray) -> np.ndarray:
        return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)

    unit_cost, freight = finite(_num(c, "unit_cost_usd")), finite(_num(c, "freight_usd"))
    customs_value = finite(_num(c, "customs_value_usd"))
    fx = _num(c, FX_COLUMN)
    # 1. FX: each currency a cost is priced in
    local_factor, local_hits = fx_factors(c, scenario.fx, "currency", fx)
    cost_factor, cost_hits = fx_factors(
        c, scenario.fx, "cost_currency", _num(c, "cost_usd_per_unit")
    )
    lane_factor, lane_hits = fx_factors(
        c, scenario.fx, "lane_currency", _num(c, "lane_usd_per_unit")
    )
    d_unit = unit_cost * (cost_factor - 1.0)
    d_freight = freight * (lane_factor - 1.0)
    # 2. freight, at the lane's rate after any FX change
    freight_hits = []
    for change in scenario.freight:
        hit = freight_mask(c, change) & np.isfinite(_num(c, "freight_usd"))
        if change.cost_per_kg is not None:
            per_kg = (change.cost_per_kg - finite(_num(c, "cost_per_kg"))) * finite(
                _num(c, "weight_kg")
            )
            delta = finite(per_kg * _num(c, "lane_usd_per_unit") * lane_factor)
        else:
            delta = (freight + d_freight) * (change.change or 0.0)
        d_freight = np.where(hit, d_freight + delta, d_freight)
        freight_hits.append(hit)
    # 3. what follows the goods and freight: insurance, the customs value, the duties on it
    with np.errstate(divide="ignore", invalid="ignore"):
        insurance_rate = finite(_num(c, "insurance_usd") / (unit_cost + freight))
    d_insurance = insurance_rate * (d_unit + d_freight)
    basis = _text_array(c, "customs_basis")
    d_customs_value = np.where(
        basis == "CIF", d_unit + d_freight + d_insurance, np.where(basis == "FOB", d_unit, 0.0)
    )
    d_duty = finite(_num(c, "ad_valorem_rate")) * d_customs_value
    # 4. the additional tariffs, on the customs value after 1-3
    de_minimis = _flag(c, "is_de_minimis")
    has_value = np.isfinite(_num(c, "customs_value_usd"))
    extra_rate, tariff_hits, exempt = zero.copy(), [], np.zeros(n, dtype=bool)
    for tariff in scenario.tariffs:
        match = tariff_mask(c, tariff) & has_value
        exempt |= match & de_minimis
        hit = match & ~de_minimis
        extra_rate = np.where(hit, extra_rate + tariff.rate, extra_rate)
        tariff_hits.append(hit)
    d_duty = d_duty + extra_rate * (customs_value + d_customs_value)
    # 5. the fulfilment fee is charged in local currency: fixed there, it moves in USD
    d_fulfilment = finite(_num(c, "fulfilment_fee_usd")) * (local_factor - 1.0)
    # 6. import VAT on the extra customs value and duty (customs fees held): in the landed cost
    #    only where the mart put it there (VAT not recoverable), like the VAT already in it
    vat = np.where(_flag(c, "prices_include_vat"), finite(_num(c, "vat_rate")), 0.0)
    d_import_vat = vat * (d_customs_value + d_duty)
    d_landed = (
        d_unit
        + d_freight
        + d_insurance
        + d_duty
        + d_fulfilment
        + np.where(_flag(c, "import_vat_in_landed_cost"), d_import_vat, 0.0)
    )
    fx_after = fx * local_factor
    affected = (d_landed != 0.0) | (local_factor != 1.0)
    landed_usd = _num(c, "landed_cost_usd")
    with np.errstate(divide="ignore", invalid="ignore"):
        landed_local = np.where(
            affected, (landed_usd + d_landed) / fx_after, _num(c, "landed_cost_local")
        )
    reached: list[tuple[TariffChange | FxChange | FreightChange, np.ndarray]] = [
        *zip(scenario.tariffs, tariff_hits, strict=True),
        *(
            (fx_change, local | cost | lane)
            for fx_change, local, cost, lane in zip(
                scenario.fx, local_hits, cost_hits, lane_hits, strict=True
            )
        ),
        *zip(scenario.freight, freight_hits, strict=True),
    ]
    labels = np.full(n, "", dtype=object)
    for applied, hit in reached:
        text = applied.describe()
        labels = np.where(
            hit & affected, np.where(labels == "", text, labels + "; " + text), labels
        )
    return pd.DataFrame(
        {
            "landed_cost_local": landed_local,
            "landed_cost_usd": np.where(affected, landed_usd + d_landed, landed_usd),
            "duty_total_usd": _num(c, "duty_total_usd") + d_duty,
            "freight_usd": _num(c, "freight_usd") + d_freight,
            FX_COLUMN: fx_after,
            "import_vat_usd": _num(c, "import_vat_usd") + d_import_vat,
            "affected": affected & np.isfinite(landed_usd),
            "changes": labels,
            "de_minimis_exempt": exempt,
        },
        index=components.index,
    )


def frame_after(frame: pd.DataFrame, costs_after: pd.DataFrame) -> pd.DataFrame:
    """The optimizer's input with the changed landed-cost columns on the affected rows (rows
    aligned; the others keep nightly's figures exactly). The ``*_then`` columns stay, so the
    reason codes name what the change moved."""
    affected = costs_after["affected"].to_numpy(dtype=bool)
    return frame.assign(
        **{
            column: np.where(affected, costs_after[column].to_numpy(), _num(frame, column))
            for column in (*COST_COLUMNS, FX_COLUMN)
        }
    )


# --- comparing before and after -----------------------------------------------------------------


def _net_revenue(rows: pd.DataFrame) -> np.ndarray:
    share = net_of_vat_share(_num(rows, "vat_rate"), _flag(rows, "prices_include_vat"))
    return _num(rows, "units_recommended") * _num(rows, "recommended_price") * share


def listing_comparison(
    before: pd.DataFrame, after: pd.DataFrame, costs_after: pd.DataFrame
) -> pd.DataFrame:
    """One row per listing: landed cost and recommended price on the horizon's last day (every
    change in the horizon in force) and its first (tomorrow's file), expected units, profit and
    margin (profit / revenue net of VAT) over the horizon, before and after."""
    keys = [*LISTING_KEY, "date"]
    b = before.assign(
        net_revenue=_net_revenue(before),
        profit_usd=_num(before, "profit_recommended") * _num(before, FX_COLUMN),
    )
    a = after.assign(
        net_revenue=_net_revenue(after),
        profit_usd=_num(after, "profit_recommended") * _num(after, FX_COLUMN),
    )
    days = b.merge(a, on=keys, suffixes=("_before", "_after"), validate="one_to_one")
    days = days.merge(
        costs_after[[*keys, "affected", "changes"]], on=keys, how="left", validate="one_to_one"
    )
    days = days.sort_values(keys, kind="stable")
    grouped = days.groupby(LISTING_KEY, sort=True)
    first, last = grouped.head(1).set_index(LISTING_KEY), grouped.tail(1).set_index(LISTING_KEY)
    sums = grouped[
        [
            f"{m}_{w}"
            for m in ("units_recommended", "profit_recommended", "net_revenue", "profit_usd")
            for w in ("before", "after")
        ]
    ].sum()
    out = pd.DataFrame(
        {
            "category": last["category_before"],
            "currency": last["currency_before"],
            "affected": grouped["affected"].any(),
            "days_affected": grouped["affected"].sum().astype(int),
            "changes": grouped["changes"].agg(_joined_labels),
            "first_date": first["date"],
            "last_date": last["date"],
        }
    )
    for when in ("before", "after"):
        out[f"landed_cost_{when}"] = last[f"landed_cost_local_{when}"]
    for when in ("before", "after"):
        out[f"price_{when}"] = last[f"recommended_price_{when}"]
    for when in ("before", "after"):
        out[f"first_day_price_{when}"] = first[f"recommended_price_{when}"]
    for when in ("before", "after"):
        out[f"units_{when}"] = sums[f"units_recommended_{when}"]
    for when in ("before", "after"):
        out[f"profit_{when}"] = sums[f"profit_recommended_{when}"]
    for when in ("before", "after"):
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"margin_{when}"] = sums[f"profit_recommended_{when}"] / sums[
                f"net_revenue_{when}"
            ].where(sums[f"net_revenue_{when}"] > 0)
    for when in ("before", "after"):
        out[f"net_revenue_{when}"] = sums[f"net_revenue_{when}"]
    for when in ("before", "after"):
        out[f"profit_usd_{when}"] = sums[f"profit_usd_{when}"]
    # the last day's status; the reasons of every change over the horizon (a price raised on
    # the tariff's first day is "kept" on the days after it)
    out["status_after"] = last["status_after"]
    out["reason_codes_after"] = grouped["reason_codes_after"].agg(_joined_codes)
    out["status_reason_after"] = last["status_reason_after"]
    # why a price did not follow its cost: the bound it sits at (the ceiling, the daily limit)
    out["binding_guardrail_after"] = last["binding_guardrail_after"]
    return out.reset_index()


def _joined_labels(labels: pd.Series) -> str:
    seen: dict[str, None] = {}
    for text in labels.dropna():
        for part in str(text).split("; "):
            if part:
                seen[part] = None
    return "; ".join(seen)


def _joined_codes(codes: pd.Series) -> str:
    seen = dict.fromkeys(c for text in codes.dropna() for c in str(text).split(";") if c)
    return ";".join(seen)


def group_comparison(listings: pd.DataFrame) -> pd.DataFrame:
    """Per marketplace x category: listings, affected listings, mean landed cost and price
    (last day), units and profit over the horizon, and the margin (profit / net revenue)."""
    grouped = listings.groupby(["marketplace", "category"], dropna=False, sort=True)
    out = grouped.agg(
        currency=("currency", "first"),
        listings=("sku", "size"),
        affected=("affected", "sum"),
        landed_cost_before=("landed_cost_before", "mean"),
        landed_cost_after=("landed_cost_after", "mean"),
        price_before=("price_before", "mean"),
        price_after=("price_after", "mean"),
        units_before=("units_before", "sum"),
        units_after=("units_after", "sum"),
        profit_before=("profit_before", "sum"),
        profit_after=("profit_after", "sum"),
        net_revenue_before=("net_revenue_before", "sum"),
        net_revenue_after=("net_revenue_after", "sum"),
    )
    for when in ("before", "after"):
        revenue = out[f"net_revenue_{when}"].where(out[f"net_revenue_{when}"] > 0)
        out[f"margin_{when}"] = out[f"profit_{when}"] / revenue
    out["affected"] = out["affected"].astype(int)
    return out.drop(columns=["net_revenue_before", "net_revenue_after"]).reset_index()


def _arrow(before: float, after: float, fmt: str) -> str:
    if not (np.isfinite(before) or np.isfinite(after)):
        return ""
    if np.isclose(before, after, rtol=1e-9, atol=1e-9):
        return format(before, fmt)
    return f"{format(before, fmt)} -> {format(after, fmt)}"


def groups_table(groups: pd.DataFrame) -> pd.DataFrame:
    """The groups as printed: each figure "before -> after" (one figure when unchanged)."""
    pct = ".1%"
    return pd.DataFrame(
        {
            "marketplace": groups["marketplace"],
            "category": groups["category"].fillna(""),
            "currency": groups["currency"],
            "listings": [
                f"{a}/{n}" for a, n in zip(groups["affected"], groups["listings"], strict=True)
            ],
            "landed cost": [
                _arrow(b, a, ",.2f")
                for b, a in zip(
                    groups["landed_cost_before"], groups["landed_cost_after"], strict=True
                )
            ],
            "margin": [
                _arrow(b, a, pct)
                for b, a in zip(groups["margin_before"], groups["margin_after"], strict=True)
            ],
            "price": [
                _arrow(b, a, ",.2f")
                for b, a in zip(groups["price_before"], groups["price_after"], strict=True)
            ],
            "units": [
                _arrow(b, a, ",.1f")
                for b, a in zip(groups["units_before"], groups["units_after"], strict=True)
            ],
            "profit": [
                _arrow(b, a, ",.2f")
                for b, a in zip(groups["profit_before"], groups["profit_after"], strict=True)
            ],
        }
    )


# --- running it -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhatIf:
    scenario: Scenario
    before: pd.DataFrame  # optimizer rows, one per listing-day
    after: pd.DataFrame
    costs_after: pd.DataFrame  # apply_scenario's columns, with the listing-day keys
    listings: pd.DataFrame  # listing_comparison
    groups: pd.DataFrame  # group_comparison
    baseline_differences: int  # listing-days whose baseline price is not the stored one
    notes: list[str] = field(default_factory=list)

    @property
    def affected_listings(self) -> int:
        return int(self.listings["affected"].sum())


def _missing_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    present = {
        (s, t)
        for s, t in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
    }
    return [what for s, t, what in REQUIRED_TABLES if (s, t) not in present]


def open_warehouse(paths: DataPaths) -> duckdb.DuckDBPyConnection:
    """The warehouse, read-only: nothing a what-if does can write to it."""
    if not paths.warehouse.exists():
        raise WhatIfError(f"no warehouse at {paths.warehouse}: run the pipeline first (`make run`)")
    try:
        con = duckdb.connect(str(paths.warehouse), read_only=True)
    except duckdb.Error as error:
        raise WhatIfError(
            f"cannot open {paths.warehouse} read-only (is a pipeline run writing it? try again "
            f"when it has finished): {error}"
        ) from None
    missing = _missing_tables(con)
    if missing:
        con.close()
        raise WhatIfError(
            f"{paths.warehouse} has no {', '.join(missing)} yet: run the pipeline first "
            "(`make run`), then the what-if"
        )
    return con


def stored_price_differences(con: duckdb.DuckDBPyConnection, before: pd.DataFrame) -> int:
    """Listing-days whose recomputed baseline price differs from the stored recommendation
    (0 unless the warehouse changed since the nightly run)."""
    stored = con.execute(
        f"SELECT sku, marketplace, date, recommended_price AS stored FROM {RECOMMENDATIONS_TABLE}"
    ).fetch_df()
    keys = [*LISTING_KEY, "date"]
    ours = before[[*keys, "recommended_price"]].assign(date=lambda f: pd.to_datetime(f["date"]))
    stored["date"] = pd.to_datetime(stored["date"])
    # --days may price more or fewer days than the nightly run stored: compare the common ones
    common = set(ours["date"]) & set(stored["date"])
    ours, stored = ours[ours["date"].isin(common)], stored[stored["date"].isin(common)]
    both = ours.merge(stored, on=keys, how="outer", indicator=True)
    differs = (both["_merge"] != "both") | ~np.isclose(
        both["recommended_price"].astype(float), both["stored"].astype(float), equal_nan=True
    )
    return int(differs.sum())


def champion_estimates(paths: DataPaths) -> ElasticityEstimates:
    """The elasticities tonight's prices used: ``models:/price_response@champion``."""
    from ml.registry import ChampionUnavailableError, TrackingStore

    from .registry import load_champion_estimates

    try:
        return load_champion_estimates(TrackingStore.from_paths(paths))[0]
    except (LookupError, ChampionUnavailableError) as error:
        raise WhatIfError(f"{error} (run the pipeline first: `make run`)") from None


def run_whatif(
    paths: DataPaths, scenario: Scenario, *, horizon_days: int = DEFAULT_HORIZON_DAYS
) -> WhatIf:
    """Tonight's recommendations before and after ``scenario``, read-only."""
    con = open_warehouse(paths)
    try:
        check_scenario(scenario, read_known_values(con))
        estimates = champion_estimates(paths)
        try:  # as nightly.recommend builds it
            tonight = pricing_input(con, estimates, horizon_days, DAYS_TO_REPLENISH)
        except ValueError as error:
            raise WhatIfError(str(error)) from None
        days, frame, rules = tonight.days, tonight.frame, tonight.rules
        keys = [*LISTING_KEY, "date"]
        components = frame[keys].merge(
            cost_components(con, days), on=keys, how="left", validate="one_to_one"
        )
        _check_components(frame, components)
        before = optimize_prices(frame, rules, default_rules=DEFAULT_RULES)
        differences = stored_price_differences(con, before)
    finally:
        con.close()
    costs_after = apply_scenario(components, scenario)
    after = optimize_prices(frame_after(frame, costs_after), rules, default_rules=DEFAULT_RULES)
    costs_after = pd.concat([components[keys], costs_after], axis=1)
    listings = listing_comparison(before, after, costs_after)
    return WhatIf(
        scenario=scenario,
        before=before,
        after=after,
        costs_after=costs_after,
        listings=listings,
        groups=group_comparison(listings),
        baseline_differences=differences,
        notes=_notes(scenario, costs_after, before),
    )


def _check_components(frame: pd.DataFrame, components: pd.DataFrame) -> None:
    """The breakdown must be of the landed cost tonight's prices use, or the what-if would
    compare against another lane."""
    ours, nightly = _num(components, "landed_cost_usd"), _num(frame, "landed_cost_usd")
    agree = np.isclose(ours, nightly, rtol=1e-9, atol=1e-9, equal_nan=True)
    if not agree.all():
        raise WhatIfError(
            f"the landed-cost breakdown disagrees with nightly pricing on {int((~agree).sum())} "
            "listing-days: rebuild the marts (`make run`) and try again"
        )


def _notes(scenario: Scenario, costs_after: pd.DataFrame, before: pd.DataFrame) -> list[str]:
    notes = []
    dates = pd.to_datetime(before["date"])
    first, last = dates.min().date(), dates.max().date()
    for change in scenario.changes:
        if change.start is not None and change.start > last:
            notes.append(
                f"{change.describe()}: starts after the priced horizon ({first} .. {last}); "
                "price more days with --days"
            )
    exempt = int(costs_after["de_minimis_exempt"].sum())
    if exempt:
        notes.append(
            f"{exempt} listing-days ship as express parcels under de minimis: the tariff "
            "waives them, as the mart waives every additional duty there"
        )
    if not costs_after["affected"].any():
        notes.append("no listing is affected by these changes")
    return notes


# --- the report -------------------------------------------------------------------------------


def report_folder(paths: DataPaths, scenario: Scenario, out: Path | None, now: dt.datetime) -> Path:
    """``out``, else ``out/whatif/<name, else a timestamp>/``; never a folder the pipeline
    writes (raw data, the price exports, the warehouse's, MLflow's, Dagster's)."""
    folder = (
        Path(out)
        if out is not None
        else paths.out / "whatif" / (scenario.name or now.strftime("%Y%m%d-%H%M%S"))
    )
    resolved = folder.expanduser().resolve()
    guarded = [paths.raw, paths.out / "prices", paths.mlflow, paths.dagster_home]
    for protected in (p.resolve() for p in guarded):
        if resolved == protected or protected in resolved.parents:
            raise WhatIfError(f"--out {folder}: that is the pipeline's {protected}; choose another")
    if resolved == paths.root.resolve() or resolved == paths.out.resolve():
        raise WhatIfError(f"--out {folder}: choose a folder of its own (e.g. out/whatif/<name>)")
    return resolved


def whatif_plot(listings: pd.DataFrame, title: str) -> bytes:
    """Left: the affected listings' expected profit over the horizon per marketplace, before
    and after (USD, so marketplaces compare). Right: per affected listing, the landed cost's
    change against the recommended price's (last day)."""
    from ml.forecast.plots import pyplot, save_png

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    affected = listings[listings["affected"]]
    markets = sorted(affected["marketplace"].unique())
    if not markets:
        for ax in (left, right):
            ax.text(0.5, 0.5, "no listing affected", ha="center", va="center")
            ax.set_axis_off()
    else:
        profit = affected.groupby("marketplace")[["profit_usd_before", "profit_usd_after"]].sum()
        profit = profit.loc[markets]
        x = np.arange(len(markets))
        left.bar(x - 0.2, profit["profit_usd_before"], 0.4, label="before")
        bars = left.bar(x + 0.2, profit["profit_usd_after"], 0.4, label="after")
        with np.errstate(divide="ignore", invalid="ignore"):
            change = profit["profit_usd_after"] / profit["profit_usd_before"] - 1
        left.bar_label(bars, [f"{c:+.1%}" if np.isfinite(c) else "" for c in change], fontsize=8)
        left.set_xticks(x, markets)
        left.set_xlim(-0.8, len(markets) - 0.2)
        left.axhline(0, color="grey", lw=0.8)
        left.set_ylabel("expected profit over the horizon, USD")
        left.set_title("Affected listings' profit by marketplace", fontsize=10)
        left.legend(fontsize=8)
        with np.errstate(divide="ignore", invalid="ignore"):
            cost = 100 * (affected["landed_cost_after"] / affected["landed_cost_before"] - 1)
            price = 100 * (affected["price_after"] / affected["price_before"] - 1)
        for market in markets:
            mine = (affected["marketplace"] == market).to_numpy()
            right.scatter(cost[mine], price[mine], s=14, label=market)
        right.axhline(0, color="grey", lw=0.8)
        right.axvline(0, color="grey", lw=0.8)
        right.set_xlabel("landed cost change, %")
        right.set_ylabel("recommended price change, %")
        right.set_title("Affected listings, last day", fontsize=10)
        right.legend(fontsize=7, ncols=2)
    fig.suptitle(title, fontsize=11)
    return save_png(fig, None)


def _markdown_table(frame: pd.DataFrame) -> str:
    from tabulate import tabulate

    return tabulate(frame, headers="keys", tablefmt="github", showindex=False)


def headline(result: WhatIf) -> list[str]:
    """The lines above the table: the changes, the horizon, what they reach, profit in USD."""
    dates = pd.to_datetime(result.before["date"])
    n_days = dates.dt.normalize().nunique()
    listing_days_hit = int(result.costs_after["affected"].sum())
    before = float(result.listings["profit_usd_before"].sum())
    after = float(result.listings["profit_usd_after"].sum())
    change = f" ({after / before - 1:+.1%})" if before else ""
    lines = [f"What if: {result.scenario.name or 'unnamed'}"]
    lines += [f"  {c.describe()}" for c in result.scenario.changes]
    lines += [
        f"Priced {dates.min().date()} .. {dates.max().date()} ({n_days} days) from tonight's "
        "forecast, elasticities, landed cost, stock and rules (warehouse read-only).",
        f"Affected: {result.affected_listings} of {len(result.listings)} listings "
        f"({listing_days_hit} listing-days).",
        f"Expected profit over the horizon, all marketplaces in USD: {before:,.2f} -> "
        f"{after:,.2f}{change}",
    ]
    if result.baseline_differences:
        lines.append(
            f"warning: the baseline differs from {RECOMMENDATIONS_TABLE} on "
            f"{result.baseline_differences} listing-days: the warehouse changed since the "
            "nightly run (`make run` refreshes it)"
        )
    return lines + [f"note: {note}" for note in result.notes]


def markdown_report(result: WhatIf, plot_name: str) -> str:
    listings = result.listings
    top = listings[listings["affected"]].assign(
        profit_change=lambda f: f["profit_after"] - f["profit_before"]
    )
    top = top.reindex(top["profit_change"].abs().sort_values(ascending=False).index).head(20)
    columns = [
        "sku", "marketplace", "currency", "landed_cost_before", "landed_cost_after",
        "price_before", "price_after", "units_before", "units_after", "profit_before",
        "profit_after", "reason_codes_after",
    ]  # fmt: skip
    parts = [
        f"# What if: {result.scenario.name or 'unnamed'}",
        "",
        *[f"- {line.strip()}" for line in headline(result)[1:]],
        "",
        f"![before and after]({plot_name})",
        "",
        "## By marketplace and category",
        "",
        "Landed cost and price: the mean over the listings on the horizon's last day, in the "
        "marketplace's currency; units and profit: expected over the horizon at the "
        "recommended prices; margin: profit / revenue net of VAT.",
        "",
        _markdown_table(groups_table(result.groups)),
        "",
        "## Most affected listings",
        "",
        _markdown_table(top[columns].round(2)) if len(top) else "No listing is affected.",
        "",
        "## How it is computed",
        "",
        "The baseline is tonight's recommendation as the nightly run computes it; the changes "
        "move the landed cost of the listing-days they reach and the optimizer runs again with "
        "the same rules (`ml/pricing/whatif.py` says how each change is applied: insurance, "
        "customs value, duties and import VAT follow; customs fees are held; listings keep "
        "tonight's lane). Every listing, with its before and after figures, is in "
        f"`{REPORT_FILES['csv']}`.",
        "",
    ]
    return "\n".join(parts)


def write_report(result: WhatIf, folder: Path) -> dict[str, Path]:
    """The CSV (one row per listing), the Markdown report, its plot and the scenario as YAML."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    files = {key: folder / name for key, name in REPORT_FILES.items()}
    result.listings.to_csv(files["csv"], index=False, encoding="utf-8-sig")
    title = f"What if: {result.scenario.name or 'unnamed'}"
    files["plot"].write_bytes(whatif_plot(result.listings, title))
    files["markdown"].write_text(markdown_report(result, files["plot"].name), encoding="utf-8")
    files["scenario"].write_text(
        yaml.safe_dump(result.scenario.as_dict(), sort_keys=False), encoding="utf-8"
    )
    return files


def load_scenario_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise WhatIfError(f"cannot read {path}: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise WhatIfError(f"{path}: a what-if file holds a mapping (name, tariffs, fx, freight)")
    return data
