"""Per-window table of a walk-forward run: each window's test-period prediction metrics and
its slice of the one out-of-sample backtest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from stockformer.backtest.annualization import days_per_year
from stockformer.backtest.performance import daily_returns, max_drawdown, sharpe
from stockformer.errors import RunError
from stockformer.io import read_json, write_text


def _slice_stats(eq: np.ndarray, bench: np.ndarray, days: int) -> dict[str, float]:
    """days: the trading days per year the whole backtest was annualised with."""
    if len(eq) < 2:
        return {k: float("nan") for k in ("total_return", "excess_return", "sharpe", "max_drawdown")}
    return {
        "total_return": float(eq[-1] / eq[0] - 1.0),
        "excess_return": float(eq[-1] / eq[0] - bench[-1] / bench[0]),
        "sharpe": sharpe(daily_returns(eq), days),
        "max_drawdown": max_drawdown(eq),
    }


def window_table(run_dir: str | Path) -> pl.DataFrame:
    """One row per window; written to run_dir/backtest/windows.csv."""
    run_dir = Path(run_dir)
    metrics = read_json(run_dir / "metrics.json", RunError, kind=dict)
    # the backtest's own annualisation (summary.json), so the windows read the same number
    days = days_per_year(read_json(run_dir / "backtest" / "summary.json", RunError, kind=dict))
    equity = pl.read_parquet(run_dir / "backtest" / "equity.parquet").sort("date")
    dates = equity.get_column("date")
    rows = []
    for w in metrics["windows"]:
        start, end = np.datetime64(w["test_start"]), np.datetime64(w["test_end"])
        # equity rows are valuation days; the window's last signal fills (and is judged) on the
        # next day, so each window's slice runs from its first signal day to one day past its end
        d = dates.to_numpy()
        i0 = int(np.searchsorted(d, start, side="left"))
        i1 = min(int(np.searchsorted(d, end, side="right")), len(d) - 1)
        sel = equity.slice(i0, max(i1 - i0 + 1, 0))
        stats = _slice_stats(sel["strategy"].to_numpy(), sel["benchmark"].to_numpy(), days)
        rows.append({
            "window": w["window"], "test_start": w["test_start"], "test_end": w["test_end"],
            "ic": w["test"]["ic"], "rank_ic": w["test"]["rank_ic"], "accuracy": w["test"]["accuracy"],
            # "always up" / "always down" on the same cells (absent from older runs)
            "majority_rate": w["test"].get("majority_rate", float("nan")),
            **stats, "best_epoch": w["best_epoch"], "train_seconds": w["train_seconds"],
        })
    table = pl.DataFrame(rows)
    write_text(run_dir / "backtest" / "windows.csv", table.write_csv())
    return table
