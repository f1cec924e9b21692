"""The CPU training step's hot operations, each with its torch fallback (other dtypes, shapes).

- residual_norm / relu_dropout: one fused pass each way (accel/fused_dropout.py) instead of
  torch's separate dropout, add, bias and LayerNorm passes, all memory-bound on CPU; the dropout
  mask is a hash recomputed in backward, never stored.
- project_qkv: q, k, v as contiguous outputs, so k^T enters the score matmul as a view.
- short_attention: bf16 attention over T1 steps written out (torch's CPU flash kernel is slow
  for such short sequences).
- softmax_argmax_block: the copy step's masked softmax and column argmax in one pass
  (accel/softmax_kernels.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stockformer.accel import fused_dropout as fused
from stockformer.accel import softmax_kernels
from stockformer.accel.dropout import dropout
from stockformer.model.spatial import softmax_column_argmax


def _drop_p(drop: nn.Module) -> float | None:
    """The dropout probability in effect, or None for a module that is not an nn.Dropout."""
    if type(drop) is not nn.Dropout:
        return None
    return drop.p if drop.training else 0.0


def _apply_drop(drop: nn.Module, x: torch.Tensor) -> torch.Tensor:
    p = _drop_p(drop)
    return drop(x) if p is None else dropout(x, p, p > 0.0)


def residual_norm(h: torch.Tensor, a: torch.Tensor, drop: nn.Module, norm: nn.LayerNorm,
                  bias: torch.Tensor | None = None) -> torch.Tensor:
    """norm(h + drop(a + bias)): the post-norm residual closing a sub-layer (bias: that of the
    Linear that made a, left out of its matmul)."""
    p = _drop_p(drop)
    affine = norm.elementwise_affine and norm.bias is not None
    if p is not None and fused.fusable(h, a, norm.normalized_shape, affine):
        return fused.residual_norm(h, a, p, norm.weight, norm.bias, norm.eps, a_bias=bias)
    return norm(h + _apply_drop(drop, a if bias is None else a + bias))


def relu_dropout(x: torch.Tensor, drop: nn.Module, bias: torch.Tensor | None = None) -> torch.Tensor:
    """drop(relu(x + bias)) (bias: that of the Linear that made x, left out of its matmul)."""
    p = _drop_p(drop)
    if p is not None and fused.relu_dropout_fusable(x):
        return fused.relu_dropout(x, p, bias)
    return _apply_drop(drop, torch.relu(x if bias is None else x + bias))


def linear_no_bias(linear: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """x @ W^T without the bias, which the fused op that follows adds (on CPU a bias is one more
    pass over the output in the matmul, and its gradient another)."""
    return F.linear(x, linear.weight)


def project_qkv(qkv: nn.Linear, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v from a fused Linear(d, 3d), as three matmuls on its weight slices: each output is
    contiguous, so k^T feeds the score matmul as a transposed view instead of a copy (chunks of
    one [.., 3d] output are strided: the matmul would copy k)."""
    d = qkv.out_features // 3
    w, b = qkv.weight, qkv.bias
    return tuple(F.linear(x, w[i * d : (i + 1) * d], None if b is None else b[i * d : (i + 1) * d])
                 for i in range(3))


def short_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax attention over short sequences (mask True = may attend). bf16 on CPU: written out
    (scaled_dot_product_attention's CPU flash kernel is built for long sequences, and slower at
    T1 = 20); otherwise that kernel (faster in fp32)."""
    if not (q.device.type == "cpu" and q.dtype == torch.bfloat16):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = (q @ k.transpose(-1, -2)).mul_(q.shape[-1] ** -0.5).masked_fill_(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def softmax_argmax_block(scores: torch.Tensor, key_ok: torch.Tensor, start: int, best: torch.Tensor,
                         arg: torch.Tensor) -> torch.Tensor:
    """model.spatial.softmax_column_argmax (same signature) in one fused pass on CPU."""
    if softmax_kernels.supports(scores):
        return softmax_kernels.MaskedSoftmaxColumnArgmax.apply(scores, key_ok, start, best, arg)
    return softmax_column_argmax(scores, key_ok, start, best, arg)
