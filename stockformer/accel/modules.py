"""CPU-kernel versions of the Stockformer's sub-modules (accel/ops.py): each subclasses the plain
module, adds no parameter or buffer (same state-dict keys) and changes only `forward`; on any
other device it runs the plain forward."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F

from stockformer.accel.ops import (
    linear_no_bias,
    project_qkv,
    relu_dropout,
    residual_norm,
    short_attention,
    softmax_argmax_block,
)
from stockformer.model.layers import (
    FFN,
    CausalDilatedConv,
    CausalTemporalAttention,
    ResidualFFN,
    causal_valid_mask,
    merge_heads,
    split_heads,
)
from stockformer.model.spatial import (
    DenseSpatialAttention,
    SparseSpatialAttention,
    project_with_graph,
)
from stockformer.model.stockformer import DecouplingFlow


def _cpu(x: torch.Tensor) -> bool:
    return x.device.type == "cpu"


class CpuFFN(FFN):
    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """dropout(relu(first layer)), the first layer's bias added inside the fused pass."""
        first, drop, _ = self.net
        return relu_dropout(linear_no_bias(first, x), drop, first.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _cpu(x):
            return super().forward(x)
        return self.net[2](self.hidden(x))


class CpuResidualFFN(ResidualFFN):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (_cpu(x) and isinstance(self.ffn, CpuFFN)):
            return super().forward(x)
        second = self.ffn.net[2]  # its bias is added inside the residual norm
        return residual_norm(x, linear_no_bias(second, self.ffn.hidden(x)), self.drop, self.norm, second.bias)


class CpuTemporalAttention(CausalTemporalAttention):
    def forward(self, h: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        if not _cpu(h):
            return super().forward(h, valid)
        b, t, n, d = h.shape
        seq = h.permute(0, 2, 1, 3).reshape(b * n, t, d)
        q, k, v = (split_heads(z, self.heads) for z in project_qkv(self.qkv, seq))
        att = short_attention(q, k, v, causal_valid_mask(valid))
        att = linear_no_bias(self.out, merge_heads(att)).view(b, n, t, d).permute(0, 2, 1, 3)
        return self.ffn(residual_norm(h, att, self.drop, self.norm, self.out.bias))


class CpuDilatedConv(CausalDilatedConv):
    def forward(self, h: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        if not _cpu(h):
            return super().forward(h, valid)
        return residual_norm(h, self.convolve(h), self.drop, self.norm)


class CpuDenseSpatialAttention(DenseSpatialAttention):
    def forward(self, h: torch.Tensor, valid: torch.Tensor, pe: torch.Tensor | None, edges=None) -> torch.Tensor:
        if not _cpu(h):
            return super().forward(h, valid, pe, edges)
        d = h.shape[-1]
        w = self.qkv.weight
        q, k, v = project_with_graph(partial(project_qkv, self.qkv), w[:d], w[d : 2 * d], h, pe, self.graph_role)
        att = self.attend(q, k, v, valid, block=softmax_argmax_block)
        return self.ffn(residual_norm(h, linear_no_bias(self.out, att), self.drop, self.norm, self.out.bias))


class CpuSparseSpatialAttention(SparseSpatialAttention):
    def forward(self, h: torch.Tensor, valid: torch.Tensor, pe: torch.Tensor | None, edges) -> torch.Tensor:
        if not _cpu(h):
            return super().forward(h, valid, pe, edges)
        return self.ffn(residual_norm(h, self.attend(h, valid, pe, edges), self.drop, self.norm))


class CpuDecouplingFlow(DecouplingFlow):
    def forward(self, x: torch.Tensor, low: torch.Tensor, high: torch.Tensor, up: torch.Tensor):
        if not _cpu(x):
            return super().forward(x, low, high, up)
        hid = F.linear(self.inputs(x, low, high, up), self._first_weight())
        return self.outputs(relu_dropout(hid, self.drop, self.factors.bias))


# plain class -> its CPU version (accel/swap.py matches the exact type: subclasses stay as written)
CPU_MODULES = {
    FFN: CpuFFN,
    ResidualFFN: CpuResidualFFN,
    CausalTemporalAttention: CpuTemporalAttention,
    CausalDilatedConv: CpuDilatedConv,
    DenseSpatialAttention: CpuDenseSpatialAttention,
    SparseSpatialAttention: CpuSparseSpatialAttention,
    DecouplingFlow: CpuDecouplingFlow,
}
