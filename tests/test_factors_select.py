"""Exact order statistics (stockformer.factors.select) against numpy, including the rows
that defeat the sampled bracket and must fall back to a full selection."""

from __future__ import annotations

import numpy as np
import pytest

from stockformer.factors import select


def scratch(m: int):
    return np.empty(m, np.float32), np.empty(select.SAMPLE, np.float32)


def check_row(x: np.ndarray) -> None:
    x = np.ascontiguousarray(x, dtype=np.float32)
    m = len(x)
    keep = x.copy()
    srt = np.sort(x)
    work, sample = scratch(m)
    for k in sorted({0, 1, m // 2 - 1, m // 2, m // 2 + 1, m // 3, m - 1} & set(range(m))):
        upper, lower = select.kth_pair(x, m, k, work, sample)
        assert upper == srt[k], (m, k)
        assert lower == srt[max(k - 1, 0)], (m, k)
    med = select.median(x, m, work, sample)
    assert med == np.float64(np.median(x)), m
    np.testing.assert_array_equal(x, keep)  # the input row is left as it was


def rows():
    rng = np.random.default_rng(11)
    for m in (1, 2, 3, 10, 999, 1024, 1025, 2048, 4999, 5000):
        yield rng.normal(size=m)
    yield rng.standard_t(1.5, size=5000)  # heavy tails: a wide bracket
    yield 1.0 + rng.normal(scale=1e-6, size=4000)  # concentrated, like price ratios near 1
    yield rng.integers(0, 4, size=5001).astype(float)  # heavy ties across bins
    yield np.ones(3000)  # constant: a zero-width bracket
    yield np.sort(rng.normal(size=3000))  # sorted ascending ...
    yield np.sort(rng.normal(size=3001))[::-1]  # ... and descending
    v = np.ones(4096)  # every sampled position holds 0, the rest 1: the bracket misses
    v[(np.arange(select.SAMPLE) * 4096) // select.SAMPLE] = 0.0
    yield v
    w = np.full(5000, 7.0)  # sample sees one value; the median lies just outside its bracket
    w[: 2600] = rng.normal(size=2600)
    yield w
    one = np.float32(1.0)
    yield np.array([one, np.nextafter(one, np.float32(2))] * 1500)  # a one-ulp wide bracket


@pytest.mark.parametrize("x", list(rows()), ids=lambda x: f"m{len(x)}")
def test_order_statistics_match_numpy(x):
    check_row(x)


def test_fallback_rows_really_miss_the_bracket():
    """The adversarial row above must take the fallback path (otherwise it tests nothing)."""
    m = 4096
    v = np.ones(m, np.float32)
    v[(np.arange(select.SAMPLE) * m) // select.SAMPLE] = 0.0
    sample = v[(np.arange(select.SAMPLE) * m) // select.SAMPLE]
    assert (sample == 0).all() and np.median(v) == 1.0


def test_wide_rows_clip_and_zscore_match_the_numpy_reference():
    """Rows wider than SMALL take the bracketed selection inside the compiled clip kernel."""
    from stockformer.factors import kernels, preprocess

    rng = np.random.default_rng(3)
    x = rng.standard_t(2, size=(2, 3, 3000)).astype(np.float32)
    x[0, 1, :100] = np.nan
    assert x.shape[-1] > select.SMALL
    ref = x.copy()
    preprocess.clip_mad(ref, 3.0)
    preprocess.zscore(ref)
    got = x.copy()
    kernels.clip_zscore_fill(got, 3.0, True, True, np.ones((2, 3000), dtype=bool))
    np.testing.assert_allclose(got, np.nan_to_num(ref, nan=0.0), rtol=1e-5, atol=1e-5)
    clipped = preprocess.clip_mad(x.copy(), 3.0)
    assert (clipped[np.isfinite(x)] != x[np.isfinite(x)]).sum() > 10  # the clip really bites
