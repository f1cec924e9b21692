"""Softmax attention over a fixed edge list with CSR sparse kernels (forward and backward).

Used by the sparse spatial attention: each stock attends to its top-k graph neighbours (and
itself). Instead of gathering a [E, d] key and value row per edge (what torch-geometric's
TransformerConv does; E = edges x graphs in the batch, ~1.7 M at N = 5,000, one day), the
scores come from a sampled dense-dense product (SDDMM) and the output from a sparse-dense
product (SpMM), so nothing of size E x d is ever built: memory is O(E + N d), in training too
(backward is written out with the same two kernels, it saves q, k, v and the E weights).

Semantics match TransformerConv(concat=True, root_weight=False, dropout=0): for target i,
out_i = sum_j softmax_j(q_i . k_j / sqrt(c)) v_j over the edges j -> i that are not masked.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class EdgeStructure:
    """One graph's edges sorted by (target, source), with the transpose's order precomputed."""

    n: int
    row: torch.Tensor  # [E] target of each edge (sorted)
    col: torch.Tensor  # [E] source
    crow: torch.Tensor  # [n + 1] CSR row pointers over targets
    perm_t: torch.Tensor  # [E] edge order sorted by (source, target): the transpose's values
    crow_t: torch.Tensor  # [n + 1] row pointers over sources
    col_t: torch.Tensor  # [E] the transpose's column (= target)
    # the last batched(g): every sparse layer (and each checkpoint recompute) asks for the same g
    _batched: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_edges(cls, edges: torch.Tensor, n: int) -> EdgeStructure:
        """edges [2, E] (source, target) int64; every target should have a self-loop."""
        src, dst = edges[0].long(), edges[1].long()
        order = torch.argsort(dst * n + src, stable=True)
        row, col = dst[order], src[order]
        perm_t = torch.argsort(col * n + row, stable=True)
        return cls(n=n, row=row, col=col, crow=_pointers(row, n), perm_t=perm_t,
                   crow_t=_pointers(col, n), col_t=row[perm_t])

    @property
    def edges(self) -> int:
        return int(self.row.numel())

    def to(self, device: torch.device | str) -> EdgeStructure:
        names = ("row", "col", "crow", "perm_t", "crow_t", "col_t")
        return EdgeStructure(n=self.n, **{k: getattr(self, k).to(device) for k in names})

    def batched(self, g: int) -> BatchedStructure:
        """The block-diagonal structure of g copies of this graph (rows g * n), built once per g
        (at N = 5,000 and g = 80 it is seven index arrays of ~54 MB each)."""
        if g not in self._batched:
            self._batched.clear()
            self._batched[g] = self._build_batched(g)
        return self._batched[g]

    def _build_batched(self, g: int) -> BatchedStructure:
        e, n, dev = self.edges, self.n, self.row.device
        node_off = (torch.arange(g, device=dev) * n).view(g, 1)
        edge_off = (torch.arange(g, device=dev) * e).view(g, 1)

        def ptr(crow: torch.Tensor) -> torch.Tensor:
            body = (crow[:-1].view(1, -1) + edge_off).reshape(-1)
            return torch.cat([body, torch.tensor([g * e], device=dev)])

        return BatchedStructure(
            rows=g * n,
            row=(self.row.view(1, -1) + node_off).reshape(-1),
            col=(self.col.view(1, -1) + node_off).reshape(-1),
            crow=ptr(self.crow),
            perm_t=(self.perm_t.view(1, -1) + edge_off).reshape(-1),
            crow_t=ptr(self.crow_t),
            col_t=(self.col_t.view(1, -1) + node_off).reshape(-1),
        )


@dataclass(frozen=True)
class BatchedStructure:
    rows: int
    row: torch.Tensor
    col: torch.Tensor
    crow: torch.Tensor
    perm_t: torch.Tensor
    crow_t: torch.Tensor
    col_t: torch.Tensor

    def matrix(self, values: torch.Tensor) -> torch.Tensor:
        return _csr(self.crow, self.col, values, self.rows)

    def matrix_t(self, values: torch.Tensor) -> torch.Tensor:
        """The transpose of matrix(values), as CSR."""
        return _csr(self.crow_t, self.col_t, values[self.perm_t], self.rows)


def _csr(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, rows: int) -> torch.Tensor:
    # the structure is valid by construction: skip torch's per-call invariant check
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "CSR support is in beta"
        return torch.sparse_csr_tensor(crow, col, values, (rows, rows), check_invariants=False)


def _pointers(sorted_rows: torch.Tensor, n: int) -> torch.Tensor:
    counts = torch.bincount(sorted_rows, minlength=n)
    return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])


def _sddmm(st: BatchedStructure, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per edge (i <- j): a_i . b_j, as a [E] vector."""
    pattern = st.matrix(a.new_zeros(st.row.numel()))
    return torch.sparse.sampled_addmm(pattern, a, b.t(), beta=0.0).values()


def _row_sum(st: BatchedStructure, x: torch.Tensor) -> torch.Tensor:
    return x.new_zeros(st.rows).index_add_(0, st.row, x)


def _row_softmax(st: BatchedStructure, s: torch.Tensor) -> torch.Tensor:
    top = s.new_full((st.rows,), -math.inf).scatter_reduce_(
        0, st.row, s, "amax", include_self=True
    )
    e = torch.exp(s - top[st.row])  # masked edges (-inf) -> 0; every row keeps its self-loop
    return e / _row_sum(st, e)[st.row]


class _EdgeSoftmaxAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, bias, st: BatchedStructure, scale: float):
        p = _row_softmax(st, _sddmm(st, q, k) * scale + bias)
        ctx.save_for_backward(q, k, v, p)
        ctx.st, ctx.scale = st, scale
        return st.matrix(p) @ v

    @staticmethod
    def backward(ctx, dout):
        q, k, v, p = ctx.saved_tensors
        st, scale = ctx.st, ctx.scale
        dout = dout.contiguous()
        dp = _sddmm(st, dout, v)
        ds = p * (dp - _row_sum(st, p * dp)[st.row]) * scale  # softmax backward, per row
        dq = st.matrix(ds) @ k
        dk = st.matrix_t(ds) @ q
        dv = st.matrix_t(p) @ dout
        return dq, dk, dv, None, None, None


def edge_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, st: BatchedStructure, allowed: torch.Tensor
) -> torch.Tensor:
    """q, k, v [R, H, C] (R = st.rows); allowed [E] bool (False = edge masked) -> [R, H, C].

    Every row must keep at least one allowed edge (its self-loop)."""
    r, h, c = q.shape
    dtype = q.dtype
    if dtype in (torch.float16, torch.bfloat16):  # the sparse kernels run in fp32 (and CPU has
        q, k, v = q.float(), k.float(), v.float()  # no bf16 sparse matmul), autocast or not
    bias = q.new_zeros(allowed.shape).masked_fill_(~allowed, -math.inf)
    scale = 1.0 / math.sqrt(c)
    with torch.autocast(device_type=q.device.type, enabled=False):
        outs = [
            _EdgeSoftmaxAttention.apply(q[:, i].contiguous(), k[:, i].contiguous(),
                                        v[:, i].contiguous(), bias, st, scale)
            for i in range(h)
        ]
    return torch.stack(outs, 1).to(dtype)
