"""The dataset directory: panel.parquet and meta.json never disagree unnoticed."""

from __future__ import annotations

import polars as pl
import pytest

from stockformer.data import store
from stockformer.data.store import file_sha256, load_meta, load_panel, save_dataset
from stockformer.data.synthetic import generate_market


def test_meta_matches_the_panel_after_a_crash_between_the_two_writes(tmp_path, monkeypatch):
    market = generate_market(stocks=6, days=30, seed=0)
    days = market["date"].unique().sort().to_list()
    older = market.filter(pl.col("date") <= days[-5])
    save_dataset(older, tmp_path, meta={"source": "drop"})
    assert load_meta(tmp_path)["end"] == days[-5].isoformat()

    def killed(*args, **kwargs):  # the process dies after the panel's rename, before the meta's
        raise OSError("killed")

    monkeypatch.setattr(store.io, "write_json", killed)
    with pytest.raises(OSError):
        save_dataset(market, tmp_path, meta={"source": "drop"})
    monkeypatch.undo()
    assert load_panel(tmp_path).height == market.height  # the new panel landed
    meta = load_meta(tmp_path)
    assert (meta["rows"], meta["days"], meta["end"]) == (market.height, len(days),
                                                         days[-1].isoformat())
    assert meta["fingerprint"] == file_sha256(tmp_path / "panel.parquet")
    assert meta["report"] is None and "interrupted" in meta["warning"]
    assert meta["source"] == "drop"
    # the next complete save leaves a consistent pair again, without the warning
    save_dataset(market, tmp_path, meta={"source": "drop"})
    assert "warning" not in load_meta(tmp_path)


def test_meta_of_a_consistent_dataset_is_read_as_written(tmp_path):
    market = generate_market(stocks=4, days=10, seed=1)
    save_dataset(market, tmp_path, meta={"source": "synthetic"})
    meta = load_meta(tmp_path)
    assert meta["rows"] == market.height and "warning" not in meta
    assert list(meta)[:7] == ["source", "stocks", "days", "rows", "start", "end", "columns"]
