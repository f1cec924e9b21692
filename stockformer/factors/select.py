"""Exact order statistics of float32 rows, fast (compiled, numba).

The cross-sectional median and MAD of every (date, factor) row dominated the feature build.
A plain quickselect touches each value ~3 times with unpredictable branches (~60 us for a
row of 5,000). Here two order statistics of a small sample bracket the wanted rank
(Floyd-Rivest); one branch-free pass counts the values below the bracket and histograms those
inside it, a second copies the values of the one or two bins that hold the rank (and counts
those below them), and only those few values are quickselected. The result is the exact order statistic (the sample only decides how much
work is done; a missed bracket falls back to a full quickselect), so it never depends on the
sampling.
"""

from __future__ import annotations

import numba as nb
import numpy as np

SAMPLE = 128  # sample size of the bracket; rows up to SMALL values use a plain quickselect
SMALL = 1024
BINS = 512  # histogram bins inside the bracket


@nb.njit(cache=True)
def quickselect(a, m, k):  # pragma: no cover - compiled
    """Partially order a[:m] in place so that a[k] is the k-th smallest (median-of-three
    pivot); returns a[k]. Afterwards a[:k] holds the k smallest."""
    lo, hi = 0, m - 1
    while hi > lo:
        mid = (lo + hi) // 2
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
def _max_below(a, k):  # pragma: no cover - compiled
    """max(a[:k]) (k >= 1): after quickselect(a, m, k) that is the (k-1)-th smallest."""
    lower = a[0]
    for q in range(1, k):
        if a[q] > lower:
            lower = a[q]
    return lower


@nb.njit(cache=True)
def _full(x, m, k, work):  # pragma: no cover - compiled
    """(k-th, (k-1)-th) smallest of x[:m] by a quickselect on a copy."""
    for q in range(m):
        work[q] = x[q]
    upper = quickselect(work, m, k)
    lower = _max_below(work, k) if k > 0 else upper
    return upper, lower


@nb.njit(cache=True, inline="always")
def _bin(v, lo, hi, inv_w):  # pragma: no cover - compiled
    """Histogram bin of v clamped to [lo, hi] (the same arithmetic in both passes). Written
    with conditional expressions: they compile to branch-free selects, min / max do not."""
    vc = v if v > lo else lo
    vc = vc if vc < hi else hi
    b = np.int64((np.float64(vc) - np.float64(lo)) * inv_w)
    return b if b < BINS else BINS - 1


@nb.njit(cache=True)
def kth_pair(x, m, k, work, sample):  # pragma: no cover - compiled
    """(k-th, (k-1)-th) smallest of x[:m] (finite float32, 0 <= k < m), x left unchanged.

    work: scratch of >= m values, sample: >= SAMPLE values. The (k-1)-th equals the k-th
    when k == 0."""
    s = SAMPLE
    centre = (k * s) // m
    # the k-th value's rank in the sample is ~ k s / m with sd <= sqrt(s) / 2: ~3.7 sd margins
    margin = int(1.75 * np.sqrt(s)) + 2
    lo_r, hi_r = centre - margin, centre + margin
    if m <= SMALL or lo_r < 0 or hi_r >= s:
        return _full(x, m, k, work)
    for q in range(s):  # evenly spaced positions: deterministic
        sample[q] = x[(q * m) // s]
    lo = quickselect(sample, s, lo_r)  # the bracket [lo, hi] from two sample order statistics
    hi = quickselect(sample[lo_r:], s - lo_r, hi_r - lo_r)
    inv_w = BINS / (np.float64(hi) - np.float64(lo)) if hi > lo else 0.0
    if not np.isfinite(inv_w):  # a bracket too narrow to divide: one bin
        inv_w = 0.0
    # a local histogram: as an argument, LLVM must assume it may alias x, and the counting
    # loop ran 4x slower
    hist = np.zeros(BINS, np.int64)
    below = 0
    above = 0
    for q in range(m):  # branch-free: count below / above the bracket, histogram inside it
        v = x[q]
        below += np.int64(v < lo)
        above += np.int64(v > hi)
        hist[_bin(v, lo, hi, inv_w)] += 1  # values outside are clamped into the end bins
    hist[_bin(lo, lo, hi, inv_w)] -= below  # (bin 0, and the last bin for hi, unless lo == hi)
    hist[_bin(hi, lo, hi, inv_w)] -= above
    n_in = m - below - above
    # ranks k - 1 (when k > 0) and k must both lie inside the bracket, else select it all
    if below > max(k - 1, 0) or below + n_in <= k:
        return _full(x, m, k, work)
    # the bins holding ranks k - 1 and k (relative to the bracket)
    ku = k - below
    kl = max(ku - 1, 0)
    cum = 0
    b_lo = b_hi = -1
    for b in range(BINS):
        if b_lo < 0 and cum + hist[b] > kl:
            b_lo = b
        if cum + hist[b] > ku:
            b_hi = b
            break
        cum += hist[b]
    # copy the values in (about) bins b_lo .. b_hi, counting those below: value bounds with a
    # margin instead of recomputing bins (LLVM branches on that condition: 5x slower), and the
    # count makes the rank exact whatever the bounds' rounding
    w = (np.float64(hi) - np.float64(lo)) / BINS
    a = np.float64(lo) + b_lo * w - 0.01 * w
    z = np.float64(lo) + (b_hi + 1) * w + 0.01 * w
    n_w = 0
    below_a = 0
    for q in range(m):
        v = x[q]
        work[n_w] = v
        below_a += np.int64(v < a)
        n_w += np.int64((v >= a) & (v <= z))
    if below_a > max(k - 1, 0) or below_a + n_w <= k:  # bounds off (cannot happen): select all
        return _full(x, m, k, work)
    kk = k - below_a
    upper = quickselect(work, n_w, kk)
    lower = _max_below(work, kk) if kk > 0 else upper
    return upper, lower


@nb.njit(cache=True)
def median(x, m, work, sample):  # pragma: no cover - compiled
    """Median of x[:m] (m >= 1) as float64; an even count averages the two middle values in
    float32 first (as numpy's float32 median does)."""
    k = m // 2
    upper, lower = kth_pair(x, m, k, work, sample)
    if m % 2 == 1:
        return np.float64(upper)
    return 0.5 * (lower + upper)
