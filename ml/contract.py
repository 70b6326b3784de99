"""The raw data contract: what a seller drops into ``<data dir>/raw/<entity>/``.

One declaration per entity is the single source of truth for the readers (ingest), the row rules
(quarantine), the Great Expectations suites, the simulator's writers, the importers and the README
table. Every entity is a folder of CSV or Parquet files, any number of them, with these columns
(extra columns are kept out of the warehouse and reported, never an error).

Conventions:
- dates are ISO ``YYYY-MM-DD``; ``order_date`` may carry a time (``YYYY-MM-DD HH:MM[:SS]``),
  read as the marketplace's local time;
- rates are fractions (0.05 is 5 %); money is in the currency named on the same row;
- country codes are ISO 3166-1 alpha-2 (``GB`` for the United Kingdom), currencies ISO 4217;
- HS codes are 6 to 10 digits, dots and spaces allowed as separators (stored without them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DType = Literal["string", "integer", "decimal", "date", "timestamp", "boolean"]
CodeKind = Literal[
    "iso_currency", "iso_country", "hs_code", "hs_prefix", "tariff_destination", "tariff_origin"
]

# DuckDB type used for each contract type in the warehouse's ``raw`` schema.
DUCKDB_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "decimal": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "boolean": "BOOLEAN",
}

# Customs unions a tariff measure may name as its destination instead of one country.
CUSTOMS_UNIONS: dict[str, tuple[str, ...]] = {
    "EU": (
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ),
}
# A tariff measure whose origin is this applies to goods from every origin (erga omnes).
ALL_ORIGINS = "ALL"

MARKETPLACE_REGIONS = (
    "north_america",
    "europe",
    "asia_pacific",
    "latin_america",
    "middle_east_africa",
)
LANE_MODES = ("ocean", "air", "express", "rail")
MEASURE_TYPES = ("mfn", "preferential", "additional", "anti_dumping", "de_minimis", "surcharge")
RATE_TYPES = ("ad_valorem", "specific", "per_item", "compound")
# The price optimizer's strategies (ml.pricing.optimizer.STRATEGIES; a test keeps them equal).
PRICING_STRATEGIES = ("optimize", "keep", "follow_reference")

# Row rules, in the order they are reported. The first failing rule of a row is its
# ``failed_rule`` in quarantine; all failing rules are listed in ``failed_rules``.
RULES: dict[str, str] = {
    "malformed_row": "a CSV row with fewer or more fields than the header (e.g. a footer line)",
    "missing_value": "a required value is empty",
    "bad_type": "a value cannot be read as the column's type",
    "out_of_range": "a number is outside its allowed range",
    "not_allowed_value": "a value is not one of the allowed values",
    "invalid_currency": "not an ISO 4217 currency code",
    "invalid_country": "not an ISO 3166-1 alpha-2 country code",
    "invalid_hs_code": "an HS code must be 6-10 digits (a tariff prefix 2-10 digits)",
    "invalid_date_range": "an end date is before its start date",
    "min_above_max": "a minimum is above the maximum on the same row",
    "invalid_scope": "the filled scope columns are not one of the entity's scopes, or an amount "
    "in a marketplace's currency has no marketplace",
    "incomplete_rate": "the rate columns do not match the rate type",
    "future_date": "a date after the run date",
    "before_history_start": "an order dated before the first partition",
    "duplicate_key": "the row repeats the key of an earlier row",
    "orphan_reference": "the row refers to a key its reference entity does not have",
    "overlapping_validity": "validity overlaps another row with the same key",
    "currency_mismatch": "the order's currency is not its marketplace's currency",
}
FILE_RULES: dict[str, str] = {
    "empty_file": "the file has a header but no rows",
}


@dataclass(frozen=True)
class Column:
    name: str
    dtype: DType
    description: str
    required: bool = True  # the column must be present in every file
    nullable: bool = False  # an empty value is allowed
    min_value: float | None = None
    max_value: float | None = None
    min_exclusive: bool = False  # min_value itself is not allowed (e.g. quantity > 0)
    allowed: tuple[str, ...] | None = None
    code: CodeKind | None = None

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.dtype]


@dataclass(frozen=True)
class Reference:
    """``columns`` of this entity must exist as ``target_columns`` in ``target`` (when present)."""

    columns: tuple[str, ...]
    target: str
    target_columns: tuple[str, ...]


@dataclass(frozen=True)
class Validity:
    """Rows with the same ``key`` must not have overlapping [valid_from, valid_to] ranges."""

    key: tuple[str, ...]
    valid_from: str
    valid_to: str  # empty means open-ended; both ends inclusive


@dataclass(frozen=True)
class Scope:
    """Rows that apply to many rows of other entities: an empty scope column means "every".

    ``levels``: the combinations of filled scope columns a row may have (the other scope
    columns empty), most specific first; that order is the precedence (ml.pricing.rules).
    ``local_money``: amounts in the marketplace's currency, so a row that sets one must name
    its ``marketplace``.
    """

    levels: tuple[tuple[str, ...], ...]
    local_money: tuple[str, ...] = ()
    marketplace: str = "marketplace"

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for level in self.levels for c in level))


@dataclass(frozen=True)
class Entity:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = False
    when_absent: str = ""  # what Kuajing does without this entity, stated in the run output
    references: tuple[Reference, ...] = ()
    future_date_columns: tuple[str, ...] = ()
    date_ranges: tuple[tuple[str, str], ...] = ()  # (start, end) pairs with end >= start
    min_max: tuple[tuple[str, str], ...] = ()  # (min, max) pairs with max >= min
    scope: Scope | None = None  # rules that apply to every SKU / marketplace / category
    validity: Validity | None = None
    partition_column: str | None = None  # orders are partitioned by day on this column

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


def _c(name: str, dtype: DType, description: str, **kw) -> Column:
    return Column(name=name, dtype=dtype, description=description, **kw)


_SKU = _c("sku", "string", "seller's stock-keeping unit")
_MARKETPLACE = _c("marketplace", "string", "marketplace code, e.g. US, UK, DE, JP")
_CURRENCY = _c("currency", "string", "ISO 4217 currency of the money columns", code="iso_currency")
_TO_CATALOG = Reference(("sku",), "catalog", ("sku",))
_TO_MARKETPLACES = Reference(("marketplace",), "marketplaces", ("marketplace",))

ENTITIES: tuple[Entity, ...] = (
    Entity(
        name="orders",
        description="order lines as sold, one row per order and SKU",
        required=True,
        columns=(
            _c("order_id", "string", "marketplace order id"),
            _c("order_date", "timestamp", "date or date-time of the order (local time)"),
            _MARKETPLACE,
            _SKU,
            _c("quantity", "integer", "units on the line (> 0)", min_value=0, min_exclusive=True),
            _c(
                "unit_price",
                "decimal",
                "price per unit as displayed (VAT included where the "
                "marketplace displays prices with VAT)",
                min_value=0,
            ),
            _CURRENCY,
        ),
        key=("order_id", "sku"),
        references=(_TO_CATALOG, _TO_MARKETPLACES),
        future_date_columns=("order_date",),
        partition_column="order_date",
    ),
    Entity(
        name="catalog",
        description="one row per SKU: what it is, where it is made, what it costs",
        when_absent="SKUs are known only from orders: no category, cost, weight or HS code, so "
        "landed cost and tariff exposure are empty and order SKUs are not checked for orphans",
        columns=(
            _SKU,
            _c("title", "string", "product title"),
            _c("category", "string", "product category"),
            _c("hs_code", "string", "HS / tariff code, 6-10 digits", code="hs_code"),
            _c("origin_country", "string", "country of origin (ISO alpha-2)", code="iso_country"),
            _c(
                "unit_cost",
                "decimal",
                "purchase cost per unit (FOB hub)",
                min_value=0,
                min_exclusive=True,
            ),
            _c("cost_currency", "string", "currency of unit_cost", code="iso_currency"),
            _c(
                "weight_kg",
                "decimal",
                "shipping weight per unit in kg",
                min_value=0,
                min_exclusive=True,
            ),
            _c(
                "launch_date", "date", "first day the SKU could sell", required=False, nullable=True
            ),
            _c(
                "discontinued_date",
                "date",
                "last day the SKU is sold (end of life)",
                required=False,
                nullable=True,
            ),
        ),
        key=("sku",),
        date_ranges=(("launch_date", "discontinued_date"),),
    ),
    Entity(
        name="marketplaces",
        description="one row per marketplace the seller sells in",
        when_absent="marketplaces are taken from the orders, with the built-in reference "
        "figures (VAT, referral fee, display convention) for well-known marketplace codes and "
        "empty figures for the rest; order marketplaces are not checked for orphans",
        columns=(
            _MARKETPLACE,
            _c("name", "string", "display name, e.g. Amazon.de"),
            _c("country", "string", "destination country (ISO alpha-2)", code="iso_country"),
            _c("region", "string", "sales region", allowed=MARKETPLACE_REGIONS),
            _c("currency", "string", "selling currency", code="iso_currency"),
            _c(
                "vat_rate",
                "decimal",
                "standard VAT / GST / sales-tax rate on the price",
                min_value=0,
                max_value=1,
            ),
            _c(
                "referral_fee_rate",
                "decimal",
                "marketplace referral fee as a share of price",
                min_value=0,
                max_value=1,
            ),
            _c("prices_include_vat", "boolean", "displayed prices include VAT (EU, UK, JP, AU)"),
            _c(
                "customs_basis",
                "string",
                "customs value basis: FOB (US, CA, AU) or CIF (EU, UK, JP, MX)",
                allowed=("FOB", "CIF"),
            ),
            _c(
                "fulfilment_fee_per_unit",
                "decimal",
                "fulfilment fee per unit, local currency",
                min_value=0,
            ),
            _c(
                "fulfilment_fee_per_kg",
                "decimal",
                "fulfilment fee per kg, local currency",
                min_value=0,
            ),
            _c(
                "customs_union",
                "string",
                "customs union the country belongs to, e.g. EU",
                required=False,
                nullable=True,
            ),
        ),
        key=("marketplace",),
    ),
    Entity(
        name="warehouses",
        description="the hub warehouse and each market's forward warehouse",
        when_absent="no warehouses: lanes, shipments and inventory cannot be placed, so lane "
        "performance and inventory position are empty",
        columns=(
            _c("warehouse_id", "string", "warehouse code, e.g. CN-SZX-HUB, US-ONT"),
            _c("name", "string", "display name"),
            _c("country", "string", "country (ISO alpha-2)", code="iso_country"),
            _c("warehouse_type", "string", "hub or market", allowed=("hub", "market")),
            _c(
                "marketplace",
                "string",
                "marketplace a market warehouse serves (empty for the hub)",
                nullable=True,
            ),
        ),
        key=("warehouse_id",),
        references=(_TO_MARKETPLACES,),
    ),
    Entity(
        name="lanes",
        description="shipping lanes from the hub to a market warehouse, one row per mode",
        when_absent="no lanes: freight and insurance are missing from landed cost",
        columns=(
            _c("lane_id", "string", "lane code"),
            _c("origin_warehouse_id", "string", "warehouse the lane leaves from (the hub)"),
            _c("destination_warehouse_id", "string", "market warehouse the lane arrives at"),
            _c("mode", "string", "ocean, air, express or rail", allowed=LANE_MODES),
            _c("cost_per_kg", "decimal", "freight cost per kg", min_value=0),
            _c("fixed_cost_per_shipment", "decimal", "fixed cost per shipment", min_value=0),
            _c("cost_currency", "string", "currency of the costs", code="iso_currency"),
            _c("transit_days_min", "integer", "quoted fastest transit, days", min_value=0),
            _c("transit_days_typical", "integer", "quoted typical transit, days", min_value=0),
            _c("transit_days_max", "integer", "quoted slowest transit, days", min_value=0),
            _c(
                "insurance_rate",
                "decimal",
                "cargo insurance as a share of goods value",
                min_value=0,
                max_value=1,
            ),
        ),
        key=("lane_id",),
        references=(
            Reference(("origin_warehouse_id",), "warehouses", ("warehouse_id",)),
            Reference(("destination_warehouse_id",), "warehouses", ("warehouse_id",)),
        ),
    ),
    Entity(
        name="shipments",
        description="shipment lines sent on a lane: actual departures and arrivals",
        when_absent="no shipments: lane performance is empty and nothing is in transit",
        columns=(
            _c("shipment_id", "string", "shipment (container, pallet, parcel batch) id"),
            _c("lane_id", "string", "lane shipped on"),
            _SKU,
            _c("quantity", "integer", "units shipped (> 0)", min_value=0, min_exclusive=True),
            _c("departed_date", "date", "date the shipment left the hub"),
            _c("expected_arrival_date", "date", "arrival date promised at departure"),
            _c(
                "arrived_date",
                "date",
                "date received at the market warehouse (empty while in transit)",
                nullable=True,
            ),
            _c("freight_cost", "decimal", "freight cost allocated to this line", min_value=0),
            _c("cost_currency", "string", "currency of freight_cost", code="iso_currency"),
        ),
        key=("shipment_id", "sku"),
        references=(Reference(("lane_id",), "lanes", ("lane_id",)), _TO_CATALOG),
        future_date_columns=("departed_date", "arrived_date"),
        date_ranges=(("departed_date", "arrived_date"), ("departed_date", "expected_arrival_date")),
    ),
    Entity(
        name="tariff_measures",
        description="duty measures by destination, HS code prefix and origin, with validity",
        when_absent="no tariff measures: duties are zero in landed cost and tariff exposure "
        "has no upcoming changes",
        columns=(
            _c("measure_id", "string", "measure id"),
            _c(
                "destination",
                "string",
                "importing country (ISO alpha-2) or customs union (EU)",
                code="tariff_destination",
            ),
            _c(
                "hs_code_prefix",
                "string",
                "HS code prefix, 2-10 digits, matched by longest prefix",
                code="hs_prefix",
            ),
            _c("origin_country", "string", "origin (ISO alpha-2) or ALL", code="tariff_origin"),
            _c(
                "measure_type",
                "string",
                "mfn, preferential, additional, anti_dumping, de_minimis or surcharge",
                allowed=MEASURE_TYPES,
            ),
            _c(
                "rate_type",
                "string",
                "ad_valorem, specific, per_item or compound",
                allowed=RATE_TYPES,
            ),
            _c(
                "ad_valorem_rate",
                "decimal",
                "share of customs value (0.25 is 25 %)",
                nullable=True,
                min_value=0,
                max_value=10,
            ),
            _c(
                "specific_rate",
                "decimal",
                "amount per unit of specific_unit",
                nullable=True,
                min_value=0,
            ),
            _c("specific_unit", "string", "kg or item", nullable=True, allowed=("kg", "item")),
            _c(
                "rate_currency",
                "string",
                "currency of specific_rate",
                nullable=True,
                code="iso_currency",
            ),
            _c(
                "value_threshold",
                "decimal",
                "de minimis: goods at or below this customs value "
                "per consignment pay no duty; other measures: applies only at or below it",
                nullable=True,
                min_value=0,
            ),
            _c(
                "threshold_currency",
                "string",
                "currency of value_threshold",
                nullable=True,
                code="iso_currency",
            ),
            _c("valid_from", "date", "first day in force"),
            _c("valid_to", "date", "last day in force (empty: open-ended)", nullable=True),
            _c("legal_basis", "string", "regulation or notice, e.g. Section 301 List 3"),
        ),
        key=("measure_id",),
        date_ranges=(("valid_from", "valid_to"),),
        validity=Validity(
            key=("destination", "hs_code_prefix", "origin_country", "measure_type", "legal_basis"),
            valid_from="valid_from",
            valid_to="valid_to",
        ),
    ),
    Entity(
        name="fx_rates",
        description="daily exchange rates: USD value of one unit of each currency",
        when_absent="no FX rates: USD amounts are empty for every currency but USD",
        columns=(
            _c("rate_date", "date", "date of the rate (gaps are carried forward)"),
            _CURRENCY,
            _c(
                "usd_per_unit",
                "decimal",
                "USD for one unit of currency",
                min_value=0,
                min_exclusive=True,
            ),
        ),
        key=("rate_date", "currency"),
        future_date_columns=("rate_date",),
    ),
    Entity(
        name="inventory",
        description="end-of-day on-hand stock per warehouse and SKU; a snapshot holds until "
        "the next one for the same warehouse and SKU",
        when_absent="no inventory: the in-stock flag is unknown (empty), so stock-out days "
        "cannot be told from zero-demand days, and inventory position is empty",
        columns=(
            _c("snapshot_date", "date", "date of the snapshot (end of day)"),
            _c("warehouse_id", "string", "warehouse"),
            _SKU,
            _c("on_hand", "integer", "units on hand", min_value=0),
        ),
        key=("snapshot_date", "warehouse_id", "sku"),
        references=(Reference(("warehouse_id",), "warehouses", ("warehouse_id",)), _TO_CATALOG),
        future_date_columns=("snapshot_date",),
    ),
    Entity(
        name="prices",
        description="list prices per SKU and marketplace over time, planned prices included",
        when_absent="no price list: the price of a day without sales is unknown",
        columns=(
            _SKU,
            _MARKETPLACE,
            _c("valid_from", "date", "first day of the price"),
            _c("valid_to", "date", "last day of the price (empty: open-ended)", nullable=True),
            _c("list_price", "decimal", "price as displayed", min_value=0, min_exclusive=True),
            _CURRENCY,
        ),
        key=("sku", "marketplace", "valid_from"),
        references=(_TO_CATALOG, _TO_MARKETPLACES),
        date_ranges=(("valid_from", "valid_to"),),
        validity=Validity(key=("sku", "marketplace"), valid_from="valid_from", valid_to="valid_to"),
    ),
    Entity(
        name="promotions",
        description="promotions and deals per SKU and marketplace",
        when_absent="no promotions: every day is marked as not promoted",
        columns=(
            _c("promotion_id", "string", "promotion id"),
            _SKU,
            _MARKETPLACE,
            _c("promo_type", "string", "deal, coupon or event"),
            _c("discount_pct", "decimal", "discount off the list price", min_value=0, max_value=1),
            _c("start_date", "date", "first day"),
            _c("end_date", "date", "last day"),
        ),
        key=("promotion_id", "sku", "marketplace"),
        references=(_TO_CATALOG, _TO_MARKETPLACES),
        date_ranges=(("start_date", "end_date"),),
    ),
    Entity(
        name="ad_spend",
        description="daily advertising spend per SKU and marketplace",
        when_absent="no ad spend: ad spend is zero in the demand facts",
        columns=(
            _c("spend_date", "date", "date"),
            _SKU,
            _MARKETPLACE,
            _c("spend", "decimal", "amount spent", min_value=0),
            _CURRENCY,
        ),
        key=("spend_date", "sku", "marketplace"),
        references=(_TO_CATALOG, _TO_MARKETPLACES),
        future_date_columns=("spend_date",),
    ),
    Entity(
        name="pricing_rules",
        description="the seller's guardrails for the price optimizer, per SKU and marketplace "
        "or for a whole category and/or marketplace",
        when_absent="no pricing rules: every listing gets the price optimizer's default "
        "guardrails, stated in the pricing output",
        # Every column is in the header (a misspelt one would otherwise read as "no rule");
        # every value may be empty: the rule then inherits it.
        columns=(
            _c("sku", "string", "SKU the rule is for (empty: every SKU in scope)", nullable=True),
            _c(
                "marketplace",
                "string",
                "marketplace the rule is for (empty: every marketplace); prices are in its "
                "currency",
                nullable=True,
            ),
            _c(
                "category",
                "string",
                "catalog category the rule is for (empty: every category; empty on a SKU rule)",
                nullable=True,
            ),
            _c(
                "min_price",
                "decimal",
                "lowest displayed price, marketplace currency",
                nullable=True,
                min_value=0,
                min_exclusive=True,
            ),
            _c(
                "max_price",
                "decimal",
                "highest displayed price, marketplace currency",
                nullable=True,
                min_value=0,
                min_exclusive=True,
            ),
            _c(
                "min_margin",
                "decimal",
                "margin floor over landed cost, on the price net of VAT and fees (0.1 is 10 %)",
                nullable=True,
                min_value=-1,
                min_exclusive=True,
                max_value=10,
            ),
            _c(
                "max_change",
                "decimal",
                "largest price change per day, as a share of the previous day's price",
                nullable=True,
                min_value=0,
                max_value=1,
            ),
            _c(
                "strategy",
                "string",
                "optimize, keep (hold the price) or follow_reference (the reference market's "
                "price at the day's FX)",
                nullable=True,
                allowed=PRICING_STRATEGIES,
            ),
            _c(
                "reference_marketplace",
                "string",
                "marketplace whose price, converted at the day's FX, the band and "
                "follow_reference use",
                nullable=True,
            ),
            _c(
                "band",
                "decimal",
                "stay within +- this share of the reference market's converted price",
                nullable=True,
                min_value=0,
                max_value=1,
            ),
            _c(
                "reference_markup",
                "decimal",
                "follow_reference: share above (+) or below (-) the reference market's price",
                nullable=True,
                min_value=-1,
                min_exclusive=True,
                max_value=1,
            ),
        ),
        key=("sku", "marketplace", "category"),
        references=(
            _TO_CATALOG,
            _TO_MARKETPLACES,
            Reference(("category",), "catalog", ("category",)),
            Reference(("reference_marketplace",), "marketplaces", ("marketplace",)),
        ),
        min_max=(("min_price", "max_price"),),
        # Contradictions between scopes (a marketplace-wide min above a SKU's max) are not a
        # row's fault: the optimizer pauses that listing with the reason.
        scope=Scope(
            levels=(
                ("sku", "marketplace"),
                ("category", "marketplace"),
                ("marketplace",),
                ("category",),
            ),
            local_money=("min_price", "max_price"),
        ),
    ),
    Entity(
        name="allocation_rules",
        description="the seller's stock rules per SKU and warehouse, or for a whole SKU or "
        "warehouse: min and max stock, case packs, minimum shipments, supplier terms",
        when_absent="no allocation rules: target levels come from the demand alone, a case "
        "is one unit and the supplier terms are the restock plan's settings",
        # As pricing_rules: every column in the header, every value may be empty (inherits).
        columns=(
            _c("sku", "string", "SKU the rule is for (empty: every SKU)", nullable=True),
            _c(
                "warehouse_id",
                "string",
                "warehouse the rule is for: a market warehouse, or the hub for the supplier "
                "terms (empty: every warehouse)",
                nullable=True,
            ),
            _c(
                "min_units",
                "integer",
                "least stock on hand + in transit the warehouse keeps (AWD's minimum)",
                nullable=True,
                min_value=0,
            ),
            _c(
                "max_units",
                "integer",
                "most stock on hand + in transit the warehouse keeps (AWD's maximum)",
                nullable=True,
                min_value=0,
            ),
            _c(
                "units_per_case",
                "integer",
                "units in one case: shipments and supplier orders are whole cases",
                nullable=True,
                min_value=1,
            ),
            _c(
                "min_shipment_units",
                "integer",
                "smallest shipment of the SKU to the warehouse worth sending",
                nullable=True,
                min_value=0,
            ),
            _c(
                "supplier_lead_days",
                "integer",
                "days from a supplier order to its delivery into the hub",
                nullable=True,
                min_value=0,
            ),
            _c(
                "min_order_quantity",
                "integer",
                "the supplier's minimum order quantity, units",
                nullable=True,
                min_value=0,
            ),
        ),
        key=("sku", "warehouse_id"),
        references=(
            _TO_CATALOG,
            Reference(("warehouse_id",), "warehouses", ("warehouse_id",)),
        ),
        min_max=(("min_units", "max_units"),),
        scope=Scope(levels=(("sku", "warehouse_id"), ("sku",), ("warehouse_id",))),
    ),
)

ENTITY_NAMES: tuple[str, ...] = tuple(e.name for e in ENTITIES)
_BY_NAME: dict[str, Entity] = {e.name: e for e in ENTITIES}


def entity(name: str) -> Entity:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown entity {name!r}; known: {', '.join(ENTITY_NAMES)}") from None


# Metadata columns every ``raw.<entity>`` table carries after the contract columns.
LINEAGE_COLUMNS: dict[str, str] = {
    "_source_file": "VARCHAR",
    "_source_row": "BIGINT",
    "_ingested_at": "TIMESTAMP",
}
LINEAGE_DESCRIPTIONS: dict[str, str] = {
    "_source_file": "file the row was read from, relative to the raw folder",
    "_source_row": "1-based data row number in that file",
    "_ingested_at": "when the ingest layer loaded the row",
}


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: dict[str, str] = field(default_factory=dict)  # name -> DuckDB type
    descriptions: dict[str, str] = field(default_factory=dict)  # name -> meaning (dbt docs)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


RAW_SCHEMA = "raw"
QUARANTINE = Table(
    "quality",
    "quarantine",
    {
        "entity": "VARCHAR",
        "source_file": "VARCHAR",
        "row_number": "BIGINT",
        "failed_rule": "VARCHAR",
        "failed_rules": "VARCHAR[]",
        "reason": "VARCHAR",
        "original_values": "JSON",
        "partition_key": "VARCHAR",
        "run_id": "VARCHAR",
        "quarantined_at": "TIMESTAMP",
        "row_key": "JSON",
    },
    {
        "entity": "the contract entity the file belongs to, e.g. catalog",
        "source_file": "file the row was read from, relative to the raw folder",
        "row_number": "1-based data row number in that file (header excluded); NULL for a "
        "file-level finding (empty_file)",
        "failed_rule": "the first rule the row broke",
        "failed_rules": "every rule the row broke, in reporting order",
        "reason": "readable reason: column, value and what was expected, one clause per rule",
        "original_values": "the row as read, every value a string; keys are the file's column "
        'names as written (e.g. "sku" or "SKU")',
        "partition_key": "orders: the day the row belongs to, if it has one",
        "run_id": "the ingest run that quarantined it",
        "quarantined_at": "when it was quarantined",
        # A quarantined catalog row still names the SKU it describes, so the orders of that SKU
        # are not orphans (see ingest.rules).
        "row_key": 'the row\'s key as read, trimmed, e.g. {"sku": "SKU1"} (NULL for a file)',
    },
)
INGEST_LOG = Table(
    "quality",
    "ingest_log",
    {
        "entity": "VARCHAR",
        "source_file": "VARCHAR",
        "partition_range": "VARCHAR",  # e.g. 2025-01-01...2025-01-31, NULL if unpartitioned
        "rows_read": "BIGINT",
        "rows_accepted": "BIGINT",
        "rows_quarantined": "BIGINT",
        "rows_outside_partition": "BIGINT",  # orders read but belonging to other partitions
        "run_id": "VARCHAR",
        "ingested_at": "TIMESTAMP",
    },
)


def raw_table(name: str) -> Table:
    e = entity(name)
    cols = {c.name: c.duckdb_type for c in e.columns}
    cols.update(LINEAGE_COLUMNS)
    descriptions = {c.name: c.description for c in e.columns} | LINEAGE_DESCRIPTIONS
    return Table(RAW_SCHEMA, e.name, cols, descriptions)


def ingest_order() -> tuple[str, ...]:
    """Entity names ordered so that every entity comes after the entities it refers to."""
    done: list[str] = []

    def visit(name: str, path: tuple[str, ...] = ()) -> None:
        if name in done:
            return
        if name in path:
            raise ValueError(f"reference cycle: {' -> '.join(path + (name,))}")
        for ref in entity(name).references:
            if ref.target != name:
                visit(ref.target, path + (name,))
        done.append(name)

    for e in ENTITIES:
        visit(e.name)
    return tuple(done)


def markdown() -> str:
    """The contract as README markdown (a test keeps the README's copy in step)."""
    out: list[str] = []
    for e in ENTITIES:
        need = "required" if e.required else "optional"
        out.append(f"#### `{e.name}/` ({need})\n")
        out.append(
            f"{e.description[0].upper()}{e.description[1:]}. Key: "
            f"{', '.join(f'`{k}`' for k in e.key)}."
        )
        if not e.required:
            out.append(f" Without it: {e.when_absent}.")
        out.append("\n\n| column | type | rules | meaning |\n| --- | --- | --- | --- |\n")
        for c in e.columns:
            rules = []
            if not c.required:
                rules.append("column optional")
            rules.append("may be empty" if c.nullable else "not empty")
            if c.min_value is not None:
                rules.append(f"{'>' if c.min_exclusive else '>='} {c.min_value:g}")
            if c.max_value is not None:
                rules.append(f"<= {c.max_value:g}")
            if c.allowed:
                rules.append("one of " + ", ".join(c.allowed))
            if c.code:
                rules.append(c.code.replace("_", " "))
            if c.name in e.future_date_columns:
                rules.append("not in the future")
            out.append(f"| `{c.name}` | {c.dtype} | {'; '.join(rules)} | {c.description} |\n")
        for ref in e.references:
            out.append(
                f"\n`{', '.join(ref.columns)}` must exist in `{ref.target}` "
                "(checked when it is present)."
            )
        if e.validity:
            out.append(
                f"\nNo two rows with the same {', '.join(e.validity.key)} may have "
                "overlapping validity."
            )
        for lo, hi in e.min_max:
            out.append(f"\n`{hi}` must be at least `{lo}`.")
        if e.scope:
            out.append(_scope_markdown(e.scope))
        out.append("\n\n")
    return "".join(out).rstrip() + "\n"


def scope_level_name(level: tuple[str, ...]) -> str:
    """'sku + marketplace'."""
    return " + ".join(level)


def _scope_markdown(scope: Scope) -> str:
    levels = ", ".join(f"`{scope_level_name(level)}`" for level in scope.levels)
    text = (
        f"\nA row fills one scope, most specific first: {levels} (the other scope columns "
        "empty). Each value a row leaves empty comes from the next broader scope that sets it, "
        "else the default."
    )
    if scope.local_money:
        money = ", ".join(f"`{c}`" for c in scope.local_money)
        text += f"\n{money} need a `{scope.marketplace}` (they are in its currency)."
    return text
