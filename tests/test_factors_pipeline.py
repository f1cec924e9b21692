"""Preprocessing, labels, masks, chunked builds, cache and the look-ahead test."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from stockformer.config import FeaturesConfig
from stockformer.data.random_panel import random_panel
from stockformer.factors import preprocess
from stockformer.factors.dense import ffill, to_dense
from stockformer.factors.families import raw_dense
from stockformer.factors.labels import direction_labels, make_labels
from stockformer.factors.pipeline import build_features

W = 10  # a short Alpha360 window keeps these tests fast
# every factor family goes through the same preprocessing and the same look-ahead test
FAMILIES = [["alpha360"], ["alpha158"], ["alpha158", "alpha360"]]


def cfg(**kw) -> FeaturesConfig:
    return FeaturesConfig(**{"window": W, "cache_dir": None, **kw})


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    return random_panel(stocks=40, days=100, seed=5)


def test_output_is_finite_float32_and_zscored(panel):
    fs = build_features(panel, cfg(neutralize=False))
    assert fs.features.dtype == np.float32 and np.isfinite(fs.features).all()
    assert fs.features.shape == (100, 40, 6 * W)
    present = np.cumsum(fs.valid, axis=0) > 0  # traded at least once by then (filled)
    assert (fs.features[~present] == 0).all() and (~present).any()
    assert fs.report["nan_to_zero_cells"] > 0  # late listings lack history
    # every stock listed from day 0: on day 60 all have full history, so exact z-scores
    full = build_features(random_panel(40, 100, seed=5, late_listing=False), cfg(neutralize=False))
    x = full.features[60]
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-5)
    const = [W - 1, 6 * W - 1]  # CLOSE0 == VOLUME0 == 1: no spread, z-score 0
    np.testing.assert_allclose(np.delete(x.std(0), const), 1, atol=1e-4)
    assert (x[:, const] == 0).all()


@pytest.mark.parametrize("families", [["alpha158"], ["alpha158", "alpha360"]])
def test_every_family_is_finite_and_zscored(panel, families):
    fs = build_features(panel, cfg(families=families, neutralize=False))
    assert fs.features.dtype == np.float32 and np.isfinite(fs.features).all()
    present = np.cumsum(fs.valid, axis=0) > 0
    assert (fs.features[~present] == 0).all() and (~present).any()
    # every stock listed from day 0: on day 80 all have 61 days of history, so exact z-scores
    full = build_features(random_panel(40, 100, seed=5, late_listing=False),
                          cfg(families=families, neutralize=False))
    x = full.features[80].astype(np.float64)
    std = x.std(0)
    spread = std > 0  # a factor without spread that day (e.g. CLOSE0) is 0 for every stock
    assert spread.mean() > 0.9
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(std[spread], 1, atol=1e-4)


@pytest.mark.parametrize("families", FAMILIES)
def test_all_steps_off_gives_raw_factors(panel, families):
    c = cfg(families=families, clip_mad=None, zscore=False, neutralize=False, fillna=False)
    fs = build_features(panel, c)
    raw = raw_dense(to_dense(panel), c)
    np.testing.assert_array_equal(fs.features, np.nan_to_num(raw, nan=0.0))
    widths = {"alpha360": 6 * W, "alpha158": 158}
    assert fs.features.shape[2] == sum(widths[f] for f in families)
    first = {"alpha360": f"CLOSE{W - 1}", "alpha158": "KMID"}[families[0]]
    assert fs.feature_names[0] == first  # concatenated in the configured order


def test_clip_mad_matches_reference():
    rng = np.random.default_rng(0)
    x = rng.standard_t(2, size=(3, 4, 50)).astype(np.float32)
    x[0, 0, :5] = np.nan
    ref = x.copy()
    for idx in np.ndindex(x.shape[:2]):
        row = ref[idx]
        med = np.nanmedian(row)
        mad = np.nanmedian(np.abs(row - med)) * 1.4826
        ref[idx] = np.clip(row, med - 3 * mad, med + 3 * mad)
    out = preprocess.clip_mad(x.copy(), 3.0)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    assert np.nanmax(np.abs(out - x)) > 0  # something was clipped


@pytest.mark.parametrize("families", FAMILIES[:2])
def test_neutralized_factors_are_orthogonal_to_exposures(panel, families):
    fs = build_features(panel, cfg(families=families))
    dp = to_dense(panel)
    # exposures of a suspended stock are its last known ones (forward-filled)
    ind = ffill(np.where(dp.industry >= 0, dp.industry, np.nan))
    mcap = ffill(np.log(dp.fields["market_cap"]))
    present = np.cumsum(dp.valid, axis=0) > 0
    for day in (40, 80):
        ok = present[day]
        assert (fs.features[day][ok] != 0).any()
        x = fs.features[day][ok].astype(np.float64)
        for g in np.unique(ind[day][ok]):
            np.testing.assert_allclose(x[ind[day][ok] == g].mean(0), 0, atol=1e-4)
        m = mcap[day][ok]
        corr = ((m - m.mean())[:, None] * x).sum(0)
        np.testing.assert_allclose(corr, 0, atol=1e-3)
    assert fs.report["neutralize_on"] == ["industry", "market_cap"]


def test_neutralize_reports_missing_exposures():
    p = random_panel(stocks=20, days=40, seed=1).drop("market_cap")
    fs = build_features(p, cfg())
    assert fs.report["neutralize_on"] == ["industry"]
    assert "market_cap" in fs.report["neutralize_note"]


@pytest.mark.parametrize("families", FAMILIES)
def test_chunks_and_date_slices_equal_the_full_build(panel, families):
    full = build_features(panel, cfg(families=families), chunk=1000)
    chunked = build_features(panel, cfg(families=families), chunk=7)
    np.testing.assert_array_equal(full.features, chunked.features)
    part = build_features(panel, cfg(families=families), dates=slice(50, 80))
    np.testing.assert_array_equal(part.features, full.features[50:80])
    np.testing.assert_array_equal(part.mask, full.mask[50:80])
    assert list(part.dates) == list(full.dates[50:80])


def test_labels_returns_and_mask():
    p = random_panel(stocks=30, days=60, seed=7)
    dp = to_dense(p)
    labels, mask, rep = make_labels(dp, horizon=1, price="close", min_history=5)
    c = dp.fields["close"]
    t, n = dp.shape
    for tt in range(t):
        for nn in range(n):
            ok = (
                tt + 2 < t
                and dp.valid[tt, nn] and dp.valid[tt + 1, nn] and dp.valid[tt + 2, nn]
                and dp.valid[: tt + 1, nn].sum() >= 5
                and not dp.fields["limit_up"][tt + 1, nn]
            )
            assert mask[tt, nn] == ok, (tt, nn)
            if ok:
                assert labels[tt, nn] == np.float32(c[tt + 2, nn] / c[tt + 1, nn] - 1)
            else:
                assert labels[tt, nn] == 0
    assert rep["masked_limit_up_at_entry"] > 0 and rep["masked_new_listing"] > 0
    d = direction_labels(labels, mask)
    assert set(np.unique(d)) <= {-1, 0, 1} and ((d == 1) == (mask & (labels > 0))).all()
    o_labels, o_mask, _ = make_labels(dp, horizon=3, price="open", min_history=0)
    o = dp.fields["open"]
    tt, nn = np.argwhere(o_mask)[0]
    assert o_labels[tt, nn] == np.float32(o[tt + 4, nn] / o[tt + 1, nn] - 1)
    assert not o_mask[-4:].any()


def test_returns_are_close_to_close_over_own_history(panel):
    fs = build_features(panel, cfg())
    dp = to_dense(panel)
    n = 3
    days = np.flatnonzero(dp.valid[:, n])
    c = dp.fields["close"][:, n]
    for a, b in zip(days[:-1], days[1:], strict=True):
        assert fs.returns[b, n] == np.float32(c[b] / c[a] - 1)
    assert (fs.returns[~dp.valid] == 0).all()


def test_cache_hit_and_misses(panel, tmp_path):
    c = cfg(cache_dir=str(tmp_path))
    first = build_features(panel, c)
    assert first.report["cache"] == "miss"
    second = build_features(panel, c)
    assert second.report["cache"] == "hit"
    np.testing.assert_array_equal(first.features, second.features)
    assert second.report["masked_suspended"] == first.report["masked_suspended"]
    assert build_features(panel, cfg(cache_dir=str(tmp_path), clip_mad=2.5)).report["cache"] == "miss"
    changed = panel.with_columns(
        pl.when(pl.int_range(pl.len()) == 17).then(pl.col("close") * 1.0001).otherwise(pl.col("close"))
        .alias("close")
    )
    assert build_features(changed, c).report["cache"] == "miss"
    assert len(list(tmp_path.glob("features_*.npz"))) == 3
    other = build_features(panel, cfg(cache_dir=str(tmp_path), families=["alpha158"]))
    assert other.report["cache"] == "miss" and other.report["families"] == ["alpha158"]
    assert build_features(panel, cfg(cache_dir=str(tmp_path), families=["alpha158"])
                          ).report["cache"] == "hit"
    assert other.features.shape[2] == 158 != first.features.shape[2]


@pytest.mark.parametrize("families", FAMILIES)
def test_no_look_ahead(panel, families):
    """Perturb every price and volume after date t: nothing on or before t may change,
    labels on or before t - label_lag neither."""
    base = build_features(panel, cfg(families=families))
    t = 70
    cut = base.dates[t]
    rng = np.random.default_rng(9)
    after = pl.col("date") > pl.lit(cut)
    noise = pl.Series(rng.uniform(0.5, 2.0, panel.height))
    cols = ["open", "high", "low", "close", "vwap", "volume", "market_cap"]
    pert = panel.with_columns(
        [pl.when(after).then(pl.col(c) * noise).otherwise(pl.col(c)).alias(c) for c in cols]
    )
    moved = build_features(pert, cfg(families=families))
    assert not np.array_equal(moved.features[t + 1 :], base.features[t + 1 :])
    np.testing.assert_array_equal(moved.features[: t + 1], base.features[: t + 1])
    np.testing.assert_array_equal(moved.returns[: t + 1], base.returns[: t + 1])
    np.testing.assert_array_equal(moved.mask[: t + 1], base.mask[: t + 1])
    np.testing.assert_array_equal(moved.valid[: t + 1], base.valid[: t + 1])
    lag = base.label_lag
    np.testing.assert_array_equal(moved.labels[: t - lag + 1], base.labels[: t - lag + 1])
    assert not np.array_equal(moved.labels[: t + 1], base.labels[: t + 1])


@pytest.mark.parametrize(("do_clip", "do_z"), [(True, True), (False, True), (True, False)])
def test_compiled_kernel_matches_numpy_reference(do_clip, do_z):
    from stockformer.factors import kernels

    rng = np.random.default_rng(4)
    x = rng.standard_t(2, size=(3, 5, 41)).astype(np.float32)
    x[0, 0, :7] = np.nan
    x[1, 2, :] = np.nan
    ref = x.copy()
    if do_clip:
        preprocess.clip_mad(ref, 3.0)
    if do_z:
        preprocess.zscore(ref)
    present = np.ones((3, 41), dtype=bool)
    got = x.copy()
    nan_cells = kernels.clip_zscore_fill(got, 3.0, do_clip, do_z, present)
    np.testing.assert_allclose(got, np.nan_to_num(ref, nan=0.0), rtol=1e-5, atol=1e-5)
    assert nan_cells.tolist() == [7, 41, 0]


@pytest.mark.parametrize("families", FAMILIES[1:2])
def test_streamed_chunks_with_a_reused_buffer_equal_the_build(panel, families):
    from stockformer.factors.pipeline import iter_feature_chunks, prepare

    full = build_features(panel, cfg(families=families))
    prep = prepare(panel, cfg(families=families))
    seen = []
    for a, b, x in iter_feature_chunks(prep, chunk=16, reuse=True):
        np.testing.assert_array_equal(x, full.features[a:b])
        seen.append(x)
    assert b == 100 and all(np.shares_memory(seen[0], x) for x in seen)
