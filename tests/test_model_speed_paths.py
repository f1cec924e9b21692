"""The speed/memory paths change nothing numerically: dropout statistics and gradients,
activation checkpointing (same loss and gradients as without, dropout on), eval mode."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from stockformer.accel import for_training
from stockformer.accel.dropout import Dropout, keep_mask
from stockformer.config import ModelConfig
from stockformer.model.registry import build_model

torch.set_num_threads(1)


def test_dropout_keeps_the_mean_and_masks_the_gradient():
    torch.manual_seed(0)
    drop = Dropout(0.2)
    x = torch.ones(200_000, requires_grad=True)
    y = drop(x)
    zeros = (y == 0).float().mean().item()
    assert abs(zeros - 0.2) < 0.01
    assert abs(y.mean().item() - 1.0) < 0.01
    # p is rounded to a multiple of 1/65536, so the scale is 1.25 to within 1e-5
    torch.testing.assert_close(y[y != 0], torch.full_like(y[y != 0], 1.25), rtol=1e-5, atol=0)
    y.sum().backward()
    torch.testing.assert_close(x.grad, y.detach())  # d(y)/dx = the same scaled mask
    assert torch.equal(drop.eval()(x), x)
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.0)


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5, 0.9])
def test_keep_mask_is_unbiased_in_every_lane(p):
    # four masks come from each 64-bit draw: each lane, and an odd total size, must keep 1 - p
    torch.manual_seed(1)
    keep, scale = keep_mask(torch.Size([100_003, 4]), p, torch.device("cpu"))
    assert keep.shape == (100_003, 4) and keep.dtype == torch.bool
    frac = keep.float().mean(0)
    assert torch.all((frac - (1 - p)).abs() < 4 * (p * (1 - p) / 100_003) ** 0.5 + 1e-4)
    assert abs(scale * (1 - p) - 1) < 1e-4


def test_dropout_is_reproducible_under_a_seed():
    drop = Dropout(0.5)
    torch.manual_seed(3)
    a = drop(torch.ones(1000))
    torch.manual_seed(3)
    assert torch.equal(a, drop(torch.ones(1000)))


def _graph(n):
    rng = np.random.default_rng(0)
    src, dst = np.nonzero(~np.eye(n, dtype=bool))
    return types.SimpleNamespace(edge_index=np.stack([src, dst]), edge_weight=rng.random(len(src)),
                                 embedding=rng.standard_normal((n, 8)).astype(np.float32))


def _batch(b, t, n, f):
    g = torch.Generator().manual_seed(1)
    return {"x": torch.randn(b, t, n, f, generator=g), "ret": 0.02 * torch.randn(b, t, n, generator=g),
            "valid": torch.rand(b, t, n, generator=g) > 0.2,
            "time": torch.randint(0, 12, (b, t, 2), generator=g)}


@pytest.mark.parametrize("cpu_kernels", ["auto", "off"])
@pytest.mark.parametrize("spatial", ["copy", "sparse"])
def test_checkpointing_gives_the_same_loss_and_gradients(spatial, cpu_kernels):
    n, f, t = 7, 4, 6
    grads, losses = {}, {}
    for mode in ("off", "on"):
        cfg = ModelConfig(t1=t, t2=2, d_model=8, heads=2, layers=2, dropout=0.3, sparse_k=3,
                          spatial_attention=spatial, grad_checkpoint=mode)
        torch.manual_seed(0)
        model = for_training(build_model(cfg, f, n, _graph(n)), "cpu", cpu_kernels).train()
        torch.manual_seed(5)  # same dropout masks in both runs
        out = model(_batch(2, t, n, f))
        loss = sum(v.float().pow(2).mean() for v in out.values())
        loss.backward()
        losses[mode] = loss.detach()
        grads[mode] = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    torch.testing.assert_close(losses["on"], losses["off"])
    assert grads["on"].keys() == grads["off"].keys()
    for k in grads["off"]:
        torch.testing.assert_close(grads["on"][k], grads["off"][k], rtol=1e-4, atol=1e-6, msg=k)


def test_checkpointing_auto_switches_on_with_size_and_never_in_eval():
    n, f, t = 7, 4, 6
    cfg = ModelConfig(t1=t, t2=2, d_model=8, heads=2, layers=1, dropout=0.0)
    model = build_model(cfg, f, n, _graph(n))
    small, big = torch.zeros(1, t, n, 8), torch.zeros(4, 20, 255, 8)
    assert not model._checkpointing(small) and model._checkpointing(big)
    with torch.no_grad():
        assert not model._checkpointing(big)
    assert not model.eval()._checkpointing(big)
    model.train().cfg = cfg.model_copy(update={"grad_checkpoint": "on"})
    assert model._checkpointing(small)
    model.cfg = cfg.model_copy(update={"grad_checkpoint": "off"})
    assert not model._checkpointing(big)
