"""Reading run directories (runs/<id>/) defensively: every problem becomes a RunError
with one line naming the file and what is wrong, so one broken run never breaks the page."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from stockformer import io
from stockformer.config import Config
from stockformer.dashboard.paths import safe_child, safe_run_path
from stockformer.errors import RunError, StockformerError
from stockformer.run_config import load_run_config

PREDICTION_COLUMNS = ("date", "symbol", "score", "pred_return", "prob_up")
EQUITY_COLUMNS = ("date", "strategy", "benchmark", "excess")
POSITION_COLUMNS = ("date", "symbol", "shares", "weight", "value")
TRADE_COLUMNS = (
    "date", "symbol", "side", "shares", "price", "value", "commission", "stamp_duty", "slippage",
)
COMPARISON_COLUMNS = ("model",)

# files a run shows, relative to its directory, with the columns each must have
ARTIFACTS: dict[str, tuple[str, ...]] = {
    "predictions.parquet": PREDICTION_COLUMNS,
    "backtest/equity.parquet": EQUITY_COLUMNS,
    "backtest/positions.parquet": POSITION_COLUMNS,
    "backtest/trades.parquet": TRADE_COLUMNS,
}


@dataclass
class RunInfo:
    """What the run browser shows for one folder; `error` set means it cannot be opened."""

    name: str
    path: Path
    mtime: float
    config: Config | None = None
    metrics: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None
    problems: list[str] = field(default_factory=list)  # missing optional pieces

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def is_comparison(self) -> bool:
        """A `stockformer compare` folder: a table of models, not a single trained run."""
        return self.metrics is None and (self.path / "comparison.csv").is_file()


def mtime_of(path: Path) -> float:
    """Modification time used as a cache key (0.0 when the file is missing)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def read_json(path: Path) -> dict[str, Any]:
    return io.read_json(path, RunError, "missing", dict)


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


def load_run(root: Path, name: str) -> RunInfo:
    """Config, metrics and backtest summary of one run; never raises for a broken run."""
    path = safe_run_path(root, name)
    info = RunInfo(name=name, path=path, mtime=mtime_of(path))
    try:
        cfg_path = safe_child(path, "config.yaml")
        if not cfg_path.is_file():
            raise RunError(f"{name}/config.yaml: missing (not a finished run directory)")
        try:
            info.config = load_run_config(path)  # data.path found from any folder
        except StockformerError as err:
            raise RunError(f"{name}/config.yaml: {err}") from None
        metrics_path = safe_child(path, "metrics.json")
        if not metrics_path.is_file():
            if (path / "comparison.csv").is_file():
                raise RunError(f"{name}: a `stockformer compare` folder; its table is on the Signal "
                               f"quality page, each model's own run is under {name}/models/")
            raise RunError(f"{name}/metrics.json: missing (training still running, or it failed)")
        info.metrics = read_json(metrics_path)
        for split in ("test", "validation"):
            if not isinstance(info.metrics.get(split), dict):
                raise RunError(f"{name}/metrics.json: no {split!r} section (training not finished?)")
    except RunError as err:
        info.error = str(err)
        return info
    try:
        info.summary = read_json(safe_child(path, "backtest/summary.json"))
    except RunError as err:
        info.problems.append(str(err))
    return info


def list_runs(root: Path) -> list[RunInfo]:
    """Every visible sub-folder of the runs root, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    infos = []
    for child in root.iterdir():
        if child.name.startswith(".") or not child.is_dir():
            continue
        try:
            infos.append(load_run(root, child.name))
        except RunError:
            continue  # a symlink leading outside the root is not ours to show
    return sorted(infos, key=lambda i: (-i.mtime, i.name))


def artifact(info: RunInfo, relative: str) -> pl.DataFrame:
    """One of ARTIFACTS of a run (RunError with the file name when missing or malformed)."""
    return read_table(safe_child(info.path, relative), ARTIFACTS[relative])


def headline(info: RunInfo) -> dict[str, Any]:
    """One row of the run browser table."""
    status = "ok" if info.ok else ("comparison" if info.is_comparison else "broken")
    row: dict[str, Any] = {"run": info.name, "status": status}
    metrics = info.metrics or {}
    if info.config is not None:
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


def run_warnings(info: RunInfo) -> list[str]:
    """The run's metrics.json "warnings" (e.g. a collapsed score); none for older runs."""
    found = (info.metrics or {}).get("warnings")
    return [str(w) for w in found] if isinstance(found, list) else []


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
