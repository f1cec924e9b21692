"""Compiled (numba) row kernels for the hot loops of the feature build.

Each works on dense arrays, one (date, feature) row of N stocks at a time, in parallel over
dates; the numpy functions in preprocess.py are the readable references they are tested
against. Rows are [C, F, N] blocks: date-major, so one date's [F, N] matrix is contiguous.
"""

from __future__ import annotations

import numba as nb
import numpy as np

MAD_SCALE = 1.4826


@nb.njit(parallel=True, cache=True)
def alpha360_gather(comp, src, window, close_j, volume_j, eps, out):  # pragma: no cover
    """out[c, j, n] = comp[j][src[c, n] - i, n] / base, fields x lags in qlib order.

    comp: [6, T, N] float64 per-field values on the stock's k-th traded day; src [C, N] int64
    rank of the source day (-1 none); close_j / volume_j: field positions of close / volume."""
    c_n, n_n = src.shape
    n_fields = comp.shape[0]
    for c in nb.prange(c_n):
        for n in range(n_n):
            s = src[c, n]
            if s < 0:
                for j in range(n_fields * window):
                    out[c, j, n] = np.nan
                continue
            close = comp[close_j, s, n]
            vol = comp[volume_j, s, n] + eps
            for f in range(n_fields):
                base = vol if f == volume_j else close
                for k in range(window):
                    i = window - 1 - k
                    r = s - i
                    out[c, f * window + k, n] = comp[f, r, n] / base if r >= 0 else np.nan


@nb.njit(parallel=True, cache=True)
def clip_zscore_fill(block, k, do_clip, do_z, present):  # pragma: no cover
    """In place per row of block [C, F, N]: clip to median +- k * 1.4826 * MAD, z-score over
    the finite values, then NaN -> 0. Returns the NaN cells of present stocks per date."""
    c_n, f_n, n_n = block.shape
    nan_cells = np.zeros(c_n, np.int64)
    for c in nb.prange(c_n):
        buf = np.empty(n_n)
        for f in range(f_n):
            row = block[c, f]
            m = 0
            for n in range(n_n):
                v = row[n]
                if np.isfinite(v):
                    buf[m] = v
                    m += 1
                elif present[c, n]:
                    nan_cells[c] += 1
            if m == 0:
                row[:] = 0.0
                continue
            if do_clip:
                med = np.median(buf[:m])
                for q in range(m):
                    buf[q] = abs(buf[q] - med)
                mad = np.median(buf[:m]) * MAD_SCALE
                lo, hi = med - k * mad, med + k * mad
                for n in range(n_n):
                    v = row[n]
                    if np.isfinite(v):
                        row[n] = min(max(v, lo), hi)
            if do_z:
                s = 0.0
                for n in range(n_n):
                    if np.isfinite(row[n]):
                        s += row[n]
                mean = s / m
                ss = 0.0
                for n in range(n_n):
                    if np.isfinite(row[n]):
                        d = row[n] - mean
                        ss += d * d
                std = np.sqrt(ss / m)
                inv = 1.0 / std if std > 0 else 0.0
                for n in range(n_n):
                    v = row[n]
                    row[n] = (v - mean) * inv if np.isfinite(v) else 0.0
            else:
                for n in range(n_n):
                    if not np.isfinite(row[n]):
                        row[n] = 0.0
    return nan_cells


@nb.njit(parallel=True, cache=True)
def zscore_present_to(block, present, do_z, out):  # pragma: no cover
    """out[c, n, f] = z-score of block[c, f, n] over the present stocks of date c (0 for the
    others, and everywhere a row has no spread); writes the [C, N, F] output layout."""
    c_n, f_n, n_n = block.shape
    for c in nb.prange(c_n):
        cnt = 0
        for n in range(n_n):
            if present[c, n]:
                cnt += 1
        for f in range(f_n):
            row = block[c, f]
            mean, inv = 0.0, 1.0
            if do_z and cnt > 0:
                s = 0.0
                for n in range(n_n):
                    if present[c, n]:
                        s += row[n]
                mean = s / cnt
                ss = 0.0
                for n in range(n_n):
                    if present[c, n]:
                        d = row[n] - mean
                        ss += d * d
                std = np.sqrt(ss / cnt)
                inv = 1.0 / std if std > 0 else 0.0
            for n in range(n_n):
                out[c, n, f] = (row[n] - mean) * inv if present[c, n] else 0.0
