"""Signal quality of a predictions table on a panel, without trading it.

The headline metrics are the backtest's own prediction section (same label: a score known at the
close of t is judged on the return from the fill on t + 1 to the fill on t + 2), so
`stockformer evaluate` and `stockformer backtest` report the same IC for the same file; the
IC decay over longer lags is stockformer.signal.decay's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from stockformer.backtest.costs import resolve_costs
from stockformer.backtest.engine import _prediction_section, prepare
from stockformer.backtest.output import _json_safe
from stockformer.config import BacktestConfig
from stockformer.io import write_json, write_parquet
from stockformer.rundir import DAILY_IC_FILE, SIGNAL_FILE
from stockformer.signal.decay import IC_DECAY_LAGS, ic_decay
from stockformer.signal.predictions import check_predictions


@dataclass
class SignalReport:
    metrics: dict  # signal.metrics.prediction_metrics keys (IC, RankIC, IRs, t-stats, accuracy...)
    decay: list[dict]  # one row per lag: lag, ic, rank_ic, icir, rank_icir, days
    daily: pl.DataFrame  # date, ic, rank_ic (lag 1)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"metrics": self.metrics, "ic_decay": self.decay, "settings": self.settings}


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
    write_parquet(out / DAILY_IC_FILE, report.daily)
    return out
