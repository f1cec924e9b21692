"""Model comparison: every model on the same data, splits and backtest, over several seeds.

Writes `<out>/comparison.csv` (one row per model and seed), `<out>/comparison.md` (mean +- std
over seeds) and one run directory per model and seed under `<out>/models/`.

A model entry is `NAME[:ensK][:shuffled]` (the suffixes in either order, each at most once):
`:shuffled` trains on label-shuffled data (the control), `:ensK` makes that entry a seed
ensemble of K members (train.ensemble = K, seeds seed .. seed+K-1, scores rank-averaged).
Without `:ensK` an entry uses the config's train.ensemble. The row keeps the suffixes in its
model name, e.g. `stockformer:ens3`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import numpy as np
import polars as pl

from stockformer.backtest import backtest_run
from stockformer.config import Config
from stockformer.distributed import Executor, run_tasks
from stockformer.errors import ConfigError
from stockformer.io import write_parquet, write_text
from stockformer.train.outcomes import data_key, load_row, run_key, save_row
from stockformer.train.progress import progress_logger
from stockformer.train.run import PreparedRun, WindowPlan, finish_run, load_features, prepare_run

log = logging.getLogger(__name__)

SHUFFLED_SUFFIX = ":shuffled"  # e.g. "stockformer:shuffled" = the label-shuffled control
ENSEMBLE_SUFFIX = re.compile(r"ens([1-9][0-9]*)")  # e.g. "stockformer:ens3" = 3-seed ensemble
METRIC_COLUMNS = (
    "ic", "rank_ic", "icir", "rank_icir", "accuracy", "majority_rate",
    "annualized_return", "sharpe", "max_drawdown", "turnover", "train_seconds",
)


def known_models() -> set[str]:
    from stockformer.model.baselines import NEURAL_BASELINES, NON_NEURAL  # lazy: torch

    return {"stockformer", *NEURAL_BASELINES, *NON_NEURAL}


def parse_model_spec(model: str) -> tuple[str, bool, int | None]:
    """`NAME[:ensK][:shuffled]` (suffixes in either order) -> (name, shuffled, K or None)."""
    name, *tags = model.split(":")
    shuffled, ensemble = False, None
    for tag in tags:
        match = ENSEMBLE_SUFFIX.fullmatch(tag)
        if tag == SHUFFLED_SUFFIX[1:] and not shuffled:
            shuffled = True
        elif match and ensemble is None:
            ensemble = int(match.group(1))
        else:
            raise ConfigError(f"--models: bad suffix {':' + tag!r} in {model!r} (expected :shuffled "
                              "and/or :ensK with K >= 1, each once, e.g. stockformer:ens3:shuffled)")
    return name, shuffled, ensemble


def model_config(cfg: Config, model: str, seed: int) -> Config:
    name, shuffled, ensemble = parse_model_spec(model)
    if name not in known_models():
        raise ConfigError(f"--models: unknown model {name!r} (known: {', '.join(sorted(known_models()))})")
    out = cfg.model_copy(deep=True)
    out.name = f"{cfg.name}-{model.replace(':', '-')}-s{seed}"
    out.seed = seed
    out.model.name = name
    out.train.shuffle_labels = shuffled
    if ensemble is not None:  # otherwise the config's train.ensemble, for every entry
        out.train.ensemble = ensemble
    return out


def run_dir_for(out_dir: Path, model: str, seed: int) -> Path:
    return out_dir / "models" / f"{model.replace(':', '-')}-s{seed}"


def comparison_row(prep: PreparedRun, model: str, seed: int) -> dict:
    """Backtest a finished run and read its row of the table."""
    result = backtest_run(prep.run_dir)
    metrics = json.loads((prep.run_dir / "metrics.json").read_text())
    s = result.summary
    return {
        "model": model,
        "seed": seed,
        **{k: metrics["test"][k] for k in ("ic", "rank_ic", "icir", "rank_icir", "accuracy")},
        # what "always up" / "always down" would score: the floor the accuracy must beat
        "majority_rate": metrics["test"].get("majority_rate", float("nan")),
        "val_rank_ic": metrics["validation"]["rank_ic"],
        "trade_output": metrics["trade_output"],
        **{k: s[k] for k in ("annualized_return", "sharpe", "max_drawdown", "turnover")},
        "train_seconds": metrics["train_seconds"],
        "wall_seconds": time.perf_counter() - prep.started,
        "run_dir": str(prep.run_dir),
    }


def summarize(rows: pl.DataFrame) -> pl.DataFrame:
    """Mean and std over seeds per model, in the order the models were given."""
    order = {m: i for i, m in enumerate(dict.fromkeys(rows.get_column("model").to_list()))}
    aggs = []
    for c in METRIC_COLUMNS:
        aggs += [pl.col(c).mean().alias(f"{c}_mean"), pl.col(c).std(ddof=1).alias(f"{c}_std")]
    out = rows.group_by("model").agg([pl.len().alias("seeds"), *aggs])
    return out.with_columns(pl.col("model").replace_strict(order).alias("_o")).sort("_o").drop("_o")


def markdown_table(summary: pl.DataFrame) -> str:
    head = "| model | seeds | " + " | ".join(METRIC_COLUMNS) + " |"
    sep = "|---|---|" + "---|" * len(METRIC_COLUMNS)
    lines = [head, sep]
    for row in summary.iter_rows(named=True):
        cells = []
        for c in METRIC_COLUMNS:
            mean, std = row[f"{c}_mean"], row[f"{c}_std"]
            fmt = "{:.1f}" if c == "train_seconds" else "{:.4f}"
            cell = fmt.format(mean)
            if std is not None and np.isfinite(std):
                cell += " ± " + fmt.format(std)
            cells.append(cell)
        lines.append(f"| {row['model']} | {row['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def compare(cfg: Config, models: list[str], seeds: int, out_dir: Path, progress=None, *,
            ray: str | None = None, threads: int | None = None) -> pl.DataFrame:
    """Train, predict and backtest each model for `seeds` seeds; returns the per-model summary.

    Every (model, seed, window) is one task: run here one after another, or as Ray tasks when
    `ray` is an address. `threads`: torch threads per task (None: the process's own here,
    one on Ray); walk-forward windows always use one. A run's row is written to comparison.csv
    as soon as its last window finishes; a failed task is named at the end, and a rerun into
    the same `out_dir` skips the finished rows and windows."""
    for m in models:  # fail fast on a typo, before hours of training
        model_config(cfg, m, cfg.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "config.yaml", cfg.to_yaml())
    jobs = [(m, cfg.seed + k) for m in models for k in range(seeds)]
    data = load_features(cfg)  # every entry trains on the same features: built once
    key = data_key(data[1])
    if ray and threads is None:
        threads = 1
    rows: dict[int, dict] = {}
    plans: list[tuple[int, WindowPlan]] = []  # (job, plan) of the runs still to fit
    for j, (model, seed) in enumerate(jobs):
        mcfg = model_config(cfg, model, seed)
        run_dir = run_dir_for(out_dir, model, seed)
        if (row := load_row(run_dir, run_key(mcfg, key))) is not None:
            rows[j] = row
            progress_logger().info("%s seed %d: finished by an earlier run, skipped", model, seed)
            continue
        prep = prepare_run(mcfg, run_dir=run_dir, walkforward=cfg.split.scheme == "rolling", data=data)
        plans.append((j, WindowPlan(prep, threads=1 if len(prep.splits) > 1 else threads,
                                    label=f"{model} seed {seed}")))
    tasks = [(j, p, i) for j, p in plans for i in range(len(p.tasks))]  # (job, plan, its task)

    def write_rows() -> None:  # partial results survive a crash
        write_text(out_dir / "comparison.csv", pl.DataFrame([rows[j] for j in sorted(rows)]).write_csv())

    def finish(j: int, plan: WindowPlan) -> None:
        model, seed = jobs[j]
        if progress:
            progress(f"[{len(rows) + 1}/{len(jobs)}] {model} seed {seed} trained")
        finish_run(plan.prep, plan.outcomes)  # type: ignore[arg-type]
        rows[j] = comparison_row(plan.prep, model, seed)
        save_row(plan.prep.run_dir, run_key(plan.prep.cfg, key), rows[j])
        write_rows()

    for j, plan in plans:  # every window finished earlier: only the row is left to write
        if plan.complete:
            finish(j, plan)

    def on_done(t: int, outcome) -> None:
        j, plan, i = tasks[t]
        if plan.finish(i, outcome):
            finish(j, plan)

    if rows:
        write_rows()
    run_tasks([p.tasks[i] for _, p, i in tasks], on_done, Executor(ray=ray),
              hint="; rerun with the same --out to skip them")
    frame = pl.DataFrame([rows[j] for j in sorted(rows)])
    summary = summarize(frame)
    write_parquet(out_dir / "comparison_summary.parquet", summary)
    write_text(out_dir / "comparison.md", markdown_table(summary))
    return summary
