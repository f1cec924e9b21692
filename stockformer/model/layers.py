"""Building blocks shared by the Stockformer branches: FFN sub-layers and the temporal modules.

Tensors are laid out [B, T, N, D] (batch, time, stock, channel) throughout. Plain PyTorch: this
is the reference and the CUDA path (stockformer/accel/ swaps in CPU kernels for training).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FFN(nn.Module):
    """Two-layer perceptron d_in -> d_hidden -> d_out: Linear, ReLU, dropout, Linear."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, d_hidden), nn.Dropout(dropout), nn.Linear(d_hidden, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, drop, second = self.net
        return second(drop(F.relu(first(x))))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # run directories saved before the unused nn.ReLU left net (net.1) kept the second
        # Linear as net.3
        for name in ("weight", "bias"):
            old = f"{prefix}net.3.{name}"
            if old in state_dict:
                state_dict[f"{prefix}net.2.{name}"] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class ResidualFFN(nn.Module):
    """x -> LayerNorm(x + dropout(FFN(x))): the feed-forward sub-layer after every attention block."""

    def __init__(self, d: int, dropout: float) -> None:
        super().__init__()
        self.ffn = FFN(d, d, d, dropout)
        self.norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)

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


def causal_valid_mask(valid: torch.Tensor) -> torch.Tensor:
    """valid [B, T, N] -> attention mask [B*N, 1, T, T] (True = may attend): step t sees steps
    <= t where the stock traded, and always itself (so no row is empty)."""
    b, t, n = valid.shape
    causal = torch.ones(t, t, dtype=torch.bool, device=valid.device).tril()
    key_ok = valid.permute(0, 2, 1).reshape(b * n, 1, 1, t)
    eye = torch.eye(t, dtype=torch.bool, device=valid.device)
    return causal & (key_ok | eye)


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
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d)
        self.ffn = ResidualFFN(d, dropout)

    def forward(self, h: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        b, t, n, d = h.shape
        seq = h.permute(0, 2, 1, 3).reshape(b * n, t, d)
        q, k, v = (split_heads(z, self.heads) for z in self.qkv(seq).chunk(3, dim=-1))
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_valid_mask(valid))
        att = self.out(merge_heads(att)).view(b, n, t, d).permute(0, 2, 1, 3)
        return self.ffn(self.norm(h + self.drop(att)))


class CausalDilatedConv(nn.Module):
    """High band: kernel-2 convolution over time, left-padded so step t sees t and t - dilation."""

    def __init__(self, d: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv = nn.Conv1d(d, d, kernel_size=2, dilation=dilation)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d)

    def convolve(self, h: torch.Tensor) -> torch.Tensor:
        """GELU(conv(h)) [B, T, N, D], before the residual."""
        b, t, n, d = h.shape
        seq = h.permute(0, 2, 3, 1).reshape(b * n, d, t)
        # GELU on the conv's own contiguous layout (on the permuted view its backward is slower)
        y = F.gelu(self.conv(F.pad(seq, (self.dilation, 0))))
        return y.view(b, n, d, t).permute(0, 3, 1, 2)

    def forward(self, h: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        return self.norm(h + self.drop(self.convolve(h)))
