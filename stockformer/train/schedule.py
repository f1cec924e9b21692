"""Learning-rate schedules (train.lr_schedule).

plateau: ReduceLROnPlateau on the epoch's selection metric (the paper), stepped once an epoch.
cosine: linear warm-up over train.warmup_epochs, then cosine decay to zero at the last epoch.
onecycle: torch's OneCycleLR peaking at train.lr (warm-up share = warmup_epochs / epochs, or 0.3).
The last two are stepped after every optimizer step.
"""

from __future__ import annotations

import math

import torch

from stockformer.config import TrainConfig


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """Multiplier of the base rate at optimizer step `step` (0-based)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(total - warmup, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class _WarmupCosine:
    """A picklable lr_lambda (a closure would not survive the checkpoint's state_dict)."""

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup, self.total = warmup, total

    def __call__(self, step: int) -> float:
        return warmup_cosine(step, self.warmup, self.total)


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, *, mode: str, steps_per_epoch: int):
    if cfg.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode=mode, factor=cfg.lr_factor, patience=cfg.lr_patience
        )
    total = max(cfg.epochs * max(steps_per_epoch, 1), 1)
    warmup = min(int(round(cfg.warmup_epochs * steps_per_epoch)), total - 1)
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(opt, _WarmupCosine(warmup, total))
    pct = warmup / total if warmup > 0 else 0.3
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total + 1,
                                               pct_start=min(max(pct, 1e-3), 0.9))
