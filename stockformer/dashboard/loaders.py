"""Cached loads. Every heavy read goes through st.cache_data with the file's modification
time as an argument, so a rewritten file (a new backtest, tomorrow's picks) is re-read
while an unchanged one costs nothing on the next rerun of the script."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from stockformer.backtest.annualization import market_at
from stockformer.config import BacktestConfig
from stockformer.dashboard import analytics
from stockformer.dashboard.rerun import rerun_backtest
from stockformer.dashboard.runs import ARTIFACTS, read_table
from stockformer.data.store import load_panel
from stockformer.errors import DataError
from stockformer.rundir import (
    CONFIG_FILE,
    METRICS_FILE,
    PREDICTIONS_FILE,
    SUMMARY_FILE,
    TRIALS_FILE,
    RunInfo,
    list_runs,
    mtime_of,
)

_TTL = 3600  # seconds; bounds memory for a dashboard left open all day


def runs_signature(root: Path) -> tuple[tuple[str, float, float, float, float], ...]:
    """Cheap stat-only fingerprint of the runs root: changes when a run is added or rewritten."""
    if not root.is_dir():
        return ()
    sig = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            sig.append(
                (
                    child.name,
                    mtime_of(child / CONFIG_FILE),
                    mtime_of(child / METRICS_FILE),
                    mtime_of(child / SUMMARY_FILE),
                    mtime_of(child / TRIALS_FILE),  # a tune study grows trial by trial
                )
            )
    return tuple(sig)


@st.cache_data(ttl=_TTL, show_spinner=False)
def _runs(root: str, signature: tuple) -> list[RunInfo]:
    return list_runs(Path(root))


def runs(root: Path) -> list[RunInfo]:
    return _runs(str(root), runs_signature(root))


@st.cache_data(ttl=_TTL, show_spinner=False, max_entries=64)
def _table(path: str, mtime: float, columns: tuple[str, ...]) -> pl.DataFrame:
    return read_table(Path(path), columns)


def artifact(info: RunInfo, relative: str) -> pl.DataFrame:
    """A run's table (RunError naming the file when it is missing or malformed)."""
    path = info.path / relative
    return _table(str(path), mtime_of(path), ARTIFACTS[relative])


def table(path: Path, columns: tuple[str, ...]) -> pl.DataFrame:
    return _table(str(path), mtime_of(path), columns)


def panel_file(path: str) -> Path:
    """The file whose mtime stands for a panel: dataset dir -> its panel.parquet."""
    p = Path(path)
    return p / "panel.parquet" if p.is_dir() else p


@st.cache_data(ttl=_TTL, show_spinner="Loading the panel...", max_entries=4)
def _panel(path: str, mtime: float) -> pl.DataFrame:
    if mtime == 0.0:
        raise DataError(f"{path}: panel not found (the run's data.path)")
    return load_panel(path)


def panel(path: str) -> pl.DataFrame:
    return _panel(path, mtime_of(panel_file(path)))


@st.cache_data(ttl=_TTL, show_spinner="Computing daily IC...", max_entries=16)
def _signal(
    pred_path: str, pred_mtime: float, panel_path: str, panel_mtime: float, horizon: int, price: str
) -> tuple[pl.DataFrame, list[float]]:
    preds = _table(pred_path, pred_mtime, ARTIFACTS[PREDICTIONS_FILE])
    labels = analytics.realised_labels(_panel(panel_path, panel_mtime), horizon, price)
    labels = labels.filter(pl.col("date").is_between(preds["date"].min(), preds["date"].max()))
    return analytics.signal_series(preds, labels), analytics.quantile_returns(preds, labels)


def signal(info: RunInfo) -> tuple[pl.DataFrame, list[float]]:
    """Daily IC / RankIC / accuracy and quantile returns of a run's predictions against the
    labels realised in its panel. Raises StockformerError when either is unavailable."""
    assert info.config is not None
    pred = info.path / PREDICTIONS_FILE
    data_path = info.config.data.path
    feats = info.config.features
    return _signal(
        str(pred), mtime_of(pred), data_path, mtime_of(panel_file(data_path)),
        feats.label_horizon, feats.label_price,
    )


@st.cache_data(ttl=_TTL, show_spinner="Re-running the backtest...", max_entries=32)
def _rerun(
    pred_path: str, pred_mtime: float, panel_path: str, panel_mtime: float, cfg_json: str,
    market: str | None = None, calendar: str | None = None,
) -> dict[str, Any]:
    preds = _table(pred_path, pred_mtime, ARTIFACTS[PREDICTIONS_FILE])
    cfg = BacktestConfig.model_validate_json(cfg_json)
    return rerun_backtest(preds, _panel(panel_path, panel_mtime), cfg, market=market,
                          calendar=calendar)


def rerun(info: RunInfo, cfg: BacktestConfig) -> dict[str, Any]:
    """The run's predictions through the project's backtester with other settings."""
    assert info.config is not None
    pred = info.path / PREDICTIONS_FILE
    data_path = info.config.data.path
    return _rerun(str(pred), mtime_of(pred), data_path, mtime_of(panel_file(data_path)),
                  cfg.model_dump_json(), market_at(data_path), info.config.job.calendar)

