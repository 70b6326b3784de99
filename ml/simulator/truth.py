"""The simulator's ground truth: the true demand function, callable for any price and date.

Stored in ``paths.truth`` (never read by the pipeline): per-listing parameters, the price list,
promotion and ad campaign calendars, the scenario copy and the injected data issues. Calendar
components (weekly, yearly, holidays, sales events) are pure functions of the date, so dates after
the history extend naturally and the trend continues. The shape of the price response is in
``meta.json`` (``price_response``, ``reference_effect``; absent: constant elasticity) and its
per-listing parameters in ``series.parquet`` (``ref_share`` for the logit); ``price_tests`` says
which listings ran price tests in the history (absent: all of them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeAlias

import numpy as np
import pandas as pd
import yaml

from . import calendar as cal
from .demand import PriceResponse, lifecycle, mean_demand, price_elasticity, surge_factors
from .scenario import DemandSurge, parse_demand_surges

DateLike: TypeAlias = str | date | pd.Timestamp | np.datetime64


@dataclass
class GroundTruth:
    truth_dir: Path
    meta: dict
    series: pd.DataFrame  # indexed by (sku, marketplace)
    prices: pd.DataFrame
    promotions: pd.DataFrame
    campaigns: pd.DataFrame
    injected_issues: dict[str, int]
    weekly_strength: float = 1.0  # the scenario's power on the day-of-week profile
    response: PriceResponse = field(default_factory=PriceResponse)  # shape of the price response
    surges: tuple[DemandSurge, ...] = ()  # the scenario's demand surges

    @classmethod
    def load(cls, truth_dir: Path) -> GroundTruth:
        truth_dir = Path(truth_dir)
        if not (truth_dir / "meta.json").exists():
            raise FileNotFoundError(f"{truth_dir} holds no simulator ground truth (meta.json)")
        meta = json.loads((truth_dir / "meta.json").read_text())
        series = pd.read_parquet(truth_dir / "series.parquet").set_index(["sku", "marketplace"])
        if "price_tests" not in series:
            series["price_tests"] = True  # the built-in seller: every listing may test
        scenario_file = truth_dir / "scenario.yaml"
        scenario = yaml.safe_load(scenario_file.read_text()) if scenario_file.exists() else {}
        return cls(
            truth_dir=truth_dir,
            meta=meta,
            series=series,
            prices=pd.read_parquet(truth_dir / "prices.parquet"),
            promotions=pd.read_parquet(truth_dir / "promotions.parquet"),
            campaigns=pd.read_parquet(truth_dir / "ad_campaigns.parquet"),
            injected_issues=json.loads((truth_dir / "injected_issues.json").read_text()),
            weekly_strength=float((scenario or {}).get("weekly_strength", 1.0)),
            surges=parse_demand_surges((scenario or {}).get("demand_surges")),
            response=PriceResponse(
                meta.get("price_response", "constant"), float(meta.get("reference_effect", 0.0))
            ),
        )

    @property
    def day_zero(self) -> date:
        return date.fromisoformat(self.meta["day_zero"])

    def listings(self) -> pd.DataFrame:
        """Every (sku, marketplace) with its true parameters."""
        return self.series.reset_index()

    def _days(self, dates) -> tuple[pd.DatetimeIndex, np.ndarray]:
        idx = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(np.asarray(dates)))).normalize()
        days = (idx - pd.Timestamp(self.day_zero)).days.to_numpy()
        return idx, days

    def _grouped(self, name: str) -> dict[tuple[str, str], pd.DataFrame]:
        cache = self.__dict__.setdefault("_groups", {})
        if name not in cache:
            table = getattr(self, name)
            cache[name] = {key: g for key, g in table.groupby(["sku", "marketplace"])}
        return cache[name]

    def _interval_value(
        self, name: str, key: tuple[str, str], days: np.ndarray, column: str
    ) -> np.ndarray:
        out = np.zeros(len(days))
        rows = self._grouped(name).get(key)
        if rows is not None:
            for start, end, value in zip(rows["start"], rows["end"], rows[column], strict=True):
                out[(days >= start) & (days <= end)] = value
        return out

    def _list_price(self, key: tuple[str, str], days: np.ndarray) -> np.ndarray:
        ref = float(self._row(*key)["ref_price"])
        p = self._grouped("prices").get(key)
        if p is None:
            return np.full(len(days), ref)
        p = p.sort_values("day")
        pos = np.searchsorted(p["day"].to_numpy(), days, side="right") - 1
        vals = p["list_price"].to_numpy()
        return np.where(pos >= 0, vals[np.maximum(pos, 0)], ref)

    def list_price(self, sku: str, marketplace: str, dates) -> np.ndarray:
        """The simulated list price of each date (the latest change on or before it)."""
        return self._list_price((sku, marketplace), self._days(dates)[1])

    def discount(self, sku: str, marketplace: str, dates) -> np.ndarray:
        """The promotion discount of each date (0 without a promotion)."""
        return self._interval_value(
            "promotions", (sku, marketplace), self._days(dates)[1], "discount"
        )

    def ad_budget(self, sku: str, marketplace: str, dates) -> np.ndarray:
        return self._interval_value("campaigns", (sku, marketplace), self._days(dates)[1], "budget")

    def displayed_price(self, sku: str, marketplace: str, dates) -> np.ndarray:
        """List price x (1 - discount): what shoppers saw, and what orders were priced at."""
        return self.list_price(sku, marketplace, dates) * (
            1 - self.discount(sku, marketplace, dates)
        )

    def _row(self, sku: str, marketplace: str) -> pd.Series:
        rows = self.__dict__.setdefault("_rows", {})
        if not rows:
            rows.update(
                {
                    key: r
                    for key, r in zip(
                        self.series.index, self.series.to_dict("records"), strict=True
                    )
                }
            )
        try:
            return rows[(sku, marketplace)]
        except KeyError:
            raise KeyError(f"{sku} is not listed in {marketplace} in this simulation") from None

    def _mean(self, sku: str, marketplace: str, dates, price) -> np.ndarray:
        r = self._row(sku, marketplace)
        key = (sku, marketplace)
        idx, days = self._days(dates)
        disc = self._interval_value("promotions", key, days, "discount")
        shown = (
            self._list_price(key, days) * (1 - disc)
            if price is None
            else np.asarray(price, dtype=float)
        )
        shape, amp = cal.yearly_log_shape(r["profile_key"], idx.dayofyear.to_numpy())
        strength = r["season_strength"] * amp
        return mean_demand(
            base=r["base"],
            growth=r["growth"],
            years=days / 365.25,
            life=lifecycle(days, r["listed_from"], r["discontinued"], r["ramp_days"]),
            weekly=cal.weekly_factor(marketplace, idx.dayofweek.to_numpy(), self.weekly_strength),
            yearly=np.exp(strength * shape) / np.i0(strength),
            event=cal.event_factor(marketplace, idx),
            event_sensitivity=r["event_sensitivity"],
            price=shown,
            ref_price=r["ref_price"],
            elasticity=r["elasticity"],
            on_promo=(disc > 0),
            promo_uplift=r["promo_uplift"],
            budget=self._interval_value("campaigns", key, days, "budget"),
            ad_beta=r["ad_beta"],
            ad_scale=r["ad_scale"],
            ref_share=r.get("ref_share"),
            response=self.response,
        ) * self._surge(marketplace, idx)

    def _surge(self, marketplace: str, idx: pd.DatetimeIndex) -> np.ndarray:
        factor = surge_factors(self.surges, [marketplace], idx)
        return np.ones(len(idx)) if factor is None else factor[0]

    def expected_demand(self, sku: str, marketplace: str, dates, price=None) -> np.ndarray:
        """True mean daily units on each date, unconstrained by stock.

        ``price`` (scalar or one per date, displayed price in local currency) replaces the
        simulated price of the day (list price x (1 - promotion discount)); a promotion's
        visibility uplift and advertising stay as simulated for that day.
        """
        idx, _ = self._days(dates)
        if price is not None:
            price = np.broadcast_to(np.asarray(price, dtype=float), (len(idx),))
        return self._mean(sku, marketplace, idx, price)

    def price_response(
        self, sku: str, marketplace: str, date: DateLike, prices: np.ndarray
    ) -> np.ndarray:
        """Expected units on ``date`` for each displayed price in ``prices``."""
        prices = np.asarray(prices, dtype=float)
        dates = pd.DatetimeIndex([pd.Timestamp(date)] * prices.size)
        return self._mean(sku, marketplace, dates, prices.ravel()).reshape(prices.shape)

    def elasticity(
        self,
        sku: str,
        marketplace: str,
        price: float | np.ndarray | None = None,
        date: DateLike | None = None,
    ) -> float | np.ndarray:
        """The true point elasticity d log(units) / d log(price), analytic for each shape.

        At the listing's reference price by default (the ``elasticity`` parameter); at the
        displayed ``price`` (scalar or array) if given; else, with a ``date``, at that day's
        simulated displayed price. The shapes depend on the date only through the price.
        """
        r = self._row(sku, marketplace)
        if price is None and date is not None:
            price = self.displayed_price(sku, marketplace, date)[0]
        elif price is None:
            price = r["ref_price"]
        out = price_elasticity(
            np.asarray(price, dtype=float),
            r["ref_price"],
            r["elasticity"],
            r.get("ref_share"),
            self.response,
        )
        return float(out) if out.ndim == 0 else out
