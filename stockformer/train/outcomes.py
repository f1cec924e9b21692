"""Finished work kept on disk, so a rerun skips it: one window's outcome, one comparison row.

Each record is stored with a key: a hash of the config and the data it was computed from. A
rerun into the same folder reuses a record only when its key is the same; a changed config or
data set trains again. Outcomes are pickles, read only by the run that wrote them.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from stockformer.config import Config
from stockformer.factors.featureset import FeatureSet
from stockformer.io import read_json, write_bytes, write_json
from stockformer.rundir.layout import OUTCOME_FILE, ROW_FILE


def data_key(fs: FeatureSet) -> str:
    """The data a run trains on: dates, universe, feature names and shape, labels and masks."""
    h = hashlib.sha256()
    for part in (fs.dates.astype("datetime64[D]").astype(np.int64), fs.labels, fs.mask, fs.valid):
        h.update(np.ascontiguousarray(part).tobytes())
    h.update(repr((list(fs.symbols), list(fs.feature_names), fs.features.shape, fs.label_lag)).encode())
    return h.hexdigest()


def run_key(cfg: Config, data: str) -> str:
    return hashlib.sha256((cfg.to_yaml() + data).encode()).hexdigest()


def window_key(run: str, split) -> str:
    h = hashlib.sha256(run.encode())
    h.update(split.name.encode())
    for part in (split.train, split.val, split.test, np.array([split.fit_end])):
        h.update(np.asarray(part, dtype=np.int64).tobytes())
    return h.hexdigest()


def save_outcome(window_dir: Path, key: str, outcome: Any) -> None:
    write_bytes(Path(window_dir) / OUTCOME_FILE, pickle.dumps({"key": key, "outcome": outcome}, protocol=5))


def load_outcome(window_dir: Path, key: str) -> Any | None:
    """The saved outcome when its key matches; None when missing, unreadable or stale."""
    path = Path(window_dir) / OUTCOME_FILE
    try:
        saved = pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    return saved.get("outcome") if isinstance(saved, dict) and saved.get("key") == key else None


def save_row(run_dir: Path, key: str, row: dict) -> None:
    write_json(Path(run_dir) / ROW_FILE, {"key": key, "row": row})


def load_row(run_dir: Path, key: str) -> dict | None:
    path = Path(run_dir) / ROW_FILE
    if not path.is_file():
        return None
    try:
        saved = read_json(path, ValueError, kind=dict)
    except ValueError:
        return None
    return saved.get("row") if saved.get("key") == key else None
