"""Spatial attention across stocks at each time step, three variants (ModelConfig.spatial_attention).

- copy:   the released code's step: full N x N softmax attention, then each stock takes the
          aggregated value of the query that attends to it most. Computed over query blocks with a
          running max/argmax per key, so neither [N, N] per head at once nor the code's
          [B, T, N, N, D] tensor is ever built.
- plain:  ordinary softmax attention via scaled_dot_product_attention.
- sparse: attention over the top-k graph neighbours only (TransformerConv's formula) with CSR
          sparse kernels, so thousands of stocks fit (memory linear in edges and N).
Stocks not valid on a day are never attended to (key padding / their edges dropped).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from stockformer.model.edge_attention import EdgeStructure, edge_attention
from stockformer.model.layers import ResidualFFN, merge_heads, split_heads

_BLOCK_ELEMENTS = 1 << 24  # score elements per query block (~64 MB in float32)


def _usable_keys(valid: torch.Tensor) -> torch.Tensor:
    """Key mask [G, N]; a row with no valid stock keeps all keys (its outputs carry no loss)."""
    return valid | ~valid.any(dim=-1, keepdim=True)


def softmax_column_argmax(
    scores: torch.Tensor, key_ok: torch.Tensor, start: int, best: torch.Tensor, arg: torch.Tensor
) -> torch.Tensor:
    """One query block of the copy step: probs = softmax(scores [G, H, nq, N] masked to key_ok
    [G, N]), updating best / arg [G, H, N] in place with each key's most-attending valid query
    (this block's queries are start .. start + nq - 1)."""
    # masked in place: the matmul's backward does not need its output
    probs = torch.softmax(scores.masked_fill_(~key_ok[:, None, None, :], torch.finfo(scores.dtype).min), dim=-1)
    with torch.no_grad():  # the argmax picks a source row; it carries no gradient
        # invalid queries cannot be copied from
        p = probs.masked_fill(~key_ok[:, None, start : start + scores.shape[2], None], -1.0)
        col_max, col_arg = p.max(dim=-2)
        better = col_max > best
        best.copy_(torch.where(better, col_max, best))
        arg.copy_(torch.where(better, col_arg + start, arg))
    return probs


def copy_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_ok: torch.Tensor, chunk: int | None,
    block=softmax_column_argmax,
) -> torch.Tensor:
    """q, k, v [G, H, N, d]; key_ok [G, N] bool -> [G, H, N, d] (copy-step output). `block`
    computes one query block's probabilities and running argmax (softmax_column_argmax's
    signature)."""
    g, h, n, d = q.shape
    scale = 1.0 / math.sqrt(d)
    if chunk is None:
        chunk = max(1, _BLOCK_ELEMENTS // max(1, g * h * n))
    q = q * scale  # scaled here: [N, d] per graph, not the [N, N] scores
    outs = []
    # the running column max in fp32 (a bf16 probability converts to it exactly)
    best = torch.full((g, h, n), -1.0, dtype=torch.float32, device=q.device)
    arg = torch.zeros((g, h, n), dtype=torch.int32, device=q.device)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        scores = q[:, :, start:stop] @ k.transpose(-1, -2)
        outs.append(block(scores, key_ok, start, best, arg) @ v)
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)  # cat would copy even one block
    # whole rows by index_select (backward: index_add of rows): on CPU much faster than gather
    # with a per-element index, whose backward is an element-wise scatter_add
    rows = (arg + torch.arange(g * h, device=q.device).view(g, h, 1) * n).reshape(-1)
    return out.reshape(g * h * n, d).index_select(0, rows).view(g, h, n, d)


def plain_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_ok: torch.Tensor, chunk: int | None
) -> torch.Tensor:
    mask = key_ok[:, None, None, :]
    if chunk is None or chunk >= q.shape[2]:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    parts = [
        F.scaled_dot_product_attention(q[:, :, s : s + chunk], k, v, attn_mask=mask)
        for s in range(0, q.shape[2], chunk)
    ]
    return torch.cat(parts, dim=2)


def _qk_graph_terms(w_query: torch.Tensor, w_key: torch.Tensor, pe: torch.Tensor):
    """The graph embedding's share of the queries and keys: W_q pe and W_k pe, [N, d] each
    (projections are linear: (W h + b) + W pe is the projection of h + pe, bias added once)."""
    return F.linear(pe, w_query), F.linear(pe, w_key)


def project_with_graph(project, w_query: torch.Tensor, w_key: torch.Tensor, h: torch.Tensor,
                       pe: torch.Tensor | None, graph_role: str):
    """q, k, v = project(h) with the graph embedding pe [N, d] added to the input (graph_role =
    position) or to the queries and keys only (attention); w_query / w_key: their weights."""
    if pe is not None and graph_role == "attention":
        q, k, v = project(h)
        pq, pk = _qk_graph_terms(w_query, w_key, pe)
        return q + pq, k + pk, v
    return project(h if pe is None else h + pe)


class DenseSpatialAttention(nn.Module):
    """copy or plain attention over all stocks, graph embedding added as positional encoding
    (graph_role = position) or to the queries and keys only (attention)."""

    def __init__(self, d: int, heads: int, dropout: float, kind: str, chunk: int | None,
                 graph_role: str = "position") -> None:
        super().__init__()
        if d % heads:
            raise ValueError(f"d_model {d} is not divisible by heads {heads}")
        self.heads, self.kind, self.chunk, self.graph_role = heads, kind, chunk, graph_role
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d)
        self.ffn = ResidualFFN(d, dropout)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, valid: torch.Tensor,
               block=softmax_column_argmax) -> torch.Tensor:
        """q, k, v [B, T, N, D] -> attention output [B, T, N, D] (before the out projection);
        block: the copy step's per-block softmax (copy_attention)."""
        b, t, n, d = q.shape
        q, k, v = (split_heads(x.reshape(b * t, n, d), self.heads) for x in (q, k, v))
        key_ok = _usable_keys(valid.reshape(b * t, n))
        if self.kind == "copy":
            att = copy_attention(q, k, v, key_ok, self.chunk, block)
        else:
            att = plain_attention(q, k, v, key_ok, self.chunk)
        return merge_heads(att).view(b, t, n, d)

    def forward(
        self, h: torch.Tensor, valid: torch.Tensor, pe: torch.Tensor | None, edges=None
    ) -> torch.Tensor:
        d = h.shape[-1]
        w = self.qkv.weight
        q, k, v = project_with_graph(lambda x: self.qkv(x).chunk(3, dim=-1), w[:d], w[d : 2 * d], h, pe,
                                     self.graph_role)
        att = self.attend(q, k, v, valid)
        return self.ffn(self.norm(h + self.drop(self.out(att))))


def topk_edges(edge_index: torch.Tensor, edge_weight: torch.Tensor | None, n: int, k: int) -> torch.Tensor:
    """Keep the k strongest incoming edges (by |weight|) per target stock, plus self-loops."""
    src, dst = edge_index[0].long(), edge_index[1].long()
    keep = src != dst
    src, dst = src[keep], dst[keep]
    w = torch.ones_like(src, dtype=torch.float32) if edge_weight is None else edge_weight[keep].abs().float()
    # sort by (target, -weight), then rank inside each target's run
    order = torch.argsort(w, descending=True, stable=True)
    src, dst = src[order], dst[order]
    order = torch.argsort(dst, stable=True)
    src, dst = src[order], dst[order]
    counts = torch.bincount(dst, minlength=n)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(dst)) - starts[dst]
    keep = rank < k
    loops = torch.arange(n)
    return torch.stack([torch.cat([src[keep], loops]), torch.cat([dst[keep], loops])])


class _NeighbourProjections(nn.Module):
    """Query / key / value projections, named as torch-geometric's TransformerConv names them
    (conv.lin_query, conv.lin_key, conv.lin_value) so earlier run directories still load."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.lin_key = nn.Linear(d, d)
        self.lin_query = nn.Linear(d, d)
        self.lin_value = nn.Linear(d, d)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # three matmuls rather than one fused one: each output is contiguous, no copies after
        return self.lin_query(z), self.lin_key(z), self.lin_value(z)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # TransformerConv also kept an unused root projection (lin_skip); older runs saved it
        for name in ("weight", "bias"):
            state_dict.pop(f"{prefix}lin_skip.{name}", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class SparseSpatialAttention(nn.Module):
    """Attention restricted to the top-k graph neighbours (and self), computed with CSR sparse
    kernels (model/edge_attention.py): memory O(edges + N d) per graph, no per-edge d-vectors."""

    def __init__(self, d: int, heads: int, dropout: float, graph_role: str = "position") -> None:
        super().__init__()
        if d % heads:
            raise ValueError(f"d_model {d} is not divisible by heads {heads}")
        self.heads, self.graph_role = heads, graph_role
        self.conv = _NeighbourProjections(d)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d)
        self.ffn = ResidualFFN(d, dropout)

    def attend(self, h: torch.Tensor, valid: torch.Tensor, pe: torch.Tensor | None,
               edges: EdgeStructure) -> torch.Tensor:
        """The neighbour attention's output [B, T, N, D], before the residual."""
        b, t, n, d = h.shape
        g = b * t
        st = edges.batched(g)
        q, k, v = project_with_graph(self.conv, self.conv.lin_query.weight, self.conv.lin_key.weight, h, pe,
                                     self.graph_role)
        q, k, v = (x.reshape(g * n, self.heads, d // self.heads) for x in (q, k, v))
        # invalid sources speak to nobody but themselves
        allowed = valid.reshape(-1)[st.col] | (st.col == st.row)
        return edge_attention(q, k, v, st, allowed).reshape(b, t, n, d)

    def forward(
        self, h: torch.Tensor, valid: torch.Tensor, pe: torch.Tensor | None, edges: EdgeStructure
    ) -> torch.Tensor:
        return self.ffn(self.norm(h + self.drop(self.attend(h, valid, pe, edges))))
