"""Signal quality of a predictions table on a panel, without trading it.

The headline metrics are the backtest's own prediction section (same label: a score known at the
close of t is judged on the return from the fill on t + 1 to the fill on t + 2), so
`stockformer evaluate` and `stockformer backtest` report the same IC for the same file.
IC decay: the score of day t against the one-day return `lag` days later (from the fill on
t + lag to the fill on t + lag + 1); lag 1 is the headline label. A signal whose IC holds up at
lag 5-20 carries slow information; one that vanishes after lag 1 must be traded daily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from stockformer.backtest.costs import resolve_costs
from stockformer.backtest.engine import _prediction_section, prepare
from stockformer.backtest.output import _json_safe
from stockformer.backtest.predictions import check_predictions
from stockformer.config import BacktestConfig
from stockformer.io import write_json, write_parquet
from stockformer.train.metrics import daily_ic, daily_rank_ic, series_stats

IC_DECAY_LAGS = (1, 5, 10, 20)
SIGNAL_FILE = "signal.json"
DAILY_FILE = "daily_ic.parquet"


@dataclass
class SignalReport:
    metrics: dict  # train.metrics.prediction_metrics keys (IC, RankIC, IRs, t-stats, accuracy...)
    decay: list[dict]  # one row per lag: lag, ic, rank_ic, icir, rank_icir, days
    daily: pl.DataFrame  # date, ic, rank_ic (lag 1)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"metrics": self.metrics, "ic_decay": self.decay, "settings": self.settings}


def lagged_labels(fill_price: np.ndarray, lag: int) -> np.ndarray:
    """label[t] = return from the fill on t + lag to the fill on t + lag + 1 (NaN where unknown)."""
    out = np.full_like(fill_price, np.nan)
    known = len(out) - lag - 1
    if known > 0:
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:known] = fill_price[lag + 1 :] / fill_price[lag:-1] - 1.0
    return out


def ic_decay(scores: np.ndarray, fill_price: np.ndarray, rows: slice,
             lags: tuple[int, ...] = IC_DECAY_LAGS) -> list[dict]:
    """Mean daily IC / RankIC (and their IRs) of the score rows against each lag's label."""
    sc = scores[rows]
    out = []
    for lag in lags:
        label = lagged_labels(fill_price, lag)[rows]
        mask = np.isfinite(sc) & np.isfinite(label)
        ic, icir, _ = series_stats(daily_ic(sc, label, mask))
        ric_series = daily_rank_ic(sc, label, mask)
        ric, ricir, _ = series_stats(ric_series)
        out.append({"lag": lag, "ic": ic, "rank_ic": ric, "icir": icir, "rank_icir": ricir,
                    "days": int(np.isfinite(ric_series).sum())})
    return out


def _accuracy_source(columns: list[str]) -> str:
    if "prob_up" in columns:
        return "prob_up > 0.5"
    return "pred_return > 0" if "pred_return" in columns else "score > 0"


def evaluate_signal(
    predictions: pl.DataFrame,
    panel: pl.DataFrame,
    *,
    fill: str = "close",
    topk: int = 5,
    lags: tuple[int, ...] = IC_DECAY_LAGS,
) -> SignalReport:
    """The signal metrics alone: IC / RankIC / ICIR / t-stats, accuracy beside the majority-class
    rate, quintile returns, top-k hit rate and IC decay over `lags`."""
    predictions = check_predictions(predictions)
    cfg = BacktestConfig(fill_price=fill, topk=topk)  # type: ignore[arg-type]
    sim, market, scores, info = prepare(predictions, panel, cfg, resolve_costs(cfg.costs))
    fill_grid = info["fill_price_grid"]
    metrics, daily = _prediction_section(market, scores, info["extra_grids"], fill_grid,
                                         sim.window, topk)
    s0, end = sim.window
    settings = {
        "fill_price": fill,
        "topk": topk,
        "start": str(market.dates[s0]),
        "end": str(market.dates[end - 1]),
        "stocks": len(market.symbols),
        "accuracy_from": _accuracy_source(predictions.columns),
        "unknown_symbol_rows": info["unknown_symbol_rows"],
        "after_panel_rows": info["after_panel_rows"],
    }
    return SignalReport(metrics, ic_decay(scores, fill_grid, slice(s0, end), lags), daily, settings)


def write_signal(report: SignalReport, out_dir: str | Path) -> Path:
    """out_dir/signal.json (metrics, IC decay, settings) and out_dir/daily_ic.parquet."""
    out = Path(out_dir)
    write_json(out / SIGNAL_FILE, _json_safe(report.to_dict()))
    write_parquet(out / DAILY_FILE, report.daily)
    return out
