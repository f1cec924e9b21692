"""The model-ready artifact: dense [T, N, ...] arrays plus their date and symbol indexes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stockformer.io import atomic_path


@dataclass
class FeatureSet:
    """Everything the models train on, aligned on (date, symbol).

    features: float32 [T, N, F]  preprocessed factors (Alpha360 by default), finite (0 where unknown)
    returns:  float32 [T, N]     today's close-to-close return (0 where unknown); the wavelet input
    labels:   float32 [T, N]     forward return used as target (0 where masked)
    mask:     bool    [T, N]     True where the label is valid (not suspended, listed long enough,
                                 not limit-locked at entry, realised inside the panel)
    valid:    bool    [T, N]     True where the stock traded that day (a real observation)
    dates:    datetime64[D] [T]  trading days
    symbols:  list[str]     [N]
    feature_names: list[str] [F]
    industries: list[str | None] [N]  last known industry per stock, when the panel has one
    label_lag: int               the label at t is realised at the close of t + label_lag
    report: dict                 what preprocessing repaired / masked (counts)
    """

    features: np.ndarray
    returns: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    valid: np.ndarray
    dates: np.ndarray
    symbols: list[str]
    feature_names: list[str]
    industries: list[str | None] | None = None
    label_lag: int = 2
    report: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        t, n = len(self.dates), len(self.symbols)
        checks = {
            "features": (self.features, (t, n, len(self.feature_names)), np.float32),
            "returns": (self.returns, (t, n), np.float32),
            "labels": (self.labels, (t, n), np.float32),
            "mask": (self.mask, (t, n), np.bool_),
            "valid": (self.valid, (t, n), np.bool_),
        }
        for name, (arr, shape, dtype) in checks.items():
            if arr.shape != shape:
                raise ValueError(f"FeatureSet.{name}: shape {arr.shape}, expected {shape}")
            if arr.dtype != dtype:
                raise ValueError(f"FeatureSet.{name}: dtype {arr.dtype}, expected {np.dtype(dtype)}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.features.shape  # type: ignore[return-value]

    def date_index(self, day) -> int:
        """Index of the last trading day on or before `day`."""
        pos = int(np.searchsorted(self.dates, np.datetime64(day, "D"), side="right")) - 1
        if pos < 0:
            raise IndexError(f"{day} is before the first date {self.dates[0]}")
        return pos

    def side_arrays(self) -> dict[str, np.ndarray]:
        """Every array but `features`, as stored on disk (.npz and the memmap store's arrays.npz)."""
        return {
            "returns": self.returns,
            "labels": self.labels,
            "mask": self.mask,
            "valid": self.valid,
            "dates": self.dates.astype("datetime64[D]").astype(np.int64),
            "symbols": np.array(self.symbols, dtype=str),
            "feature_names": np.array(self.feature_names, dtype=str),
            "industries": np.array(["" if x is None else x for x in (self.industries or [])],
                                   dtype=str),
            "label_lag": np.array(self.label_lag),
            "report_json": np.array(json.dumps(self.report, default=str)),
        }

    def save(self, path: str | Path) -> None:
        """Save to one .npz (written atomically)."""
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, features=self.features, **self.side_arrays())

    @classmethod
    def from_arrays(cls, features: np.ndarray, z) -> FeatureSet:
        """A FeatureSet from `features` and a mapping of the side arrays (an open .npz)."""
        inds = [s or None for s in z["industries"].tolist()]
        report = json.loads(str(z["report_json"])) if "report_json" in z else {}
        return cls(
            features=features,
            returns=z["returns"],
            labels=z["labels"],
            mask=z["mask"],
            valid=z["valid"],
            dates=z["dates"].astype("datetime64[D]"),
            symbols=z["symbols"].tolist(),
            feature_names=z["feature_names"].tolist(),
            industries=inds or None,
            label_lag=int(z["label_lag"]),
            report=report,
        )

    @classmethod
    def load(cls, path: str | Path) -> FeatureSet:
        with np.load(path, allow_pickle=False) as z:
            return cls.from_arrays(z["features"], z)
