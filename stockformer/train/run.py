"""One training run end to end: panel -> features -> split -> graph -> fit -> predict -> run dir.

Everything fitted (graph, model, the choice of which output to trade) sees the training and
validation periods only; the test period is touched once, for the final predictions.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from stockformer.config import Config, config_from_dict
from stockformer.data.store import load_panel
from stockformer.distributed import Executor, Shared, Task, run_tasks
from stockformer.errors import RunError
from stockformer.factors.featureset import FeatureSet
from stockformer.factors.pipeline import build_features
from stockformer.graph import build_graph
from stockformer.rundir import (
    GRAPH_FILE,
    MODEL_FILE,
    ensemble_size,
    member_dir,
    new_run_dir,
    save_run_config,
    write_metrics,
    write_predictions,
    write_universe,
)
from stockformer.signal.ensemble import mean_output
from stockformer.signal.metrics import daily_rank_ic, prediction_metrics
from stockformer.signal.trade_output import choose_trade_output, ensemble_trade_score, trade_score
from stockformer.train.collapse import collapse_warnings, trade_output_collapse
from stockformer.train.outcomes import data_key, load_outcome, run_key, save_outcome, window_key
from stockformer.train.progress import progress_logger
from stockformer.train.splits import make_splits
from stockformer.train.targets import return_scale

log = logging.getLogger(__name__)


@dataclass
class WindowOutcome:
    """What one split produced: predictions on validation and test anchors plus the fit record."""

    name: str
    val_anchors: np.ndarray
    val_pred: np.ndarray  # [A, N]
    val_prob: np.ndarray
    test_anchors: np.ndarray
    test_pred: np.ndarray
    test_prob: np.ndarray
    fit: object  # member 0's fit record
    graph: object
    # one per ensemble member (train.ensemble), member 0 first; val_pred .. test_prob above
    # are the members' mean (member 0's own outputs when there is one member)
    members: list[MemberOutput] = field(default_factory=list)
    return_scale: float = 1.0  # what the regression output was multiplied by (targets.return_scale)


@dataclass
class MemberOutput:
    """One ensemble member's raw outputs on a split's validation and test anchors."""

    seed: int
    val_pred: np.ndarray  # [A, N]
    val_prob: np.ndarray
    test_pred: np.ndarray
    test_prob: np.ndarray
    fit: object


def load_panel_for(cfg: Config) -> pl.DataFrame:
    """The configured panel, restricted to the configured dates and symbols."""
    panel = load_panel(cfg.data.path)
    if cfg.data.start is not None:
        panel = panel.filter(pl.col("date") >= cfg.data.start)
    if cfg.data.end is not None:
        panel = panel.filter(pl.col("date") <= cfg.data.end)
    if cfg.data.max_stocks is not None:
        keep = panel.get_column("symbol").unique().sort().head(cfg.data.max_stocks)
        panel = panel.filter(pl.col("symbol").is_in(keep.implode()))
    if panel.height == 0:
        raise RunError(f"{cfg.data.path}: no rows left after the data.start / data.end / max_stocks filters")
    return panel


def predictions_frame(
    fs: FeatureSet, anchors: np.ndarray, pred: np.ndarray, prob: np.ndarray, score: np.ndarray
) -> pl.DataFrame:
    """Long table of the predictions contract; only stocks that traded on the signal date."""
    a_idx, n_idx = np.nonzero(fs.valid[anchors])
    return pl.DataFrame(
        {
            "date": fs.dates[anchors][a_idx].astype("datetime64[D]"),
            "symbol": np.asarray(fs.symbols, dtype=object)[n_idx].astype(str),
            "score": score[a_idx, n_idx].astype(np.float64),
            "pred_return": pred[a_idx, n_idx].astype(np.float64),
            "prob_up": prob[a_idx, n_idx].astype(np.float64),
        }
    ).with_columns(pl.col("date").cast(pl.Date)).sort(["date", "symbol"])


def industries_asof(panel: pl.DataFrame, symbols: list[str], day) -> list[str | None] | None:
    """Each stock's last known industry on or before `day` (a graph fitted on the training
    period must not see a reclassification that happens later)."""
    if "industry" not in panel.columns:
        return None
    known = (
        panel.filter((pl.col("date") <= day) & pl.col("industry").is_not_null())
        .sort("date").group_by("symbol").agg(pl.col("industry").last())
    )
    lookup = dict(zip(known["symbol"].to_list(), known["industry"].to_list(), strict=True))
    return [lookup.get(s) for s in symbols]


def _check_memory(cfg: Config, fs: FeatureSet) -> None:
    from stockformer.model.baselines import NON_NEURAL  # lazy: torch
    from stockformer.train.memory import check_memory  # lazy: torch

    if cfg.model.name in NON_NEURAL:
        return
    from stockformer.train.device import resolve_device  # lazy: torch

    # the device the trainer will use ("cuda" on a machine without one: one line, not a crash)
    check_memory(cfg.model, len(fs.symbols), len(fs.feature_names), cfg.train.batch_size,
                 limit_gb=cfg.train.max_memory_gb, device=resolve_device(cfg.train.device).type)


def shuffled_labels(fs: FeatureSet, before: int, seed: int) -> FeatureSet:
    """A control: labels of days < `before` permuted across stocks within each day.

    The features keep their real relation to nothing, so a model trained on this should show
    a test IC near zero; test labels stay real so the test metrics are honest."""
    import dataclasses

    rng = np.random.default_rng(seed + 7919)
    labels = fs.labels.copy()
    for t in range(min(before, len(labels))):
        idx = np.flatnonzero(fs.mask[t])
        labels[t, idx] = labels[t, rng.permutation(idx)]
    return dataclasses.replace(fs, labels=labels)


@dataclass
class FitRecord:
    """What the run writer needs from a fit, without the model (crosses process boundaries)."""

    history: list
    best_epoch: int
    train_seconds: float
    parameters: int
    device: str


def _record(fit) -> FitRecord:
    return FitRecord(list(fit.history), int(fit.best_epoch), float(fit.train_seconds),
                     int(fit.parameters), str(fit.device))


def _window_worker(cfg_yaml: str, fs: FeatureSet, split, run_dir: str, threads: int | None,
                   industries: list[str | None] | None = None) -> WindowOutcome:
    """Fit one window: the task a local process or a Ray worker runs (no state shared with the
    driver but its arguments). `threads` fixes torch's threads (None: leave the process's)."""
    import torch  # lazy: torch
    import yaml

    if threads:
        torch.set_num_threads(threads)
    cfg = config_from_dict(yaml.safe_load(cfg_yaml), "walk-forward worker")
    return fit_window(fs, split, cfg, Path(run_dir), industries=industries)


@dataclass
class PreparedRun:
    """A run ready to fit: its config, folder, features, windows and their industries."""

    cfg: Config
    run_dir: Path
    fs: FeatureSet
    splits: list
    industries: list
    data_key: str  # of the features before any label shuffling (train/outcomes.py)
    started: float

    def window_dir(self, k: int) -> Path:
        return self.run_dir if len(self.splits) == 1 else self.run_dir / "windows" / f"w{k:02d}"


class WindowPlan:
    """The windows of one run still to fit (as named tasks) and the outcomes so far.

    A window finished by an earlier run into the same folder, with the same config and data
    (its saved key matches), is loaded instead of fitted; each new outcome is saved as it
    arrives (`finish`), so a failed or interrupted run keeps the windows it finished."""

    def __init__(self, prep: PreparedRun, *, threads: int | None, label: str = ""):
        self.prep = prep
        key = run_key(prep.cfg, prep.data_key)
        shared, cfg_yaml = Shared(prep.fs), prep.cfg.to_yaml()
        self.keys = [window_key(key, sp) for sp in prep.splits]
        self.outcomes: list[WindowOutcome | None] = []
        self.tasks: list[Task] = []
        self._window: list[int] = []  # task i fits window self._window[i]
        for k, split in enumerate(prep.splits):
            wdir = prep.window_dir(k)
            wdir.mkdir(parents=True, exist_ok=True)
            name = " ".join(p for p in (label, f"window w{k:02d}" if len(prep.splits) > 1 else "") if p)
            done = load_outcome(wdir, self.keys[k])
            self.outcomes.append(done)
            if done is not None:
                progress_logger().info("%s: finished by an earlier run, skipped", name or prep.run_dir)
                continue
            # absolute: a Ray worker's working directory is not this one
            args = (cfg_yaml, shared, split, str(wdir.absolute()), threads, prep.industries[k])
            self.tasks.append(Task(name or str(prep.run_dir), _window_worker, args, cpus=threads or 1))
            self._window.append(k)

    def finish(self, i: int, outcome: WindowOutcome) -> bool:
        """Save task i's outcome; True once every window of the run has one."""
        k = self._window[i]
        save_outcome(self.prep.window_dir(k), self.keys[k], outcome)
        self.outcomes[k] = outcome
        return self.complete

    @property
    def complete(self) -> bool:
        return all(o is not None for o in self.outcomes)


def fit_windows(prep: PreparedRun, executor: Executor, *, resume: bool = False) -> list[WindowOutcome]:
    """Fit every window; in this process, in local processes, or as Ray tasks.

    Walk-forward windows always run with one torch thread each, so a window's result does not
    depend on how many run side by side or where. A single split is fitted here, as before."""
    if len(prep.splits) == 1:
        return [fit_window(prep.fs, prep.splits[0], prep.cfg, prep.run_dir, resume=resume,
                           industries=prep.industries[0])]
    plan = WindowPlan(prep, threads=1)
    run_tasks(plan.tasks, plan.finish, executor, hint="; rerun with the same --run-dir to skip them")
    return plan.outcomes  # type: ignore[return-value]


def fit_window(fs: FeatureSet, split, cfg: Config, run_dir: Path, *, resume: bool = False,
               industries: list[str | None] | None = None) -> WindowOutcome:
    """Fit one split: train.ensemble members with seeds seed, seed+1, ... on the same graph
    (fitted with the run's seed) and data; member k >= 1 writes under ensemble/m<k>/."""
    from stockformer.model.baselines import NON_NEURAL, fit_predict_nonneural  # lazy: torch
    from stockformer.train.trainer import fit, predict  # lazy: torch

    members: list[MemberOutput] = []
    if cfg.model.name in NON_NEURAL:
        for k in range(ensemble_size(cfg)):
            mcfg = cfg if k == 0 else cfg.model_copy(update={"seed": cfg.seed + k})
            vp, vq, tp, tq, record = fit_predict_nonneural(cfg.model.name, fs, split, mcfg)
            members.append(MemberOutput(mcfg.seed, vp, vq, tp, tq, _record(record)))
        return _outcome(split.name, split.val, split.test, members, None)
    graph = build_graph(
        fs.returns, fs.valid, cfg.graph, fit_end=split.fit_end, seed=cfg.seed,
        industries=fs.industries if industries is None else industries,
    )
    batch = max(cfg.train.batch_size, 1)
    # pred_return in return units whatever the training target (the ordering is unchanged)
    scale = return_scale(fs.labels[split.train], fs.mask[split.train], cfg.train.target)
    val_anchors = test_anchors = None
    for k in range(ensemble_size(cfg)):
        mdir = member_dir(run_dir, k)
        mdir.mkdir(parents=True, exist_ok=True)
        result = fit(fs, split, graph, cfg.model, cfg.train, seed=cfg.seed + k, run_dir=mdir,
                     resume=resume)
        if k == 0:
            graph.save(run_dir / GRAPH_FILE)  # after fit: a refused resume keeps the run's graph
        val = predict(result.model, fs, split.val, graph, device=result.device, batch_size=batch)
        test = predict(result.model, fs, split.test, graph, device=result.device, batch_size=batch)
        val_anchors, test_anchors = val.anchors, test.anchors
        members.append(MemberOutput(cfg.seed + k, val.pred_return * scale, val.prob_up,
                                    test.pred_return * scale, test.prob_up, _record(result)))
        del result  # one member's model in memory at a time
    return _outcome(split.name, val_anchors, test_anchors, members, graph, scale)


def _outcome(name: str, val_anchors, test_anchors, members: list[MemberOutput], graph,
             scale: float = 1.0) -> WindowOutcome:
    def mean(attr: str) -> np.ndarray:
        return mean_output([getattr(m, attr) for m in members])

    return WindowOutcome(name, val_anchors, mean("val_pred"), mean("val_prob"), test_anchors,
                         mean("test_pred"), mean("test_prob"), members[0].fit, graph, members, scale)


def _metrics_block(fs: FeatureSet, anchors: np.ndarray, pred, prob, score, topk: int) -> dict:
    labels, mask = fs.labels[anchors], fs.mask[anchors]
    return prediction_metrics(pred, labels, mask, prob_up=prob, score=score, topk=topk)


def _collapse_block(fs: FeatureSet, trade_output: str, periods: dict) -> dict:
    """metrics.json's "collapse" (per period) and "warnings" (one line per collapsed component)."""
    collapse, messages = {}, []
    for period, (anchors, pred, prob) in periods.items():
        diag = trade_output_collapse(trade_output, pred, prob, fs.labels[anchors], fs.mask[anchors])
        collapse[period] = diag
        messages += collapse_warnings(diag, period)
    return {"collapse": collapse, "warnings": messages}


def _member_records(fs: FeatureSet, outcomes: list[WindowOutcome], trade_output: str,
                    n_members: int) -> list[dict]:
    """metrics.json's "ensemble_members": each member's seed, where its files are, its own
    traded score's mean daily RankIC (windows pooled) and its best epoch (last window)."""
    out = []
    for k in range(n_members):
        rec: dict = {"member": k, "seed": int(outcomes[0].members[k].seed),
                     "dir": "." if k == 0 else f"ensemble/m{k}"}
        for period in ("validation", "test"):
            attr = "val" if period == "validation" else "test"
            anchors = np.concatenate([getattr(o, f"{attr}_anchors") for o in outcomes])
            score = np.concatenate([
                trade_score(trade_output, getattr(o.members[k], f"{attr}_pred"),
                            getattr(o.members[k], f"{attr}_prob"), fs.valid[getattr(o, f"{attr}_anchors")])
                for o in outcomes])
            ric = daily_rank_ic(score, fs.labels[anchors], fs.mask[anchors])
            rec[f"{period}_rank_ic"] = float(np.nanmean(ric)) if np.isfinite(ric).any() else float("nan")
        rec["best_epoch"] = int(outcomes[-1].members[k].fit.best_epoch)
        out.append(rec)
    return out


def load_features(cfg: Config) -> tuple[pl.DataFrame, FeatureSet]:
    """The configured panel and its features (what several runs on the same data share)."""
    panel = load_panel_for(cfg)
    return panel, build_features(panel, cfg.features)


def prepare_run(cfg: Config, *, run_dir: str | Path | None = None, walkforward: bool = False,
                data: tuple[pl.DataFrame, FeatureSet] | None = None) -> PreparedRun:
    """Features, splits (one, or every rolling window when `walkforward`) and the run folder.
    `data`: the panel and features already built from this config's data and features."""
    started = time.perf_counter()
    panel, fs = data if data is not None else load_features(cfg)
    splits = make_splits(fs.dates, cfg.split, t1=cfg.model.t1, t2=cfg.model.t2, label_lag=fs.label_lag)
    if not splits:
        raise RunError("the split configuration produced no window: the panel is too short")
    if not walkforward:
        splits = splits[:1]
    _check_memory(cfg, fs)
    key = data_key(fs)
    if cfg.train.shuffle_labels:
        fs = shuffled_labels(fs, before=int(min(s.test.min() for s in splits)), seed=cfg.seed)
    run_dir = Path(run_dir) if run_dir else new_run_dir(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    # industries as of each window's training end, for an industry graph without look-ahead
    industries = [industries_asof(panel, fs.symbols, fs.dates[s.fit_end]) for s in splits]
    return PreparedRun(cfg, run_dir, fs, splits, industries, key, started)


def train_run(
    cfg: Config,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    walkforward: bool = False,
    workers: int = 1,
    ray_address: str | None = None,
) -> Path:
    """Train (one split, or every rolling window when `walkforward`), predict, write the run dir.
    Windows run in `workers` local processes, or as Ray tasks when `ray_address` is given."""
    prep = prepare_run(cfg, run_dir=run_dir, walkforward=walkforward)
    outcomes = fit_windows(prep, Executor(ray=ray_address, workers=workers), resume=resume)
    return finish_run(prep, outcomes)


def finish_run(prep: PreparedRun, outcomes: list[WindowOutcome]) -> Path:
    """Pool the windows' outcomes: predictions, metrics and the headline model in the run dir."""
    cfg, fs, splits, run_dir, started = prep.cfg, prep.fs, prep.splits, prep.run_dir, prep.started
    # written after fitting: a refused --resume (checkpoint from another config) must leave
    # the run's config and universe as they were
    # input paths stored absolute: the run is read later from folders other than this one
    stored = save_run_config(run_dir, cfg)
    # the model is tied to this universe and feature order; the daily job checks against them
    write_universe(run_dir, fs.symbols, fs.feature_names)
    if len(splits) > 1:  # the walk-forward run's headline model is the last window's
        import shutil

        last = run_dir / "windows" / f"w{len(splits) - 1:02d}"
        for name in (MODEL_FILE, GRAPH_FILE):
            if (last / name).exists():
                shutil.copy2(last / name, run_dir / name)
        for k in range(1, len(outcomes[-1].members)):  # and so are its ensemble members
            src, dst = member_dir(last, k) / MODEL_FILE, member_dir(run_dir, k) / MODEL_FILE
            if src.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)

    topk = cfg.backtest.topk
    # the trade output is chosen on validation data of every window, pooled
    val_a = np.concatenate([o.val_anchors for o in outcomes])
    val_pred = np.concatenate([o.val_pred for o in outcomes])
    val_prob = np.concatenate([o.val_prob for o in outcomes])
    n_members = len(outcomes[0].members)

    def member_cat(k: int, attr: str) -> np.ndarray:  # member k's output, windows pooled
        return np.concatenate([getattr(o.members[k], attr) for o in outcomes])

    trade_output, val_choice = choose_trade_output(
        [member_cat(k, "val_pred") for k in range(n_members)],
        [member_cat(k, "val_prob") for k in range(n_members)],
        fs.labels[val_a], fs.mask[val_a], cfg.train.trade_output,
    )
    frames, per_window, test_scores, val_scores = [], [], [], []
    for o in outcomes:
        # the traded score: the members' rank average (one member: its own score, unchanged)
        t_score = ensemble_trade_score(trade_output, [m.test_pred for m in o.members],
                                       [m.test_prob for m in o.members], fs.valid[o.test_anchors])
        v_score = ensemble_trade_score(trade_output, [m.val_pred for m in o.members],
                                       [m.val_prob for m in o.members], fs.valid[o.val_anchors])
        test_scores.append(t_score)
        val_scores.append(v_score)
        frames.append(predictions_frame(fs, o.test_anchors, o.test_pred, o.test_prob, t_score))
        per_window.append({
            "window": o.name,
            "test_start": str(fs.dates[o.test_anchors[0]]),
            "test_end": str(fs.dates[o.test_anchors[-1]]),
            "test": _metrics_block(fs, o.test_anchors, o.test_pred, o.test_prob, t_score, topk),
            "validation": _metrics_block(fs, o.val_anchors, o.val_pred, o.val_prob, v_score, topk),
            "best_epoch": o.fit.best_epoch,
            "train_seconds": float(sum(m.fit.train_seconds for m in o.members)),
        })
    preds = pl.concat(frames).unique(["date", "symbol"], keep="last").sort(["date", "symbol"])
    write_predictions(run_dir, preds)

    # scores are per day (row-wise blend), so the windows' scores concatenate to the whole
    test_a = np.concatenate([o.test_anchors for o in outcomes])
    test_pred = np.concatenate([o.test_pred for o in outcomes])
    test_prob = np.concatenate([o.test_prob for o in outcomes])
    test_score = np.concatenate(test_scores)
    val_score = np.concatenate(val_scores)
    last_fit = outcomes[-1].fit
    metrics = {
        "test": _metrics_block(fs, test_a, test_pred, test_prob, test_score, topk),
        "validation": _metrics_block(fs, val_a, val_pred, val_prob, val_score, topk),
        "trade_output": trade_output,
        "trade_output_validation_rank_ic": val_choice,
        # the headline (last window's) model's regression output times this is pred_return;
        # the daily job applies the same factor
        "return_scale": float(outcomes[-1].return_scale),
        "epochs": int(len(last_fit.history)),
        "best_epoch": int(last_fit.best_epoch),
        "train_seconds": float(sum(m.fit.train_seconds for o in outcomes for m in o.members)),
        "wall_seconds": float(time.perf_counter() - started),
        "parameters": int(last_fit.parameters),
        "device": str(last_fit.device),
        "model": cfg.model.name,
        "seed": cfg.seed,
        "ensemble": n_members,
        "ensemble_members": _member_records(fs, outcomes, trade_output, n_members),
        "data": {
            "path": stored.data.path,
            "stocks": len(fs.symbols),
            "days": len(fs.dates),
            "start": str(fs.dates[0]),
            "end": str(fs.dates[-1]),
            "test_start": str(fs.dates[test_a.min()]),
            "test_end": str(fs.dates[test_a.max()]),
            "features": len(fs.feature_names),
        },
        "windows": per_window,
    }
    metrics.update(_collapse_block(fs, trade_output, {"test": (test_a, test_pred, test_prob),
                                                      "validation": (val_a, val_pred, val_prob)}))
    write_metrics(run_dir, metrics)
    return run_dir
