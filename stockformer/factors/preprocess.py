"""Cross-sectional preprocessing of a feature block [F, C, N] (feature, date, stock).

Every step works per (feature, date) across stocks only, so nothing is fitted on the future
and any date range can be processed on its own. NaN means unknown throughout.

- clip_mad: clip to median +- k * 1.4826 * MAD (the 1.4826 factor makes the MAD a robust
  standard deviation, so k = 3 is the paper's "3 sigma"; qlib's RobustZScoreNorm does the same).
- zscore: (x - mean) / std over the known stocks (population std; 0 where std is 0).
- neutralize: OLS residual on industry dummies + log(market cap) per date over the stocks
  present that day, then z-scored again. Unknown industry = its own group; unknown market
  cap = the day's mean (after standardising), both counted in the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

MAD_SCALE = 1.4826
_CONTROLLER = None  # threadpoolctl.ThreadpoolController, False when unavailable


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


def exposures(
    present: np.ndarray, industry: np.ndarray | None, log_mcap: np.ndarray | None
) -> tuple[np.ndarray, int, int]:
    """Orthonormal basis Q [N, K] of one date's exposures (industry dummies, or an intercept,
    plus standardised log market cap), rows of absent stocks zero; and the counts of present
    stocks without industry / without market cap."""
    n = present.shape[0]
    cols = []
    no_ind = no_mc = 0
    if industry is not None:
        codes = np.where(present, industry, -2)
        no_ind = int((present & (industry < 0)).sum())
        for g in np.unique(codes[present]):  # unknown industry (-1) is a group of its own
            cols.append((codes == g).astype(np.float64))
    else:
        cols.append(present.astype(np.float64))
    if log_mcap is not None:
        ok = present & np.isfinite(log_mcap)
        no_mc = int((present & ~ok).sum())
        if ok.sum() >= 2:
            m = log_mcap[ok]
            sd = m.std()
            z = np.zeros(n)
            z[ok] = (m - m.mean()) / (sd if sd > 0 else 1.0)
            cols.append(z)
    x = np.stack(cols, axis=1)
    q, r = np.linalg.qr(x)
    keep = np.abs(np.diag(r)) > 1e-10 * max(1.0, float(np.abs(r).max()))
    return q[:, keep], no_ind, no_mc


def neutralize(
    block: np.ndarray,
    present: np.ndarray,
    industry: np.ndarray | None,
    log_mcap: np.ndarray | None,
) -> dict:
    """In place OLS residual of block [C, F, N] per date c on that date's exposures, over the
    stocks present that day (absent stocks must be 0 and stay 0; NaN must already be 0).

    present [C, N]; industry [C, N] int (-1 unknown); log_mcap [C, N] float (NaN unknown)."""
    stats = {"no_industry_cells": 0, "no_market_cap_cells": 0, "dates_neutralized": 0}
    with _single_threaded_blas():
        _neutralize_dates(block, present, industry, log_mcap, stats)
    return stats


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """These matmuls are small: multi-threaded BLAS spinning against the compiled kernels'
    threads made them ~25x slower. threadpoolctl is optional (present with scikit-learn)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - depends on the environment
            _CONTROLLER = False
        else:
            _CONTROLLER = ThreadpoolController()  # library discovery is slow: once
    if _CONTROLLER is False:  # pragma: no cover
        yield
        return
    with _CONTROLLER.limit(limits=1, user_api="blas"):
        yield


def _neutralize_dates(block, present, industry, log_mcap, stats) -> None:
    for d in range(block.shape[0]):
        if present[d].sum() < 3:
            continue
        # regress over the present stocks only: absent columns (e.g. stocks listed later)
        # must not change the arithmetic, or the result would depend on the future universe
        idx = np.flatnonzero(present[d])
        q, no_ind, no_mc = exposures(
            np.ones(len(idx), dtype=bool),
            None if industry is None else industry[d][idx],
            None if log_mcap is None else log_mcap[d][idx],
        )
        q = q.astype(block.dtype)
        y = block[d][:, idx]  # [F, n_present] copy
        y -= (y @ q) @ q.T
        block[d][:, idx] = y
        stats["no_industry_cells"] += no_ind
        stats["no_market_cap_cells"] += no_mc
        stats["dates_neutralized"] += 1
