from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from stockformer.config import FeaturesConfig, SplitConfig
from stockformer.data.random_panel import random_panel
from stockformer.errors import ConfigError
from stockformer.factors.pipeline import build_features
from stockformer.train.splits import make_splits
from stockformer.train.windows import WindowDataset, calendar_time

DATES = np.busday_offset("2020-01-01", np.arange(800), roll="forward")


def _check_purged(split, reach, t1):
    for part in (split.train, split.val):
        assert part.min() >= t1 - 1
    assert split.train.max() + reach <= split.fit_end
    assert split.fit_end < split.val.min()


def test_ratio_split_is_the_papers_and_purged():
    (s,) = make_splits(DATES[:648], SplitConfig(), t1=20, t2=2, label_lag=2)
    reach = 2 - 1 + 2
    assert s.fit_end == 485  # 75 % of 648 days
    assert s.train[0] == 19 and s.train[-1] == 485 - reach
    assert s.val[0] == 486 and s.val[-1] == 486 + 81 - 1 - reach
    assert s.test[0] == 567 and s.test[-1] == 647  # all test days
    _check_purged(s, reach, 20)


def test_dates_split():
    cfg = SplitConfig(scheme="dates", train_end=date(2021, 6, 30), val_end=date(2021, 12, 31))
    (s,) = make_splits(DATES, cfg, t1=20, t2=2, label_lag=2)
    assert DATES[s.fit_end] == np.datetime64("2021-06-30")
    assert DATES[s.test[0]] == np.datetime64("2022-01-03") and s.test[-1] == len(DATES) - 1
    _check_purged(s, 3, 20)
    bad = SplitConfig(scheme="dates", train_end=date(2030, 1, 1), val_end=date(2031, 1, 1))
    with pytest.raises(ConfigError, match="train_end"):
        make_splits(DATES, bad, t1=20, t2=2, label_lag=2)


def test_rolling_walk_forward():
    cfg = SplitConfig(scheme="rolling")
    splits = make_splits(DATES, cfg, t1=20, t2=2, label_lag=2)
    assert len(splits) == 1 + (800 - 648) // 81
    for k, s in enumerate(splits):
        assert s.fit_end == 81 * k + 485
        assert len(s.test) == 81 and s.test[0] == s.fit_end + 82
        _check_purged(s, 3, 20)
    with pytest.raises(ConfigError, match="needs 648 days"):
        make_splits(DATES[:300], cfg, t1=20, t2=2, label_lag=2)


def test_calendar_time():
    d = np.array(["2021-01-04", "2021-01-05", "2021-02-01", "2021-12-31"], dtype="datetime64[D]")
    np.testing.assert_array_equal(calendar_time(d), [[0, 0], [0, 1], [1, 0], [11, 0]])
    long = calendar_time(np.arange("2021-03-01", "2021-04-01", dtype="datetime64[D]"))
    assert long[:, 1].max() == 20 and (long[:, 0] == 2).all()


def test_window_dataset_views_and_items():
    fs = build_features(random_panel(12, 60, seed=3), FeaturesConfig(window=5, cache_dir=None))
    t1, t2 = 20, 2
    anchors = np.array([19, 40, 58, 59])
    ds = WindowDataset(fs, anchors, t1, t2)
    v = ds.views(1)
    assert np.shares_memory(v["x"], fs.features) and np.shares_memory(v["ret"], fs.returns)
    np.testing.assert_array_equal(v["x"], fs.features[21:41])
    item = ds[1]
    assert item["x"].shape == (t1, 12, 30) and item["x"].dtype.is_floating_point
    assert item["time"].shape == (t1, 2) and int(item["anchor"]) == 40
    np.testing.assert_array_equal(item["y"].numpy(), fs.labels[40:42])
    np.testing.assert_array_equal(item["valid"].numpy(), fs.valid[21:41])
    last = ds[3]  # anchor 59: its second target is beyond the data
    assert not last["y_mask"][1].any() and (last["y"][1] == 0).all()
    np.testing.assert_array_equal(last["y_mask"][0].numpy(), fs.mask[59])
    with pytest.raises(IndexError):
        WindowDataset(fs, np.array([5]), t1, t2)
