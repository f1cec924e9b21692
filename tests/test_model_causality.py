"""Causality: a change at history step k changes no temporal-encoder output before k."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from stockformer.config import ModelConfig
from stockformer.model.layers import CausalDilatedConv, CausalTemporalAttention
from stockformer.model.registry import build_model

torch.set_num_threads(1)
T, K = 9, 5


def _assert_causal(fn, x: torch.Tensor, k: int, dim: int = 1) -> None:
    y = x.clone()
    y.select(dim, k).add_(3.0)
    with torch.no_grad():
        a, b = fn(x), fn(y)
    a, b = (z if isinstance(z, tuple) else (z,) for z in (a, b))
    for za, zb in zip(a, b, strict=True):
        torch.testing.assert_close(za.narrow(dim, 0, k), zb.narrow(dim, 0, k))
        assert not torch.allclose(za.narrow(dim, k, 1), zb.narrow(dim, k, 1))


def test_temporal_attention_is_causal():
    torch.manual_seed(0)
    mod = CausalTemporalAttention(8, 2, 0.0).eval()
    valid = torch.rand(2, T, 3) > 0.2
    _assert_causal(lambda h: mod(h, valid), torch.randn(2, T, 3, 8), K)


@pytest.mark.parametrize("dilation", [1, 2, 4])
def test_dilated_convolution_is_causal(dilation):
    torch.manual_seed(0)
    mod = CausalDilatedConv(8, dilation, 0.0).eval()
    _assert_causal(lambda h: mod(h), torch.randn(2, T, 3, 8), K)


def _graph(n):
    rng = np.random.default_rng(0)
    src, dst = np.nonzero(~np.eye(n, dtype=bool))
    return types.SimpleNamespace(edge_index=np.stack([src, dst]), edge_weight=rng.random(len(src)),
                                 embedding=rng.standard_normal((n, 6)).astype(np.float32))


@pytest.mark.parametrize("spatial", ["copy", "plain", "sparse"])
@pytest.mark.parametrize("key", ["x", "ret"])
def test_full_encoder_stack_is_causal(spatial, key):
    """Both branches after all encoder layers, before the T1 -> T2 predictor. The wavelet split is
    a two-sided filter inside the history window (all of it known at the anchor), so the return
    input is tested with use_wavelet off; the factor input with the wavelet on."""
    n, f = 5, 3
    cfg = ModelConfig(t1=T, t2=2, d_model=8, heads=2, layers=3, dropout=0.0, sparse_k=3,
                      spatial_attention=spatial, use_wavelet=(key == "x"))
    torch.manual_seed(0)
    model = build_model(cfg, f, n, _graph(n)).eval()
    g = torch.Generator().manual_seed(1)
    base = {"x": torch.randn(2, T, n, f, generator=g), "ret": torch.randn(2, T, n, generator=g),
            "valid": torch.ones(2, T, n, dtype=torch.bool),
            "time": torch.zeros(2, T, 2, dtype=torch.long)}

    def enc(v):
        return model.encode({**base, key: v})[:2]  # (low, high); the third is the last day's own

    _assert_causal(enc, base[key], K)
