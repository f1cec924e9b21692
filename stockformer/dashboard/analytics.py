"""Numbers the pages plot, computed from run artifacts (pure functions, no Streamlit)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from stockformer.backtest.performance import drawdown_curve
from stockformer.backtest.periods import monthly_returns as monthly_returns  # one definition
from stockformer.signal import metrics as m


def daily_returns(equity: pl.DataFrame, column: str = "strategy") -> pl.Series:
    return equity[column].pct_change().fill_null(0.0)


def drawdown(equity: pl.DataFrame, column: str = "strategy") -> pl.DataFrame:
    """Fraction below the running peak (0 at a new high, negative below it)."""
    value = equity[column].to_numpy().astype(np.float64)
    return pl.DataFrame({"date": equity["date"], "drawdown": drawdown_curve(value)})


def rolling_sharpe(
    equity: pl.DataFrame, window: int = 63, column: str = "strategy", *, days_per_year: int
) -> pl.DataFrame:
    """Annualised Sharpe of daily returns over a trailing window (no risk-free rate);
    days_per_year: the run's own number (backtest.annualization.days_per_year(summary))."""
    ret = daily_returns(equity, column)
    mean = ret.rolling_mean(window)
    std = ret.rolling_std(window)
    sharpe = (mean / std * math.sqrt(days_per_year)).fill_nan(None)
    return pl.DataFrame({"date": equity["date"], "rolling_sharpe": sharpe})


def turnover(positions: pl.DataFrame) -> pl.DataFrame:
    """One-way turnover per day: half the sum of absolute weight changes, from positions."""
    if positions.height == 0:
        return pl.DataFrame(schema={"date": pl.Date, "turnover": pl.Float64})
    wide = (
        positions.select("date", "symbol", "weight")
        .pivot(on="symbol", index="date", values="weight", aggregate_function="sum")
        .sort("date")
        .fill_null(0.0)
    )
    w = wide.drop("date").to_numpy()
    change = np.abs(np.diff(np.vstack([np.zeros((1, w.shape[1])), w]), axis=0)).sum(1) / 2
    return pl.DataFrame({"date": wide["date"], "turnover": change})


def realised_labels(panel: pl.DataFrame, horizon: int = 1, price: str = "close") -> pl.DataFrame:
    """The training label: return from the `price` of t+1 to that of t+1+horizon, per (date, symbol)."""
    col = price if price in panel.columns else "close"
    return (
        panel.select("date", "symbol", col)
        .sort("symbol", "date")
        .with_columns(
            (
                pl.col(col).shift(-(1 + horizon)).over("symbol") / pl.col(col).shift(-1).over("symbol")
                - 1.0
            ).alias("label")
        )
        .select("date", "symbol", "label")
        .drop_nulls("label")
    )


def _dense(frame: pl.DataFrame, column: str, dates: pl.Series, symbols: list[str]) -> np.ndarray:
    wide = (
        frame.select("date", "symbol", column)
        .pivot(on="symbol", index="date", values=column, aggregate_function="first")
    )
    wide = pl.DataFrame({"date": dates}).join(wide, on="date", how="left")
    for s in symbols:
        if s not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(s))
    return wide.select(symbols).to_numpy().astype(np.float64)


def signal_series(predictions: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Daily IC, RankIC and direction accuracy of predictions against realised labels."""
    joined = predictions.join(labels, on=["date", "symbol"], how="inner")
    if joined.height == 0:
        return pl.DataFrame(
            schema={"date": pl.Date, "ic": pl.Float64, "rank_ic": pl.Float64, "accuracy": pl.Float64}
        )
    dates = joined["date"].unique().sort()
    symbols = sorted(joined["symbol"].unique().to_list())
    score = _dense(joined, "score", dates, symbols)
    label = _dense(joined, "label", dates, symbols)
    prob = _dense(joined, "prob_up", dates, symbols)
    mask = np.isfinite(score) & np.isfinite(label)
    return pl.DataFrame(
        {
            "date": dates,
            "ic": m.daily_ic(score, label, mask),
            "rank_ic": m.daily_rank_ic(score, label, mask),
            "accuracy": m.daily_accuracy(prob, label, mask),
        }
    ).fill_nan(None)


def series_stats(values: pl.Series) -> dict[str, float]:
    """Mean, IR and t-statistic of a daily series (the same definitions as metrics.json)."""
    mean, ir, tstat = m.series_stats(values.drop_nulls().to_numpy().astype(np.float64))
    return {"mean": mean, "ir": ir, "tstat": tstat}


def quantile_returns(predictions: pl.DataFrame, labels: pl.DataFrame, q: int = 5) -> list[float]:
    joined = predictions.join(labels, on=["date", "symbol"], how="inner")
    if joined.height == 0:
        return [float("nan")] * q
    dates = joined["date"].unique().sort()
    symbols = sorted(joined["symbol"].unique().to_list())
    score = _dense(joined, "score", dates, symbols)
    label = _dense(joined, "label", dates, symbols)
    return [float(x) for x in m.quantile_returns(score, label, np.isfinite(score) & np.isfinite(label), q)]
