"""The backtest tests' panel (a preset of stockformer.data.random_panel) and random predictions."""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import polars as pl

from stockformer.data.random_panel import random_panel

# The backtest tests' panel: the package generator with +-10% jumps so the limit rules fire, prices
# in cents, calendar days from 2023-08-01, 10% suspended stock-days and random limit flags (the
# rules are tested on the flags, not on the moves). st > 0 adds is_st with +5% moves.
backtest_panel = functools.partial(
    random_panel, suspend=0.1, late_listing=False, extras=False, drift=0.0, vol=0.04, jumps=0.08,
    varied=False, cents=True, limit_flags="random", start=dt.date(2023, 8, 1), business_days=False,
    symbol_width=3,
)


def random_predictions(panel: pl.DataFrame, seed: int, drop_last: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    dates = sorted(panel["date"].unique().to_list())[: len(panel["date"].unique()) - drop_last]
    pred = panel.filter(pl.col("date").is_in(dates)).select("date", "symbol")
    score = rng.normal(size=pred.height)
    score[rng.random(pred.height) < 0.05] = np.nan
    return pred.with_columns(pl.Series("score", score))


def foresight_predictions(panel: pl.DataFrame, fill: str = "close", sign: float = 1.0) -> pl.DataFrame:
    """score(t) = the realised return from the fill on t + 1 to the fill on t + 2."""
    col = fill
    wide = panel.pivot(on="symbol", index="date", values=col).sort("date")
    dates = wide["date"].to_list()
    px = wide.drop("date").to_numpy().astype(float)
    fut = np.full_like(px, np.nan)
    fut[:-2] = px[2:] / px[1:-1] - 1.0
    syms = wide.drop("date").columns
    rows = [(dates[t], syms[j], sign * fut[t, j]) for t in range(len(dates)) for j in range(len(syms))
            if np.isfinite(fut[t, j])]
    return pl.DataFrame(rows, schema=["date", "symbol", "score"], orient="row")
