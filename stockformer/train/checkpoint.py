"""Training checkpoints: written atomically, loaded with weights_only=True, and refused with a
CheckpointError when corrupt or made for another configuration / model shape."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from stockformer.config import RESUMABLE, TrainConfig
from stockformer.errors import CheckpointError
from stockformer.io import atomic_path

FORMAT = 1


def resumable_fields(train_cls: type[TrainConfig] = TrainConfig) -> frozenset[str]:
    """Training options that may change between an interrupted run and its resumption: the
    fields config.py marks `json_schema_extra=RESUMABLE`. Derived, not listed here, so the
    decision sits beside each option's definition and a new option is part of a checkpoint's
    identity (a changed value refuses --resume) unless it is marked."""
    return frozenset(name for name, info in train_cls.model_fields.items()
                     if isinstance(info.json_schema_extra, dict)
                     and RESUMABLE.items() <= info.json_schema_extra.items())


def identity(model_cfg, train_cfg, *, seed: int, n_features: int, n_stocks: int) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: model config, training options, data shape."""
    resumable = resumable_fields(type(train_cfg))
    train = {k: v for k, v in train_cfg.model_dump(mode="json").items() if k not in resumable}
    return {
        "model": model_cfg.model_dump(mode="json"),
        "train": train,
        "seed": seed,
        "n_features": n_features,
        "n_stocks": n_stocks,
    }


def fingerprint(ident: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def shapes(state_dict: dict[str, torch.Tensor]) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in state_dict.items()}


def save_checkpoint(path: str | Path, payload: dict[str, Any], ident: dict[str, Any]) -> Path:
    data = dict(payload)
    data.update(format=FORMAT, identity=ident, fingerprint=fingerprint(ident),
                shapes=shapes(payload["model"]))
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
    return Path(path)


def _diff(saved: Any, want: Any, prefix: str = "") -> list[str]:
    if isinstance(saved, dict) and isinstance(want, dict):
        out = []
        for k in sorted(set(saved) | set(want), key=str):
            out += _diff(saved.get(k, "<absent>"), want.get(k, "<absent>"), f"{prefix}{k}.")
        return out
    return [] if saved == want else [f"{prefix.rstrip('.')} (checkpoint {saved!r}, now {want!r})"]


def load_checkpoint(
    path: str | Path, ident: dict[str, Any], model_state: dict[str, torch.Tensor]
) -> dict[str, Any]:
    """Load and verify a checkpoint against the current identity and model shapes."""
    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no checkpoint to resume from") from None
    except Exception as err:  # truncated file, not a torch archive, unsafe pickle...
        raise CheckpointError(f"{path}: corrupt checkpoint ({type(err).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or "model" not in data:
        raise CheckpointError(f"{path}: not a stockformer checkpoint (format {FORMAT} expected)")
    if data.get("fingerprint") != fingerprint(ident):
        diffs = _diff(data.get("identity", {}), ident)
        more = f" and {len(diffs) - 1} more" if len(diffs) > 1 else ""
        first = diffs[0] if diffs else "fingerprint"
        raise CheckpointError(f"{path}: made for another configuration: {first}{more}")
    diffs = _diff(data.get("shapes", {}), shapes(model_state))
    if diffs:
        raise CheckpointError(f"{path}: model shape mismatch: {diffs[0]}")
    return data
