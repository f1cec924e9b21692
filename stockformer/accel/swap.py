"""Swap a model's known sub-modules for their CPU versions and back (train.cpu_kernels).

A swapped module takes over the plain one's state as it is (parameters, buffers, children,
hooks: shared, not copied), so an optimizer built before or after the swap, a hook handle and
the state-dict keys all stay valid. Only exact types listed in accel/modules.py are swapped; any
other module, a subclass of a listed one included, runs as written.
"""

from __future__ import annotations

import torch
from torch import nn

from stockformer.accel.modules import CPU_MODULES

MODES = ("auto", "off")


def _convert(module: nn.Module, table: dict[type, type]) -> nn.Module:
    cls = table.get(type(module))
    if cls is None:
        return module
    new = cls.__new__(cls)
    new.__dict__.update(module.__dict__)
    return new


def _swap(module: nn.Module, table: dict[type, type]) -> nn.Module:
    for name, child in list(module._modules.items()):
        if child is not None:
            setattr(module, name, _swap(child, table))
    return _convert(module, table)


def accelerate(model: nn.Module) -> nn.Module:
    """The model with its known sub-modules (the root too) swapped for their CPU versions."""
    return _swap(model, CPU_MODULES)


def to_plain(model: nn.Module) -> nn.Module:
    """The model with every CPU version swapped back for its plain module."""
    return _swap(model, {cpu: plain for plain, cpu in CPU_MODULES.items()})


def use_cpu_kernels(device: torch.device | str, mode: str) -> bool:
    """train.cpu_kernels: auto = the CPU versions when training on CPU; off = plain torch. CUDA
    (and any other device) always runs the plain modules."""
    if mode not in MODES:
        raise ValueError(f"cpu_kernels {mode!r}: expected one of {', '.join(MODES)}")
    return mode == "auto" and torch.device(device).type == "cpu"


def for_training(model: nn.Module, device: torch.device | str, mode: str) -> nn.Module:
    """The model a training run on `device` uses under train.cpu_kernels = mode."""
    return accelerate(model) if use_cpu_kernels(device, mode) else to_plain(model)
