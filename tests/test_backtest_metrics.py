"""The backtest's one-pass prediction metrics equal train/metrics.py's definitions."""

from __future__ import annotations

import numpy as np
import pytest

from stockformer.signal.fast_metrics import backtest_prediction_metrics
from stockformer.signal.metrics import daily_ic, daily_rank_ic, prediction_metrics


def _case(seed: int, days: int = 40, stocks: int = 25, rounded: bool = True):
    rng = np.random.default_rng(seed)
    score = rng.normal(size=(days, stocks))
    label = 0.3 * score + rng.normal(size=(days, stocks))
    if rounded:  # many ties on both sides
        score, label = np.round(score, 1), np.round(label, 1)
    prob_up = rng.random((days, stocks))
    pred = score * 0.01
    mask = rng.random((days, stocks)) > 0.2
    mask[3, :] = False  # a day without data
    mask[5, 2:] = False  # a day with 2 names (below the IC minimum, top-k and quintiles)
    mask[7, 9:] = False  # 9 names: IC and quintiles, no top-5 hit rate (needs 10)
    label[~mask & (rng.random((days, stocks)) < 0.5)] = np.nan
    return pred, label, mask & np.isfinite(label), prob_up, score


@pytest.mark.parametrize("seed,rounded", [(0, True), (1, True), (2, False)])
@pytest.mark.parametrize("with_prob", [True, False])
def test_one_pass_metrics_equal_train_metrics(seed, rounded, with_prob):
    pred, label, mask, prob_up, score = _case(seed, rounded=rounded)
    prob = prob_up if with_prob else None
    want = prediction_metrics(pred, label, mask, prob_up=prob, score=score, topk=5)
    got, ic, ric = backtest_prediction_metrics(pred, label, mask, prob_up=prob, score=score, topk=5)
    assert set(got) == set(want)
    assert got["majority_class"] in ("up", "down") and 0.5 <= got["majority_rate"] <= 1.0
    for key, value in want.items():
        if isinstance(value, str):
            assert got[key] == value, key
            continue
        np.testing.assert_allclose(got[key], value, rtol=1e-10, atol=1e-12, err_msg=key)
    np.testing.assert_allclose(ic, daily_ic(score, label, mask), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ric, daily_rank_ic(score, label, mask), rtol=1e-10, atol=1e-12)
    assert np.isnan(ic[3]) and np.isnan(ic[5]) and np.isfinite(ic[7])


def test_one_pass_metrics_see_a_changed_tie_rule():
    """Sharpness: break top-k ties by the higher index instead and the hit rate moves."""
    pred, label, mask, prob_up, score = _case(0)
    got = backtest_prediction_metrics(pred, label, mask, prob_up, score, 5)[0]
    flipped = backtest_prediction_metrics(pred[:, ::-1], label[:, ::-1], mask[:, ::-1],
                                          prob_up[:, ::-1], score[:, ::-1], 5)[0]
    assert got["topk_hit_rate"] != flipped["topk_hit_rate"]
    assert got["rank_ic"] == pytest.approx(flipped["rank_ic"], rel=1e-12)  # ranks are symmetric
