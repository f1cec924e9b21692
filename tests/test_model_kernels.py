"""CPU kernels of the training step: the fused masked softmax + column argmax of the copy step
(accel/softmax_kernels.py) against torch, and the counter-based dropout masks
(accel/dropout_mask.py): independence between values and between draws, reproducibility."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from stockformer.accel import accelerate, dropout_mask, fused_dropout, softmax_kernels, to_plain
from stockformer.config import ModelConfig
from stockformer.model.registry import build_model
from stockformer.model.spatial import softmax_column_argmax as _softmax_column_argmax

torch.set_num_threads(1)


def _scores(g, h, nq, n, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (3 * torch.randn(g, h, nq, n, generator=gen)).to(dtype)


def _both(scores, key_ok, start):
    g, h, _, n = scores.shape
    out = []
    for fused in (True, False):
        best = torch.full((g, h, n), -1.0, dtype=torch.float32 if fused else scores.dtype)
        arg = torch.zeros((g, h, n), dtype=torch.int32)
        s = scores.clone()
        if fused:
            probs = softmax_kernels.MaskedSoftmaxColumnArgmax.apply(s, key_ok, start, best, arg)
        else:
            probs = _softmax_column_argmax(s, key_ok, start, best, arg)
        out.append((probs, best, arg))
    return out


@pytest.mark.parametrize("n", [1, 7, 33, 300])
def test_fused_softmax_equals_torch_in_fp32(n):
    gen = torch.Generator().manual_seed(n)
    scores = _scores(3, 2, n, n, torch.float32, seed=n)
    key_ok = torch.rand(3, n, generator=gen) > 0.3
    key_ok[:, 0] = True
    (p, best, arg), (p_ref, best_ref, arg_ref) = _both(scores, key_ok, 0)
    torch.testing.assert_close(p, p_ref, rtol=2e-6, atol=1e-7)
    assert torch.equal(p[..., ~key_ok[0]][0], torch.zeros_like(p[..., ~key_ok[0]][0]))  # masked keys: exactly 0
    assert torch.equal(arg, arg_ref)
    torch.testing.assert_close(best, best_ref, rtol=2e-6, atol=1e-7)


def test_fused_softmax_in_bf16_is_rounded_fp32():
    scores = _scores(4, 1, 40, 40, torch.bfloat16, seed=3)
    key_ok = torch.rand(4, 40, generator=torch.Generator().manual_seed(3)) > 0.2
    (p, _, arg), _ = _both(scores, key_ok, 0)
    exact = torch.softmax(scores.float().masked_fill(~key_ok[:, None, None, :], float("-inf")), -1)
    assert p.dtype == torch.bfloat16
    # round to nearest: within half a bf16 ulp (2**-9 relative) of the exact probability
    assert ((p.float() - exact).abs() <= exact * 2**-8 + 1e-30).all()
    # the argmax is taken on the fp32 probabilities (bf16 rounding makes ties)
    valid_q = key_ok[:, None, :, None]
    expect = exact.masked_fill(~valid_q, -1.0).argmax(dim=-2)
    assert torch.equal(arg.long(), expect)


def test_fused_softmax_blocks_of_queries_update_the_running_argmax():
    n = 23
    scores = _scores(2, 2, n, n, torch.float32, seed=5)
    key_ok = torch.rand(2, n, generator=torch.Generator().manual_seed(5)) > 0.3
    best = torch.full((2, 2, n), -1.0)
    arg = torch.zeros((2, 2, n), dtype=torch.int32)
    parts = [softmax_kernels.MaskedSoftmaxColumnArgmax.apply(scores[:, :, s:s + 5].clone(), key_ok, s, best, arg)
             for s in range(0, n, 5)]
    (p, _, arg_whole), _ = _both(scores, key_ok, 0)
    torch.testing.assert_close(torch.cat(parts, 2), p)
    assert torch.equal(arg, arg_whole)


def test_row_without_usable_keys_is_uniform_like_torch():
    scores = _scores(1, 1, 4, 6, torch.float32)
    key_ok = torch.zeros(1, 6, dtype=torch.bool)
    (p, _, _), (p_ref, _, _) = _both(scores, key_ok, 0)
    torch.testing.assert_close(p, p_ref)
    assert torch.isfinite(p).all()


def test_fused_softmax_gradient_is_softmax_gradient():
    scores = _scores(2, 1, 9, 9, torch.float32, seed=7).requires_grad_()
    key_ok = torch.rand(2, 9, generator=torch.Generator().manual_seed(7)) > 0.3
    w = torch.randn(2, 1, 9, 9, generator=torch.Generator().manual_seed(8))
    best, arg = torch.full((2, 1, 9), -1.0), torch.zeros((2, 1, 9), dtype=torch.int32)
    (softmax_kernels.MaskedSoftmaxColumnArgmax.apply(scores, key_ok, 0, best, arg) * w).sum().backward()
    ref = scores.detach().clone().requires_grad_()
    (torch.softmax(ref.masked_fill(~key_ok[:, None, None, :], float("-inf")), -1) * w).sum().backward()
    torch.testing.assert_close(scores.grad, ref.grad)


def test_exp_polynomial_is_as_accurate_as_fp32():
    x = np.linspace(-87.0, 0.0, 200_001, dtype=np.float32)
    key_ok = torch.ones(1, x.size, dtype=torch.bool)
    # softmax of [x, 0] rows is exp(x) / (1 + sum): check exp directly on a one-key-plus-zero row
    scores = torch.from_numpy(np.stack([x, np.zeros_like(x)], 1)).view(1, 1, -1, 2)
    best, arg = torch.full((1, 1, 2), -1.0), torch.zeros((1, 1, 2), dtype=torch.int32)
    p = softmax_kernels.MaskedSoftmaxColumnArgmax.apply(scores, key_ok[:, :2], 0, best, arg)
    ratio = (p[..., 0] / p[..., 1]).double().numpy().ravel()  # = exp(x)
    rel = np.abs(ratio / np.exp(x.astype(np.float64)) - 1)
    assert rel.max() < 1e-6


def test_dropout_pairs_are_independent_and_draws_differ():
    torch.manual_seed(0)
    keep = dropout_mask.cpu_keep_mask(torch.Size([400_000]), round(0.3 * 65536)).view(-1, 2).float()
    both = (keep[:, 0] * keep[:, 1]).mean().item()  # the two halves of one hash
    assert abs(both - 0.49) < 4 * (0.49 * 0.51 / 200_000) ** 0.5
    neighbours = (keep.view(-1)[1:-1:2] * keep.view(-1)[2::2]).mean().item()  # across hashes
    assert abs(neighbours - 0.49) < 4 * (0.49 * 0.51 / 200_000) ** 0.5
    other = dropout_mask.cpu_keep_mask(torch.Size([400_000]), round(0.3 * 65536)).view(-1, 2).float()
    agree = (keep == other).float().mean().item()  # two draws: independent, not shifted copies
    assert abs(agree - (0.49 + 0.09)) < 0.005
    torch.manual_seed(0)
    again = dropout_mask.cpu_keep_mask(torch.Size([400_000]), round(0.3 * 65536)).view(-1, 2).float()
    assert torch.equal(keep, again)


@pytest.mark.parametrize("size", [1, 2, 3, 16_385 * 2 + 1])
def test_dropout_masks_of_any_size(size):
    torch.manual_seed(1)
    m = dropout_mask.cpu_scaled_mask(torch.Size([size]), round(0.5 * 65536), 2.0, torch.bfloat16)
    assert m.shape == (size,) and m.dtype == torch.bfloat16
    assert set(m.float().unique().tolist()) <= {0.0, 2.0}
    if size > 1000:
        assert abs((m != 0).float().mean().item() - 0.5) < 0.02


def _fixed_keys(monkeypatch, keys):
    """Make the fused kernels draw these mask keys (so a test can rebuild their multipliers)."""
    monkeypatch.setattr(fused_dropout, "draw_keys", lambda: keys)
    return keys


def _reference_residual_norm(h, a, keep, w, b, eps=1e-5):
    r = (h.float() + a.float() * keep.view(h.shape)).to(h.dtype)
    return torch.nn.functional.layer_norm(r.float(), (h.shape[-1],), w, b, eps)


@pytest.mark.parametrize("p", [0.0, 0.3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_residual_norm_equals_torch(monkeypatch, p, dtype):
    keys = _fixed_keys(monkeypatch, (123456789, 987654321))
    gen = torch.Generator().manual_seed(4)
    b_, t, n, d = 3, 5, 7, 16  # 105 rows: not a multiple of the kernel's row block
    h = torch.randn(b_, t, n, d, generator=gen).to(dtype).requires_grad_()
    a_src = torch.randn(b_, n, t, d, generator=gen).to(dtype).requires_grad_()
    w = (1 + 0.2 * torch.randn(d, generator=gen)).requires_grad_()
    bias = (0.1 * torch.randn(d, generator=gen)).requires_grad_()
    gy = torch.randn(b_, t, n, d, generator=gen)
    keep = fused_dropout.dropout_multipliers(b_ * t * n, d, keys, p) if p else torch.ones(b_ * t * n, d)
    if p:
        assert abs((keep == 0).float().mean().item() - p) < 0.05
    outs = []
    for fused in (True, False):
        a = a_src.permute(0, 2, 1, 3)  # a non-contiguous view, as the temporal attention's output
        y = (fused_dropout.residual_norm(h, a, p, w, bias, 1e-5) if fused
             else _reference_residual_norm(h, a, keep, w, bias))
        (y.float() * gy).sum().backward()
        outs.append([y.detach().float()] + [x.grad.clone().float() for x in (h, a_src, w, bias)])
        for x in (h, a_src, w, bias):
            x.grad = None
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == torch.float32 else dict(rtol=2e-2, atol=4e-2)
    for ours, ref in zip(*outs, strict=True):
        torch.testing.assert_close(ours, ref, **tol)


@pytest.mark.parametrize("p", [0.0, 0.25])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_relu_dropout_with_bias_equals_torch(monkeypatch, p, dtype):
    keys = _fixed_keys(monkeypatch, (42, 4242))
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(70, 24, generator=gen).to(dtype).requires_grad_()
    bias = (0.3 * torch.randn(24, generator=gen)).requires_grad_()
    gy = torch.randn(70, 24, generator=gen)
    keep = fused_dropout.dropout_multipliers(70, 24, keys, p) if p else torch.ones(70, 24)
    outs = []
    for fused in (True, False):
        y = fused_dropout.relu_dropout(x, p, bias) if fused else torch.relu(x.float() + bias) * keep
        (y.float() * gy).sum().backward()
        outs.append([y.detach().float(), x.grad.clone().float(), bias.grad.clone()])
        x.grad = bias.grad = None
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-2, atol=2e-2)
    for ours, ref in zip(*outs, strict=True):
        torch.testing.assert_close(ours, ref, **tol)


def test_fused_residual_norm_adds_the_linear_bias(monkeypatch):
    keys = _fixed_keys(monkeypatch, (7, 77))
    gen = torch.Generator().manual_seed(8)
    h, a = (torch.randn(40, 8, generator=gen).requires_grad_() for _ in range(2))
    a_bias = torch.randn(8, generator=gen).requires_grad_()
    w, b = torch.ones(8), torch.zeros(8)
    keep = fused_dropout.dropout_multipliers(40, 8, keys, 0.2)
    y = fused_dropout.residual_norm(h, a, 0.2, w, b, 1e-5, a_bias=a_bias)
    y.pow(2).sum().backward()
    grads = [t.grad.clone() for t in (h, a, a_bias)]
    for t in (h, a, a_bias):
        t.grad = None
    ref = torch.nn.functional.layer_norm(h + (a + a_bias) * keep, (8,), w, b, 1e-5)
    ref.pow(2).sum().backward()
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    for ours, t in zip(grads, (h, a, a_bias), strict=True):
        torch.testing.assert_close(ours, t.grad, rtol=1e-4, atol=1e-5)


def _tiny_model_and_batch(dropout, spatial="copy"):
    n, f = 6, 4
    rng = np.random.default_rng(0)
    src, dst = np.nonzero(~np.eye(n, dtype=bool))
    graph = types.SimpleNamespace(edge_index=np.stack([src, dst]), edge_weight=rng.random(len(src)),
                                  embedding=rng.standard_normal((n, 8)).astype(np.float32))
    cfg = ModelConfig(t1=5, t2=2, d_model=8, heads=2, layers=2, dropout=dropout, spatial_attention=spatial,
                      sparse_k=3)
    torch.manual_seed(0)
    model = build_model(cfg, f, n, graph)
    gen = torch.Generator().manual_seed(1)
    batch = {"x": torch.randn(2, 5, n, f, generator=gen), "ret": 0.02 * torch.randn(2, 5, n, generator=gen),
             "valid": torch.rand(2, 5, n, generator=gen) > 0.2, "time": torch.randint(0, 12, (2, 5, 2), generator=gen)}
    return model, batch


def test_fused_dropout_ops_change_no_model_output(monkeypatch):
    model, batch = _tiny_model_and_batch(0.3)
    model.eval()
    with torch.no_grad():
        fused = accelerate(model)(batch)
        plain = to_plain(model)(batch)
    for key in fused:
        torch.testing.assert_close(fused[key], plain[key], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("spatial", ["copy", "sparse"])
def test_fused_dropout_ops_change_no_gradient(monkeypatch, spatial):
    # training mode without dropout: the fused path and torch's ops give the same loss and
    # gradients for every parameter (biases folded into the fused ops included)
    model, batch = _tiny_model_and_batch(0.0, spatial)
    model.train()
    results = []
    for enabled in (True, False):
        model = accelerate(model) if enabled else to_plain(model)
        assert any(type(m).__module__ == "stockformer.accel.modules" for m in model.modules()) == enabled
        model.zero_grad()
        loss = sum(v.float().pow(2).mean() for v in model(batch).values())
        loss.backward()
        results.append((loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}))
    (loss_f, grads_f), (loss_t, grads_t) = results
    torch.testing.assert_close(loss_f, loss_t)
    assert grads_f.keys() == grads_t.keys()
    for k in grads_f:
        torch.testing.assert_close(grads_f[k], grads_t[k], rtol=1e-4, atol=1e-6, msg=k)
