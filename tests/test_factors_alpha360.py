"""Alpha360 against the independent pandas reference, names, VWAP fallback, suspensions."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.pandas_reference import alpha360_pandas  # noqa: E402
from stockformer.config import FeaturesConfig  # noqa: E402
from stockformer.data.random_panel import random_panel  # noqa: E402
from stockformer.factors.alpha360 import feature_names  # noqa: E402
from stockformer.factors.dense import to_dense  # noqa: E402
from stockformer.factors.families import raw_dense  # noqa: E402
from stockformer.factors.history import vwap_with_fallback  # noqa: E402


def alpha360_dense(dp, window, fillna):
    return raw_dense(dp, FeaturesConfig(families=["alpha360"], window=window, fillna=fillna))


def _dense_from_ref(ref, dp):
    # scatter the reference's (date, symbol) rows onto our dense calendar
    di = np.searchsorted(dp.dates, ref.index.get_level_values(0).values.astype("datetime64[D]"))
    si = np.searchsorted(np.array(dp.symbols), ref.index.get_level_values(1).values)
    out = np.full((*dp.shape, ref.shape[1]), np.nan, dtype=np.float32)
    out[di, si] = ref.to_numpy()
    return out


def test_names_follow_qlib_order():
    names = feature_names(60)
    assert len(names) == 360
    assert names[:2] == ["CLOSE59", "CLOSE58"] and names[59] == "CLOSE0"
    assert names[60] == "OPEN59" and names[-1] == "VOLUME0"
    assert [n.rstrip("0123456789") for n in names[::60]] == [
        "CLOSE", "OPEN", "HIGH", "LOW", "VWAP", "VOLUME",
    ]


@pytest.mark.parametrize("window", [60, 7])
def test_matches_pandas_reference_exactly(window):
    panel = random_panel(stocks=25, days=90, seed=1, suspend=0.05)
    dp = to_dense(panel)
    ours = alpha360_dense(dp, window=window, fillna=False)
    ref = _dense_from_ref(alpha360_pandas(panel.to_pandas(), window=window), dp)
    assert ours.dtype == np.float32
    assert list(ours.shape) == [*dp.shape, 6 * window]
    # bit-identical wherever the stock traded; NaN where it did not
    np.testing.assert_array_equal(ours[dp.valid], ref[dp.valid])
    assert np.isnan(ours[~dp.valid]).all()
    assert np.isfinite(ours[dp.valid][:, window - 1]).all()  # CLOSE0 == 1 exists every day
    assert (ours[dp.valid][:, window - 1] == 1.0).all()


def test_suspended_day_carries_last_traded_features_when_filling():
    panel = random_panel(stocks=10, days=80, seed=2, suspend=0.1, late_listing=False)
    dp = to_dense(panel)
    filled = alpha360_dense(dp, window=10, fillna=True)
    tt, nn = np.nonzero(~dp.valid)
    tt, nn = tt[tt > 0], nn[tt > 0]
    assert len(tt) > 5
    last = np.array([np.flatnonzero(dp.valid[: t + 1, n])[-1] for t, n in zip(tt, nn, strict=True)])
    np.testing.assert_array_equal(filled[tt, nn], filled[last, nn])


def test_lags_skip_suspension_days():
    # stock A trades on days 0, 1, 3 (suspended on day 2): CLOSE1 on day 3 is day 1's close
    d = np.array(["2021-01-04", "2021-01-05", "2021-01-06", "2021-01-07"], dtype="datetime64[D]")
    rows = [(d[i], "A", 10.0 + i) for i in (0, 1, 3)] + [(x, "B", 5.0) for x in d]
    panel = pl.DataFrame(
        {"date": np.array([r[0] for r in rows]), "symbol": [r[1] for r in rows], "close": [r[2] for r in rows]}
    ).with_columns(open=pl.col("close"), high=pl.col("close"), low=pl.col("close"), volume=pl.lit(1.0))
    dp = to_dense(panel)
    f = alpha360_dense(dp, window=3, fillna=False)
    names = feature_names(3)
    a = dp.symbols.index("A")
    assert f[3, a, names.index("CLOSE1")] == np.float32(11.0 / 13.0)
    assert f[3, a, names.index("CLOSE2")] == np.float32(10.0 / 13.0)
    assert np.isnan(f[1, a, names.index("CLOSE2")])


def test_vwap_fallback_is_used_and_reported():
    panel = random_panel(stocks=8, days=30, seed=3, extras=False, limit_flags=None)
    dp = to_dense(panel)
    vwap, how, cells = vwap_with_fallback(dp)
    f = dp.fields
    expect = (f["high"] + f["low"] + f["close"]) / 3
    np.testing.assert_allclose(vwap[dp.valid], expect[dp.valid])
    assert "absent" in how and cells == int(dp.valid.sum())
    with_amount = panel.with_columns(amount=pl.col("close") * 1.01 * pl.col("volume"))
    dp2 = to_dense(with_amount)
    vwap2, how2, _ = vwap_with_fallback(dp2)
    np.testing.assert_allclose(vwap2[dp2.valid], 1.01 * dp2.fields["close"][dp2.valid])
    assert "amount/volume" in how2


def test_dense_rejects_bad_panels_with_one_line():
    from stockformer.errors import DataError

    panel = random_panel(stocks=3, days=5, seed=0, extras=False, limit_flags=None)
    with pytest.raises(DataError, match="missing columns volume"):
        to_dense(panel.drop("volume"), "p.parquet")
    with pytest.raises(DataError, match="p.parquet: duplicate"):
        to_dense(pl.concat([panel, panel.head(1)]), "p.parquet")
    with pytest.raises(DataError, match="no rows"):
        to_dense(panel.head(0))
    zero_open = panel.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(0.0)
                                   .otherwise(pl.col("open")).alias("open"))
    dp = to_dense(zero_open)
    assert dp.report["bad_price_cells"] == 1
    assert np.isnan(dp.fields["open"][dp.valid]).sum() == 1
