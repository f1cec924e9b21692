"""User-visible diagnostics: the collapsed-score warning and accuracy beside the majority rate."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from scipy.stats import rankdata

from stockformer.signal.metrics import accuracy_text, majority_direction, prediction_metrics
from stockformer.train.collapse import collapse_diagnostic, collapse_warnings, trade_output_collapse


def market(days=60, n=40, seed=0):
    """Daily returns at a realistic scale (cross-sectional std ~1.5e-2) and a mask."""
    rng = np.random.default_rng(seed)
    labels = 0.015 * rng.standard_normal((days, n))
    mask = rng.random((days, n)) > 0.1
    return rng, labels, mask


# -- collapse detector ------------------------------------------------------------------------
def test_constant_predictor_collapses():
    _, labels, mask = market()
    d = collapse_diagnostic(np.full(labels.shape, 0.001), labels, mask)
    assert d["collapsed"] and d["ratio"] == 0.0 and d["score_dispersion"] == 0.0
    assert d["label_dispersion"] == pytest.approx(0.015, rel=0.15)


def test_day_level_constant_plus_tiny_noise_collapses():
    rng, labels, mask = market()
    day = 0.002 * rng.standard_normal((labels.shape[0], 1))  # moves with the day, not the stock
    score = day + 1e-7 * rng.standard_normal(labels.shape)
    d = collapse_diagnostic(score, labels, mask)
    assert d["collapsed"] and 0 < d["ratio"] < 1e-4


def test_small_but_real_signal_does_not_collapse():
    rng, labels, mask = market()
    score = labels * 0.05 + 1e-3 * rng.standard_normal(labels.shape)  # IC ~0.6, std ~1.25e-3
    d = collapse_diagnostic(score, labels, mask)
    assert not d["collapsed"]
    assert d["ratio"] == pytest.approx(np.hypot(0.05 * 0.015, 1e-3) / 0.015, rel=0.15)


def test_rank_score_does_not_collapse():
    rng, labels, mask = market()
    score = rankdata(rng.standard_normal(labels.shape), axis=1)
    assert not collapse_diagnostic(score, labels, mask)["collapsed"]


def test_threshold_and_mask_decide():
    rng, labels, mask = market()
    noise = rng.standard_normal(labels.shape)
    noise /= noise.std(axis=1, keepdims=True)
    label_disp = collapse_diagnostic(labels, labels, mask)["label_dispersion"]
    assert collapse_diagnostic(0.02 * label_disp * noise, labels, mask)["collapsed"] is False
    assert collapse_diagnostic(0.005 * label_disp * noise, labels, mask)["collapsed"] is True
    assert collapse_diagnostic(0.02 * label_disp * noise, labels, mask, threshold=0.05)["collapsed"]
    # wild values on masked-out cells do not count as spread
    wild = np.where(mask, 0.001, 1e3 * noise)
    assert collapse_diagnostic(wild, labels, mask)["collapsed"]
    # a score that is NaN on every valid cell has no ordering; no valid label: nothing to judge
    assert collapse_diagnostic(np.full(labels.shape, np.nan), labels, mask)["collapsed"]
    # flat labels give no ratio: a constant score is still flagged, a spread one is not
    flat = np.zeros(labels.shape)
    assert collapse_diagnostic(np.ones(labels.shape), flat, mask)["collapsed"]
    spread = collapse_diagnostic(noise, flat, mask)
    assert not spread["collapsed"] and spread["ratio"] is None
    empty = collapse_diagnostic(np.zeros(labels.shape), labels, np.zeros_like(mask))
    assert not empty["collapsed"] and empty["ratio"] is None and empty["days"] == 0


def test_blend_fires_on_a_collapsed_regression_component():
    rng, labels, mask = market()
    pred = 1e-3 + 5e-7 * rng.standard_normal(labels.shape)  # collapsed head
    prob = 1 / (1 + np.exp(-(labels / 0.015 + rng.standard_normal(labels.shape))))  # healthy
    assert not trade_output_collapse("classification", pred, prob, labels, mask)["collapsed"]
    diag = trade_output_collapse("blend", pred, prob, labels, mask)
    assert diag["collapsed"] and diag["threshold"] == 0.01
    assert diag["components"]["regression"]["collapsed"]
    assert not diag["components"]["classification"]["collapsed"]
    lines = collapse_warnings(diag, "test")
    assert len(lines) == 1 and "regression component of the blend output" in lines[0]
    assert "close to arbitrary" in lines[0] and "test period" in lines[0]
    healthy = trade_output_collapse("blend", labels * 0.05, prob, labels, mask)
    assert not healthy["collapsed"] and collapse_warnings(healthy) == []
    json.dumps(diag, allow_nan=False)  # strict JSON for metrics.json


def test_regression_message_names_the_share():
    _, labels, mask = market()
    pred = np.tile(np.linspace(0, 4.5e-5 * np.sqrt(12), labels.shape[1]), (labels.shape[0], 1))
    diag = trade_output_collapse("regression", pred, np.full(labels.shape, 0.5), labels, mask)
    assert list(diag["components"]) == ["regression"] and diag["collapsed"]
    (line,) = collapse_warnings(diag)
    assert line.startswith("warning: the traded score has collapsed") and "(regression output)" in line
    assert "% of the label's" in line


def test_planted_signal_model_does_not_collapse():
    from test_trainer import make_fs, make_graph, make_split, small_cfgs

    from stockformer.signal.metrics import daily_rank_ic
    from stockformer.train.trainer import fit, predict

    fs, split, graph = make_fs(days=120, n=20), make_split(days=120), make_graph(n=20)
    mcfg, tcfg = small_cfgs()
    tcfg.epochs = 4
    res = fit(fs, split, graph, mcfg, tcfg, seed=0)
    p = predict(res.model, fs, split.test, graph, device="cpu", batch_size=32)
    labels, mask = fs.labels[split.test], fs.mask[split.test]
    assert np.nanmean(daily_rank_ic(p.pred_return, labels, mask)) > 0.05  # it learned something
    d = collapse_diagnostic(p.pred_return, labels, mask)
    assert not d["collapsed"] and d["ratio"] > 0.1, d


# -- majority rate --------------------------------------------------------------------------
def test_majority_rate_on_a_hand_made_example():
    label = np.array([[0.01] * 7 + [-0.01] * 3])
    mask = np.ones_like(label, dtype=bool)
    up = np.full(label.shape, 0.6)
    assert majority_direction(up, label, mask) == (pytest.approx(0.7), "up")
    assert majority_direction(up, -label, mask) == (pytest.approx(0.7), "down")
    # the same cells as the accuracy: masked or non-finite ones are left out
    mask[0, :4] = False  # 3 up, 3 down left
    assert majority_direction(up, label, mask) == (pytest.approx(0.5), "up")
    up[0, 4] = np.nan  # 2 up, 3 down
    assert majority_direction(up, label, mask) == (pytest.approx(0.6), "down")
    m = prediction_metrics(np.where(label > 0, 0.02, -0.02), label, np.ones_like(mask), topk=1)
    assert m["majority_rate"] == pytest.approx(0.7) and m["majority_class"] == "up"
    assert m["accuracy"] == 1.0


def test_accuracy_text():
    assert accuracy_text({"accuracy": 0.512, "majority_rate": 0.52, "majority_class": "up"}) == (
        "51.2% (always up: 52.0%)")
    assert accuracy_text({"accuracy": 0.6, "majority_rate": 0.55, "majority_class": "down"}) == (
        "60.0% (always down: 55.0%)")
    assert accuracy_text({"accuracy": 0.512}) == "51.2%"  # a run written before majority_rate
    assert accuracy_text({}) == "n/a"


# -- where they are shown ---------------------------------------------------------------------
def _metrics_json(warnings=None):
    split = {"ic": 0.01, "rank_ic": 0.02, "icir": 0.1, "rank_icir": 0.2, "accuracy": 0.512,
             "majority_rate": 0.52, "majority_class": "up", "mae": 0.01}
    out = {"test": split, "validation": split, "trade_output": "regression", "parameters": 10,
           "best_epoch": 0, "train_seconds": 1.0, "device": "cpu"}
    if warnings is not None:
        out["warnings"] = warnings
    return out


@pytest.mark.parametrize("warnings", [None, [], ["warning: the traded score has collapsed X"]])
def test_cli_summary_prints_accuracy_beside_majority_and_warnings(tmp_path, monkeypatch, warnings):
    from rich.console import Console

    from stockformer import pipeline_commands

    buf = io.StringIO()
    monkeypatch.setattr(pipeline_commands, "console", Console(file=buf, width=300))
    (tmp_path / "metrics.json").write_text(json.dumps(_metrics_json(warnings)))
    pipeline_commands.print_metrics(tmp_path)
    out = buf.getvalue()
    assert "51.2% (always up: 52.0%)" in out
    assert ("the traded score has collapsed X" in out) == bool(warnings)


def test_report_html_shows_the_run_warnings(tmp_path):
    from backtest_helpers import backtest_panel, random_predictions

    from stockformer.backtest import backtest_run
    from stockformer.data.store import save_dataset
    from stockformer.rundir import run_warnings

    panel = backtest_panel(days=30, stocks=10, seed=4, limit_flags=None)
    save_dataset(panel, tmp_path / "data")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(f"data:\n  path: {tmp_path / 'data'}\nbacktest:\n  topk: 2\n")
    random_predictions(panel, 5).write_parquet(run / "predictions.parquet")
    line = "warning: the traded score has collapsed <here>"
    (run / "metrics.json").write_text(json.dumps(_metrics_json([line])))
    backtest_run(run)
    html = (run / "backtest" / "report.html").read_text()
    assert "class='warning'" in html and "the traded score has collapsed &lt;here&gt;" in html
    assert "(always " in html  # the backtest's own accuracy beside its majority rate
    # someone else's predictions: the run's warnings do not describe them
    random_predictions(panel, 6).write_parquet(tmp_path / "other.parquet")
    backtest_run(run, predictions=tmp_path / "other.parquet")
    assert "class='warning'" not in (run / "backtest" / "report.html").read_text()
    # older runs (no key) and unreadable metrics.json: no warnings, no error
    (run / "metrics.json").write_text(json.dumps(_metrics_json()))
    assert run_warnings(run) == []
    (run / "metrics.json").write_text("{broken")
    assert run_warnings(run) == []
