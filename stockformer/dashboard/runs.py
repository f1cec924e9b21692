"""The run browser's view of run directories (stockformer.rundir reads them): the tables a page
shows, each checked for the columns it needs, and one summary row per run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from stockformer.errors import RunError
from stockformer.rundir import PREDICTIONS_FILE, RunInfo, safe_child
from stockformer.signal.predictions import PREDICTION_COLUMNS

EQUITY_COLUMNS = ("date", "strategy", "benchmark", "excess")
POSITION_COLUMNS = ("date", "symbol", "shares", "weight", "value")
TRADE_COLUMNS = (
    "date", "symbol", "side", "shares", "price", "value", "commission", "stamp_duty", "slippage",
)
COMPARISON_COLUMNS = ("model",)

# files a run shows, relative to its directory, with the columns each must have
ARTIFACTS: dict[str, tuple[str, ...]] = {
    PREDICTIONS_FILE: PREDICTION_COLUMNS,
    "backtest/equity.parquet": EQUITY_COLUMNS,
    "backtest/positions.parquet": POSITION_COLUMNS,
    "backtest/trades.parquet": TRADE_COLUMNS,
}


def read_table(path: Path, columns: tuple[str, ...]) -> pl.DataFrame:
    """A Parquet (or CSV) table with at least `columns`; RunError on anything else."""
    if not path.is_file():
        raise RunError(f"{path}: missing")
    try:
        frame = pl.read_csv(path, try_parse_dates=True) if path.suffix == ".csv" else pl.read_parquet(path)
    except Exception as err:  # polars raises several unrelated types for unreadable files
        raise RunError(f"{path}: cannot be read ({type(err).__name__})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RunError(f"{path}: missing columns {', '.join(missing)}")
    if "date" in frame.columns and frame.schema["date"] != pl.Date:
        try:
            frame = frame.with_columns(pl.col("date").cast(pl.Date))
        except Exception:
            raise RunError(f"{path}: column date is not a date") from None
    return frame


def artifact(info: RunInfo, relative: str) -> pl.DataFrame:
    """One of ARTIFACTS of a run (RunError with the file name when missing or malformed)."""
    return read_table(safe_child(info.path, relative), ARTIFACTS[relative])


def headline(info: RunInfo) -> dict[str, Any]:
    """One row of the run browser table."""
    status = "ok" if info.ok else ("broken" if info.is_trained else info.kind)
    row: dict[str, Any] = {"run": info.name, "status": status}
    metrics = info.metrics or {}
    if info.is_external:
        row["model"] = "outside predictions"  # the stored config's model trained nothing
    elif info.config is not None:
        row["model"] = info.config.model.name
        if isinstance(metrics.get("ensemble"), int) and metrics["ensemble"] > 1:
            row["model"] += f":ens{metrics['ensemble']}"  # a seed ensemble, named as in compare
    data = metrics.get("data") if isinstance(metrics.get("data"), dict) else {}
    row["data"] = str(data.get("path", info.config.data.path if info.config else ""))
    row["start"] = str(data.get("start", ""))
    row["end"] = str(data.get("end", ""))
    row["stocks"] = data.get("stocks")
    test = metrics.get("test") if isinstance(metrics.get("test"), dict) else {}
    for key in ("ic", "rank_ic", "icir", "rank_icir", "accuracy", "majority_rate"):
        row[f"test_{key}"] = _num(test.get(key))
    summary = info.summary or {}
    for key in ("annualized_return", "sharpe", "max_drawdown"):
        row[key] = _num(summary.get(key))
    row["problem"] = info.error or "; ".join(info.problems)
    return row


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def trials_view(trials: pl.DataFrame) -> pd.DataFrame:
    """A tune folder's trials table for display: completed trials best first, then the
    pruned and failed ones by number; empty columns (no trial failed) left out."""
    done = trials.filter(pl.col("state") == "complete").sort("value", descending=True)
    rest = trials.filter(pl.col("state") != "complete").sort("number")
    frame = pl.concat([done, rest], how="diagonal_relaxed")
    keep = [c for c in frame.columns if frame[c].null_count() < frame.height or c in ("value",)]
    return frame.select(keep).to_pandas()
