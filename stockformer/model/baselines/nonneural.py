"""Baselines fitted outside torch: LightGBM on the last day's factors, and two non-learned
references (20-day momentum, 5-day reversal). Same outputs as the neural path: predicted
return and up-probability per (anchor, stock)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from stockformer.config import Config
from stockformer.errors import ConfigError
from stockformer.factors.featureset import FeatureSet

NON_NEURAL = ("lightgbm", "momentum", "reversal")


@dataclass
class NonNeuralFit:
    """The fit record, shaped like the trainer's FitResult where the run writer reads it."""

    model: object
    history: list = field(default_factory=list)
    best_epoch: int = 0
    train_seconds: float = 0.0
    parameters: int = 0
    device: str = "cpu"


def _trailing_sum(x: np.ndarray, anchors: np.ndarray, days: int) -> np.ndarray:
    """Sum of x over the `days` rows ending at each anchor (inclusive), [A, N]."""
    csum = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0, dtype=np.float64)])
    hi = anchors + 1
    lo = np.maximum(hi - days, 0)
    return csum[hi] - csum[lo]


def _rank_prob(score: np.ndarray) -> np.ndarray:
    """Map a score to (0, 1) by its daily cross-sectional rank: an up-probability proxy."""
    order = score.argsort(axis=1).argsort(axis=1)
    return (order + 0.5) / score.shape[1]


def reference_score(name: str, fs: FeatureSet, anchors: np.ndarray) -> np.ndarray:
    r = np.where(fs.valid, fs.returns, 0.0)
    if name == "momentum":
        return _trailing_sum(r, anchors, 20)
    if name == "reversal":
        return -_trailing_sum(r, anchors, 5)
    raise ConfigError(f"model.name: unknown reference score {name!r}")


def _lgb_xy(fs: FeatureSet, anchors: np.ndarray, masked: bool):
    x = fs.features[anchors]  # [A, N, F]: Alpha360 already spans 60 days of history
    if masked:
        m = fs.mask[anchors]
        return x[m], fs.labels[anchors][m]
    return x.reshape(-1, x.shape[-1]), None


def _fit_lightgbm(fs: FeatureSet, split, cfg: Config):
    try:
        import lightgbm as lgb
    except ImportError:
        raise ConfigError("model.name = lightgbm needs the lightgbm package: pip install stockformer[lightgbm]") from None
    xt, yt = _lgb_xy(fs, split.train, True)
    xv, yv = _lgb_xy(fs, split.val, True)
    model = lgb.LGBMRegressor(
        n_estimators=2000, learning_rate=0.03, num_leaves=63, min_child_samples=100,
        subsample=0.8, subsample_freq=1, colsample_bytree=0.6, reg_lambda=1.0,
        random_state=cfg.seed, n_jobs=2, verbose=-1, deterministic=True, force_row_wise=True,
    )
    # early stopping on validation L2; patience generous so it does not stop at iteration 1
    model.fit(xt, yt, eval_X=(xv,), eval_y=(yv,), eval_metric="l2",
              callbacks=[lgb.early_stopping(50, verbose=False)])
    return model


def fit_predict_nonneural(name: str, fs: FeatureSet, split, cfg: Config):
    """Returns (val_pred, val_prob, test_pred, test_prob, NonNeuralFit)."""
    started = time.perf_counter()
    if name == "lightgbm":
        model = _fit_lightgbm(fs, split, cfg)
        n = len(fs.symbols)

        def pred(anchors):
            x, _ = _lgb_xy(fs, anchors, False)
            return model.predict(x).reshape(len(anchors), n)

        vp, tp = pred(split.val), pred(split.test)
        best = int(model.best_iteration_ or model.n_estimators)
        fit = NonNeuralFit(model, [{"epoch": best}], best, time.perf_counter() - started,
                           int(model.booster_.num_trees()), "cpu")
    elif name in ("momentum", "reversal"):
        vp, tp = reference_score(name, fs, split.val), reference_score(name, fs, split.test)
        fit = NonNeuralFit(None, [], 0, time.perf_counter() - started, 0, "cpu")
    else:
        raise ConfigError(f"model.name: {name!r} is not a non-neural baseline ({', '.join(NON_NEURAL)})")
    return vp, _rank_prob(vp), tp, _rank_prob(tp), fit
