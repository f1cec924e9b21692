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


@nb.njit(cache=True)
def _select(a, m, k):  # pragma: no cover - compiled
    """Partially order a[:m] in place so that a[k] is the k-th smallest (quickselect with a
    median-of-three pivot); returns a[k]."""
    lo, hi = 0, m - 1
    while hi > lo:
        mid = (lo + hi) // 2
        # median of three to the middle
        if a[mid] < a[lo]:
            a[mid], a[lo] = a[lo], a[mid]
        if a[hi] < a[lo]:
            a[hi], a[lo] = a[lo], a[hi]
        if a[hi] < a[mid]:
            a[hi], a[mid] = a[mid], a[hi]
        pivot = a[mid]
        i, j = lo, hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return a[k]
    return a[k]


@nb.njit(cache=True)
def _median(a, m):  # pragma: no cover - compiled
    """Median of a[:m] (reorders a[:m])."""
    k = m // 2
    upper = _select(a, m, k)
    if m % 2 == 1:
        return upper
    lower = a[0]
    for q in range(1, k):  # after selection a[:k] holds the k smallest
        if a[q] > lower:
            lower = a[q]
    return 0.5 * (lower + upper)


@nb.njit(parallel=True, cache=True)
def clip_zscore_fill(block, k, do_clip, do_z, present):  # pragma: no cover
    """In place per row of block [C, F, N]: clip to median +- k * 1.4826 * MAD, z-score over
    the finite values, then NaN -> 0. Returns the NaN cells of present stocks per date."""
    c_n, f_n, n_n = block.shape
    nan_cells = np.zeros(c_n, np.int64)
    for c in nb.prange(c_n):
        buf = np.empty(n_n, np.float32)  # float32 halves the selection traffic
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
                med = _median(buf, m)
                for q in range(m):
                    buf[q] = abs(buf[q] - med)
                mad = _median(buf, m) * MAD_SCALE
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
    tile = 32
    for c in nb.prange(c_n):
        cnt = 0
        for n in range(n_n):
            if present[c, n]:
                cnt += 1
        mean = np.zeros(f_n)
        inv = np.ones(f_n)
        if do_z and cnt > 0:
            for f in range(f_n):
                row = block[c, f]
                s = 0.0
                for n in range(n_n):
                    if present[c, n]:
                        s += row[n]
                mu = s / cnt
                ss = 0.0
                for n in range(n_n):
                    if present[c, n]:
                        d = row[n] - mu
                        ss += d * d
                std = np.sqrt(ss / cnt)
                mean[f] = mu
                inv[f] = 1.0 / std if std > 0 else 0.0
        # tiled transpose: a few output rows stay in cache while the features stream by
        for n0 in range(0, n_n, tile):
            n1 = min(n0 + tile, n_n)
            for f in range(f_n):
                mu, sc = mean[f], inv[f]
                for n in range(n0, n1):
                    out[c, n, f] = (block[c, f, n] - mu) * sc if present[c, n] else 0.0
