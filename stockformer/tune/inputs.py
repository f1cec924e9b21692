"""What every trial of a study trains on, built once: the panel cut at the end of the
validation period, its features, the training-period graph and the dates that place the splits.

The test period is never read. Its dates fix where the periods fall (split.ratios count days),
but its rows are dropped before any feature, label or graph is computed, so changing its
prices or labels cannot change a trial (tests/test_tune.py proves it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import polars as pl

from stockformer.config import Config
from stockformer.errors import ConfigError, RunError
from stockformer.factors.featureset import FeatureSet
from stockformer.factors.labels import label_lag
from stockformer.factors.pipeline import build_features
from stockformer.graph import build_graph
from stockformer.model.baselines import NON_NEURAL
from stockformer.train.run import industries_asof, load_panel_for
from stockformer.train.splits import Split, make_splits


@dataclass
class StudyInputs:
    fs: FeatureSet  # training and validation days only
    graph: object  # fitted on the training period
    dates: np.ndarray  # every date of the panel (datetime64[D]), test period included
    val_end: int  # index of the last validation day; fs covers dates[: val_end + 1]


def _first_split(cfg: Config, dates: np.ndarray) -> Split:
    """The split `stockformer train` fits (walk-forward's first window for scheme rolling)."""
    lag = label_lag(cfg.features.label_horizon)
    splits = make_splits(dates, cfg.split, t1=cfg.model.t1, t2=cfg.model.t2, label_lag=lag)
    if not splits:
        raise RunError("the split configuration produced no window: the panel is too short")
    return splits[0]


def trial_split(inputs: StudyInputs, cfg: Config) -> Split:
    """A trial's split (its model.t1 / t2 place the anchors), without test anchors; train and
    validation anchors are purged, so every label they read lies on or before val_end."""
    s = _first_split(cfg, inputs.dates)
    if int(s.test.min()) - 1 != inputs.val_end:
        raise RunError(f"trial split ends validation at day {int(s.test.min()) - 1}, "
                       f"the study's inputs at {inputs.val_end}")
    return dataclasses.replace(s, test=np.zeros(0, dtype=np.int64))


def check_base(cfg: Config) -> None:
    """Refuse base settings a study cannot honour, in one line."""
    if cfg.model.name in NON_NEURAL:
        raise ConfigError(f"model.name = {cfg.model.name}: tune searches models trained epoch by "
                          "epoch (the Stockformer and the neural baselines)")
    if cfg.train.shuffle_labels:
        raise ConfigError("train.shuffle_labels = true: the label-shuffled control is for "
                          "`stockformer compare`; a study tunes on the real labels")


def build_inputs(cfg: Config) -> StudyInputs:
    """Features and graph for the base config, from the training and validation days only."""
    check_base(cfg)
    panel = load_panel_for(cfg)
    dates = np.asarray(panel.get_column("date").unique().sort().to_numpy()).astype("datetime64[D]")
    split = _first_split(cfg, dates)
    val_end = int(split.test.min()) - 1  # the test period starts the day after validation ends
    known = panel.filter(pl.col("date") <= dates[val_end].item())
    fs = build_features(known, cfg.features)
    if len(fs.dates) != val_end + 1 or not np.array_equal(
            np.asarray(fs.dates).astype("datetime64[D]"), dates[: val_end + 1]):
        raise RunError("features of the training and validation days do not line up with the "
                       "panel's dates")
    industries = industries_asof(known, fs.symbols, fs.dates[split.fit_end])
    graph = build_graph(fs.returns, fs.valid, cfg.graph, fit_end=split.fit_end, seed=cfg.seed,
                        industries=fs.industries if industries is None else industries)
    return StudyInputs(fs, graph, dates, val_end)
