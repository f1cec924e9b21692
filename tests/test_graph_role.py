"""model.graph_role: the graph embedding as position (the paper: queries, keys and values) or
as attention only (queries and keys), for the dense and the sparse spatial attention."""

from __future__ import annotations

import pytest
import torch

from stockformer.model.edge_attention import EdgeStructure
from stockformer.model.spatial import DenseSpatialAttention, SparseSpatialAttention, topk_edges


def _inputs(b=2, t=3, n=6, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(b, t, n, d, generator=g)
    pe = torch.randn(n, d, generator=g)
    valid = torch.ones(b, t, n, dtype=torch.bool)
    return h, pe, valid


def _layer(kind, role, d=8):
    torch.manual_seed(0)
    if kind == "sparse":
        return SparseSpatialAttention(d, 2, 0.0, role).eval()
    return DenseSpatialAttention(d, 2, 0.0, kind, None, role).eval()


def _edges(n=6):
    src, dst = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    ei = torch.stack([src.reshape(-1), dst.reshape(-1)])
    return EdgeStructure.from_edges(topk_edges(ei, None, n, 3), n)


@pytest.mark.parametrize("kind", ["copy", "plain", "sparse"])
def test_attention_role_keeps_stock_identity_out_of_the_values(kind):
    """Both roles agree when the graph embedding is zero; with scores made constant (query and
    key weights zeroed) the embedding can only act through the values: the position role's
    output moves with it, the attention role's does not."""
    h, pe, valid = _inputs()
    edges = _edges() if kind == "sparse" else None
    pos, att = _layer(kind, "position"), _layer(kind, "attention")
    att.load_state_dict(pos.state_dict())
    zero = torch.zeros_like(pe)
    with torch.no_grad():
        assert torch.allclose(pos(h, valid, zero, edges), att(h, valid, zero, edges), atol=1e-6)
        # attention role == position role with the values computed from h alone
        out_att = att(h, valid, pe, edges)
        out_pos = pos(h, valid, pe, edges)
    assert not torch.allclose(out_att, out_pos, atol=1e-4)
    with torch.no_grad():
        for layer in (pos, att):
            if kind == "sparse":
                for lin in (layer.conv.lin_query, layer.conv.lin_key):
                    lin.weight.zero_()
                    lin.bias.zero_()
            else:
                layer.qkv.weight[:16].zero_()
                layer.qkv.bias[:16].zero_()
        assert torch.allclose(att(h, valid, pe, edges), att(h, valid, zero, edges), atol=1e-6)
        assert not torch.allclose(pos(h, valid, pe, edges), pos(h, valid, zero, edges), atol=1e-4)


def test_graph_role_is_a_model_key():
    from stockformer.config import load_config
    from stockformer.errors import ConfigError

    cfg = load_config("configs/small.yaml", {"model.graph_role": "attention"})
    assert cfg.model.graph_role == "attention"
    with pytest.raises(ConfigError, match="graph_role"):
        load_config("configs/small.yaml", {"model.graph_role": "values"})
