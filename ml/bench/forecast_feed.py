"""The demand forecast inside a closed-loop replay, as the nightly run serves it.

The LightGBM forecast (``ml.forecast.model``) is trained once on the demand mart of the history
before the holdout, as the registry's champion would be, and scored every night on that
history plus the holdout's days so far (the replay's own sales, stock-outs censored, as
``ml.bench.replay.history_demand`` shapes them), with the seller's planned prices and
promotions of the days ahead as the plan mart gives them to the nightly. Each night's forecast
gives every listing a daily mean and a negative-binomial size for the ``horizon`` days ahead; a
planning window longer than the horizon takes the horizon's average day for its remaining days.
Why not retrain nightly: a fit takes about 20 s on a 1,000-listing seller, 90 of them would
take half an hour, and the nightly promotes a new champion only when it beats the old one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml.bench.forecast import ScenarioHistory
from ml.bench.replay import history_demand
from ml.forecast.model import DemandForecaster, fit, predict
from ml.forecast.panel import DEMAND_COLUMNS
from ml.forecast.pyfunc import input_panel, model_input
from ml.simulator.observation import Observation, SellerFacts


@dataclass(frozen=True)
class DailyForecast:
    """Series x horizon day (from the day after the forecast): mean and NB size; ``known``
    per series: the forecast covers it."""

    made_on: int  # the replay day whose close it was made at
    mean: np.ndarray
    size: np.ndarray
    known: np.ndarray


@dataclass
class ReplayForecast:
    """The forecast a replayed policy reads (see the module's text)."""

    model: DemandForecaster
    seller: ScenarioHistory  # the marts before the holdout and the holdout's price plan
    seconds: float = 0.0
    _fx_seen: dict[int, np.ndarray] = field(default_factory=dict)

    @classmethod
    def trained(cls, seller: ScenarioHistory) -> ReplayForecast:
        return cls(fit(seller.demand, skus=seller.skus, marketplaces=seller.markets), seller)

    def start(self, facts: SellerFacts) -> None:
        self.sku = np.asarray(facts.sku)[facts.sku_idx]
        self.keys = pd.MultiIndex.from_arrays([self.sku, np.asarray(facts.marketplace)])
        self.first_day: int | None = None
        self.latest: DailyForecast | None = None
        self._fx_seen = {}
        self.seconds = 0.0

    def at_close(self, obs: Observation) -> DailyForecast:
        """Tonight's forecast, scored once a night (the planner asks more than once)."""
        self._fx_seen[obs.day] = np.array(obs.fx_usd, dtype=float)
        if self.first_day is None:
            self.first_day = obs.day
        if self.latest is None or self.latest.made_on != obs.day:
            started = time.perf_counter()
            self.latest = self._score(obs)
            self.seconds += time.perf_counter() - started
        assert self.latest is not None
        return self.latest

    def _score(self, obs: Observation) -> DailyForecast:
        assert self.first_day is not None and obs.history is not None
        held = history_demand(
            obs, self.sku, self.first_day, self._fx_seen, end_day=obs.history.n_days
        )
        columns, seller = list(DEMAND_COLUMNS), self.seller
        demand = pd.concat([seller.demand[columns], held[columns]], ignore_index=True)
        # the plan of the days ahead, as the nightly reads it from the plan mart
        today = pd.Timestamp(obs.date)
        dates = pd.to_datetime(seller.plan["demand_date"])
        ahead = (dates > today) & (dates <= today + pd.Timedelta(days=self.model.horizon))
        rows = model_input(
            demand, skus=seller.skus, marketplaces=seller.markets, plan=seller.plan[ahead]
        )
        out = predict(self.model, input_panel(self.model, rows))
        return forecast_arrays(out, self.keys, self.model.horizon, obs.day)


def forecast_arrays(
    out: pd.DataFrame, keys: pd.MultiIndex, horizon: int, made_on: int
) -> DailyForecast:
    """``predict``'s long frame (sku, marketplace, horizon, mean, nb_size) as series x horizon
    arrays in the order of ``keys`` (sku, marketplace); series it lacks are not ``known``."""
    n = len(keys)
    mean = np.zeros((n, horizon))
    size = np.full((n, horizon), np.inf)
    row = keys.get_indexer(pd.MultiIndex.from_arrays([out["sku"], out["marketplace"]]))
    ok = row >= 0
    h = out["horizon"].to_numpy(int)[ok] - 1
    mean[row[ok], h] = out["mean"].to_numpy(float)[ok]
    size[row[ok], h] = out["nb_size"].to_numpy(float)[ok]
    known = np.zeros(n, bool)
    known[row[ok]] = True
    return DailyForecast(made_on, mean, size, known)


def window_rates(
    forecast: DailyForecast, day: int, window: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per series: the mean daily demand and daily variance over the ``window`` days after
    ``day`` (each series its own length), from a forecast made on or before ``day``; days
    past the forecast's horizon take its average day."""
    skip = day - forecast.made_on
    mu = forecast.mean[:, skip:]
    var = mu + mu**2 / forecast.size[:, skip:]
    horizon = mu.shape[1]
    cum_mu = np.concatenate([np.zeros((len(mu), 1)), np.cumsum(mu, axis=1)], axis=1)
    cum_var = np.concatenate([np.zeros((len(var), 1)), np.cumsum(var, axis=1)], axis=1)
    w = np.maximum(np.asarray(window, dtype=float), 1.0)
    inside = np.minimum(w, horizon).astype(int)
    rows = np.arange(len(mu))
    beyond = w - inside
    mean = (cum_mu[rows, inside] + beyond * cum_mu[:, -1] / max(horizon, 1)) / w
    daily_var = (cum_var[rows, inside] + beyond * cum_var[:, -1] / max(horizon, 1)) / w
    return mean, daily_var
