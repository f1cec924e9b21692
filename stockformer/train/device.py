"""Device choice and mixed-precision settings (`--device auto|cpu|cuda`)."""

from __future__ import annotations

import contextlib
import functools

import torch

from stockformer.errors import ResourceError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ResourceError(f"device {name!r}: CUDA is not available on this machine (use --device cpu)")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ResourceError(f"device {name!r}: expected auto, cpu or cuda")


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (else bf16 matmuls are emulated: slower)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            flags = next((line.split(":", 1)[1].split() for line in fh if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def amp_dtype(
    device: torch.device, enabled: bool, cpu_amp: str = "off", large_step: bool = False,
    cuda_dtype: str = "auto",
) -> torch.dtype | None:
    """The autocast dtype for training, or None for full precision.

    CUDA (when `enabled`): `cuda_dtype` (train.amp_dtype) bf16 or fp16, or auto: bf16 where the
    GPU supports it, else fp16. CPU: bf16 when cpu_amp is "on", or "auto" with a large step on a
    CPU with native bf16: 2x faster there at the paper's size (docs/BENCHMARKS.md), while small
    models gain nothing from the casts.
    """
    if device.type == "cuda":
        if not enabled:
            return None
        if cuda_dtype != "auto":
            return {"bf16": torch.bfloat16, "fp16": torch.float16}[cuda_dtype]
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and (cpu_amp == "on" or (cpu_amp == "auto" and large_step and cpu_has_native_bf16())):
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A gradient scaler, active only for fp16 (bf16 has fp32's exponent range)."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
