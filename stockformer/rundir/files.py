"""A run's own files, written atomically and read back with every problem one RunError line
naming the file: the universe, the metrics, the predictions, the weights' hash."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import polars as pl

from stockformer.errors import RunError
from stockformer.io import read_json, write_json, write_parquet
from stockformer.rundir.layout import FEATURES_FILE, METRICS_FILE, PREDICTIONS_FILE, SYMBOLS_FILE


def read_run_json(path: Path, what: str, kind: type | None = None) -> Any:
    return read_json(path, RunError, f"missing ({what}); is this a complete run directory?", kind)


def write_universe(run_dir: str | Path, symbols: list[str], feature_names: list[str]) -> None:
    """symbols.json and feature_names.json: the stocks and feature order the model is tied to
    (the daily job checks today's data against them)."""
    write_json(Path(run_dir) / SYMBOLS_FILE, list(symbols))
    write_json(Path(run_dir) / FEATURES_FILE, list(feature_names))


def read_symbols(run_dir: Path) -> list[str]:
    path = run_dir / SYMBOLS_FILE
    symbols = read_run_json(path, "the model's symbol list")
    if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
        raise RunError(f"{path}: expected a non-empty list of symbols")
    return symbols


def read_feature_names(run_dir: Path) -> list[str] | None:
    """None for a run that did not record them."""
    path = run_dir / FEATURES_FILE
    return read_run_json(path, "feature names") if path.is_file() else None


def write_metrics(run_dir: str | Path, metrics: dict[str, Any]) -> Path:
    return write_json(Path(run_dir) / METRICS_FILE, metrics)


def read_metrics(run_dir: Path) -> dict[str, Any]:
    return read_run_json(run_dir / METRICS_FILE, "the run's metrics and trade output", dict)


def write_predictions(run_dir: str | Path, predictions: pl.DataFrame) -> Path:
    """predictions.parquet: the predictions contract (stockformer.signal.predictions)."""
    return write_parquet(Path(run_dir) / PREDICTIONS_FILE, predictions)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_hash(models: list[Path]) -> str:
    """sha256 of model.pt; an ensemble's: of its members' sha256s, in order."""
    hashes = [sha256_file(m) for m in models]
    return hashes[0] if len(hashes) == 1 else hashlib.sha256("\n".join(hashes).encode()).hexdigest()
