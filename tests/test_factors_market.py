"""End-to-end: the synthetic market (signal is found), the CLI, and real NASDAQ data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stockformer.config import FeaturesConfig, SplitConfig
from stockformer.factors.commands import factor_rank_ic
from stockformer.factors.pipeline import build_features
from stockformer.train.splits import make_splits


@pytest.fixture(scope="module")
def synth() -> pl.DataFrame:
    from stockformer.data.synthetic import generate_market

    return generate_market(stocks=80, days=400, seed=0)


@pytest.fixture(scope="module")
def shared_data() -> Path:
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip("../shared/data is absent")
    return path


def test_synthetic_market_has_a_factor_with_test_rank_ic(synth):
    fs = build_features(synth, FeaturesConfig(cache_dir=None))
    (split,) = make_splits(fs.dates, SplitConfig(), t1=20, t2=2, label_lag=fs.label_lag)
    ic = factor_rank_ic(fs, split.test)
    assert np.nanmax(np.abs(ic)) > 0.02
    assert fs.report["neutralize_on"] == ["industry", "market_cap"]
    assert 0.5 < fs.mask.mean() < 1.0


def test_cli_features(synth, tmp_path, capsys):
    from stockformer.cli import main
    from stockformer.data.store import save_dataset

    save_dataset(synth, tmp_path / "ds")
    (tmp_path / "c.yaml").write_text(f"features:\n  window: 10\n  cache_dir: {tmp_path / 'cache'}\n")
    args = ["features", "--data", str(tmp_path / "ds"), "--config", str(tmp_path / "c.yaml")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "400 x 80 x 60" in out and "top factors" in out and "miss" in out
    assert main(args) == 0
    assert "hit" in capsys.readouterr().out
    assert main(["features", "--data", str(tmp_path / "nothing")]) == 2


@pytest.mark.shared
def test_nasdaq_subsample_builds_and_reports(shared_data):
    from stockformer.data.validate import validate

    raw = pl.read_parquet(shared_data / "nasdaq1026" / "prices.parquet")
    keep = sorted(raw["symbol"].unique().to_list())[:150]
    raw = raw.filter(pl.col("symbol").is_in(keep))
    # the raw file straight in (string dates, open == 0 defects) and the validated panel
    raw_fs = build_features(raw, FeaturesConfig(cache_dir=None), dates=slice(-50, None))
    assert np.isfinite(raw_fs.features).all()
    panel, _ = validate(raw, "nasdaq1026")
    fs = build_features(panel, FeaturesConfig(cache_dir=None), dates=slice(-300, None))
    assert fs.features.shape == (300, 150, 360)
    assert np.isfinite(fs.features).all() and fs.features.std() > 0.5
    rep = fs.report
    assert rep["vwap_source"].startswith("absent")
    assert "no industry / market_cap" in rep["neutralize_note"]
    assert rep["masked_not_realised"] == 2 * 150  # the last label_lag days
    assert rep["label_valid_share"] > 0.8
    for key in ("masked_suspended", "masked_new_listing", "bad_price_cells"):
        assert key in rep
