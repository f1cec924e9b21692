"""Building blocks shared by the Stockformer branches: FFN sub-layers and the temporal modules.

Tensors are laid out [B, T, N, D] (batch, time, stock, channel) throughout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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


class Dropout(nn.Module):
    """Inverted dropout like nn.Dropout, drawing the mask with uniform `rand` instead of
    `bernoulli_`, which is about 5x slower on CPU (measured: 82 ms vs 15 ms for 2.6 M values).
    The masks come from torch's seeded generator (reproducible under torch.manual_seed, and
    replayed exactly by activation checkpointing)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability {p} is not in [0, 1)")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, device=x.device) >= self.p
        return _MaskedScale.apply(x, keep, 1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class FFN(nn.Module):
    """Two-layer perceptron d_in -> d_hidden -> d_out (ReLU between)."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_in, d_hidden), nn.ReLU(), Dropout(dropout), nn.Linear(d_hidden, d_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ResidualFFN(nn.Module):
    """x -> LayerNorm(x + FFN(x)): the feed-forward sub-layer after every attention block."""

    def __init__(self, d: int, dropout: float) -> None:
        super().__init__()
        self.ffn = FFN(d, d, d, dropout)
        self.norm = nn.LayerNorm(d)
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.drop(self.ffn(x)))


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[G, L, D] -> [G, H, L, D/H]."""
    g, n, d = x.shape
    return x.view(g, n, heads, d // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """[G, H, L, d] -> [G, L, H*d]."""
    g, h, n, d = x.shape
    return x.transpose(1, 2).reshape(g, n, h * d)


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
        q, k, v = (split_heads(z, self.heads) for z in self.qkv(seq).chunk(3, dim=-1))
        causal = torch.ones(t, t, dtype=torch.bool, device=h.device).tril()
        key_ok = valid.permute(0, 2, 1).reshape(b * n, 1, 1, t)
        eye = torch.eye(t, dtype=torch.bool, device=h.device)
        mask = causal & (key_ok | eye)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        att = self.out(merge_heads(att)).view(b, n, t, d).permute(0, 2, 1, 3)
        return self.ffn(self.norm(h + self.drop(att)))


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
        y = self.conv(F.pad(seq, (self.dilation, 0)))
        y = y.view(b, n, d, t).permute(0, 3, 1, 2)
        return self.norm(h + self.drop(F.gelu(y)))
