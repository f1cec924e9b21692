"""`stockformer features`: build (or load from cache) the FeatureSet and summarise it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from stockformer.config import Config, load_config
from stockformer.data.store import load_panel
from stockformer.factors.featureset import FeatureSet
from stockformer.signal.metrics import daily_rank_ic


def _load(data: Path | None, cfg: Config) -> pl.DataFrame:
    panel = load_panel(data if data is not None else cfg.data.path)
    if cfg.data.start is not None:
        panel = panel.filter(pl.col("date") >= cfg.data.start)
    if cfg.data.end is not None:
        panel = panel.filter(pl.col("date") <= cfg.data.end)
    if cfg.data.max_stocks is not None:
        keep = sorted(panel["symbol"].unique().to_list())[: cfg.data.max_stocks]
        panel = panel.filter(pl.col("symbol").is_in(keep))
    return panel


def factor_rank_ic(fs: FeatureSet, anchors: np.ndarray) -> np.ndarray:
    """Mean daily rank IC of each factor with the label over `anchors`: [F]."""
    labels, mask = fs.labels[anchors], fs.mask[anchors]
    out = np.full(len(fs.feature_names), np.nan)
    for j in range(len(fs.feature_names)):
        ic = daily_rank_ic(fs.features[anchors, :, j], labels, mask)
        if np.isfinite(ic).any():
            out[j] = np.nanmean(ic)
    return out


def features_command(
    data: Path = typer.Option(None, "--data", help="dataset directory or panel file"),
    config: Path = typer.Option(None, "--config", help="YAML config (default: built-in)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="rebuild even when cached"),
    top: int = typer.Option(10, "--top", help="how many factors to list"),
) -> None:
    """Build and cache the features; print shapes, masked share and the top factors by
    validation rank IC."""
    from stockformer.factors.pipeline import build_features  # lazy: keeps --help fast
    from stockformer.train.splits import make_splits  # lazy: keeps --help fast

    cfg = load_config(config)
    panel = _load(data, cfg)
    fs = build_features(panel, cfg.features, use_cache=not no_cache)
    split = make_splits(fs.dates, cfg.split, t1=cfg.model.t1, t2=cfg.model.t2,
                        label_lag=fs.label_lag)[0]
    ic = factor_rank_ic(fs, split.val)
    con = Console(highlight=False, soft_wrap=True)
    t, n, f = fs.shape
    summary = Table(title="features", show_header=False)
    summary.add_column("item", style="bold")
    summary.add_column("value", overflow="fold")
    rep = fs.report
    summary.add_row("shape [T, N, F]", f"{t} x {n} x {f}")
    summary.add_row("dates", f"{fs.dates[0]} .. {fs.dates[-1]}")
    summary.add_row("labels masked", f"{1 - fs.mask.mean():.1%}")
    for key in ("masked_suspended", "masked_new_listing", "masked_limit_up_at_entry",
                "masked_not_realised", "masked_bad_price", "vwap_source",
                "suspended_cells_forward_filled", "nan_to_zero_cells", "neutralize_on",
                "neutralize_note", "cache", "cache_path"):
        if key in rep:
            summary.add_row(key, str(rep[key]))
    con.print(summary)
    order = np.argsort(-np.nan_to_num(np.abs(ic), nan=-1.0), kind="stable")[:top]
    tab = Table(title=f"top factors by |rank IC| on validation ({split.name}, "
                      f"{len(split.val)} days)")
    tab.add_column("factor")
    tab.add_column("rank IC", justify="right")
    for j in order:
        tab.add_row(fs.feature_names[j], f"{ic[j]:+.4f}")
    con.print(tab)


def register(app: typer.Typer) -> None:
    app.command("features")(features_command)
