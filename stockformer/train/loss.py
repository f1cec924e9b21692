"""The multi-task loss: L = R(y, y_hat) + R(y_low, y_hat_low) + lambda * [CE(fused) + CE(low)].

R is the regression term: MAE in the paper; MSE, a per-day negative IC or a listwise
(ListNet) loss are the alternatives (train.loss). The regression target may be a processed
version of the return (train.target, see targets.py); the direction head's cross-entropy always
uses the sign of the raw return. Every term is averaged over valid labels only (y_mask);
invalid labels never contribute (the released code counts them as class 0 in the
cross-entropy; this does not).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("mae", "mse", "ic", "listnet")


def masked_mae(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(pred.dtype)
    return ((pred - target).abs() * m).sum() / m.sum().clamp_min(1.0)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(pred.dtype)
    return (((pred - target) ** 2) * m).sum() / m.sum().clamp_min(1.0)


def masked_neg_ic(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """-mean over rows (days) of the Pearson correlation across the last axis (stocks).
    Rows with fewer than 3 valid stocks are left out."""
    m = mask.to(pred.dtype)
    n = m.sum(-1)
    rows = n >= 3
    if not bool(rows.any()):
        return pred.sum() * 0.0
    nn_ = n.clamp_min(1.0).unsqueeze(-1)
    dp = (pred - (pred * m).sum(-1, keepdim=True) / nn_) * m
    dt = (target - (target * m).sum(-1, keepdim=True) / nn_) * m
    cov = (dp * dt).sum(-1)
    denom = ((dp * dp).sum(-1) * (dt * dt).sum(-1)).clamp_min(1e-12).sqrt()
    return -(cov / denom)[rows].mean()


def masked_listnet(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ListNet top-one cross-entropy per row: softmax(target) against log-softmax(pred) over the
    valid stocks, averaged over rows with at least 2 valid stocks."""
    rows = mask.sum(-1) >= 2
    if not bool(rows.any()):
        return pred.sum() * 0.0
    neg = torch.finfo(pred.dtype).min
    p = torch.log_softmax(pred.masked_fill(~mask, neg), -1)
    q = torch.softmax(target.masked_fill(~mask, neg), -1)
    ce = -(q * p.masked_fill(~mask, 0.0)).sum(-1)
    return ce[rows].mean()


REGRESSION_TERMS = {"mae": masked_mae, "mse": masked_mse, "ic": masked_neg_ic, "listnet": masked_listnet}


def masked_ce(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """logits [..., 2], target [...] float return: class 1 = up (> 0)."""
    cls = (target > 0).long()
    ce = F.cross_entropy(logits.reshape(-1, 2).float(), cls.reshape(-1), reduction="none")
    m = mask.reshape(-1).to(ce.dtype)
    return (ce * m).sum() / m.sum().clamp_min(1.0)


def multitask_loss(
    out: dict[str, torch.Tensor],
    y: torch.Tensor,
    y_mask: torch.Tensor,
    *,
    y_low: torch.Tensor | None = None,
    lambda_cls: float = 2.0,
    tasks: str = "both",
    loss: str = "mae",
    target: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Returns the total under 'loss' plus each term, named after it (mae, mae_low, ce, ...).

    y: the raw return [B, T2, N] (the direction label); target: what the regression heads fit
    (defaults to y); y_low: the low band of `target`, for the low-band head."""
    if loss not in REGRESSION_TERMS:
        raise ValueError(f"unknown loss {loss!r} (known: {', '.join(LOSSES)})")
    reg_term = REGRESSION_TERMS[loss]
    target = y if target is None else target
    terms: dict[str, torch.Tensor] = {}
    mask = y_mask.bool()
    if tasks in ("both", "regression"):
        terms[loss] = reg_term(out["reg"].float(), target.float(), mask)
        if "reg_low" in out and y_low is not None:
            terms[f"{loss}_low"] = reg_term(out["reg_low"].float(), y_low.float(), mask)
    if tasks in ("both", "classification"):
        ce = masked_ce(out["logits"], y, y_mask)
        if "logits_low" in out:
            ce = ce + masked_ce(out["logits_low"], y, y_mask)
        terms["ce"] = ce
    total = sum(terms.get(k, 0.0) for k in (loss, f"{loss}_low"))
    if "ce" in terms:
        # classification-only training keeps a unit weight: lambda scales against the regression terms
        total = total + (terms["ce"] if tasks == "classification" else lambda_cls * terms["ce"])
    terms["loss"] = total
    return terms
