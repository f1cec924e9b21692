"""Peak-memory estimate for a training or prediction step, checked before any work starts.

Better to refuse with a suggestion than to be killed by the kernel an hour into a run. The
estimate counts the activations autograd keeps (per layer and branch, the [T1, N, d] tensors
and the spatial attention scores), the input batch and the parameters with Adam's state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from stockformer.config import ModelConfig
from stockformer.errors import ResourceError
from stockformer.model.stockformer import checkpointing_active

_FLOAT = 4  # bytes
# [B, T1, N, d]-sized tensors one encoder layer keeps per branch during training, measured
# (peak RSS, benchmarks/bench_model.py) with per-sub-layer activation checkpointing: the dense
# variants keep the N x N attention's intermediates too; without checkpointing about 1.6x more
_ACTS_CHECKPOINTED = {"copy": 30, "plain": 30, "sparse": 8}
_NO_CHECKPOINT_FACTOR = 1.6


@dataclass
class MemoryEstimate:
    bytes: int
    detail: dict[str, int]

    @property
    def gib(self) -> float:
        return self.bytes / 2**30


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else None (then no check is made)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def estimate_step_memory(
    cfg: ModelConfig, n_stocks: int, n_features: int, batch: int, training: bool = True
) -> MemoryEstimate:
    """Peak bytes of one step, calibrated on measured runs (N=255 batch 12 copy attention:
    3.9 GiB measured with checkpointing, 6.0 without; N=5,000 batch 4 sparse: 7.4 GiB)."""
    b, t, n, d, f = batch, cfg.t1, n_stocks, cfg.d_model, n_features
    branches = 2 if cfg.name == "stockformer" else 1
    unit = b * t * n * d * _FLOAT  # one [B, T1, N, d] tensor
    ckpt = checkpointing_active(cfg.grad_checkpoint, training, b, t, n)
    per_layer = _ACTS_CHECKPOINTED.get(cfg.spatial_attention, 30)
    if training and not ckpt:
        per_layer *= _NO_CHECKPOINT_FACTOR
    if not training:
        per_layer = 4  # eval frees activations as it goes
    encoder = int(unit * per_layer * cfg.layers * branches)
    if cfg.spatial_attention == "sparse":
        scores = b * t * n * min(cfg.sparse_k, n) * cfg.heads * _FLOAT * 4
    else:
        rows = min(cfg.attn_chunk or n, n) if not training else n
        scores = b * t * rows * n * cfg.heads * _FLOAT * 2
    # checkpointing recomputes one module at a time: one layer's scores are alive at once
    scores *= 1 if (ckpt or not training) else cfg.layers * branches
    inputs = b * t * n * (f + 4) * _FLOAT * 3  # batch, band inputs, the decoupling FFN input
    params = (f + 2) * d * 2 + cfg.layers * branches * 12 * d * d + 8 * d * d
    param_bytes = params * _FLOAT * (4 if training else 1)  # weights, grads, Adam m and v
    detail = {
        "encoder_activations": encoder,
        "attention_scores": int(scores),
        "inputs": inputs,
        "parameters": param_bytes,
    }
    return MemoryEstimate(sum(detail.values()), detail)


def check_memory(
    cfg: ModelConfig,
    n_stocks: int,
    n_features: int,
    batch: int,
    *,
    training: bool = True,
    limit_gb: float | None = None,
    device: str = "cpu",
) -> MemoryEstimate:
    """Raise ResourceError with a suggestion when the estimate exceeds the memory we have."""
    est = estimate_step_memory(cfg, n_stocks, n_features, batch, training)
    if limit_gb is not None:
        limit = int(limit_gb * 2**30)
        where = f"train.max_memory_gb = {limit_gb:g}"
    elif device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info()
        limit, where = int(free), "free GPU memory"
    else:
        avail = available_memory_bytes()
        if avail is None or os.environ.get("STOCKFORMER_SKIP_MEMORY_CHECK"):
            return est
        limit, where = int(avail * 0.9), "available RAM"
    if est.bytes > limit:
        hints = []
        if batch > 1:
            hints.append(f"a smaller batch (train.batch_size={max(1, batch // 2)})")
        if cfg.spatial_attention != "sparse" and cfg.name == "stockformer":
            hints.append("sparse spatial attention (model.spatial_attention=sparse)")
        if cfg.d_model > 32:
            hints.append(f"a smaller model (model.d_model={cfg.d_model // 2})")
        raise ResourceError(
            f"a {'training' if training else 'prediction'} step needs about {est.gib:.1f} GiB "
            f"(N={n_stocks}, T1={cfg.t1}, features={n_features}, batch={batch}, d={cfg.d_model}, "
            f"attention={cfg.spatial_attention}) but only {limit / 2**30:.1f} GiB is allowed by {where}; "
            f"try {' or '.join(hints) or 'fewer stocks'}"
        )
    return est
