"""Re-running a backtest on a finished run's predictions, without retraining."""

from __future__ import annotations

from typing import Any

import polars as pl

from stockformer.backtest import run_backtest
from stockformer.backtest.runner import load_benchmark
from stockformer.config import BacktestConfig


def rerun_backtest(
    predictions: pl.DataFrame, panel: pl.DataFrame, cfg: BacktestConfig,
    *, market: str | None = None, calendar: str | None = None,
) -> dict[str, Any]:
    """equity / positions / trades / summary of `run_backtest` as plain picklable values;
    market / calendar: the dataset's declared market and the run's job.calendar, so the re-run
    annualises as the stored backtest did."""
    benchmark = load_benchmark(cfg.benchmark) if cfg.benchmark else None
    result = run_backtest(predictions, panel, cfg, benchmark, market=market, calendar=calendar)
    return {
        "equity": result.equity,
        "positions": result.positions,
        "trades": result.trades,
        "summary": dict(result.summary),
    }
