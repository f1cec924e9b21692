"""Reproducible runs: the same config and seed on CPU give identical metrics.json, history and
predictions twice in a row (the second run reads the feature cache the first one wrote); a
different seed gives different ones."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import torch

from stockformer.config import Config, config_from_dict
from stockformer.data.store import save_dataset
from stockformer.data.synthetic import generate_market
from stockformer.train.run import train_run

TIMING_KEYS = {"train_seconds", "wall_seconds", "seconds"}


def tiny_config(data: Path, cache: Path, seed: int) -> Config:
    return config_from_dict({
        "name": "repro", "seed": seed,
        "data": {"path": str(data)},
        "features": {"window": 10, "cache_dir": str(cache), "min_history": 20},
        "graph": {"embedding": "spectral", "dim": 8, "top_k": 8},
        # dropout > 0: the seed drives init, batch shuffling and dropout masks
        "model": {"t1": 8, "t2": 2, "d_model": 16, "layers": 1, "heads": 2, "dropout": 0.1},
        "train": {"device": "cpu", "epochs": 1, "batch_size": 16},
        "backtest": {"topk": 5, "n_drop": 1},
    })


def without_timing(obj):
    if isinstance(obj, dict):
        return {k: without_timing(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [without_timing(v) for v in obj]
    return obj


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("repro")
    data = save_dataset(generate_market(stocks=20, days=200, seed=11), root / "data")
    cache = root / "cache"
    out = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        torch.manual_seed(1234 + len(out))  # global RNG state differs between the runs
        out[name] = train_run(tiny_config(data, cache, seed), run_dir=root / name)
    return out


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_same_seed_same_metrics_and_predictions(runs):
    a, b = runs["a"], runs["b"]
    assert metrics(a)["train_seconds"] >= 0  # the timing keys exist and are what we drop
    m = metrics(a)
    for split in ("test", "validation"):  # accuracy beside "always up" / "always down"
        assert 0.5 <= m[split]["majority_rate"] <= 1 and m[split]["majority_class"] in ("up", "down")
        diag = m["collapse"][split]
        assert diag["threshold"] == 0.01 and diag["trade_output"] == m["trade_output"]
        assert set(diag["components"]) <= {"regression", "classification"} and diag["components"]
    collapsed = [s for s in ("test", "validation") if m["collapse"][s]["collapsed"]]
    assert isinstance(m["warnings"], list)
    assert sorted({s for s in collapsed for w in m["warnings"] if f"on the {s} period" in w}) == sorted(collapsed)
    assert bool(m["warnings"]) == bool(collapsed)
    assert without_timing(metrics(a)) == without_timing(metrics(b))
    pa, pb = pl.read_parquet(a / "predictions.parquet"), pl.read_parquet(b / "predictions.parquet")
    assert pa.height > 0 and pa.equals(pb)
    ha = pl.read_csv(a / "history.csv").drop("seconds")
    assert ha.height == 1 and ha.equals(pl.read_csv(b / "history.csv").drop("seconds"))
    assert (a / "config.yaml").read_text() == (b / "config.yaml").read_text()
    assert (a / "graph.npz").read_bytes() == (b / "graph.npz").read_bytes()
    wa = torch.load(a / "model.pt", weights_only=True)
    wb = torch.load(b / "model.pt", weights_only=True)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_different_seed_gives_different_results(runs):
    a, c = runs["a"], runs["c"]
    ma, mc = without_timing(metrics(a)), without_timing(metrics(c))
    assert mc["seed"] == 1
    assert ma["test"] != mc["test"] and ma["validation"] != mc["validation"]
    pa, pc = pl.read_parquet(a / "predictions.parquet"), pl.read_parquet(c / "predictions.parquet")
    assert pa.select("date", "symbol").equals(pc.select("date", "symbol"))
    assert not pa["score"].equals(pc["score"])
