"""Random panels and predictions for the backtest tests (suspensions and limit moves included)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl


def random_panel(days: int, stocks: int, seed: int, suspend: float = 0.1, limit_flags: bool = True,
                 start: dt.date = dt.date(2023, 8, 1), vol: float = 0.04,
                 st: float = 0.0) -> pl.DataFrame:
    """st > 0 adds an is_st column (that share of rows flagged, with 5% jumps so the ST limit fires)."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, vol, (days, stocks))
    # some 10% jumps so that limit rules fire
    jumps = rng.random((days, stocks))
    r = np.where(jumps < 0.08, 0.0953, np.where(jumps > 0.92, -0.1054, r))
    if st > 0:
        r = np.where((jumps >= 0.08) & (jumps < 0.14), 0.0488, r)  # +5%: only an ST limit-up
    close = np.round(10 * np.exp(np.cumsum(r, axis=0)), 2).clip(0.5)
    opn = np.round(close * np.exp(rng.normal(0, 0.01, (days, stocks))), 2).clip(0.5)
    keep = rng.random((days, stocks)) >= suspend
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    d_idx, s_idx = np.nonzero(keep)
    frame = pl.DataFrame(
        {
            "date": [dates[i] for i in d_idx],
            "symbol": [f"S{j:03d}" for j in s_idx],
            "open": opn[d_idx, s_idx],
            "high": np.maximum(opn, close)[d_idx, s_idx],
            "low": np.minimum(opn, close)[d_idx, s_idx],
            "close": close[d_idx, s_idx],
            "volume": np.full(len(d_idx), 1e6),
        }
    )
    if limit_flags:
        lu = rng.random(len(d_idx)) < 0.1
        ld = rng.random(len(d_idx)) < 0.1
        frame = frame.with_columns(pl.Series("limit_up", lu), pl.Series("limit_down", ld & ~lu))
    if st > 0:
        frame = frame.with_columns(pl.Series("is_st", rng.random(len(d_idx)) < st))
    return frame


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
