"""Training-target processing: what the regression heads learn, per day's cross-section.

The raw forward return (the paper) is mostly market-wide movement and fat-tailed noise; a
stock selector only needs each day's ordering. `zscore` and `rank` (qlib's CSRankNorm)
re-express every day's labels against that same day's other stocks, so they add no look-ahead:
row (sample, step) is transformed from its own valid cells only. Metrics, model selection and
backtests always use the raw return; only the loss sees the processed target.
"""

from __future__ import annotations

import numpy as np
import torch

TARGETS = ("raw", "zscore", "rank")
_MIN_STOCKS = 2  # a cross-section of one stock has no ordering: such rows become 0


def _valid_rows(mask: torch.Tensor) -> torch.Tensor:
    return mask.sum(-1, keepdim=True) >= _MIN_STOCKS


def cross_section_zscore(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(y - mean) / std over the valid stocks of each row (last axis); invalid cells -> 0."""
    m = mask.to(torch.float64)
    x = y.to(torch.float64)
    n = m.sum(-1, keepdim=True).clamp_min(1.0)
    mean = (x * m).sum(-1, keepdim=True) / n
    var = (((x - mean) * m) ** 2).sum(-1, keepdim=True) / n
    z = (x - mean) / var.sqrt().clamp_min(1e-12)
    z = torch.where(mask & _valid_rows(mask) & (var > 0), z, torch.zeros_like(z))
    return z.to(y.dtype)


def cross_section_rank_gauss(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Rank of each valid stock in its row mapped to a standard normal quantile:
    Phi^-1((rank - 0.5) / n), ties broken by average rank; invalid cells -> 0."""
    x = y.to(torch.float64).masked_fill(~mask, float("inf"))
    order = x.argsort(dim=-1, stable=True)
    pos = torch.empty_like(order)
    pos.scatter_(-1, order, torch.arange(x.shape[-1], device=x.device).expand_as(order))
    # average ranks over ties, so equal returns get equal targets
    sorted_x = x.gather(-1, order)
    first = torch.cat([torch.ones_like(sorted_x[..., :1], dtype=torch.bool),
                       sorted_x[..., 1:] != sorted_x[..., :-1]], -1)
    group = first.cumsum(-1) - 1
    idx = torch.arange(x.shape[-1], device=x.device, dtype=torch.float64).expand_as(sorted_x)
    g_sum = torch.zeros_like(sorted_x).scatter_add_(-1, group, idx)
    g_cnt = torch.zeros_like(sorted_x).scatter_add_(-1, group, torch.ones_like(idx))
    avg_sorted = g_sum.gather(-1, group) / g_cnt.gather(-1, group)
    rank = avg_sorted.gather(-1, pos)  # 0-based average rank
    n = mask.sum(-1, keepdim=True).to(torch.float64).clamp_min(1.0)
    out = torch.special.ndtri(((rank + 0.5) / n).clamp(1e-6, 1 - 1e-6))
    out = torch.where(mask & _valid_rows(mask), out, torch.zeros_like(out))
    return out.to(y.dtype)


def process_target(y: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor:
    """y, mask [..., N]: the training target under `kind` (raw returns it unchanged)."""
    if kind == "raw":
        return y
    if kind == "zscore":
        return cross_section_zscore(y, mask)
    if kind == "rank":
        return cross_section_rank_gauss(y, mask)
    raise ValueError(f"unknown training target {kind!r} (known: {', '.join(TARGETS)})")


def return_scale(labels, mask, kind: str) -> float:
    """The factor that turns a regression output trained on `kind` back into return units:
    1 for raw; otherwise the median over training days of the raw labels' cross-sectional
    std, so pred_return reads as an expected return relative to its day's cross-section.
    Computed from the training days only (labels, mask [A, N]), so it adds no look-ahead."""
    if kind == "raw":
        return 1.0
    y = np.where(mask, labels, np.nan)
    enough = np.sum(mask, axis=1) >= _MIN_STOCKS
    if not enough.any():
        return 1.0
    return float(np.nanmedian(np.nanstd(y[enough], axis=1)))
