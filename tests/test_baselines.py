from types import SimpleNamespace

import numpy as np
import pytest
import torch

from stockformer.config import Config, ModelConfig
from stockformer.factors.featureset import FeatureSet
from stockformer.model.baselines import NEURAL_BASELINES, build_baseline, fit_predict_nonneural
from stockformer.model.baselines.nonneural import reference_score


def _batch(b=2, t1=6, n=5, f=7, edges=True):
    g = torch.Generator().manual_seed(0)
    batch = {
        "x": torch.randn(b, t1, n, f, generator=g),
        "ret": torch.randn(b, t1, n, generator=g) * 0.01,
        "valid": torch.ones(b, t1, n, dtype=torch.bool),
    }
    if edges:
        batch["edge_index"] = torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]])
    return batch


@pytest.mark.parametrize("name", sorted(NEURAL_BASELINES))
def test_neural_baseline_shapes_and_gradients(name):
    cfg = ModelConfig(name=name, t1=6, t2=2, d_model=8, layers=1, heads=1, dropout=0.0)
    model = build_baseline(cfg, 7)
    out = model(_batch())
    assert out["reg"].shape == (2, 2, 5)
    assert out["logits"].shape == (2, 2, 5, 2)
    (out["reg"].sum() + out["logits"].sum()).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient reaches {missing}"


def test_baseline_rejects_wrong_feature_count():
    cfg = ModelConfig(name="lstm", t1=6, d_model=8, layers=1)
    with pytest.raises(ValueError, match="x"):
        build_baseline(cfg, 9)(_batch())


def test_gats_mixes_stocks_over_the_graph():
    cfg = ModelConfig(name="gats", t1=6, d_model=8, layers=1, dropout=0.0)
    model = build_baseline(cfg, 7).eval()
    a = _batch()
    b = {k: v.clone() for k, v in a.items()}
    b["x"][:, :, 0] += 5.0  # change stock 0 only; its neighbour (1) must react
    with torch.no_grad():
        ya, yb = model(a)["reg"], model(b)["reg"]
    assert not torch.allclose(ya[:, :, 1], yb[:, :, 1])


def _fs(t=120, n=12, f=4, seed=0):
    rng = np.random.default_rng(seed)
    feats = rng.standard_normal((t, n, f)).astype(np.float32)
    labels = (0.02 * feats[:, :, 0] + 0.01 * rng.standard_normal((t, n))).astype(np.float32)
    return FeatureSet(
        features=feats, returns=(0.01 * rng.standard_normal((t, n))).astype(np.float32),
        labels=labels, mask=np.ones((t, n), bool), valid=np.ones((t, n), bool),
        dates=np.arange("2020-01-01", t, dtype="datetime64[D]")[:t],
        symbols=[f"S{i}" for i in range(n)], feature_names=[f"f{i}" for i in range(f)],
    )


def test_momentum_and_reversal_match_direct_sums():
    fs = _fs()
    anchors = np.array([30, 50, 99])
    mom = reference_score("momentum", fs, anchors)
    rev = reference_score("reversal", fs, anchors)
    for k, a in enumerate(anchors):
        np.testing.assert_allclose(mom[k], fs.returns[a - 19 : a + 1].sum(0), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(rev[k], -fs.returns[a - 4 : a + 1].sum(0), rtol=1e-5, atol=1e-7)


def test_lightgbm_really_trains_with_early_stopping():
    pytest.importorskip("lightgbm")
    fs = _fs(t=200, n=20)
    split = SimpleNamespace(train=np.arange(20, 140), val=np.arange(140, 170), test=np.arange(170, 198))
    vp, vq, tp, tq, fit = fit_predict_nonneural("lightgbm", fs, split, Config())
    assert fit.best_epoch > 1  # the paper's LightGBM stopped at its first iteration
    assert tp.shape == (len(split.test), 20) and tq.min() > 0 and tq.max() < 1
    ic = np.mean([np.corrcoef(tp[i], fs.labels[a])[0, 1] for i, a in enumerate(split.test)])
    assert ic > 0.3
