"""The whole feature build against the plain pandas reference (benchmarks.pandas_reference):
the speed comparison in benchmarks/bench_factors.py is only fair if both compute the same."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.pandas_reference import features_pandas  # noqa: E402
from stockformer.config import FeaturesConfig  # noqa: E402
from stockformer.data.random_panel import random_panel  # noqa: E402
from stockformer.factors.pipeline import build_features  # noqa: E402


def test_pipeline_matches_pandas_reference():
    panel = random_panel(stocks=30, days=70, seed=8, suspend=0.05)
    ours = build_features(panel, FeaturesConfig(window=8, cache_dir=None)).features
    ref = features_pandas(panel.to_pandas(), window=8).to_numpy().reshape(ours.shape)
    assert np.abs(ours).max() > 1.0 and (ours == 0).any()  # z-scores, and absent stocks
    np.testing.assert_allclose(ours, ref, atol=5e-5)
