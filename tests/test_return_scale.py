"""pred_return in return units under a processed training target (train/targets.return_scale)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from stockformer.train.targets import return_scale


def _labels(seed: int = 0, days: int = 40, stocks: int = 30, sd: float = 0.02):
    rng = np.random.default_rng(seed)
    y = rng.normal(0.001, sd, (days, stocks))
    mask = rng.random((days, stocks)) > 0.1
    return y, mask


def test_raw_target_keeps_the_output_as_it_is():
    y, mask = _labels()
    assert return_scale(y, mask, "raw") == 1.0


@pytest.mark.parametrize("kind", ["rank", "zscore"])
def test_scale_is_the_median_daily_dispersion_of_the_valid_labels(kind):
    y, mask = _labels(sd=0.03)
    expected = np.median([np.std(y[d][mask[d]]) for d in range(len(y))])
    assert return_scale(y, mask, kind) == pytest.approx(expected, rel=1e-12)
    assert 0.025 < return_scale(y, mask, kind) < 0.035
    # masked cells never count, whatever they hold
    y2 = np.where(mask, y, 1e6)
    assert return_scale(y2, mask, kind) == pytest.approx(expected, rel=1e-12)


def test_days_with_under_two_stocks_are_ignored():
    y, mask = _labels()
    mask[:5] = False
    mask[:5, 0] = True  # one stock on those days: no dispersion to measure
    expected = np.median([np.std(y[d][mask[d]]) for d in range(5, len(y))])
    assert return_scale(y, mask, "rank") == pytest.approx(expected, rel=1e-12)


def test_a_run_stores_its_scale_and_writes_pred_return_in_return_units(tmp_path):
    from stockformer.config import config_from_dict
    from stockformer.data.synthetic import save_synthetic_dataset
    from stockformer.factors.pipeline import build_features
    from stockformer.train.run import load_panel_for, train_run
    from stockformer.train.splits import make_splits

    data = save_synthetic_dataset(tmp_path / "data", 30, 260, 0)
    cfg = config_from_dict({
        "name": "scale", "seed": 0, "runs_dir": str(tmp_path / "runs"),
        "data": {"path": str(data)},
        "features": {"window": 10, "cache_dir": None, "min_history": 20},
        "graph": {"embedding": "spectral", "dim": 8, "top_k": 8},
        "model": {"t1": 8, "t2": 2, "d_model": 16, "layers": 1, "heads": 2, "dropout": 0.0},
        "train": {"device": "cpu", "epochs": 1, "batch_size": 16, "target": "rank"},
    })
    run = train_run(cfg, run_dir=tmp_path / "run")
    metrics = json.loads((run / "metrics.json").read_text())
    fs = build_features(load_panel_for(cfg), cfg.features)
    split = make_splits(fs.dates, cfg.split, t1=8, t2=2, label_lag=fs.label_lag)[0]
    expected = return_scale(fs.labels[split.train], fs.mask[split.train], "rank")
    assert metrics["return_scale"] == pytest.approx(expected, rel=1e-9)
    preds = pl.read_parquet(run / "predictions.parquet")
    pred_sd = preds.group_by("date").agg(pl.col("pred_return").std())["pred_return"].median()
    # a rank-Gaussian output has a daily spread of order 0.1-1; in return units it is a
    # fraction of the labels' own spread
    assert 0 < pred_sd < expected
