"""Compiled (numba) row kernels for the hot loops of the feature build.

Rows are one (date, feature) cross-section of N stocks; the numpy functions in preprocess.py
are the readable references they are tested against. The own-history arrays the factor families
read are stock-major ([field, stock, own-history day]) so one stock's lags are contiguous.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from stockformer.factors.select import SAMPLE, median

MAD_SCALE = 1.4826


@nb.njit(cache=True)
def clip_zscore_row(row, k, do_clip, do_z, present, buf, work, sample):  # pragma: no cover
    """In place on one row: clip to median +- k * 1.4826 * MAD, z-score over the finite
    values, NaN -> 0. Returns the number of NaN cells of present stocks.

    buf / work: scratch of >= len(row) float32, sample: >= SAMPLE float32."""
    n_n = row.shape[0]
    m = 0
    nan_cells = 0
    for n in range(n_n):
        v = row[n]
        if np.isfinite(v):
            buf[m] = v
            m += 1
        elif present[n]:
            nan_cells += 1
    if m == 0:
        row[:] = 0.0
        return nan_cells
    lo, hi = -np.inf, np.inf
    if do_clip:
        med = median(buf, m, work, sample)
        for q in range(m):  # absolute deviations, rounded to float32 like the values
            buf[q] = abs(buf[q] - med)
        mad = median(buf, m, work, sample) * MAD_SCALE
        lo, hi = med - k * mad, med + k * mad
    s = 0.0
    for n in range(n_n):
        v = row[n]
        if np.isfinite(v):
            v = min(max(v, lo), hi)
            row[n] = v
            s += row[n]
    if not do_z:
        for n in range(n_n):
            if not np.isfinite(row[n]):
                row[n] = 0.0
        return nan_cells
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
    return nan_cells


@nb.njit(parallel=True, cache=True)
def clip_zscore_fill(block, k, do_clip, do_z, present):  # pragma: no cover
    """clip_zscore_row on every row of block [C, F, N] (present [C, N]); returns the NaN cells
    of present stocks per date."""
    c_n, f_n, n_n = block.shape
    nan_cells = np.zeros(c_n, np.int64)
    for c in nb.prange(c_n):
        buf = np.empty(n_n, np.float32)
        work = np.empty(n_n, np.float32)
        sample = np.empty(SAMPLE, np.float32)
        for f in range(f_n):
            nan_cells[c] += clip_zscore_row(block[c, f], k, do_clip, do_z, present[c], buf, work,
                                            sample)
    return nan_cells


@nb.njit(parallel=True, cache=True)
def compress_stock_major(x, valid, fill, out):  # pragma: no cover
    """out[n, h] = x[t, n] on stock n's h-th valid day t (NaN beyond its last one), optionally
    forward-filled over non-finite values from the stock's own earlier traded days (a value
    with nothing before it keeps the first day's). Returns the NaN cells filled per block.

    x [T, N] float64, valid [T, N] bool, out [N, T] float64. Works on blocks of 64 stocks:
    each step reads a contiguous piece of a date row and appends to 64 output rows."""
    t_n, n_n = x.shape
    width = 64
    n_blocks = (n_n + width - 1) // width
    filled = np.zeros(n_blocks, np.int64)
    for b in nb.prange(n_blocks):
        n0 = b * width
        n1 = min(n0 + width, n_n)
        cnt = np.zeros(n1 - n0, np.int64)
        last = np.empty(n1 - n0)
        for t in range(t_n):
            for n in range(n0, n1):
                if valid[t, n]:
                    j = n - n0
                    v = x[t, n]
                    h = cnt[j]
                    if h == 0 or np.isfinite(v):
                        last[j] = v  # qlib-like ffill keeps the first day's value as the seed
                        out[n, h] = v
                    elif fill:
                        out[n, h] = last[j]
                        filled[b] += np.isnan(v) and not np.isnan(last[j])
                    else:
                        out[n, h] = v
                    cnt[j] = h + 1
        for n in range(n0, n1):
            out[n, cnt[n - n0]:] = np.nan
    return filled
