"""Cross-sectional preprocessing: readable numpy references of the compiled clip / z-score
kernel (kernels.clip_zscore_row) that the tests check it against.

Every step works per (feature, date) across stocks only, so nothing is fitted on the future
and any date range can be processed on its own. NaN means unknown throughout.

- clip_mad: clip to median +- k * 1.4826 * MAD (the 1.4826 factor makes the MAD a robust
  standard deviation, so k = 3 is the paper's "3 sigma"; qlib's RobustZScoreNorm does the same).
- zscore: (x - mean) / std over the known stocks (population std; 0 where std is 0).
- neutralize (compiled only, chunk_kernel; tested against np.linalg.lstsq): OLS residual on
  industry dummies + log(market cap) per date over the stocks present that day, then z-scored
  again. Unknown industry = its own group; unknown market cap = the day's mean (after
  standardising), both counted in the report.
"""

from __future__ import annotations

import numpy as np

MAD_SCALE = 1.4826


def _nan_median(x: np.ndarray) -> np.ndarray:
    """Median over the last axis ignoring NaN (NaN where a row has no value)."""
    s = np.sort(x, axis=-1)  # NaN sort to the end
    cnt = np.isfinite(x).sum(axis=-1)
    lo = np.clip((cnt - 1) // 2, 0, None)[..., None]
    hi = np.clip(cnt // 2, 0, None)[..., None]
    med = 0.5 * (np.take_along_axis(s, lo, -1) + np.take_along_axis(s, hi, -1))
    med[cnt == 0] = np.nan
    return med  # [..., 1]


def clip_mad(block: np.ndarray, k: float) -> np.ndarray:
    """In place: clip each row (last axis) to median +- k * 1.4826 * MAD."""
    med = _nan_median(block)
    mad = _nan_median(np.abs(block - med)) * MAD_SCALE
    np.clip(block, med - k * mad, med + k * mad, out=block)
    return block


def zscore(block: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """In place z-score of each row over finite values (rows = all leading axes)."""
    known = np.isfinite(block)
    if present is not None:
        known &= present
    cnt = known.sum(axis=-1, keepdims=True)
    x0 = np.where(known, block, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x0.sum(axis=-1, keepdims=True, dtype=np.float64) / cnt
        dev = np.where(known, block - mean, 0.0)
        std = np.sqrt((dev.astype(np.float64) ** 2).sum(axis=-1, keepdims=True) / cnt)
        z = dev / np.where(std > 0, std, np.inf)
    block[...] = np.where(known, z, np.nan)
    return block
