"""Scenarios: the sizes and conditions of a simulated seller, read from YAML.

A scenario is a flat mapping (see ``scenarios/default.yaml``); every key is checked here so a typo
fails loudly instead of silently falling back to a default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from .calendar import YEARLY_PROFILES
from .demand import PRICE_RESPONSES
from .reference import MARKETPLACES
from .tariffs import load_schedule

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

# The data-quality rules the generator can break on purpose (keys of ml.contract.RULES).
ISSUE_RULES = (
    "duplicate_key",
    "orphan_reference",
    "invalid_currency",
    "out_of_range",
    "bad_type",
    "future_date",
    "currency_mismatch",
    "overlapping_validity",
)
# How order rows are written: "lines" (order lines as sold, mostly 1 unit each), "daily" (one
# row per SKU, marketplace and day with the day's units, as a sales report gives them) or
# "weekly" (one row per SKU, marketplace and Monday with the week's units).
ORDER_ROWS = ("lines", "daily", "weekly")


@dataclass(frozen=True)
class LaneDelay:
    """Departures on ``mode`` lanes to ``destination`` (a marketplace, or "*" for every one)
    from ``first_departure`` to ``last_departure`` arrive ``extra_days`` later than their
    transit would make them (a port strike, a canal closure); bookings still say the typical
    transit, so the shipments show as late."""

    destination: str
    mode: str
    first_departure: date
    last_departure: date
    extra_days: int

    def applies(self, destination: str, mode: str, day: date) -> bool:
        return (
            self.destination in ("*", destination)
            and self.mode == mode
            and self.first_departure <= day <= self.last_departure
        )


@dataclass(frozen=True)
class DemandSurge:
    """True demand in ``marketplace`` multiplied by ``factor`` from ``first_day`` to
    ``last_day`` (a competitor out of stock, a viral post)."""

    marketplace: str
    first_day: date
    last_day: date
    factor: float


@dataclass(frozen=True)
class Scenario:
    name: str = "default"
    seed: int = 42
    n_skus: int = 200
    history_start: date = date(2024, 11, 1)
    history_end: date = date(2026, 10, 31)
    marketplaces: tuple[str, ...] = tuple(MARKETPLACES)
    planning_horizon_days: int = 28  # planned prices and promotions beyond the history end
    mean_daily_units: float = 0.25  # mean units per listed SKU x marketplace per day
    launch_share: float = 0.25  # SKUs launched during the history
    discontinued_share: float = 0.10  # SKUs reaching end of life during the history
    elasticity_range: tuple[float, float] = (-3.5, -0.5)
    promo_intensity: float = 1.0  # scales how often deals and coupons run
    event_participation: float = 0.35  # share of listings joining a sales-event promotion
    ad_share: float = 0.15  # share of listings with advertising campaigns
    safety_days: float = 10.0  # seller's safety stock in days of (estimated) demand
    late_shipment_share: float = 0.25  # ocean departures that arrive late
    data_issues: dict[str, float] = field(default_factory=dict)  # rule -> share of rows
    # Knobs added for scenarios the built-in seller does not cover. At their defaults the
    # simulated data is the built-in seller's exactly (to_dict leaves them out then).
    order_rows: str = "lines"  # see ORDER_ROWS
    nb_size_range: tuple[float, float] = (0.8, 6.0)  # NB size per listing (larger: less noise)
    weekly_strength: float = 1.0  # power on the day-of-week profile (2: twice the log swing)
    seasonal_profile: str | None = None  # one yearly profile for every SKU (calendar.py)
    season_strength_range: tuple[float, float] = (0.5, 1.5)  # x the profile's amplitude
    # The true price response (demand.PriceResponse): "constant" elasticity, "linear" or
    # "logit"; each has the listing's elasticity at its reference price.
    price_response: str = "constant"
    # Logit only: extra elasticity above the listing's reference price (loss aversion); 0: none.
    reference_effect: float = 0.0
    # Share of listings that run price tests (+-15 % around the target price at some reviews);
    # the others move only with cost, FX and duty. 1.0: every listing may test (the built-in).
    price_test_share: float = 1.0
    # Chance that a tester's review (monthly, or after a duty change) without a target move
    # runs a test; a test lasts until the next review. 0.12: the built-in seller.
    price_test_rate: float = 0.12
    # A tariff schedule file (tariff_schedule.csv's columns, optional announced_date) whose
    # measures are added to the built-in schedule, e.g. an announced tariff shock; a bare file
    # name is looked up in scenarios/.
    extra_tariff_schedule: str | None = None
    # Disruptions for the closed-loop benchmarks: late lanes and demand surges (none by default).
    lane_delays: tuple[LaneDelay, ...] = ()
    demand_surges: tuple[DemandSurge, ...] = ()

    @property
    def n_days(self) -> int:
        return (self.history_end - self.history_start).days + 1

    @property
    def extra_tariff_path(self) -> Path | None:
        if self.extra_tariff_schedule is None:
            return None
        return _schedule_path(self.extra_tariff_schedule)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["history_start"] = self.history_start.isoformat()
        d["history_end"] = self.history_end.isoformat()
        d["marketplaces"] = list(self.marketplaces)
        d["elasticity_range"] = list(self.elasticity_range)
        d["data_issues"] = dict(self.data_issues)
        for key, default in LATER_KNOBS.items():
            value = getattr(self, key)
            if value == default:
                del d[key]  # the built-in scenarios' truth files stay as they were
            elif key in ("lane_delays", "demand_surges"):
                d[key] = [_event_dict(e) for e in value]
            elif isinstance(value, tuple):
                d[key] = list(value)
        return d


def _event_dict(event: LaneDelay | DemandSurge) -> dict[str, Any]:
    """A delay or surge as its YAML mapping (dates as ISO strings)."""
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(event).items()}


LATER_KNOBS: dict[str, Any] = {
    "order_rows": "lines",
    "nb_size_range": (0.8, 6.0),
    "weekly_strength": 1.0,
    "seasonal_profile": None,
    "season_strength_range": (0.5, 1.5),
    "price_response": "constant",
    "reference_effect": 0.0,
    "price_test_share": 1.0,
    "price_test_rate": 0.12,
    "extra_tariff_schedule": None,
    "lane_delays": (),
    "demand_surges": (),
}
LANE_MODES = ("ocean", "rail", "air", "express")


_FIELDS = {f.name for f in fields(Scenario)}


def _bad(key: str, allowed: str, value: Any) -> ValueError:
    return ValueError(f"scenario key {key!r}: {value!r} is not allowed; expected {allowed}")


def _number(key: str, value: Any, lo: float, hi: float, *, integer: bool = False) -> Any:
    ok_type = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_type) or not lo <= value <= hi:
        kind = "an integer" if integer else "a number"
        raise _bad(key, f"{kind} from {lo:g} to {hi:g}", value)
    return int(value) if integer else float(value)


def _date(key: str, value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _bad(key, "an ISO date YYYY-MM-DD", value) from None


def _range(key: str, value: Any, lo: float, hi: float) -> tuple[float, float]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)
        or not lo <= value[0] <= value[1] <= hi
    ):
        raise _bad(key, f"[low, high] with {lo:g} <= low <= high <= {hi:g}", value)
    return (float(value[0]), float(value[1]))


def _schedule_path(name: str) -> Path:
    """A bare file name is a schedule in scenarios/; anything else is a path."""
    path = Path(name)
    return SCENARIO_DIR / path if path.parent == Path(".") else path


def _extra_schedule(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.endswith(".csv"):
        raise _bad(key, "null or a .csv tariff schedule file", value)
    path = _schedule_path(value)
    if not path.exists():
        raise _bad(key, f"an existing file (looked for {path.name} in {path.parent.name}/)", value)
    load_schedule(path)  # a malformed schedule fails here, not in the middle of a run
    return value


def _items(key: str, value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _bad(key, "a list of mappings", value)
    return value


def _fields(key: str, value: dict[str, Any], names: tuple[str, ...]) -> None:
    if set(value) != set(names):
        raise _bad(key, f"a mapping with exactly the keys {', '.join(names)}", value)


def _lane_delay(i: int, v: dict[str, Any]) -> LaneDelay:
    key = f"lane_delays[{i}]"
    names = ("destination", "mode", "first_departure", "last_departure", "extra_days")
    _fields(key, v, names)
    if v["destination"] != "*" and v["destination"] not in MARKETPLACES:
        raise _bad(
            f"{key}.destination", f"'*' or one of {', '.join(MARKETPLACES)}", v["destination"]
        )
    if v["mode"] not in LANE_MODES:
        raise _bad(f"{key}.mode", f"one of {', '.join(LANE_MODES)}", v["mode"])
    delay = LaneDelay(
        v["destination"],
        v["mode"],
        _date(f"{key}.first_departure", v["first_departure"]),
        _date(f"{key}.last_departure", v["last_departure"]),
        _number(f"{key}.extra_days", v["extra_days"], 1, 120, integer=True),
    )
    if delay.last_departure < delay.first_departure:
        raise _bad(
            f"{key}.last_departure", "a date on or after first_departure", v["last_departure"]
        )
    return delay


def _demand_surge(i: int, v: dict[str, Any]) -> DemandSurge:
    key = f"demand_surges[{i}]"
    _fields(key, v, ("marketplace", "first_day", "last_day", "factor"))
    if v["marketplace"] not in MARKETPLACES:
        raise _bad(f"{key}.marketplace", f"one of {', '.join(MARKETPLACES)}", v["marketplace"])
    surge = DemandSurge(
        v["marketplace"],
        _date(f"{key}.first_day", v["first_day"]),
        _date(f"{key}.last_day", v["last_day"]),
        _number(f"{key}.factor", v["factor"], 0.0, 20.0),
    )
    if surge.last_day < surge.first_day:
        raise _bad(f"{key}.last_day", "a date on or after first_day", v["last_day"])
    return surge


def parse_demand_surges(value: Any) -> tuple[DemandSurge, ...]:
    """A scenario file's ``demand_surges`` (as the truth's scenario.yaml keeps them)."""
    return tuple(_demand_surge(i, v) for i, v in enumerate(_items("demand_surges", value)))


def _validate(raw: dict[str, Any]) -> Scenario:
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise ValueError(
            f"unknown scenario key {unknown[0]!r}; allowed keys: {', '.join(sorted(_FIELDS))}"
        )
    kw: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "name":
            if not isinstance(value, str) or not value:
                raise _bad(key, "a non-empty string", value)
            kw[key] = value
        elif key == "seed":
            kw[key] = _number(key, value, 0, 2**32 - 1, integer=True)
        elif key == "n_skus":
            kw[key] = _number(key, value, 1, 200_000, integer=True)
        elif key in ("history_start", "history_end"):
            kw[key] = _date(key, value)
        elif key == "marketplaces":
            if (
                not isinstance(value, list | tuple)
                or not value
                or any(v not in MARKETPLACES for v in value)
                or len(set(value)) != len(value)
            ):
                raise _bad(key, f"a list of distinct codes from {', '.join(MARKETPLACES)}", value)
            kw[key] = tuple(value)
        elif key == "planning_horizon_days":
            kw[key] = _number(key, value, 0, 120, integer=True)
        elif key == "mean_daily_units":
            kw[key] = _number(key, value, 0.001, 1000)
        elif key in (
            "launch_share",
            "discontinued_share",
            "event_participation",
            "ad_share",
            "late_shipment_share",
        ):
            kw[key] = _number(key, value, 0, 1)
        elif key == "promo_intensity":
            kw[key] = _number(key, value, 0, 10)
        elif key == "safety_days":
            kw[key] = _number(key, value, 0, 365)
        elif key == "elasticity_range":
            if (
                not isinstance(value, list | tuple)
                or len(value) != 2
                or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)
                or not -10 <= value[0] <= value[1] < 0
            ):
                raise _bad(key, "[low, high] with -10 <= low <= high < 0", value)
            kw[key] = (float(value[0]), float(value[1]))
        elif key == "order_rows":
            if value not in ORDER_ROWS:
                raise _bad(key, f"one of {', '.join(ORDER_ROWS)}", value)
            kw[key] = value
        elif key == "nb_size_range":
            kw[key] = _range(key, value, 0.05, 1000)
        elif key == "season_strength_range":
            kw[key] = _range(key, value, 0, 5)
        elif key == "weekly_strength":
            kw[key] = _number(key, value, 0, 6)
        elif key == "price_response":
            if value not in PRICE_RESPONSES:
                raise _bad(key, f"one of {', '.join(PRICE_RESPONSES)}", value)
            kw[key] = value
        elif key == "reference_effect":
            kw[key] = _number(key, value, 0, 10)
        elif key in ("price_test_share", "price_test_rate"):
            kw[key] = _number(key, value, 0, 1)
        elif key == "extra_tariff_schedule":
            kw[key] = _extra_schedule(key, value)
        elif key == "lane_delays":
            kw[key] = tuple(_lane_delay(i, v) for i, v in enumerate(_items(key, value)))
        elif key == "demand_surges":
            kw[key] = parse_demand_surges(value)
        elif key == "seasonal_profile":
            if value is not None and value not in YEARLY_PROFILES:
                raise _bad(key, f"null or one of {', '.join(YEARLY_PROFILES)}", value)
            kw[key] = value
        elif key == "data_issues":
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise _bad(
                    key,
                    f"a mapping of rule -> share of rows; rules: {', '.join(ISSUE_RULES)}",
                    value,
                )
            issues: dict[str, float] = {}
            for rule, rate in value.items():
                if rule not in ISSUE_RULES:
                    raise ValueError(
                        f"scenario key 'data_issues': unknown rule {rule!r}; "
                        f"allowed rules: {', '.join(ISSUE_RULES)}"
                    )
                issues[rule] = _number(f"data_issues.{rule}", rate, 0, 0.05)
            kw[key] = issues
    scenario = Scenario(**kw)
    if scenario.history_end < scenario.history_start:
        raise _bad(
            "history_end",
            f"a date on or after history_start {scenario.history_start.isoformat()}",
            scenario.history_end.isoformat(),
        )
    if scenario.n_days < 60:
        raise _bad(
            "history_start",
            "at least 60 days of history before history_end",
            scenario.history_start.isoformat(),
        )
    if scenario.reference_effect and scenario.price_response != "logit":
        raise _bad(
            "reference_effect",
            "0 unless price_response is 'logit' (the reference effect is part of the logit)",
            scenario.reference_effect,
        )
    if scenario.order_rows == "weekly" and (
        scenario.history_start.weekday() != 0 or scenario.history_end.weekday() != 6
    ):
        raise _bad(
            "order_rows",
            "'weekly' only with a history from a Monday (history_start) to a Sunday "
            "(history_end), so that every week written is complete",
            f"weekly from {scenario.history_start.isoformat()} to "
            f"{scenario.history_end.isoformat()}",
        )
    return scenario


def available_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str = "default", overrides: dict | None = None) -> Scenario:
    """A scenario by bare name (``scenarios/<name>.yaml``) or path, with ``overrides`` applied.

    Overrides replace whole keys (``{"data_issues": {}}`` gives perfectly clean data).
    """
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.parent != Path("."):
        path = candidate
    else:
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise ValueError(
                f"unknown scenario {name_or_path!r}; available: "
                f"{', '.join(available_scenarios())} (or give a path to a .yaml)"
            )
    if not path.exists():
        raise ValueError(f"scenario file {str(path)!r} does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"scenario file {str(path)!r} must hold a mapping of keys")
    if overrides:
        raw = {**raw, **overrides}
    return _validate(raw)
