"""Export a run's predictions for other tools: qlib's pred.pkl (a pandas DataFrame indexed by
(datetime, instrument) with one `score` column, as qlib's recorder writes it), which
`load_predictions` reads back to the same (date, symbol, score) table."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from stockformer.backtest.predictions import load_predictions
from stockformer.errors import RunError
from stockformer.io import atomic_write

EXPORT_FORMATS = ("qlib",)
QLIB_FILE = "pred.pkl"


def qlib_frame(predictions: pl.DataFrame):
    """(date, symbol, score) rows -> pandas DataFrame, MultiIndex (datetime, instrument), `score`."""
    import pandas as pd

    flat = predictions.select("date", "symbol", "score").to_pandas()
    flat["date"] = pd.to_datetime(flat["date"])  # qlib's datetime level is datetime64[ns]
    flat = flat.rename(columns={"date": "datetime", "symbol": "instrument"})
    return flat.set_index(["datetime", "instrument"]).sort_index()


def export_qlib(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write run_dir/predictions.parquet as qlib's pred.pkl (default run_dir/pred.pkl)."""
    run_dir = Path(run_dir)
    source = run_dir / "predictions.parquet"
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: run directory not found")
    if not source.is_file():
        raise RunError(f"{source}: predictions not found (is the run complete?)")
    frame = qlib_frame(load_predictions(source))
    target = Path(out) if out is not None else run_dir / QLIB_FILE
    # the temp file's .tmp suffix must not make pandas guess a compression
    return atomic_write(target, lambda tmp: frame.to_pickle(tmp, compression=None))
