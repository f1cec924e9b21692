"""The project's one random-panel generator, for tests and benchmarks (the factor and backtest
benchmarks in docs/BENCHMARKS.md are timed on it, so it ships in the package).

GBM prices with the awkward cases a pipeline must survive: suspended days (missing rows), late
listings, optional industry / market cap, limit and ST flags, jumps to the price limit, prices in
cents. Seeded and reproducible: each option draws from the one generator only when it is on, so
turning one on never changes what the options before it drew. It is not a market model: the
demo's market with planted signal is `data/synthetic.py`."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np
import polars as pl

# log returns of the moves that lock a stock at its limit: +10%, -10%, +5% (the ST limit)
_UP, _DOWN, _ST_UP = 0.0953, -0.1054, 0.0488
_ST_BAND = 0.06  # share of stock-days with a +5% move when ST flags are on
_RANDOM_FLAG_SHARE = 0.1


def random_panel(
    stocks: int = 30,
    days: int = 120,
    seed: int = 0,
    suspend: float = 0.03,
    late_listing: bool = True,
    extras: bool = True,
    *,
    drift: float = 0.0003,
    vol: float = 0.02,
    max_move: float | None = None,
    jumps: float = 0.0,
    st: float = 0.0,
    varied: bool = True,
    cents: bool = False,
    limit_flags: Literal["move", "random"] | None = "move",
    limit_move: float = 0.04,
    start: dt.date = dt.date(2020, 1, 1),
    business_days: bool = True,
    symbol_width: int = 4,
) -> pl.DataFrame:
    """A long panel (date, symbol, open, high, low, close, volume, ...) sorted by (date, symbol).

    suspend: share of stock-days dropped (missing rows); late_listing: 20% of the stocks list in
    the first half. extras adds vwap, industry, market_cap.
    Returns: daily log returns N(drift, vol), clipped to +-max_move; jumps: share of stock-days
    with a +10% move and the same share with -10%; st > 0 adds an is_st column (that share of
    rows) and +5% moves on 6% of the stock-days, so that only the ST limit fires.
    varied: price levels 10 x U(0.5, 5) per stock, high/low wicks beyond open/close and lognormal
    volume; off: every stock starts at 10, high/low = max/min(open, close), volume 1e6.
    cents rounds open and close to 0.01 (floor 0.5).
    limit_flags: "move" flags days whose return is at least limit_move up or down; "random" flags
    10% of the rows each, independent of the prices (limit_down never with limit_up); None: none.
    Dates: `days` business days (or calendar days) from start; symbols S0000 (symbol_width digits).
    """
    rng = np.random.default_rng(seed)
    ret = rng.normal(drift, vol, (days, stocks))
    if max_move is not None:
        ret = ret.clip(-max_move, max_move)
    if jumps > 0 or st > 0:
        u = rng.random((days, stocks))
        ret = np.where(u < jumps, _UP, np.where(u > 1 - jumps, _DOWN, ret))
        if st > 0:
            ret = np.where((u >= jumps) & (u < jumps + _ST_BAND), _ST_UP, ret)
    close = 10.0 * np.exp(np.cumsum(ret, axis=0))
    if varied:
        close = close * rng.uniform(0.5, 5, stocks)
    if cents:
        close = np.round(close, 2).clip(0.5)
    open_ = close * np.exp(rng.normal(0, 0.01, close.shape))
    if cents:
        open_ = np.round(open_, 2).clip(0.5)
    high, low = np.maximum(open_, close), np.minimum(open_, close)
    if varied:
        high = high * np.exp(np.abs(rng.normal(0, 0.01, close.shape)))
        low = low * np.exp(-np.abs(rng.normal(0, 0.01, close.shape)))
        volume = rng.lognormal(12, 1, close.shape).round()
    else:
        volume = np.full(close.shape, 1e6)
    keep = rng.random(close.shape) >= suspend
    if late_listing:
        first = np.where(rng.random(stocks) < 0.2, rng.integers(0, days // 2, stocks), 0)
        keep &= np.arange(days)[:, None] >= first[None]
    tt, nn = np.nonzero(keep)
    cols = {
        "date": _dates(start, days, business_days)[tt],
        "symbol": np.array([f"S{i:0{symbol_width}d}" for i in range(stocks)])[nn],
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
    if limit_flags == "move":
        cols["limit_up"] = (ret >= limit_move)[tt, nn]
        cols["limit_down"] = (ret <= -limit_move)[tt, nn]
    elif limit_flags == "random":
        up = rng.random(len(tt)) < _RANDOM_FLAG_SHARE
        cols["limit_up"], cols["limit_down"] = up, (rng.random(len(tt)) < _RANDOM_FLAG_SHARE) & ~up
    if st > 0:
        cols["is_st"] = rng.random(len(tt)) < st
    return pl.DataFrame(cols).with_columns(pl.col("date").cast(pl.Date)).sort("date", "symbol")


def _dates(start: dt.date, days: int, business_days: bool) -> np.ndarray:
    first = np.datetime64(start, "D")
    if business_days:
        return np.busday_offset(first, np.arange(days), roll="forward")
    return first + np.arange(days)
