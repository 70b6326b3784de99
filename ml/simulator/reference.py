"""Reference figures of the simulated seller's world: marketplaces, warehouses, lanes, products, FX.

Figures are rounded public values (VAT rates, typical Amazon referral fees, freight quotes) good
enough for demo data; they are data, not logic, so a scenario can pick a subset of marketplaces.
"""

from __future__ import annotations

from dataclasses import dataclass

HUB_ID = "CN-SZX-HUB"


@dataclass(frozen=True)
class Marketplace:
    code: str
    name: str
    country: str
    region: str
    currency: str
    vat_rate: float
    referral_fee_rate: float
    prices_include_vat: bool
    customs_basis: str
    fulfilment_fee_per_unit: float  # local currency
    fulfilment_fee_per_kg: float  # local currency
    customs_union: str | None
    warehouse_id: str
    warehouse_name: str
    holiday_country: str  # code for the `holidays` library
    size: float  # relative demand of an average listing (US = 1)
    listing_share: float  # share of SKUs listed here
    price_ending: str  # "99" (x.99), "95" (x.95), "mx9" (299), "yen80" (1,980)
    order_prefix: str  # first block of the marketplace's order ids


MARKETPLACES: dict[str, Marketplace] = {
    m.code: m
    for m in (
        Marketplace(
            "US",
            "Amazon.com",
            "US",
            "north_america",
            "USD",
            0.0,
            0.15,
            False,
            "FOB",
            3.40,
            0.45,
            None,
            "US-ONT",
            "Ontario CA forward warehouse",
            "US",
            1.00,
            0.92,
            "99",
            "113",
        ),
        Marketplace(
            "CA",
            "Amazon.ca",
            "CA",
            "north_america",
            "CAD",
            0.05,
            0.15,
            False,
            "FOB",
            4.90,
            0.60,
            None,
            "CA-YYZ",
            "Brampton ON forward warehouse",
            "CA",
            0.22,
            0.50,
            "99",
            "702",
        ),
        Marketplace(
            "MX",
            "Amazon.com.mx",
            "MX",
            "latin_america",
            "MXN",
            0.16,
            0.10,
            True,
            "CIF",
            55.0,
            6.0,
            None,
            "MX-MEX",
            "Cuautitlan forward warehouse",
            "MX",
            0.14,
            0.28,
            "mx9",
            "701",
        ),
        Marketplace(
            "UK",
            "Amazon.co.uk",
            "GB",
            "europe",
            "GBP",
            0.20,
            0.15,
            True,
            "CIF",
            2.60,
            0.35,
            None,
            "UK-EMA",
            "East Midlands forward warehouse",
            "GB",
            0.42,
            0.72,
            "99",
            "202",
        ),
        Marketplace(
            "DE",
            "Amazon.de",
            "DE",
            "europe",
            "EUR",
            0.19,
            0.15,
            True,
            "CIF",
            3.10,
            0.40,
            "EU",
            "DE-LEJ",
            "Leipzig forward warehouse",
            "DE",
            0.46,
            0.75,
            "99",
            "302",
        ),
        Marketplace(
            "FR",
            "Amazon.fr",
            "FR",
            "europe",
            "EUR",
            0.20,
            0.15,
            True,
            "CIF",
            3.20,
            0.40,
            "EU",
            "FR-LIL",
            "Lille forward warehouse",
            "FR",
            0.27,
            0.55,
            "99",
            "405",
        ),
        Marketplace(
            "IT",
            "Amazon.it",
            "IT",
            "europe",
            "EUR",
            0.22,
            0.15,
            True,
            "CIF",
            3.30,
            0.40,
            "EU",
            "IT-MXP",
            "Castel San Giovanni forward warehouse",
            "IT",
            0.22,
            0.50,
            "99",
            "406",
        ),
        Marketplace(
            "ES",
            "Amazon.es",
            "ES",
            "europe",
            "EUR",
            0.21,
            0.15,
            True,
            "CIF",
            3.20,
            0.40,
            "EU",
            "ES-MAD",
            "San Fernando de Henares forward warehouse",
            "ES",
            0.20,
            0.50,
            "99",
            "407",
        ),
        Marketplace(
            "JP",
            "Amazon.co.jp",
            "JP",
            "asia_pacific",
            "JPY",
            0.10,
            0.10,
            True,
            "CIF",
            420.0,
            45.0,
            None,
            "JP-NRT",
            "Ichikawa forward warehouse",
            "JP",
            0.36,
            0.38,
            "yen80",
            "503",
        ),
        Marketplace(
            "AU",
            "Amazon.com.au",
            "AU",
            "asia_pacific",
            "AUD",
            0.10,
            0.12,
            True,
            "FOB",
            5.20,
            0.70,
            None,
            "AU-SYD",
            "Moorebank NSW forward warehouse",
            "AU",
            0.16,
            0.38,
            "95",
            "250",
        ),
    )
}

# (mode, cost_per_kg USD, fixed cost per shipment USD, transit min/typical/max days, insurance)
# Ocean transit depends on the destination; air/express/rail are close to uniform.
OCEAN_TRANSIT: dict[str, tuple[int, int, int, float]] = {
    # min, typical, max, cost per kg (LCL/FCL blended, incl. destination drayage)
    "US": (18, 23, 30, 0.75),
    "CA": (24, 30, 40, 0.85),
    "MX": (26, 32, 42, 0.90),
    "UK": (32, 38, 46, 0.85),
    "DE": (30, 36, 45, 0.80),
    "FR": (30, 37, 45, 0.82),
    "IT": (28, 34, 43, 0.82),
    "ES": (30, 36, 45, 0.84),
    "JP": (6, 9, 14, 0.45),
    "AU": (14, 18, 26, 0.65),
}
RAIL_MARKETS = ("DE", "FR", "IT", "ES")  # China-Europe rail freight reaches the EU only


@dataclass(frozen=True)
class LaneSpec:
    lane_id: str
    destination: str  # marketplace code
    mode: str
    cost_per_kg: float
    fixed_cost: float
    transit_min: int
    transit_typical: int
    transit_max: int
    insurance_rate: float


def lane_specs(markets: list[str]) -> list[LaneSpec]:
    """Hub -> market lanes by mode; air/express costs are per chargeable kg, in USD."""
    out: list[LaneSpec] = []
    for code in markets:
        wh = MARKETPLACES[code].warehouse_id
        tmin, ttyp, tmax, ocean_kg = OCEAN_TRANSIT[code]
        long_haul = code not in ("JP", "AU")
        out.append(
            LaneSpec(f"SZX-{wh}-OCEAN", code, "ocean", ocean_kg, 650.0, tmin, ttyp, tmax, 0.003)
        )
        out.append(
            LaneSpec(
                f"SZX-{wh}-AIR", code, "air", 5.2 if long_haul else 3.9, 240.0, 5, 7, 10, 0.004
            )
        )
        out.append(
            LaneSpec(
                f"SZX-{wh}-EXPRESS",
                code,
                "express",
                8.6 if long_haul else 6.8,
                35.0,
                3,
                5,
                7,
                0.005,
            )
        )
        if code in RAIL_MARKETS:
            out.append(LaneSpec(f"SZX-{wh}-RAIL", code, "rail", 2.6, 420.0, 18, 21, 25, 0.004))
    return out


@dataclass(frozen=True)
class ProductType:
    hs_code: str  # a real 10-digit HTSUS statistical line (2024 edition); its first 6: HS6
    category: str
    titles: tuple[str, ...]
    cost_usd: tuple[float, float]  # FOB unit cost range
    weight_kg: tuple[float, float]
    origins: tuple[tuple[str, float], ...]  # (country, weight)
    share: float  # share of the catalogue
    seasonal_profile: str  # key into calendar.YEARLY_PROFILES


PRODUCT_TYPES: tuple[ProductType, ...] = (
    ProductType(
        "8518302000",
        "Audio",
        ("Wireless Earbuds", "Over-Ear Headphones", "Sports Headphones", "Kids Headphones"),
        (6.0, 24.0),
        (0.12, 0.45),
        (("CN", 0.85), ("VN", 0.15)),
        0.11,
        "gift",
    ),
    ProductType(
        "6109100012",
        "Apparel",
        ("Cotton T-Shirt", "Graphic Tee", "Oversized T-Shirt", "Crew Neck Tee"),
        (2.0, 6.0),
        (0.15, 0.28),
        (("CN", 0.45), ("BD", 0.25), ("VN", 0.15), ("IN", 0.15)),
        0.12,
        "summer",
    ),
    ProductType(
        "9503000090",
        "Toys",
        ("Building Blocks Set", "Plush Toy", "RC Car", "Puzzle Cube"),
        (2.5, 14.0),
        (0.2, 1.1),
        (("CN", 0.9), ("VN", 0.1)),
        0.10,
        "toys",
    ),
    ProductType(
        "4202923120",
        "Bags",
        ("Travel Backpack", "Laptop Sleeve", "Tote Bag", "Crossbody Bag"),
        (4.0, 15.0),
        (0.3, 0.95),
        (("CN", 0.75), ("VN", 0.25)),
        0.08,
        "travel",
    ),
    ProductType(
        "6402994100",
        "Footwear",
        ("Garden Clogs", "Slip-On Sneakers", "Rain Boots", "House Slippers"),
        (4.5, 14.0),
        (0.45, 1.1),
        (("CN", 0.7), ("VN", 0.3)),
        0.07,
        "summer",
    ),
    ProductType(
        "9405428440",
        "Lighting",
        ("LED Desk Lamp", "String Lights", "Night Light", "Floor Lamp"),
        (4.0, 22.0),
        (0.3, 2.5),
        (("CN", 1.0),),
        0.09,
        "winter",
    ),
    ProductType(
        "3926909985",
        "Home",
        ("Cable Organizer", "Storage Box", "Phone Stand", "Drawer Dividers"),
        (0.8, 5.0),
        (0.05, 0.6),
        (("CN", 0.9), ("MX", 0.1)),
        0.10,
        "flat",
    ),
    ProductType(
        "8516604070",
        "Kitchen",
        ("Air Fryer", "Electric Grill", "Waffle Maker", "Sandwich Toaster"),
        (12.0, 38.0),
        (1.5, 5.0),
        (("CN", 0.9), ("MX", 0.1)),
        0.08,
        "gift",
    ),
    ProductType(
        "6302600020",
        "Home Textiles",
        ("Cotton Bath Towel Set", "Hand Towels", "Beach Towel", "Kitchen Towels"),
        (2.0, 7.0),
        (0.3, 1.2),
        (("IN", 0.45), ("CN", 0.35), ("BD", 0.2)),
        0.08,
        "summer",
    ),
    ProductType(
        "8471602000",
        "Computer Accessories",
        ("Mechanical Keyboard", "Wireless Mouse", "Numeric Keypad", "Keyboard and Mouse Set"),
        (4.0, 28.0),
        (0.1, 1.2),
        (("CN", 0.85), ("VN", 0.15)),
        0.09,
        "back_to_school",
    ),
    ProductType(
        "8544429090",
        "Cables",
        ("USB-C Cable", "HDMI Cable", "Lightning Cable", "Charging Cable 3-Pack"),
        (0.6, 3.5),
        (0.04, 0.2),
        (("CN", 0.95), ("VN", 0.05)),
        0.08,
        "flat",
    ),
)

# Approximate USD value of one unit at the start of the history, and the annual volatility.
FX_LEVELS: dict[str, tuple[float, float]] = {
    "EUR": (1.08, 0.07),
    "GBP": (1.27, 0.08),
    "JPY": (0.0066, 0.10),
    "CAD": (0.72, 0.06),
    "MXN": (0.050, 0.12),
    "AUD": (0.66, 0.09),
    "CNY": (0.138, 0.04),
}
