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
from stockformer.errors import ConfigError
from stockformer.io import write_parquet, write_text
from stockformer.train.run import train_run

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


def run_one(cfg: Config, model: str, seed: int, out_dir: Path) -> dict:
    mcfg = model_config(cfg, model, seed)
    run_dir = out_dir / "models" / f"{model.replace(':', '-')}-s{seed}"
    started = time.perf_counter()
    train_run(mcfg, run_dir=run_dir, walkforward=cfg.split.scheme == "rolling")
    result = backtest_run(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
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
        "wall_seconds": time.perf_counter() - started,
        "run_dir": str(run_dir),
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


def compare(cfg: Config, models: list[str], seeds: int, out_dir: Path, progress=None) -> pl.DataFrame:
    """Train, predict and backtest each model for `seeds` seeds; returns the per-model summary."""
    for m in models:  # fail fast on a typo, before hours of training
        model_config(cfg, m, cfg.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "config.yaml", cfg.to_yaml())
    rows = []
    jobs = [(m, cfg.seed + k) for m in models for k in range(seeds)]
    for i, (model, seed) in enumerate(jobs, 1):
        if progress:
            progress(f"[{i}/{len(jobs)}] {model} seed {seed}")
        rows.append(run_one(cfg, model, seed, out_dir))
        frame = pl.DataFrame(rows)
        write_text(out_dir / "comparison.csv", frame.write_csv())  # partial results survive a crash
    frame = pl.DataFrame(rows)
    summary = summarize(frame)
    write_parquet(out_dir / "comparison_summary.parquet", summary)
    write_text(out_dir / "comparison.md", markdown_table(summary))
    return summary
