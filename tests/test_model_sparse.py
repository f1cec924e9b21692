"""Sparse spatial attention (CSR kernels) against torch-geometric's TransformerConv, gradients
included, and the model-level sparse path in train and eval mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stockformer.model.edge_attention import EdgeStructure, edge_attention
from stockformer.model.spatial import SparseSpatialAttention, topk_edges

torch.set_num_threads(1)


def _edges(n: int, k: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n, (n * 3,), generator=g)
    dst = torch.randint(0, n, (n * 3,), generator=g)
    return topk_edges(torch.stack([src, dst]), torch.rand(n * 3, generator=g), n, k)


def _reference(mod: SparseSpatialAttention, h, valid, pe, edges):
    """The previous implementation: TransformerConv over the batch's block-diagonal graph."""
    from torch_geometric.nn import TransformerConv

    b, t, n, d = h.shape
    conv = TransformerConv(d, d // mod.heads, heads=mod.heads, concat=True, root_weight=False)
    conv.load_state_dict(mod.conv.state_dict(), strict=False)  # its lin_skip is unused
    g = b * t
    z = (h if pe is None else h + pe).reshape(g * n, d)
    offs = (torch.arange(g) * n).view(g, 1, 1)
    ei = (edges.unsqueeze(0) + offs).permute(1, 0, 2).reshape(2, -1)
    ok = valid.reshape(-1)
    ei = ei[:, ok[ei[0]] | (ei[0] == ei[1])]
    att = conv(z, ei).view(b, t, n, d)
    return mod.ffn(mod.norm(h + mod.drop(att))), conv


@pytest.mark.parametrize("heads", [1, 2])
def test_matches_transformerconv_with_gradients(heads):
    torch.manual_seed(0)
    b, t, n, d = 2, 3, 13, 8
    edges = _edges(n, 4)
    mod = SparseSpatialAttention(d, heads, 0.0)
    valid = torch.rand(b, t, n) > 0.3
    pe = torch.randn(n, d)
    h = torch.randn(b, t, n, d, requires_grad=True)
    out = mod(h, valid, pe, EdgeStructure.from_edges(edges, n))
    g_out = torch.randn_like(out)
    grads = torch.autograd.grad(out, [h, *mod.conv.parameters()], g_out)

    h2 = h.detach().clone().requires_grad_()
    ref, conv = _reference(mod, h2, valid, pe, edges)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    # TransformerConv names its parameters lin_key, lin_query, lin_value in the same order
    ref_params = [p for name, p in conv.named_parameters() if not name.startswith("lin_skip")]
    ref_grads = torch.autograd.grad(ref, [h2, *ref_params], g_out)
    for a, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-5)


def test_edge_attention_gradcheck():
    torch.manual_seed(1)
    n, g = 6, 2
    st = EdgeStructure.from_edges(_edges(n, 3, seed=2), n).batched(g)
    q, k, v = (torch.randn(g * n, 1, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    allowed = (torch.rand(st.row.numel()) > 0.3) | (st.row == st.col)

    def f(q, k, v):
        return edge_attention(q, k, v, st, allowed)

    assert torch.autograd.gradcheck(f, (q, k, v), eps=1e-6, atol=1e-5)


def test_masked_sources_and_weights_sum_to_one():
    """With v = 1 everywhere the output is 1 (weights sum to one); a masked source's value
    never leaks into another stock's output."""
    n = 9
    st = EdgeStructure.from_edges(_edges(n, 4, seed=3), n).batched(1)
    q, k = torch.randn(n, 1, 4), torch.randn(n, 1, 4)
    allowed = (st.col != 5) | (st.row == st.col)
    ones = edge_attention(q, k, torch.ones(n, 1, 4), st, allowed)
    torch.testing.assert_close(ones, torch.ones_like(ones))
    v = torch.randn(n, 1, 4)
    v2 = v.clone()
    v2[5] += 100.0
    a, c = edge_attention(q, k, v, st, allowed), edge_attention(q, k, v2, st, allowed)
    others = [i for i in range(n) if i != 5]
    torch.testing.assert_close(a[others], c[others])


def test_structure_transpose_is_consistent():
    n = 11
    es = EdgeStructure.from_edges(_edges(n, 5, seed=4), n)
    st = es.batched(3)
    vals = torch.rand(st.row.numel())
    dense = st.matrix(vals).to_dense()
    torch.testing.assert_close(st.matrix_t(vals).to_dense(), dense.t())
    assert np.all(np.diff(es.row.numpy()) >= 0)
    assert set(zip(es.row.tolist(), es.col.tolist(), strict=True)) >= {(i, i) for i in range(n)}


def test_weights_saved_with_transformerconv_still_load():
    """Run directories written before the CSR rewrite hold conv.lin_skip.* (TransformerConv's
    unused root projection): they load, and the attention weights land where they were."""
    from torch_geometric.nn import TransformerConv

    d = 8
    mod = SparseSpatialAttention(d, 2, 0.0)
    old = TransformerConv(d, d // 2, heads=2, concat=True, root_weight=False)
    state = {k: v for k, v in mod.state_dict().items() if not k.startswith("conv.")}
    state.update({f"conv.{k}": v for k, v in old.state_dict().items()})
    assert any("lin_skip" in k for k in state)
    mod.load_state_dict(state)  # strict
    torch.testing.assert_close(mod.conv.lin_query.weight, old.lin_query.weight)
    torch.testing.assert_close(mod.conv.lin_value.bias, old.lin_value.bias)


def test_batched_structure_is_built_once_per_batch_size():
    es = EdgeStructure.from_edges(_edges(6, 3, seed=4), 6)
    a = es.batched(3)
    assert es.batched(3) is a  # every layer of a step shares it
    fresh = es._build_batched(3)
    for name in ("row", "col", "crow", "perm_t", "crow_t", "col_t"):
        assert torch.equal(getattr(a, name), getattr(fresh, name))
    assert es.batched(2).rows == 12 and es.batched(3) is not a  # only the last size is kept
