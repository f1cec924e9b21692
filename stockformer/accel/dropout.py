"""Inverted dropout with counter-hash masks (accel/dropout_mask.py), for CPU tensors the fused
kernels do not take (odd widths, fp16, fp64): torch's mt19937 generator is serial and
`bernoulli_` slower still, so masks come from the parallel hash, keyed by one draw of torch's
generator (torch.manual_seed fixes them; activation checkpointing replays them)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stockformer.accel.dropout_mask import cpu_keep_mask, cpu_scaled_mask, quantized


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
    """A CPU dropout keep-mask and its scale. Masks come from 16-bit uniforms, so p is rounded to
    a multiple of 1/65536 (error < 8e-6) and the scale uses the rounded value (E[mask * scale] = 1
    exactly)."""
    if torch.device(device).type != "cpu":
        raise ValueError(f"keep_mask: CPU only (got {device}); other devices use torch's dropout")
    cut, scale = quantized(p)
    return cpu_keep_mask(shape, cut), scale


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout of x. On CPU: the hash masks; saved for backward the 1-byte mask, or for
    bf16 / fp16 activations (autocast) a mask in their dtype holding 0 or the scale, so dropout
    is one multiply. Other devices: torch's dropout."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, True)
    if x.dtype in (torch.bfloat16, torch.float16):
        cut, scale = quantized(p)
        return _ScaledMask.apply(x, cpu_scaled_mask(x.shape, cut, scale, x.dtype))
    keep, scale = keep_mask(x.shape, p, x.device)
    return _MaskedScale.apply(x, keep, scale)


class Dropout(nn.Module):
    """`dropout` as a module, like nn.Dropout (p in [0, 1))."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability {p} is not in [0, 1)")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
