"""The multi-task loss: L = MAE(y, y_hat) + MAE(y_low, y_hat_low) + lambda * [CE(fused) + CE(low)].

Every term is averaged over valid labels only (y_mask); invalid labels never contribute
(the released code counts them as class 0 in the cross-entropy; this does not).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_mae(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(pred.dtype)
    return ((pred - target).abs() * m).sum() / m.sum().clamp_min(1.0)


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
) -> dict[str, torch.Tensor]:
    """Returns the total under 'loss' plus each term (for logging)."""
    y = y.to(out["reg"].dtype)
    terms: dict[str, torch.Tensor] = {}
    if tasks in ("both", "regression"):
        terms["mae"] = masked_mae(out["reg"].float(), y.float(), y_mask)
        if "reg_low" in out and y_low is not None:
            terms["mae_low"] = masked_mae(out["reg_low"].float(), y_low.float(), y_mask)
    if tasks in ("both", "classification"):
        ce = masked_ce(out["logits"], y, y_mask)
        if "logits_low" in out:
            ce = ce + masked_ce(out["logits_low"], y, y_mask)
        terms["ce"] = ce
    total = sum(terms.get(k, 0.0) for k in ("mae", "mae_low"))
    if "ce" in terms:
        # classification-only training keeps a unit weight: lambda scales against the MAE terms
        total = total + (terms["ce"] if tasks == "classification" else lambda_cls * terms["ce"])
    terms["loss"] = total
    return terms
