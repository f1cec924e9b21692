"""backtest_run: backtest the predictions of a run directory with its saved configuration;
backtest_external: another tool's predictions on a dataset, into a new runs/<stamp>-external/
(the run directory itself is read and written through stockformer.rundir)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from stockformer.backtest.annualization import market_at
from stockformer.backtest.engine import BacktestResult, run_backtest
from stockformer.backtest.output import write_backtest
from stockformer.backtest.predictions import load_predictions
from stockformer.config import load_config
from stockformer.data.store import load_panel
from stockformer.errors import DataError, RunError
from stockformer.rundir import (
    BACKTEST_DIR,
    CONFIG_FILE,
    EXTERNAL_NAME,
    PREDICTIONS_FILE,
    external_run_dir,
    load_run_config,
    run_warnings,
    save_run_config,
    write_predictions,
)


def load_benchmark(path: str | Path) -> pl.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: benchmark file not found")
    try:
        frame = pl.read_parquet(path) if path.suffix.lower() == ".parquet" else pl.read_csv(
            path, try_parse_dates=True)
    except Exception as err:
        raise DataError(f"{path}: cannot read benchmark ({type(err).__name__})") from None
    if not {"date", "close"} <= set(frame.columns):
        raise DataError(f"{path}: benchmark needs columns date, close")
    return frame


def backtest_run(
    run_dir: str | Path,
    overrides: dict[str, Any] | None = None,
    *,
    predictions: str | Path | None = None,
    data: str | Path | None = None,
) -> BacktestResult:
    """Read run_dir/config.yaml (+ dotted overrides), the run's predictions and the panel at
    cfg.data.path; run; write run_dir/backtest/."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: run directory not found")
    cfg_path = run_dir / CONFIG_FILE
    # the run's input paths found from any folder, older runs' relative ones included
    cfg = load_run_config(run_dir, overrides) if cfg_path.is_file() else load_config(None, overrides)
    pred_path = Path(predictions) if predictions else run_dir / PREDICTIONS_FILE
    if not pred_path.is_file():
        raise RunError(f"{pred_path}: predictions not found (is the run complete?)")
    preds = load_predictions(pred_path)

    panel = load_panel(data or cfg.data.path)
    bench = load_benchmark(cfg.backtest.benchmark) if cfg.backtest.benchmark else None
    result = run_backtest(preds, panel, cfg.backtest, bench,
                          market=market_at(data or cfg.data.path), calendar=cfg.job.calendar)
    # the run's own warnings (metrics.json) describe its own predictions, not a --predictions file
    write_backtest(result, run_dir / BACKTEST_DIR, None if predictions else run_warnings(run_dir))
    return result


def backtest_external(
    predictions: str | Path,
    data: str | Path,
    overrides: dict[str, Any] | None = None,
    *,
    runs_dir: str | Path = "runs",
) -> tuple[Path, BacktestResult]:
    """Backtest a predictions file (long, wide or qlib pred.pkl) on a dataset, without a training
    run. Everything is read and computed before the folder is made, so bad input leaves nothing;
    the folder then holds config.yaml (input paths absolute), predictions.parquet and backtest/."""
    cfg = load_config(None, {**(overrides or {}), "name": EXTERNAL_NAME, "data.path": str(data)})
    preds = load_predictions(predictions)

    panel = load_panel(cfg.data.path)
    bench = load_benchmark(cfg.backtest.benchmark) if cfg.backtest.benchmark else None
    result = run_backtest(preds, panel, cfg.backtest, bench,
                          market=market_at(cfg.data.path), calendar=cfg.job.calendar)
    result.summary["settings"]["predictions_file"] = str(Path(predictions).resolve())
    run_dir = external_run_dir(runs_dir)
    save_run_config(run_dir, cfg)
    write_predictions(run_dir, preds)
    write_backtest(result, run_dir / BACKTEST_DIR)
    return run_dir, result
