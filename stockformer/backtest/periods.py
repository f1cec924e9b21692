"""Per-period tables of an equity frame (date, strategy, benchmark): monthly returns and the
per-year statistics. The report and the dashboard both read them from here."""

from __future__ import annotations

import numpy as np
import polars as pl

from stockformer.backtest.performance import daily_returns, max_drawdown, sharpe


def _period_ends(equity: pl.DataFrame, keys: list[pl.Expr]) -> pl.DataFrame:
    """Row index of each period's last day; a period runs from the previous period's last value
    (the first from the first row), so returns compound across period boundaries."""
    frame = equity.sort("date").with_row_index("_row")
    return frame.group_by(keys, maintain_order=True).agg(pl.col("_row").last().alias("end"))


def monthly_returns(equity: pl.DataFrame, column: str = "strategy") -> pl.DataFrame:
    """Compounded return per calendar month: columns year, month, ret."""
    equity = equity.sort("date")
    ends = _period_ends(equity, [pl.col("date").dt.year().alias("year"),
                                 pl.col("date").dt.month().alias("month")])
    value = equity[column].to_numpy().astype(np.float64)
    end = ends["end"].to_numpy()
    start = np.concatenate([[0], end[:-1]])[: len(end)]  # empty frame: no rows, no index
    return ends.select("year", "month").with_columns(pl.Series("ret", value[end] / value[start] - 1.0))


def yearly_table(equity: pl.DataFrame, days_per_year: int) -> pl.DataFrame:
    """Per calendar year: days, return, benchmark return, excess, Sharpe, max drawdown."""
    equity = equity.sort("date")
    ends = _period_ends(equity, [pl.col("date").dt.year().alias("year")])
    strat = equity["strategy"].to_numpy().astype(np.float64)
    bench = equity["benchmark"].to_numpy().astype(np.float64)
    rows = []
    start = 0
    for year, end in ends.iter_rows():
        s, b = strat[start : end + 1], bench[start : end + 1]
        ret, bret = s[-1] / s[0] - 1.0, b[-1] / b[0] - 1.0
        rows.append({
            "year": year, "days": len(s) - 1, "return": ret, "benchmark_return": bret,
            "excess_return": ret - bret, "sharpe": sharpe(daily_returns(s), days_per_year),
            "max_drawdown": max_drawdown(s),
        })
        start = end
    schema = {"year": pl.Int32, "days": pl.Int64, "return": pl.Float64, "benchmark_return": pl.Float64,
              "excess_return": pl.Float64, "sharpe": pl.Float64, "max_drawdown": pl.Float64}
    return pl.DataFrame(rows, schema=schema)
