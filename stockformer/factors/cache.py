"""Cache key of a feature build: a hash of the panel's values and the features config."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl

from stockformer.config import FeaturesConfig

CODE_VERSION = "features-2"  # bump when the computation changes


def fingerprint(panel: pl.DataFrame, cfg: FeaturesConfig) -> str:
    h = hashlib.sha256()
    h.update(f"{CODE_VERSION}|{pl.__version__}|".encode())
    h.update(repr([(c, str(t)) for c, t in panel.schema.items()]).encode())
    h.update(np.ascontiguousarray(panel.hash_rows(seed=0).to_numpy()).tobytes())
    # where and how the features are kept changes no value: same key for .npz and memmap store
    h.update(cfg.model_dump_json(exclude={"cache_dir", "store"}).encode())
    return h.hexdigest()[:24]


def cache_path(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / f"features_{key}.npz"
