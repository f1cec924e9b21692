"""Spatial attention across stocks at each time step, three variants (ModelConfig.spatial_attention).

- copy:   the released code's step: full N x N softmax attention, then each stock takes the
          aggregated value of the query that attends to it most. Computed over query blocks with a
          running max/argmax per key, so neither [N, N] per head at once nor the code's
          [B, T, N, N, D] tensor is ever built.
- plain:  ordinary softmax attention via scaled_dot_product_attention.
- sparse: attention over the top-k graph neighbours only (torch-geometric TransformerConv),
          in chunks of graphs with activation checkpointing so thousands of stocks fit.
Stocks not valid on a day are never attended to (key padding / their edges dropped).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from stockformer.model.layers import ResidualFFN, merge_heads, split_heads

_BLOCK_ELEMENTS = 1 << 24  # score elements per query block (~64 MB in float32)
_EDGE_ELEMENTS = 1 << 24  # edge x channel elements per sparse chunk


def _usable_keys(valid: torch.Tensor) -> torch.Tensor:
    """Key mask [G, N]; a row with no valid stock keeps all keys (its outputs carry no loss)."""
    return valid | ~valid.any(dim=-1, keepdim=True)


def copy_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_ok: torch.Tensor, chunk: int | None
) -> torch.Tensor:
    """q, k, v [G, H, N, d]; key_ok [G, N] bool -> [G, H, N, d] (copy-step output)."""
    g, h, n, d = q.shape
    scale = 1.0 / math.sqrt(d)
    if chunk is None:
        chunk = max(1, _BLOCK_ELEMENTS // max(1, g * h * n))
    neg = torch.finfo(q.dtype).min
    bias = torch.zeros(g, 1, 1, n, dtype=q.dtype, device=q.device).masked_fill(
        ~key_ok[:, None, None, :], neg
    )
    outs = []
    best = torch.full((g, h, n), -1.0, dtype=q.dtype, device=q.device)
    arg = torch.zeros((g, h, n), dtype=torch.long, device=q.device)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        probs = torch.softmax(q[:, :, start:stop] @ k.transpose(-1, -2) * scale + bias, dim=-1)
        outs.append(probs @ v)
        with torch.no_grad():  # the argmax picks a source row; it carries no gradient
            # invalid queries cannot be copied from
            p = probs.masked_fill(~key_ok[:, None, start:stop, None], -1.0)
            col_max, col_arg = p.max(dim=-2)
            better = col_max > best
            best = torch.where(better, col_max, best)
            arg = torch.where(better, col_arg + start, arg)
    out = torch.cat(outs, dim=2)
    return out.gather(2, arg.unsqueeze(-1).expand(g, h, n, d))


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


class DenseSpatialAttention(nn.Module):
    """copy or plain attention over all stocks, graph embedding added as positional encoding."""

    def __init__(self, d: int, heads: int, dropout: float, kind: str, chunk: int | None) -> None:
        super().__init__()
        if d % heads:
            raise ValueError(f"d_model {d} is not divisible by heads {heads}")
        self.heads, self.kind, self.chunk = heads, kind, chunk
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d)
        self.ffn = ResidualFFN(d, dropout)

    def forward(
        self, h: torch.Tensor, valid: torch.Tensor, pe: torch.Tensor | None, edges=None
    ) -> torch.Tensor:
        b, t, n, d = h.shape
        z = h if pe is None else h + pe
        q, k, v = (split_heads(x.reshape(b * t, n, d), self.heads) for x in self.qkv(z).chunk(3, -1))
        key_ok = _usable_keys(valid.reshape(b * t, n))
        fn = copy_attention if self.kind == "copy" else plain_attention
        att = merge_heads(fn(q, k, v, key_ok, self.chunk)).view(b, t, n, d)
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


class SparseSpatialAttention(nn.Module):
    """Attention restricted to graph neighbours (torch-geometric TransformerConv)."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        from torch_geometric.nn import TransformerConv

        if d % heads:
            raise ValueError(f"d_model {d} is not divisible by heads {heads}")
        self.conv = TransformerConv(d, d // heads, heads=heads, concat=True, root_weight=False)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d)
        self.ffn = ResidualFFN(d, dropout)

    def _run(self, x: torch.Tensor, valid: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        """x [G, N, D], valid [G, N] -> [G, N, D] for G graphs sharing `edges` [2, E]."""
        g, n, d = x.shape
        offs = (torch.arange(g, device=x.device) * n).view(g, 1, 1)
        ei = (edges.unsqueeze(0) + offs).permute(1, 0, 2).reshape(2, -1)
        flat_ok = valid.reshape(-1)
        ei = ei[:, flat_ok[ei[0]] | (ei[0] == ei[1])]  # invalid sources speak to nobody else
        return self.conv(x.reshape(g * n, d), ei).view(g, n, d)

    def forward(
        self, h: torch.Tensor, valid: torch.Tensor, pe: torch.Tensor | None, edges: torch.Tensor
    ) -> torch.Tensor:
        b, t, n, d = h.shape
        z = (h if pe is None else h + pe).reshape(b * t, n, d)
        ok = valid.reshape(b * t, n)
        per = max(1, _EDGE_ELEMENTS // max(1, edges.shape[1] * d))
        parts = []
        for s in range(0, b * t, per):
            args = (z[s : s + per], ok[s : s + per], edges)
            if torch.is_grad_enabled() and b * t > per:
                parts.append(checkpoint(self._run, *args, use_reentrant=False))
            else:
                parts.append(self._run(*args))
        att = torch.cat(parts, 0).view(b, t, n, d)
        return self.ffn(self.norm(h + self.drop(att)))
