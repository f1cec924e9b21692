"""The project's one random-panel generator, for tests and benchmarks (the factor benchmarks in
docs/BENCHMARKS.md are timed on it, so it ships in the package).

GBM prices with the awkward cases a pipeline must survive: suspended days (missing rows), late
listings, optional industry / market cap / limit flags. Seeded and reproducible. It is not a
market model: the demo's market with planted signal is `data/synthetic.py`."""

from __future__ import annotations

import numpy as np
import polars as pl


def random_panel(
    stocks: int = 30,
    days: int = 120,
    seed: int = 0,
    suspend: float = 0.03,
    late_listing: bool = True,
    extras: bool = True,
) -> pl.DataFrame:
    """GBM prices with random suspensions (missing rows) and late listings.

    extras adds vwap, industry, market_cap, limit_up, limit_down."""
    rng = np.random.default_rng(seed)
    dates = np.busday_offset("2020-01-01", np.arange(days), roll="forward")
    ret = rng.normal(0.0003, 0.02, (days, stocks))
    close = 10.0 * np.exp(np.cumsum(ret, axis=0)) * rng.uniform(0.5, 5, stocks)
    open_ = close * np.exp(rng.normal(0, 0.01, close.shape))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, close.shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, close.shape)))
    volume = rng.lognormal(12, 1, close.shape).round()
    keep = rng.random(close.shape) > suspend
    if late_listing:
        first = np.where(rng.random(stocks) < 0.2, rng.integers(0, days // 2, stocks), 0)
        keep &= np.arange(days)[:, None] >= first[None]
    tt, nn = np.nonzero(keep)
    cols = {
        "date": dates[tt],
        "symbol": np.array([f"S{i:04d}" for i in range(stocks)])[nn],
        "open": open_[tt, nn],
        "high": high[tt, nn],
        "low": low[tt, nn],
        "close": close[tt, nn],
        "volume": volume[tt, nn],
    }
    if extras:
        cols["vwap"] = ((high + low + 2 * close) / 4)[tt, nn]
        cols["industry"] = np.array([f"IND{i % 5}" for i in range(stocks)])[nn]
        cols["market_cap"] = (close * rng.lognormal(18, 1, stocks))[tt, nn]
        cols["limit_up"] = (ret > 0.04)[tt, nn]
        cols["limit_down"] = (ret < -0.04)[tt, nn]
    return pl.DataFrame(cols).with_columns(pl.col("date").cast(pl.Date)).sort("date", "symbol")
