"""The compiled per-date neutralization (group means + orthogonalised market cap) against a
plain least-squares residual on the dummy + market-cap design matrix."""

from __future__ import annotations

import numpy as np

from stockformer.factors import chunk_kernel


def _neutralize(row, present, industry, log_mcap, n_groups):
    n = len(row)
    groups, q = np.zeros(n, np.int64), np.zeros(n)
    use_q, counts, no_ind, no_mc = chunk_kernel.exposures_date(
        present, industry, log_mcap, n_groups, groups, q)
    out = row.copy()
    chunk_kernel.neutralize_row(out, present, groups, counts, q, use_q, np.empty(n_groups), False)
    return out, use_q, no_ind, no_mc


def _lstsq_residual(row, present, industry, log_mcap):
    ok = present
    codes = industry[ok]
    cols = [(codes == g).astype(float) for g in np.unique(codes)]
    m = log_mcap[ok]
    fin = np.isfinite(m)
    z = np.zeros(ok.sum())
    z[fin] = (m[fin] - m[fin].mean()) / m[fin].std()
    x = np.column_stack([*cols, z])
    y = row[ok].astype(float)
    res = np.zeros(len(row))
    res[ok] = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
    return res


def test_residual_matches_lstsq_and_counts_missing_exposures():
    rng = np.random.default_rng(2)
    n = 400
    industry = rng.integers(-1, 6, n).astype(np.int32)  # -1: unknown, a group of its own
    log_mcap = rng.normal(20, 1, n)
    log_mcap[:7] = np.nan
    present = rng.random(n) > 0.1
    row = (rng.normal(size=n) + 0.3 * np.nan_to_num(log_mcap - 20)).astype(np.float32)
    row[~present] = 0.0
    got, use_q, no_ind, no_mc = _neutralize(row, present, industry, log_mcap, 7)
    assert use_q
    np.testing.assert_allclose(got, _lstsq_residual(row, present, industry, log_mcap), atol=1e-5)
    assert no_ind == int((present & (industry < 0)).sum())
    assert no_mc == int((present & np.isnan(log_mcap)).sum())
    assert (got[~present] == 0).all()


def test_market_cap_explained_by_industry_is_dropped():
    n = 300
    industry = (np.arange(n) % 4).astype(np.int32)
    log_mcap = 18.0 + industry  # constant within each industry: no direction of its own
    present = np.ones(n, dtype=bool)
    row = np.random.default_rng(0).normal(size=n).astype(np.float32)
    got, use_q, _, _ = _neutralize(row, present, industry, log_mcap, 5)
    assert not use_q
    for g in range(4):  # only the industry means are removed
        sel = industry == g
        np.testing.assert_allclose(got[sel], row[sel] - row[sel].mean(), atol=1e-5)
