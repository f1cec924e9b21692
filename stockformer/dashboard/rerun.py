"""Re-running a backtest on a finished run's predictions, without retraining."""

from __future__ import annotations

import importlib
from typing import Any

import polars as pl

from stockformer.config import BacktestConfig
from stockformer.errors import RunError

# where the backtest stage exposes its functions (package first, then its engine module)
_MODULES = ("stockformer.backtest", "stockformer.backtest.engine")


def _backtest_function(name: str):
    for module in _MODULES:
        try:
            fn = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if callable(fn):
            return fn
    return None


def rerun_backtest(
    predictions: pl.DataFrame, panel: pl.DataFrame, cfg: BacktestConfig,
    *, market: str | None = None, calendar: str | None = None,
) -> dict[str, Any]:
    """equity / positions / trades / summary of `run_backtest` as plain picklable values;
    market / calendar: the dataset's declared market and the run's job.calendar, so the re-run
    annualises as the stored backtest did."""
    run_backtest = _backtest_function("run_backtest")
    if run_backtest is None:
        raise RunError(
            "re-run unavailable: the backtester (stockformer.backtest.run_backtest) is not "
            "part of this installation yet"
        )
    benchmark = None
    loader = _backtest_function("load_benchmark")
    if cfg.benchmark and loader is not None:
        benchmark = loader(cfg.benchmark)
    result = run_backtest(predictions, panel, cfg, benchmark, market=market, calendar=calendar)
    return {
        "equity": result.equity,
        "positions": result.positions,
        "trades": result.trades,
        "summary": dict(result.summary),
    }
