"""One day's prediction from a panel cut at that day: features over a short lookback with the
run's preprocessing, the run's graph and weights, the run's trade output and strategy.

Only rows dated <= `day` are ever read, so appending later data cannot change the result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from stockformer.errors import CheckpointError, DataError, StockformerError
from stockformer.factors.families import lookback as feature_lookback
from stockformer.factors.featureset import FeatureSet
from stockformer.factors.pipeline import build_features
from stockformer.jobs.outputs import build_table
from stockformer.jobs.run_model import load_graph, load_model
from stockformer.jobs.strategy import target_weights
from stockformer.rundir import RunInfo
from stockformer.signal.ensemble import mean_output
from stockformer.signal.trade_output import ensemble_trade_score

log = logging.getLogger(__name__)


class UniverseError(StockformerError):
    """Too few of the run's stocks trade on the day: a partial delivery or a new universe."""


@dataclass
class DayPrediction:
    day: date
    table: pl.DataFrame  # the predictions file (see jobs/outputs.py)
    data_cutoff: date
    picks: int
    skipped_new: list[str] = field(default_factory=list)  # trade today, not in the run universe
    skipped_history: list[str] = field(default_factory=list)  # in the universe, too little history
    missing: list[str] = field(default_factory=list)  # in the universe, no row today
    previous_date: date | None = None

    def summary(self) -> str:
        def few(xs: list[str]) -> str:
            return ", ".join(xs[:5]) + (f" (+{len(xs) - 5} more)" if len(xs) > 5 else "")

        parts = [f"{self.table.filter(pl.col('rank').is_not_null()).height} stocks ranked, "
                 f"{self.picks} picks"]
        if self.skipped_new:
            parts.append(f"skipped {len(self.skipped_new)} not in the run universe: "
                         f"{few(self.skipped_new)}")
        if self.skipped_history:
            parts.append(f"skipped {len(self.skipped_history)} with too little history: "
                         f"{few(self.skipped_history)}")
        if self.missing:
            parts.append(f"{len(self.missing)} run stocks without data today: {few(self.missing)}")
        return "; ".join(parts)


def require_not_before_start(panel: pl.DataFrame, day: date) -> None:
    """A date before the data's first day is a mistake in --date, not a late delivery."""
    first = panel["date"].min() if panel.height else None
    if first is not None and day < first:
        raise DataError(f"{day} is before the data begins ({first}): nothing to predict from")


def check_coverage(info: RunInfo, day: date, symbols: set[str]) -> list[str]:
    """The run's stocks without a row on `day`; UniverseError when fewer than
    job.min_coverage of the run's universe have one (a partial delivery or a new universe)."""
    missing = sorted(set(info.symbols) - symbols)
    n_run = len(info.symbols)
    covered = n_run - len(missing)
    need = info.config.job.min_coverage
    if covered == 0 or covered < need * n_run:
        raise UniverseError(
            f"only {covered} of the run's {n_run} stocks trade on {day} (needs {need:.0%}; "
            f"missing e.g. {', '.join(missing[:3])}): an incomplete delivery, or the universe "
            "changed (then retrain the model on the new universe)")
    return missing


def lookback_days(info: RunInfo) -> int:
    cfg = info.config
    return cfg.model.t1 + feature_lookback(cfg.features) + cfg.job.history_margin


def _reindex(fs: FeatureSet, symbols: list[str]) -> FeatureSet:
    """The FeatureSet on the run's symbol order; stocks absent from the data are all-invalid."""
    pos = {s: i for i, s in enumerate(fs.symbols)}
    idx = np.array([pos.get(s, -1) for s in symbols], dtype=np.int64)
    have = idx >= 0
    src = idx[have]

    def take(a: np.ndarray) -> np.ndarray:
        out = np.zeros((a.shape[0], len(symbols), *a.shape[2:]), dtype=a.dtype)
        out[:, have] = a[:, src]
        return out

    inds = None
    if fs.industries is not None:
        inds = [fs.industries[i] if i >= 0 else None for i in idx.tolist()]
    return FeatureSet(
        features=take(fs.features), returns=take(fs.returns), labels=take(fs.labels),
        mask=take(fs.mask), valid=take(fs.valid), dates=fs.dates, symbols=list(symbols),
        feature_names=fs.feature_names, industries=inds, label_lag=fs.label_lag,
        report=fs.report,
    )


def _pad_to_month_start(fs: FeatureSet, dates: pl.Series) -> FeatureSet:
    """Prepend empty rows back to the first trading day of the window's first month.

    The model's calendar input counts trading days from the start of each month *within the
    FeatureSet* (train/windows.py calendar_time), so a window cut mid-month would shift it;
    the padded rows are never part of the model's t1-day history.
    """
    first = np.datetime64(fs.dates[0], "D")
    month = first.astype("datetime64[M]").astype("datetime64[D]")
    all_days = dates.to_numpy().astype("datetime64[D]")
    pad = all_days[(all_days >= month) & (all_days < first)]
    if len(pad) == 0:
        return fs
    n, f = len(fs.symbols), len(fs.feature_names)

    def grow(a: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros((len(pad), *a.shape[1:]), a.dtype), a])

    return FeatureSet(
        features=np.concatenate([np.zeros((len(pad), n, f), np.float32), fs.features]),
        returns=grow(fs.returns), labels=grow(fs.labels), mask=grow(fs.mask),
        valid=grow(fs.valid), dates=np.concatenate([pad, fs.dates.astype("datetime64[D]")]),
        symbols=fs.symbols, feature_names=fs.feature_names, industries=fs.industries,
        label_lag=fs.label_lag, report=fs.report,
    )


def build_day_features(info: RunInfo, panel: pl.DataFrame, day: date) -> FeatureSet:
    """Features of the last t1 trading days up to `day`, on the run's universe and order."""
    cfg = info.config
    t1 = cfg.model.t1
    dates = panel.get_column("date").unique().sort()
    look = feature_lookback(cfg.features)
    need = t1 + look
    if len(dates) < need:
        raise DataError(f"the data has {len(dates)} trading days up to {day}; the run needs "
                        f"at least {need} (t1 {t1} + the factors' {look}-day history)")
    keep = dates.tail(lookback_days(info))
    window = panel.filter(pl.col("date") >= keep[0])
    fs = build_features(window, cfg.features, use_cache=False,
                        dates=slice(len(keep) - t1, len(keep)))
    fs = _pad_to_month_start(fs, dates)
    if info.feature_names is not None and list(fs.feature_names) != list(info.feature_names):
        raise CheckpointError(
            f"{info.path / 'feature_names.json'}: the run was trained on "
            f"{len(info.feature_names)} features, today's pipeline builds {len(fs.feature_names)} "
            "with different names: model/feature mismatch")
    return _reindex(fs, info.symbols)


def _model_outputs(info: RunInfo, fs: FeatureSet, device: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(pred_return, prob_up) of the last day from each ensemble member, member 0 first."""
    import torch

    from stockformer.train.trainer import predict  # lazy: torch

    graph = load_graph(info)
    anchors = np.array([len(fs.dates) - 1], dtype=np.int64)
    outs = []
    scale = float((info.metrics or {}).get("return_scale", 1.0))  # runs before it: unscaled
    for path in info.models or [info.path / "model.pt"]:
        model = load_model(info, len(fs.feature_names), graph, path)
        with torch.no_grad():
            out = predict(model, fs, anchors, graph, device=device, batch_size=1)
        outs.append((np.asarray(out.pred_return)[0] * scale, np.asarray(out.prob_up)[0]))
    return outs


def predict_day(
    info: RunInfo,
    panel: pl.DataFrame,
    day: date,
    previous: dict[str, float],
    *,
    device: str = "cpu",
) -> DayPrediction:
    """Rank the run's universe on `day` and derive target weights and orders vs `previous`."""
    cfg = info.config
    require_not_before_start(panel, day)
    panel = panel.filter(pl.col("date") <= day)  # nothing after the day, ever
    today = panel.filter(pl.col("date") == day)
    if today.height == 0:
        raise DataError(f"no rows for {day} in the data (it ends {panel['date'].max()}): the "
                        "source has not delivered this trading day yet")
    today_syms = set(today.get_column("symbol").to_list())
    skipped_new = sorted(today_syms - set(info.symbols))
    missing = check_coverage(info, day, today_syms)
    panel_u = panel.filter(pl.col("symbol").is_in(info.symbols))

    fs = build_day_features(info, panel_u, day)
    outs = _model_outputs(info, fs, device)
    valid = fs.valid[-1]
    # as train_run: the members' rank-averaged trade score, their mean return and probability
    score = ensemble_trade_score(info.trade_output, [p[None] for p, _ in outs],
                                 [q[None] for _, q in outs], valid[None])[0]
    pred, prob = mean_output([p for p, _ in outs]), mean_output([q for _, q in outs])

    # new listings: fewer rows than the run's min_history since the first one are not picked
    counts = dict(panel_u.group_by("symbol").len().iter_rows())
    min_hist = cfg.features.min_history
    eligible = np.array([bool(valid[i]) and counts.get(s, 0) >= min_hist and np.isfinite(score[i])
                         for i, s in enumerate(info.symbols)])
    skipped_history = sorted(s for i, s in enumerate(info.symbols)
                             if valid[i] and not eligible[i])
    idx = np.flatnonzero(eligible)
    syms = [info.symbols[i] for i in idx]
    weights = target_weights(syms, score[idx], previous, cfg.backtest)
    table = build_table(day, syms, score[idx], pred[idx], prob[idx], weights, previous)
    return DayPrediction(
        day=day, table=table, data_cutoff=day, picks=int((weights != 0).sum()),
        skipped_new=skipped_new, skipped_history=skipped_history, missing=missing,
    )
