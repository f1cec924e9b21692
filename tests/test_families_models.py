"""Every model takes any factor family: the feature count flows from the FeatureSet."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from stockformer.config import Config, FeaturesConfig, GraphConfig, ModelConfig
from stockformer.data.synthetic import generate_market
from stockformer.factors.pipeline import build_features
from stockformer.graph import build_graph
from stockformer.model.baselines import fit_predict_nonneural
from stockformer.model.registry import MODELS, build_model
from stockformer.train.trainer import predict

torch.set_num_threads(1)


@pytest.fixture(scope="module", params=[["alpha158"], ["alpha360", "alpha158"]])
def fs(request):
    panel = generate_market(stocks=12, days=120, seed=3)
    return build_features(panel, FeaturesConfig(families=request.param, window=10,
                                                cache_dir=None, min_history=5))


@pytest.fixture(scope="module")
def graph(fs):
    gcfg = GraphConfig(embedding="spectral", dim=4, top_k=4)
    return build_graph(fs.returns, fs.valid, gcfg, fit_end=80, seed=0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_runs_forward_on_the_family(fs, graph, name):
    f = fs.features.shape[2]
    assert f in (158, 158 + 60) and len(fs.feature_names) == f
    torch.manual_seed(0)
    cfg = ModelConfig(name=name, t1=6, t2=2, d_model=8, layers=1, heads=2, dropout=0.0)
    model = build_model(cfg, f, len(fs.symbols), graph)
    anchors = np.arange(100, 104)
    out = predict(model, fs, anchors, graph, device="cpu", batch_size=2)
    assert out.pred_return.shape == out.prob_up.shape == (4, len(fs.symbols))
    assert np.isfinite(out.pred_return).all() and np.isfinite(out.prob_up).all()
    # the factors reach the output: other features, other predictions
    shuffled = type(fs)(**{**vars(fs), "features": fs.features[:, :, ::-1].copy()})
    moved = predict(model, shuffled, anchors, graph, device="cpu", batch_size=2)
    assert not np.allclose(moved.pred_return, out.pred_return)


def test_lightgbm_trains_on_the_family(fs):
    pytest.importorskip("lightgbm")
    split = SimpleNamespace(train=np.arange(20, 80), val=np.arange(80, 95),
                            test=np.arange(95, 115))
    cfg = Config()
    _, _, test_pred, test_prob, _ = fit_predict_nonneural("lightgbm", fs, split, cfg)
    assert test_pred.shape == (len(split.test), len(fs.symbols)) and np.isfinite(test_pred).all()
