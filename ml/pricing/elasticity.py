"""Own-price elasticity per listing, controlled for promotions and events, pooled where thin.

Why not regress units on price: price cuts come with promotions (a deal badge, a coupon,
visibility), sales events and ad campaigns, which lift demand by themselves; a regression that
ignores them credits the lift to the price and comes out too elastic. The estimate here is a
regression adjustment on the forecast's demand features (the confounders: calendar, events,
promotion flag and share, advertising, the level a year ago, age, category and marketplace;
no own price, no recent demand window), in two steps:

1. ``log g(x)``, cross-fitted on two halves of each listing's quarters (a row is never
   predicted by a model that saw it): the units a row would sell at its listing's reference
   price, from a Poisson LightGBM of units on the confounders and the log price (monotone),
   evaluated at the reference price;
2. per listing, a Poisson regression of units on the log price over the reference with offset
   ``log g(x)`` and one intercept per quarter (a year in which prices and demand both drifted
   says nothing): its slope is the elasticity, its sandwich standard error (robust to
   over-dispersion) the uncertainty.

Why not double ML's residualised price (Chernozhukov et al. 2018, which this estimator
replaced): a model of the price from the confounders explains the FX and cost moves shared by
a marketplace's listings through their dates, so those moves (40 % of the price variance on a
simulated seller that tests prices) are thrown away, and the units model, which learns the
same dates, keeps part of the price's effect in the offset. On that seller (20 units a day,
``tests/test_pricing_elasticity.py``) the residualised own estimates came out 0.20 too
inelastic at the median, with a median error of 0.50; these come out 0.05 off, with 0.33.

Pooling: listings with little own price variation have wide standard errors. Each estimate is
shrunk by empirical Bayes (DerSimonian-Laird spreads) towards the same SKU in its other
marketplaces, whose mean is itself shrunk towards its category (then all listings). A listing
is ``identified`` when its own standard error is at most ``IDENTIFIED_MAX_SE``, ``pooled``
otherwise.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from ml.forecast.features import Levels, feature_names, feature_rows, panel_context
from ml.forecast.panel import Panel

from .curvature import recent_curvature

# Own-price features of the forecast: the treatment, never a confounder. The promotion's
# discount is the price cut itself; the promotion flag (a deal badge, a circular, a display:
# visibility) stays a confounder.
PRICE_FEATURES = (
    "discount",
    "rel_price",
    "log_rel_price",
    "rel_list_price",
    "price_vs_origin",
    "price_vs_recent",
    "list_change_recent",
)
# Demand windows that end at the origin answer to the price in force (a price holds for weeks):
# the recent windows, the recent level behind the seasonal one, and the mean of the whole
# history so far (which carries every earlier price move).
RECENT_DEMAND = (
    "std_recent",
    "nonzero_share_recent",
    "periods_since_sale",
    "same_weekday_mean",
    "seasonal_level",
    "mean_all",
)
BLOCK_DAYS = 91  # a listing's demand level is its own in each block of this many days
MIN_TAU = 0.05
MIN_GROUP = 3  # estimates a category needs to be a prior of its own
# An own estimate this sure (95 % interval about +-0.6) is the listing's; wider ones are pooled.
IDENTIFIED_MAX_SE = 0.3
# Elasticities a listing may take: demand never rises with price; beyond -8 is no market.
ELASTICITY_BOUNDS = (-8.0, 0.0)
BASELINE_PARAMS = {
    "learning_rate": 0.1,
    "max_bin": 63,
    "num_leaves": 31,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "monotone_constraints_method": "advanced",
}
BASELINE_ROUNDS = 400


@dataclass(frozen=True)
class ElasticityEstimates:
    """One row per listing: ``sku``, ``marketplace``, ``category``, ``own`` (the listing's own
    estimate, NaN without price variation), ``own_se``, ``elasticity`` (pooled where thin),
    ``se`` (its posterior standard deviation), ``status`` (identified or pooled), ``rows``
    (periods used), ``price_sd`` (standard deviation of the log price),
    ``reference_price`` (the price the log price is measured from) and the seller's
    ``curvature`` (``Curvature.applied``: 0 unless the fit is clear of 0) with its ``curvature_se``
    (``ml.pricing.curvature``, the same on every row)."""

    listings: pd.DataFrame
    group_means: pd.DataFrame  # per pooling level and group: mean elasticity and tau

    def for_listing(self, sku: str, marketplace: str) -> pd.Series:
        rows = self.listings[
            (self.listings["sku"] == sku) & (self.listings["marketplace"] == marketplace)
        ]
        if rows.empty:
            raise KeyError(f"no elasticity estimate for {sku} in {marketplace}")
        return rows.iloc[0]


def price_rows(panel: Panel) -> pd.DataFrame:
    """One row per observed series x period (from the second period): the forecast's demand
    features at horizon 1, units, and ``log_price``: the log of the displayed price over the
    listing's median displayed price in the history.

    A fixed reference, not the forecast's rolling one: a rolling median follows a lasting
    price change within months, so the regressor would fade while demand stays where the
    price put it, and the slope would shrink towards zero."""
    ctx = panel_context(panel, Levels.of(panel.series))
    origins = np.arange(0, panel.n_history - 1)
    rows = feature_rows(ctx, origins, 1, training=True)
    displayed = displayed_prices(panel)
    reference = reference_prices(panel)
    with np.errstate(invalid="ignore", divide="ignore"):
        price = displayed[rows["series"].to_numpy(), rows["target_index"].to_numpy()]
        rows["log_price"] = np.log(price / reference[rows["series"].to_numpy()])
    return rows[np.isfinite(rows["log_price"])].reset_index(drop=True)


def displayed_prices(panel: Panel) -> np.ndarray:
    """Series x period: list price less the promotion discount (what shoppers saw)."""
    return panel.list_price * (1.0 - panel.discount)


def reference_prices(panel: Panel) -> np.ndarray:
    """Each listing's median displayed price in the history: the price its log price is
    measured from (NaN for a listing never priced)."""
    displayed = displayed_prices(panel)[:, : panel.n_history]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a listing never priced: NaN
        return np.nanmedian(np.where(displayed > 0, displayed, np.nan), 1)


def confounder_names(grain: str) -> list[str]:
    """The forecast's features without the own-price ones, the horizon (always 1) and the
    recent demand windows: prices persist, so last week's units already answer to this
    week's price, and a model given them would explain away the price's effect."""
    return [
        n
        for n in feature_names(grain)
        if n not in PRICE_FEATURES and n != "h" and not _recent_demand(n)
    ]


def _recent_demand(name: str) -> bool:
    window = name.startswith(("lag_", "mean_")) and name.split("_", 1)[1].isdigit()
    return window or name in RECENT_DEMAND


def cross_fitted_baseline(
    rows: pd.DataFrame, names: list[str], blocks: np.ndarray, seed: int = 0
) -> np.ndarray:
    """``log g(x)``: the log of the units each row would sell at its listing's reference price,
    given the confounders ``names``. A Poisson LightGBM of units on the confounders and the log
    price (monotone: demand never rises with price) is evaluated at log price 0. Cross-fitted
    on two halves of the ``blocks`` (a listing's quarters, drawn at random): the model has seen
    the listing in its other quarters, never the row.

    The price is in the model so that it explains the demand a price brought: a model without
    it learns that demand through whatever moves with the price (the dates of an FX drift, a
    marketplace's calendar), and the slope on the price is then left with too little."""
    _, block = np.unique(blocks, return_inverse=True)
    half = np.random.default_rng(seed).random(int(block.max()) + 1) < 0.5
    fold = half[block]
    features = rows[names].assign(log_price=rows["log_price"].to_numpy(float))
    at_reference = features.assign(log_price=0.0)
    params = {
        **BASELINE_PARAMS,
        "objective": "poisson",
        "num_threads": 0,
        "monotone_constraints": [0] * len(names) + [-1],
    }
    y = rows["target"].to_numpy(float)
    log_g = np.empty(len(rows))
    for k in (False, True):
        train = lgb.Dataset(features[fold == k], y[fold == k], free_raw_data=True)
        booster = lgb.train(params, train, BASELINE_ROUNDS)
        log_g[fold != k] = booster.predict(at_reference[fold != k], raw_score=True)
    return log_g


def poisson_slopes(
    y: np.ndarray,
    offset: np.ndarray,
    x: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    block: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the slope of a Poisson regression of ``y`` on ``x`` with ``offset`` (log of
    the baseline units) and one intercept per ``block`` (blocks nest in groups; default: one
    per group), and its sandwich standard error (robust to over-dispersion). Groups without
    variation in ``x`` within their blocks get NaN.

    The intercepts are profiled out (for a slope b, a block's intercept makes its expected
    units equal its units), leaving Newton's method on b alone, vectorised over groups."""
    block = group if block is None else block
    _, blk = np.unique(block, return_inverse=True)
    n_blocks = int(blk.max()) + 1 if len(blk) else 0
    b = np.zeros(n_groups)

    def profiled(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expected units at slope b with each block's intercept profiled out, and each row's
        x centred on its block's expected-units-weighted mean."""
        eta = np.clip(offset + b[group] * x, -30, 30)
        raw = np.exp(eta)
        scale = np.bincount(blk, y, n_blocks) / np.maximum(np.bincount(blk, raw, n_blocks), 1e-300)
        mu = raw * scale[blk]
        centre = np.bincount(blk, mu * x, n_blocks) / np.maximum(
            np.bincount(blk, mu, n_blocks), 1e-300
        )
        return mu, x - centre[blk]

    for _ in range(30):
        mu, xc = profiled(b)
        score = np.bincount(group, xc * (y - mu), n_groups)
        info = np.bincount(group, mu * xc * xc, n_groups)
        step = np.where(info > 1e-12, score / np.maximum(info, 1e-12), 0.0)
        b += np.clip(step, -2.0, 2.0)
        if np.max(np.abs(step), initial=0.0) < 1e-7:
            break
    mu, xc = profiled(b)
    info = np.bincount(group, mu * xc * xc, n_groups)
    meat = np.bincount(group, (xc * (y - mu)) ** 2, n_groups)
    ok = info > 1e-9
    se = np.sqrt(meat) / np.where(ok, info, 1.0)
    return np.where(ok, b, np.nan), np.where(ok & (se > 0), se, np.nan)


def random_effects(own: np.ndarray, se: np.ndarray, groups: np.ndarray) -> pd.DataFrame:
    """Per group of estimates (``own`` with standard errors ``se``; NaN rows ignored): the
    random-effects mean, its standard error, the between-estimate spread ``tau``
    (DerSimonian-Laird) and the count ``n``."""
    known = np.isfinite(own) & np.isfinite(se)
    frame = pd.DataFrame({"g": groups[known], "x": own[known], "w": 1.0 / se[known] ** 2})
    out = {}
    for g, part in frame.groupby("g"):
        x, w = part["x"].to_numpy(), part["w"].to_numpy()
        tau2 = _between_variance(x, w)
        wr = 1.0 / (1.0 / w + tau2)
        out[g] = (np.sum(wr * x) / np.sum(wr), np.sqrt(1.0 / np.sum(wr)), np.sqrt(tau2), len(x))
    return pd.DataFrame.from_dict(out, orient="index", columns=["mean", "mean_se", "tau", "n"])


def _between_variance(x: np.ndarray, w: np.ndarray) -> float:
    """DerSimonian-Laird tau^2 of estimates ``x`` with precisions ``w``, at least
    ``MIN_TAU`` squared: never certain that all members are alike."""
    if len(x) < 2:
        return MIN_TAU**2
    fixed = np.sum(w * x) / np.sum(w)
    q = np.sum(w * (x - fixed) ** 2)
    c = np.sum(w) - np.sum(w**2) / np.sum(w)
    return max((q - (len(x) - 1)) / c if c > 0 else 0.0, MIN_TAU**2)


def within_spread(own: np.ndarray, se: np.ndarray, groups: np.ndarray) -> float:
    """One DerSimonian-Laird spread for members of the same group (a SKU's marketplaces),
    pooled over all groups: Q and its degrees of freedom summed."""
    known = np.isfinite(own) & np.isfinite(se)
    frame = pd.DataFrame({"g": groups[known], "x": own[known], "w": 1.0 / se[known] ** 2})
    q = c = df = 0.0
    for _, part in frame.groupby("g"):
        if len(part) < 2:
            continue
        x, w = part["x"].to_numpy(), part["w"].to_numpy()
        fixed = np.sum(w * x) / np.sum(w)
        q += np.sum(w * (x - fixed) ** 2)
        c += np.sum(w) - np.sum(w**2) / np.sum(w)
        df += len(x) - 1
    return float(np.sqrt(max((q - df) / c if c > 0 else 0.0, MIN_TAU**2)))


def shrink_to(
    own: np.ndarray, se: np.ndarray, prior: np.ndarray, prior_sd: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Normal posterior of each estimate under its prior: precision-weighted; the prior alone
    where there is no estimate."""
    known = np.isfinite(own) & np.isfinite(se)
    own_prec = np.where(known, 1.0 / np.where(known, se, 1.0) ** 2, 0.0)
    prior_prec = 1.0 / np.maximum(prior_sd, 1e-6) ** 2
    post = (own_prec * np.nan_to_num(own) + prior_prec * prior) / (own_prec + prior_prec)
    return post, np.sqrt(1.0 / (own_prec + prior_prec))


def category_prior(
    own: np.ndarray, se: np.ndarray, category: np.ndarray
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Each row's prior from its category (at least ``MIN_GROUP`` estimates), else from all
    rows: mean and sd (the group's spread plus the uncertainty of its mean)."""
    by_category = random_effects(own, se, category)
    overall = random_effects(own, se, np.zeros(len(own), int))
    if overall.empty:
        raise ValueError("no listing has price variation: no elasticity can be estimated")
    usable = by_category[by_category["n"] >= MIN_GROUP]
    table = pd.concat(
        [usable.assign(level="category"), overall.assign(level="all listings")]
    ).rename_axis("group")
    row = [c if c in usable.index else None for c in category]
    pick = [usable.loc[c] if c is not None else overall.iloc[0] for c in row]
    mean = np.array([p["mean"] for p in pick])
    sd = np.array([np.hypot(p["tau"], p["mean_se"]) for p in pick])
    return mean, sd, table.reset_index()


def pool(
    own: np.ndarray, se: np.ndarray, sku: np.ndarray, category: np.ndarray
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Listing estimates pooled in two levels: the same SKU in its other marketplaces (the
    product is the same; its markets differ by the spread ``within_spread`` measures), whose
    random-effects mean is itself shrunk towards its category's (``category_prior``).
    Returns the pooled elasticity, its posterior sd and the table of group means."""
    tau_market = within_spread(own, se, sku)
    per_sku = random_effects(own, se, sku)
    skus = per_sku.index.to_numpy().astype(str)
    sku_category = pd.Series(category, index=sku).groupby(level=0).first()
    cat_mean, cat_sd, table = category_prior(
        per_sku["mean"].to_numpy(), per_sku["mean_se"].to_numpy(), sku_category[skus].to_numpy()
    )
    sku_post, sku_sd = shrink_to(
        per_sku["mean"].to_numpy(), per_sku["mean_se"].to_numpy(), cat_mean, cat_sd
    )
    lookup = pd.DataFrame({"mean": sku_post, "sd": sku_sd}, index=skus)
    known_sku = pd.Series(sku).isin(lookup.index).to_numpy()
    prior = np.where(known_sku, lookup["mean"].reindex(sku).to_numpy(), np.nan)
    prior_sd = np.where(known_sku, lookup["sd"].reindex(sku).to_numpy(), np.nan)
    if not known_sku.all():  # no listing of the SKU has an estimate: its category's prior
        fallback = _category_lookup(table, category)
        prior = np.where(known_sku, prior, fallback[0])
        prior_sd = np.where(known_sku, prior_sd, fallback[1])
    post, post_sd = shrink_to(own, se, prior, np.hypot(prior_sd, tau_market))
    table = pd.concat(
        [
            table,
            pd.DataFrame([{"group": "*", "level": "sku across marketplaces", "tau": tau_market}]),
        ],
        ignore_index=True,
    )
    return post, post_sd, table


def _category_lookup(table: pd.DataFrame, category: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's category prior from ``category_prior``'s table (all listings if absent)."""
    by = table.set_index("group")
    overall = table[table["level"] == "all listings"].iloc[0]
    rows = [
        by.loc[c] if c in by.index and by.loc[c]["level"] == "category" else overall
        for c in category
    ]
    return (
        np.array([r["mean"] for r in rows]),
        np.array([np.hypot(r["tau"], r["mean_se"]) for r in rows]),
    )


def estimate_elasticities(panel: Panel, seed: int = 0) -> ElasticityEstimates:
    """The elasticity of every listing of ``panel`` with price history (see the module)."""
    rows = price_rows(panel)
    if rows.empty:
        raise ValueError("no observed periods with a price: no elasticity can be estimated")
    names = confounder_names(panel.grain)
    series = rows["series"].to_numpy()
    n = panel.n_series
    # one intercept per listing and quarter: the slope comes from price moves within a
    # quarter, not from a year in which prices and demand both drifted
    quarter = rows["target_index"].to_numpy() // max(BLOCK_DAYS // panel.period_days, 1)
    blocks = series * 10_000 + quarter
    log_g = cross_fitted_baseline(rows, names, blocks, seed)
    log_price = rows["log_price"].to_numpy(float)
    own, own_se = poisson_slopes(
        rows["target"].to_numpy(float), log_g, log_price, series, n, blocks
    )
    lo, hi = ELASTICITY_BOUNDS
    own = np.clip(own, lo, hi)
    meta = panel.series.reset_index(drop=True)
    category = meta["category"].astype(str).to_numpy()
    market = meta["marketplace"].astype(str).to_numpy()
    pooled, post_se, group_means = pool(own, own_se, meta["sku"].astype(str).to_numpy(), category)
    count = np.bincount(series, minlength=n)
    price_sd = np.sqrt(
        np.maximum(
            np.bincount(series, log_price**2, n) / np.maximum(count, 1)
            - (np.bincount(series, log_price, n) / np.maximum(count, 1)) ** 2,
            0.0,
        )
    )
    identified = np.isfinite(own_se) & (own_se <= IDENTIFIED_MAX_SE)
    listings = pd.DataFrame(
        {
            "sku": meta["sku"].to_numpy(),
            "marketplace": market,
            "category": category,
            "own": own,
            "own_se": own_se,
            "elasticity": np.clip(pooled, lo, hi),
            "se": post_se,
            "status": np.where(identified, "identified", "pooled"),
            "rows": count,
            "price_sd": price_sd,
        }
    )
    reference = reference_prices(panel)
    history = slice(0, panel.n_history)
    # promotion periods sell on visibility as well as price (a deal badge, a circular): left
    # out, or their lift would read as demand that falls off less at prices far below the usual
    promoted = np.nan_to_num(panel.discount[:, history]) > 0
    shape = recent_curvature(
        np.where(promoted, np.nan, panel.units[:, history]),
        displayed_prices(panel)[:, : panel.n_history],
        listings["elasticity"].to_numpy(),
        reference,
        panel.period_days,
    )
    listings = listings.assign(
        reference_price=reference, curvature=shape.applied, curvature_se=shape.se
    )
    return ElasticityEstimates(listings=listings, group_means=group_means)
