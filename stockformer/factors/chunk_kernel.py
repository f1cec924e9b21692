"""The whole per-date feature computation in one compiled pass (numba, parallel over dates).

For each date of a chunk: every chosen factor family writes its raw factors into the [N, F]
output rows (families.raw_date), then per block of 16 factors: transpose them into a small
[16, N] scratch, clip / z-score / NaN -> 0 each factor row, neutralize it on that date's
exposures, re-z-score it over the present stocks, transpose it back. The scratch stays in cache through all the steps instead of streaming a [C, F, N] block
through memory once per step.

Neutralization: the OLS residual on industry dummies (unknown industry is a group of its own;
an intercept when there are no industries) plus standardised log market cap. The dummies are
orthogonal, so the projection is "subtract the group mean" plus the part along the market-cap
column made orthogonal to the groups (z minus its group mean, normalised): the same column space
as a QR of the design matrix, at O(N) per row and without any linear-algebra call.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from stockformer.factors.families import raw_date
from stockformer.factors.kernels import clip_zscore_row
from stockformer.factors.select import SAMPLE

MIN_PRESENT = 3  # fewer present stocks on a date: no regression that day
RANK_TOL = 1e-8  # market-cap column dropped when (nearly) explained by the industries
FBLOCK = 16  # factors per cache-resident block: 16 float32 = one cache line per stock


@nb.njit(cache=True)
def exposures_date(present, industry, log_mcap, n_groups, groups, q):  # pragma: no cover
    """One date's exposures over its present stocks. groups[n] = industry + 1 (0 = unknown;
    all 0 with an all -1 industry row = intercept only), q[n] = unit market-cap direction
    orthogonal to the groups (all 0 when unused). Returns (use_q, counts per group,
    present stocks without industry, present stocks without market cap).

    log_mcap: NaN = unknown; pass an all-NaN row when the panel has no market cap."""
    n_n = present.shape[0]
    counts = np.zeros(n_groups, np.int64)
    no_ind = 0
    no_mc = 0
    ok_n = 0
    s = 0.0
    for n in range(n_n):
        q[n] = 0.0
        groups[n] = 0
        if present[n]:
            g = industry[n] + 1
            groups[n] = g
            counts[g] += 1
            no_ind += industry[n] < 0
            if np.isfinite(log_mcap[n]):
                ok_n += 1
                s += log_mcap[n]
            else:
                no_mc += 1
    if ok_n < 2:
        return False, counts, no_ind, no_mc
    mean = s / ok_n
    ss = 0.0
    for n in range(n_n):
        if present[n] and np.isfinite(log_mcap[n]):
            d = log_mcap[n] - mean
            ss += d * d
    sd = np.sqrt(ss / ok_n)
    scale = sd if sd > 0 else 1.0
    gsum = np.zeros(n_groups)
    for n in range(n_n):
        if present[n] and np.isfinite(log_mcap[n]):
            q[n] = (log_mcap[n] - mean) / scale
            gsum[groups[n]] += q[n]
    norm_z = 0.0
    norm = 0.0
    for n in range(n_n):
        if present[n]:
            norm_z += q[n] * q[n]
            q[n] -= gsum[groups[n]] / counts[groups[n]]
            norm += q[n] * q[n]
    norm, norm_z = np.sqrt(norm), np.sqrt(norm_z)
    if norm <= RANK_TOL * max(1.0, norm_z):
        for n in range(n_n):
            q[n] = 0.0
        return False, counts, no_ind, no_mc
    for n in range(n_n):
        q[n] /= norm
    return True, counts, no_ind, no_mc


@nb.njit(cache=True)
def neutralize_row(row, present, groups, counts, q, use_q, gsum, do_z):  # pragma: no cover
    """In place OLS residual of one row over the present stocks (others 0), z-scored again
    over the present stocks when do_z. The residual has mean ~0 (the group dummies span the
    intercept), so its variance comes from the same pass as the subtraction."""
    gsum[:] = 0.0
    dot = 0.0
    n_n = row.shape[0]
    cnt = 0
    for n in range(n_n):
        if present[n]:
            gsum[groups[n]] += row[n]
            dot += row[n] * q[n]
            cnt += 1
    for g in range(gsum.shape[0]):
        if counts[g] > 0:
            gsum[g] /= counts[g]
    if not use_q:
        dot = 0.0
    s = 0.0
    s2 = 0.0
    for n in range(n_n):
        if present[n]:
            row[n] = row[n] - gsum[groups[n]] - dot * q[n]
            v = np.float64(row[n])
            s += v
            s2 += v * v
    if not do_z:
        return
    mu = s / cnt
    var = max(s2 / cnt - mu * mu, 0.0)
    std = np.sqrt(var)
    sc = 1.0 / std if std > 1e-12 else 0.0  # a row without spread (e.g. CLOSE0) stays 0
    for n in range(n_n):
        row[n] = (row[n] - mu) * sc if present[n] else 0.0


@nb.njit(parallel=True, cache=True)
def features_chunk(codes, offsets, comp, src, window, k, do_clip, do_z, neutral,
                   industry, log_mcap, n_groups, out):  # pragma: no cover
    """out[c, n, f] = the finished features of date c (src [C, N], out [C, N, F]); codes /
    offsets: the families' layout (families.FamilyLayout).

    industry [C, N] int32 (-1 unknown, all -1 without industries), log_mcap [C, N] float64
    (NaN unknown / absent). Returns per-date stats [C, 4]: NaN cells of present stocks, date
    neutralized (0/1), present stocks without industry, without market cap."""
    c_n, n_n = src.shape
    f_n = out.shape[2]
    stats = np.zeros((c_n, 4), np.int64)
    for c in nb.prange(c_n):
        oc = out[c]
        # raw factors straight into the output rows, then FBLOCK factors at a time through
        # a small [FBLOCK, N] scratch that stays in cache for all the per-row steps
        raw_date(codes, offsets, comp, src[c], window, oc)
        present = src[c] >= 0
        cnt = 0
        for n in range(n_n):
            cnt += present[n]
        do_neutral = neutral and cnt >= MIN_PRESENT
        groups = np.zeros(n_n, np.int64)
        q = np.zeros(n_n)
        counts = np.zeros(n_groups, np.int64)
        use_q = False
        if do_neutral:
            use_q, counts, no_ind, no_mc = exposures_date(present, industry[c], log_mcap[c],
                                                          n_groups, groups, q)
            stats[c, 1] = 1
            stats[c, 2] = no_ind
            stats[c, 3] = no_mc
        gsum = np.empty(n_groups)
        blk = np.empty((FBLOCK, n_n), np.float32)
        buf = np.empty(n_n, np.float32)
        work = np.empty(n_n, np.float32)
        sample = np.empty(SAMPLE, np.float32)
        for f0 in range(0, f_n, FBLOCK):
            nf = min(FBLOCK, f_n - f0)
            for n in range(n_n):  # blocked transpose in: one or two cache lines per stock
                for j in range(nf):
                    blk[j, n] = oc[n, f0 + j]
            for j in range(nf):
                row = blk[j]
                stats[c, 0] += clip_zscore_row(row, k, do_clip, do_z, present, buf, work,
                                               sample)
                if not neutral:
                    continue
                if do_neutral:
                    neutralize_row(row, present, groups, counts, q, use_q, gsum, do_z)
                elif do_z and cnt > 0:  # too few stocks to regress: z-score again only
                    _zscore_present(row, present, cnt)
            for n in range(n_n):  # and back out
                for j in range(nf):
                    oc[n, f0 + j] = blk[j, n]
    return stats


@nb.njit(cache=True)
def _zscore_present(row, present, cnt):  # pragma: no cover - compiled
    """In place: z-score over the present stocks, 0 for the others (and for no spread)."""
    n_n = row.shape[0]
    s = 0.0
    for n in range(n_n):
        if present[n]:
            s += row[n]
    mu = s / cnt
    ss = 0.0
    for n in range(n_n):
        if present[n]:
            d = row[n] - mu
            ss += d * d
    std = np.sqrt(ss / cnt)
    sc = 1.0 / std if std > 0 else 0.0
    for n in range(n_n):
        row[n] = (row[n] - mu) * sc if present[n] else 0.0
