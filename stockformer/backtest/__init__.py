"""stockformer.backtest: strategies, the numba execution kernel, performance and the report."""

from stockformer.backtest.engine import BacktestResult, run_backtest
from stockformer.backtest.output import write_backtest
from stockformer.backtest.predictions import load_predictions
from stockformer.backtest.runner import backtest_run

__all__ = [
    "BacktestResult",
    "backtest_run",
    "load_predictions",
    "run_backtest",
    "write_backtest",
]
