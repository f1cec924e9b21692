"""Building blocks shared by the Stockformer branches: FFN sub-layers and the temporal modules.

Tensors are laid out [B, T, N, D] (batch, time, stock, channel) throughout.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from stockformer.model import fused_dropout as fused
from stockformer.model.dropout_mask import cpu_keep_mask, cpu_scaled_mask
from stockformer.model.dropout_mask import quantized as _quantized


class _MaskedScale(torch.autograd.Function):
    """x * mask * scale, keeping only the 1-byte mask for backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(mask)
        ctx.scale = scale
        return (x * mask).mul_(scale)  # one temporary, scaled in place

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (mask,) = ctx.saved_tensors
        return (grad * mask).mul_(ctx.scale), None, None


class _ScaledMask(torch.autograd.Function):
    """x * mask where the mask already holds 0 or the scale, in x's dtype (2-byte floats)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (mask,) = ctx.saved_tensors
        return grad * mask, None


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> tuple[torch.Tensor, float]:
    """A dropout keep-mask and its scale.

    Masks come from 16-bit uniforms, so p is rounded to a multiple of 1/65536 (error < 8e-6) and
    the scale uses the rounded value (E[mask * scale] = 1 exactly). On CPU a parallel generator
    seeded from torch's (model/dropout_mask.py): ~3 ms instead of 11 ms (`rand >= p`: 33 ms) per
    7.8 M values; elsewhere four 16-bit lanes of each 64-bit draw of torch's generator. Both are
    fixed by torch.manual_seed and replayed exactly by activation checkpointing.
    """
    cut, scale = _quantized(p)
    if torch.device(device).type == "cpu":
        return cpu_keep_mask(shape, cut), scale
    n = math.prod(shape)
    # random_(min, None) draws all 64 bits (randint's range needs a modulo per value: 25% slower)
    draws = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)
    return draws.view(torch.int16)[:n].view(shape) >= cut - 32768, scale


class Dropout(nn.Module):
    """Inverted dropout like nn.Dropout with cheaper masks (keep_mask; `bernoulli_` is about 5x
    slower than `rand`, itself 3x slower than keep_mask's torch path). Saved for backward: the
    1-byte mask, or on CPU for bf16 / fp16 activations (autocast) a mask in their dtype holding
    0 or the scale (rounded to that dtype, like every product in it), so dropout is one multiply.
    Reproducible under torch.manual_seed and replayed exactly by checkpointing."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability {p} is not in [0, 1)")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type == "cpu" and x.dtype in (torch.bfloat16, torch.float16):
            cut, scale = _quantized(self.p)
            return _ScaledMask.apply(x, cpu_scaled_mask(x.shape, cut, scale, x.dtype))
        keep, scale = keep_mask(x.shape, self.p, x.device)
        return _MaskedScale.apply(x, keep, scale)

    def extra_repr(self) -> str:
        return f"p={self.p}"


_OUR_DROPOUT = Dropout  # the class itself (the benchmark's naive reference swaps the name)


def residual_norm(
    h: torch.Tensor, a: torch.Tensor, drop: nn.Module | None, norm: nn.LayerNorm, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """norm(h + drop(a + bias)): the post-norm residual closing each sub-layer (bias: that of the
    Linear that made a, left out of it). On CPU one fused pass (model/fused_dropout.py) whose
    dropout mask is a hash recomputed in backward, not stored."""
    affine = norm.elementwise_affine and norm.bias is not None
    if (drop is None or isinstance(drop, _OUR_DROPOUT)) and fused.fusable(h, a, norm.normalized_shape, affine):
        p = drop.p if drop is not None and drop.training else 0.0
        return fused.residual_norm(h, a, p, norm.weight, norm.bias, norm.eps, a_bias=bias)
    a = a if bias is None else a + bias
    return norm(h + (a if drop is None else drop(a)))


def relu_dropout(x: torch.Tensor, drop: nn.Module, bias: torch.Tensor | None = None) -> torch.Tensor:
    """drop(relu(x + bias)) (bias: that of the Linear that made x, left out of it); on CPU one
    fused pass that stores no mask (model/fused_dropout.py)."""
    if isinstance(drop, _OUR_DROPOUT) and fused.relu_dropout_fusable(x):
        return fused.relu_dropout(x, drop.p if drop.training else 0.0, bias)
    return drop(torch.relu(x if bias is None else x + bias))


def linear_no_bias(linear: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """x @ W^T without the bias, which the fused op that follows adds (a bias is one more pass
    over the output in torch's CPU matmul, and its gradient another)."""
    return F.linear(x, linear.weight)


class FFN(nn.Module):
    """Two-layer perceptron d_in -> d_hidden -> d_out (ReLU between)."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_in, d_hidden), nn.ReLU(), Dropout(dropout), nn.Linear(d_hidden, d_out)
        )

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """dropout(relu(first layer)): the hidden activations."""
        first, _, drop, _ = self.net
        return relu_dropout(linear_no_bias(first, x), drop, first.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[3](self.hidden(x))


class ResidualFFN(nn.Module):
    """x -> LayerNorm(x + FFN(x)): the feed-forward sub-layer after every attention block."""

    def __init__(self, d: int, dropout: float) -> None:
        super().__init__()
        self.ffn = FFN(d, d, d, dropout)
        self.norm = nn.LayerNorm(d)
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        second = self.ffn.net[3]  # its bias is added inside the residual norm
        return residual_norm(x, linear_no_bias(second, self.ffn.hidden(x)), self.drop, self.norm, second.bias)


def project_qkv(qkv: nn.Linear, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v from a fused Linear(d, 3d), as three matmuls on its weight slices: each output is
    contiguous, so k^T feeds the score matmul as a transposed view instead of a copy (chunks of
    one [.., 3d] output are strided: the matmul copies k, 6 ms per spatial layer at N = 255)."""
    d = qkv.out_features // 3
    w, b = qkv.weight, qkv.bias
    return tuple(F.linear(x, w[i * d : (i + 1) * d], None if b is None else b[i * d : (i + 1) * d])
                 for i in range(3))


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[G, L, D] -> [G, H, L, D/H]."""
    g, n, d = x.shape
    return x.view(g, n, heads, d // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """[G, H, L, d] -> [G, L, H*d]."""
    g, h, n, d = x.shape
    return x.transpose(1, 2).reshape(g, n, h * d)


def short_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax attention over short sequences (mask True = may attend). bf16 on CPU: written out,
    3x faster than scaled_dot_product_attention's CPU flash kernel at T1 = 20 (46 vs 154 ms
    forward + backward for 3,060 sequences); otherwise that kernel (faster in fp32)."""
    if not (q.device.type == "cpu" and q.dtype == torch.bfloat16):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = (q @ k.transpose(-1, -2)).mul_(q.shape[-1] ** -0.5).masked_fill_(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


class CausalTemporalAttention(nn.Module):
    """Low band: per-stock self-attention over time; step t sees steps <= t only.

    Days where the stock did not trade are masked as keys (a step always sees itself,
    so no row is empty).
    """

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        if d % heads:
            raise ValueError(f"d_model {d} is not divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.drop = Dropout(dropout)
        self.norm = nn.LayerNorm(d)
        self.ffn = ResidualFFN(d, dropout)

    def forward(self, h: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        b, t, n, d = h.shape
        seq = h.permute(0, 2, 1, 3).reshape(b * n, t, d)
        q, k, v = (split_heads(z, self.heads) for z in project_qkv(self.qkv, seq))
        causal = torch.ones(t, t, dtype=torch.bool, device=h.device).tril()
        key_ok = valid.permute(0, 2, 1).reshape(b * n, 1, 1, t)
        eye = torch.eye(t, dtype=torch.bool, device=h.device)
        mask = causal & (key_ok | eye)
        att = short_attention(q, k, v, mask)
        att = linear_no_bias(self.out, merge_heads(att)).view(b, n, t, d).permute(0, 2, 1, 3)
        return self.ffn(residual_norm(h, att, self.drop, self.norm, self.out.bias))


class CausalDilatedConv(nn.Module):
    """High band: kernel-2 convolution over time, left-padded so step t sees t and t - dilation."""

    def __init__(self, d: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv = nn.Conv1d(d, d, kernel_size=2, dilation=dilation)
        self.drop = Dropout(dropout)
        self.norm = nn.LayerNorm(d)

    def forward(self, h: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        b, t, n, d = h.shape
        seq = h.permute(0, 2, 3, 1).reshape(b * n, d, t)
        # GELU on the conv's own contiguous layout (on the permuted view its backward is 3x slower)
        y = F.gelu(self.conv(F.pad(seq, (self.dilation, 0))))
        y = y.view(b, n, d, t).permute(0, 3, 1, 2)
        return residual_norm(h, y, self.drop, self.norm)
