import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from stockformer.signal.metrics import (
    daily_ic,
    daily_rank_ic,
    direction_accuracy,
    prediction_metrics,
    quantile_returns,
    topk_hit_rate,
)


def _data(d=30, n=40, seed=0):
    rng = np.random.default_rng(seed)
    pred = rng.standard_normal((d, n))
    label = 0.3 * pred + rng.standard_normal((d, n))
    mask = rng.random((d, n)) > 0.1
    return pred, label, mask


def test_daily_ic_matches_scipy():
    pred, label, mask = _data()
    ic, ric = daily_ic(pred, label, mask), daily_rank_ic(pred, label, mask)
    for t in range(len(pred)):
        m = mask[t]
        assert ic[t] == pytest.approx(pearsonr(pred[t, m], label[t, m])[0], abs=1e-12)
        assert ric[t] == pytest.approx(spearmanr(pred[t, m], label[t, m])[0], abs=1e-12)


def test_topk_hit_rate_matches_loop():
    pred, label, mask = _data()
    k = 5
    hits = []
    for s, y, m in zip(pred, label, mask, strict=True):
        idx = np.flatnonzero(m)
        top_s = set(idx[np.argsort(-s[idx], kind="stable")[:k]])
        top_y = set(idx[np.argsort(-y[idx], kind="stable")[:k]])
        hits.append(len(top_s & top_y) / k)
    assert topk_hit_rate(pred, label, mask, k) == pytest.approx(np.mean(hits))
    assert topk_hit_rate(label, label, mask, k) == 1.0


def test_quantile_returns_match_loop_and_are_monotone_for_a_good_signal():
    pred, label, mask = _data(d=50, n=100)
    q = 5
    daily = []
    for s, y, m in zip(pred, label, mask, strict=True):
        idx = np.flatnonzero(m)
        order = idx[np.argsort(s[idx], kind="stable")]
        n = len(order)
        b = np.minimum(np.arange(n) * q // n, q - 1)
        daily.append([y[order[b == j]].mean() for j in range(q)])
    np.testing.assert_allclose(quantile_returns(pred, label, mask, q), np.mean(daily, 0), rtol=1e-12)
    qr = quantile_returns(pred, label, mask, q)
    assert np.all(np.diff(qr) > 0)


def test_prediction_metrics_keys_and_accuracy():
    pred, label, mask = _data()
    m = prediction_metrics(pred, label, mask)
    for key in ("ic", "rank_ic", "icir", "rank_icir", "ic_tstat", "accuracy", "mae", "rmse",
                "topk_hit_rate", "quantile_returns", "long_short_spread"):
        assert key in m
    assert m["ic"] > 0.2 and m["rank_ic"] > 0.2 and m["long_short_spread"] > 0
    assert direction_accuracy(np.where(label > 0, 0.9, 0.1), label, mask) == 1.0
    shuffled = prediction_metrics(np.random.default_rng(1).standard_normal(pred.shape), label, mask)
    assert abs(shuffled["ic"]) < 0.1
