"""Boundary checks for model inputs: one-line errors naming the tensor, what came, what was expected."""

from __future__ import annotations

import torch

from stockformer.errors import StockformerError


class InputShapeError(StockformerError, ValueError):
    """A batch tensor has the wrong shape, dtype or values for the model it is fed to."""


def check_tensor(
    name: str,
    t: object,
    shape: tuple[int | None, ...],
    kind: str,
) -> torch.Tensor:
    """`shape` uses None for a free dimension; kind is 'float', 'bool' or 'int'."""
    if not isinstance(t, torch.Tensor):
        raise InputShapeError(f"batch[{name!r}]: got {type(t).__name__}, expected a torch.Tensor")
    ok_shape = t.dim() == len(shape) and all(e is None or e == g for e, g in zip(shape, t.shape, strict=True))
    if not ok_shape:
        want = "[" + ", ".join("*" if e is None else str(e) for e in shape) + "]"
        raise InputShapeError(f"batch[{name!r}]: got shape {list(t.shape)}, expected {want}")
    ok_kind = {
        "float": t.is_floating_point(),
        "bool": t.dtype == torch.bool,
        "int": not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool,
    }[kind]
    if not ok_kind:
        raise InputShapeError(f"batch[{name!r}]: got dtype {t.dtype}, expected a {kind} tensor")
    return t


def require(batch: dict, name: str) -> torch.Tensor:
    if name not in batch:
        raise InputShapeError(f"batch: missing key {name!r} (have {sorted(batch)})")
    return batch[name]
