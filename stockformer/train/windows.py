"""Windowed samples around anchors, from zero-copy strided views of the FeatureSet arrays."""

from __future__ import annotations

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from stockformer.factors.featureset import FeatureSet

MAX_DAY_SLOT = 20


def calendar_time(dates: np.ndarray) -> np.ndarray:
    """[T, 2] int64: month index 0..11 and the trading-day slot in the month 0..20 (clipped)."""
    d = np.asarray(dates).astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    month = (months.astype(np.int64) % 12).astype(np.int64)
    start = np.r_[True, months[1:] != months[:-1]]
    group_start = np.maximum.accumulate(np.where(start, np.arange(len(d)), 0))
    slot = np.minimum(np.arange(len(d)) - group_start, MAX_DAY_SLOT)
    return np.stack([month, slot], axis=1).astype(np.int64)


class WindowDataset(torch.utils.data.Dataset):
    """Item for anchor t: history rows t - t1 + 1 .. t, targets t .. t + t2 - 1
    (step 0 = the label of t, i.e. the traded horizon); targets past the data are masked."""

    def __init__(self, fs: FeatureSet, anchors: np.ndarray, t1: int, t2: int) -> None:
        anchors = np.asarray(anchors, dtype=np.int64)
        if len(anchors) and (anchors.min() < t1 - 1 or anchors.max() >= len(fs.dates)):
            raise IndexError(f"anchors must lie in [{t1 - 1}, {len(fs.dates) - 1}]")
        self.fs, self.anchors, self.t1, self.t2 = fs, anchors, t1, t2
        # history views: [T - t1 + 1, N, ..., t1]; no data is copied
        self._x = sliding_window_view(fs.features, t1, axis=0)
        self._ret = sliding_window_view(fs.returns, t1, axis=0)
        self._valid = sliding_window_view(fs.valid, t1, axis=0)
        self._time = sliding_window_view(calendar_time(fs.dates), t1, axis=0)
        # targets: pad t2 - 1 masked days once so windows at the end stay in range
        n = len(fs.symbols)
        pad = t2 - 1
        self._labels = np.concatenate([fs.labels, np.zeros((pad, n), np.float32)])
        self._lmask = np.concatenate([fs.mask, np.zeros((pad, n), bool)])
        self._y = sliding_window_view(self._labels, t2, axis=0)
        self._ym = sliding_window_view(self._lmask, t2, axis=0)

    def __len__(self) -> int:
        return len(self.anchors)

    def views(self, i: int) -> dict[str, np.ndarray]:
        """Numpy views (sharing memory with the FeatureSet) for the i-th anchor."""
        t = int(self.anchors[i])
        h = t - self.t1 + 1
        return {
            "x": np.moveaxis(self._x[h], -1, 0),  # [T1, N, F]
            "ret": np.moveaxis(self._ret[h], -1, 0),  # [T1, N]
            "valid": np.moveaxis(self._valid[h], -1, 0),
            "time": np.moveaxis(self._time[h], -1, 0),  # [T1, 2]
            "y": np.moveaxis(self._y[t], -1, 0),  # [T2, N]
            "y_mask": np.moveaxis(self._ym[t], -1, 0),
        }

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {k: torch.from_numpy(np.array(v, copy=True, order="C")) for k, v in self.views(i).items()}
        item["anchor"] = torch.tensor(int(self.anchors[i]), dtype=torch.int64)
        return item
