"""Stockformer model: shapes, boundary checks, masks, copy attention, gradients, size, wavelet."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from stockformer.config import ModelConfig
from stockformer.model.checks import InputShapeError
from stockformer.model.registry import build_model
from stockformer.model.spatial import copy_attention, topk_edges
from stockformer.model.stockformer import count_parameters

torch.set_num_threads(1)


def graph(n, e=12, seed=0):
    rng = np.random.default_rng(seed)
    src, dst = np.nonzero(~np.eye(n, dtype=bool))
    return types.SimpleNamespace(
        edge_index=np.stack([src, dst]).astype(np.int64),
        edge_weight=rng.random(len(src)).astype(np.float32),
        embedding=rng.standard_normal((n, e)).astype(np.float32),
    )


def batch(b, t, n, f, seed=0, p_valid=0.8):
    g = torch.Generator().manual_seed(seed)
    return {
        "x": torch.randn(b, t, n, f, generator=g),
        "ret": 0.02 * torch.randn(b, t, n, generator=g),
        "valid": torch.rand(b, t, n, generator=g) < p_valid,
        "time": torch.stack([torch.randint(0, 12, (b, t), generator=g),
                             torch.randint(0, 21, (b, t), generator=g)], -1),
    }


def cfg(**kw):
    base = dict(t1=5, t2=3, d_model=16, heads=2, layers=2, dropout=0.0, attn_chunk=3)
    base.update(kw)
    return ModelConfig(**base)


@pytest.mark.parametrize(
    "kw",
    [
        dict(spatial_attention="copy", fusion="paper", time_embedding="calendar_graph"),
        dict(spatial_attention="plain", fusion="code", time_embedding="onehot", dilation="code"),
        dict(spatial_attention="sparse", fusion="add", time_embedding="none", sparse_k=4),
        dict(use_wavelet=False, use_temporal=False, use_graph=False, tasks="regression"),
    ],
)
def test_output_shapes_for_odd_sizes(kw):
    n, f = 7, 5
    model = build_model(cfg(**kw), f, n, graph(n)).eval()
    out = model(batch(3, 5, n, f))
    assert out["reg"].shape == out["reg_low"].shape == (3, 3, n)
    assert out["logits"].shape == out["logits_low"].shape == (3, 3, n, 2)
    assert all(torch.isfinite(v).all() for v in out.values())


def test_bad_inputs_name_the_tensor():
    model = build_model(cfg(), 5, 7, graph(7))
    b = batch(2, 5, 7, 5)
    for key, bad, pat in [
        ("x", torch.randn(2, 5, 7, 4), r"batch\['x'\]: got shape \[2, 5, 7, 4\], expected \[\*, 5, 7, 5\]"),
        ("valid", b["valid"].float(), r"batch\['valid'\]: got dtype torch.float32, expected a bool"),
        ("ret", torch.randn(2, 4, 7), r"batch\['ret'\]: got shape"),
        ("time", b["time"].float(), r"batch\['time'\]: got dtype"),
    ]:
        with pytest.raises(InputShapeError, match=pat):
            model({**b, key: bad})
    with pytest.raises(ValueError, match="missing key 'ret'"):
        model({k: v for k, v in b.items() if k != "ret"})


@pytest.mark.parametrize("kind", ["copy", "plain", "sparse"])
def test_invalid_stocks_are_never_attended_to(kind):
    n, f = 9, 4
    model = build_model(cfg(spatial_attention=kind, sparse_k=8), f, n, graph(n)).eval()
    b = batch(2, 5, n, f, p_valid=1.0)
    b["valid"][:, :, 3] = False  # stock 3 does not trade in the whole window
    changed = {k: v.clone() for k, v in b.items()}
    changed["x"][:, :, 3] += 10.0
    changed["ret"][:, :, 3] += 1.0
    with torch.no_grad():
        a, c = model(b), model(changed)
    keep = [i for i in range(n) if i != 3]
    torch.testing.assert_close(a["reg"][..., keep], c["reg"][..., keep])
    assert not torch.allclose(a["reg"][..., 3], c["reg"][..., 3])


def _naive_copy(q, k, v, key_ok):
    """The released code's formulation: materialize the value for every (query, key) pair."""
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    scores = scores.masked_fill(~key_ok[:, None, None, :], float("-inf"))
    attn = torch.softmax(scores, -1)  # [G, H, Nq, Nk]
    attn = attn.masked_fill(~key_ok[:, None, :, None], -1.0)  # invalid queries are never copied
    cp = attn.argmax(dim=-2)  # per key: the query attending to it most
    value = (attn.clamp_min(0) @ v).unsqueeze(-3).expand(*attn.shape, v.shape[-1])  # [G,H,N,N,d]
    return value[
        torch.arange(q.shape[0])[:, None, None], torch.arange(q.shape[1])[None, :, None],
        torch.arange(q.shape[2])[None, None, :], cp,
    ]


@pytest.mark.parametrize("chunk", [1, 4, None])
def test_chunked_copy_attention_equals_naive(chunk):
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(3, 2, 11, 8, generator=g) for _ in range(3))
    key_ok = torch.rand(3, 11, generator=g) > 0.3
    torch.testing.assert_close(copy_attention(q, k, v, key_ok, chunk), _naive_copy(q, k, v, key_ok))


def test_copy_attention_gradients_equal_naive():
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(3, 2, 11, 8, generator=g, requires_grad=True) for _ in range(3))
    key_ok = torch.rand(3, 11, generator=g) > 0.3
    w = torch.randn(3, 2, 11, 8, generator=g)
    grads = []
    for fn in (lambda: copy_attention(q, k, v, key_ok, 4), lambda: _naive_copy(q, k, v, key_ok)):
        (fn() * w).sum().backward()
        grads.append([t.grad.clone() for t in (q, k, v)])
        for t in (q, k, v):
            t.grad = None
    for ours, ref in zip(*grads, strict=True):
        torch.testing.assert_close(ours, ref)


def test_topk_edges_keeps_k_strongest_plus_self():
    ei = torch.tensor([[1, 2, 3, 0, 0], [0, 0, 0, 1, 2]])
    w = torch.tensor([0.1, 0.9, -0.5, 0.3, 0.2])
    out = topk_edges(ei, w, 4, 2)
    into0 = sorted(out[0][out[1] == 0].tolist())
    assert into0 == [0, 2, 3]  # |0.9| and |-0.5| beat 0.1; plus the self-loop


def test_gradient_reaches_every_parameter():
    n, f = 6, 4
    model = build_model(cfg(), f, n, graph(n))
    out = model(batch(2, 5, n, f))
    loss = sum(v.float().pow(2).mean() for v in out.values())
    loss.backward()
    missing = [k for k, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


def test_paper_configuration_size():
    n = 255
    model = build_model(ModelConfig(), 360, n, graph(n, e=128))
    p = count_parameters(model)
    assert 0.9e6 < p < 1.1e6, p  # the released model: 976,219


def test_wavelet_integration_matches_pywavelets():
    from stockformer.model.wavelet import wavelet_split_np

    model = build_model(cfg(t1=20, t2=2), 4, 5, None)
    b = batch(2, 20, 5, 4)
    low, high = model.split(b["ret"].transpose(1, 2))
    ref_low, ref_high = wavelet_split_np(b["ret"].numpy(), "sym2", 1, axis=1)
    np.testing.assert_allclose(low.transpose(1, 2).numpy(), ref_low, atol=1e-6)
    np.testing.assert_allclose(high.transpose(1, 2).numpy(), ref_high, atol=1e-6)
    y = torch.randn(2, 2, 5)
    np.testing.assert_allclose(model.low_target(y).numpy(),
                               wavelet_split_np(y.numpy(), "sym2", 1, axis=1)[0], atol=1e-6)


def test_without_spatial_attention_stocks_do_not_see_each_other():
    """model.use_spatial: false (the ablation): a change to one stock's inputs moves only that
    stock's outputs; with spatial attention it reaches the others."""
    n, f = 6, 5
    b = batch(2, 5, n, f)
    moved = {**b, "x": b["x"].clone()}
    moved["x"][:, :, 0] += 3.0
    for use_spatial, others_move in [(False, False), (True, True)]:
        torch.manual_seed(0)
        model = build_model(cfg(use_spatial=use_spatial, use_graph=False), f, n, graph(n)).eval()
        with torch.no_grad():
            delta = (model(moved)["reg"] - model(b)["reg"]).abs()
        assert delta[..., 0].max() > 1e-4
        assert (delta[..., 1:].max() > 1e-6) == others_move


def test_last_day_skip_adds_the_latest_decoupled_day_to_the_heads_input():
    """model.last_day_skip: the heads read fusion output + the last history day's decoupled
    low + high representation; no new parameters, so either setting loads the other's weights."""
    n, f = 6, 5
    b = batch(2, 5, n, f)
    torch.manual_seed(0)
    on = build_model(cfg(last_day_skip=True), f, n, graph(n)).eval()
    off = build_model(cfg(last_day_skip=False), f, n, graph(n)).eval()
    off.load_state_dict(on.state_dict(), strict=True)
    seen = {}
    on.decouple.register_forward_hook(lambda m, i, o: seen.__setitem__("dec", o))
    on.fusion.register_forward_hook(lambda m, i, o: seen.__setitem__("fused", o))
    with torch.no_grad():
        out_on, out_off = on(b), off(b)
        low0, high0 = seen["dec"]
        expected = on.reg_head(seen["fused"] + low0[:, -1:] + high0[:, -1:]).squeeze(-1)
    torch.testing.assert_close(out_on["reg"], expected)
    torch.testing.assert_close(out_on["reg_low"], out_off["reg_low"])  # the low head is untouched
    assert (out_on["reg"] - out_off["reg"]).abs().max() > 1e-4


def test_the_paper_config_turns_the_last_day_skip_off():
    from pathlib import Path

    from stockformer.config import load_config

    root = Path(__file__).resolve().parents[1] / "configs"
    assert load_config(root / "paper.yaml").model.last_day_skip is False
    assert load_config(root / "default.yaml").model.last_day_skip is True
